"""Hints lead somewhere: the ``--encoding`` an error suggests exists on every data command
that reads a file, a missing file is reported as a missing file, and a refused request
through a server names the setting that holds the token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app


@pytest.fixture
def latin1(tmp_path: Path) -> Path:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,n\ncafé,1\nnaïve,2\ncafé,3\n".encode("latin-1"))
    return path


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text("expectations:\n  - kind: not_null\n    column: name\n")
    return path


def test_data_commands_take_the_encoding_they_suggest(
    cli: Callable[..., Any], latin1: Path, suite: Path
) -> None:
    for args in (
        ["data", "profile", str(latin1)],
        ["data", "drift", str(latin1), str(latin1)],
        ["data", "diff", str(latin1), str(latin1)],
        ["data", "suggest", str(latin1)],
        ["data", "validate", str(latin1), "-e", str(suite)],
    ):
        refused = cli(*args)
        assert refused.exit_code == 2, (args, refused.output)
        assert "not valid UTF-8" in refused.output and "--encoding latin-1" in refused.output
        read = cli(*args, "--encoding", "latin-1")
        assert read.exit_code == 0, (args, read.output)
        assert "Traceback" not in read.output
        unknown = cli(*args, "--encoding", "klingon")
        assert unknown.exit_code == 2, (args, unknown.output)
        assert unknown.output.strip() == "error: unknown encoding: klingon"
    assert "café" in cli("data", "profile", str(latin1), "--encoding", "latin-1").output


def test_a_missing_file_is_a_missing_file(
    cli: Callable[..., Any], tmp_path: Path, suite: Path
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("name,n\na,1\n")
    assert cli("data", "register", "sales", str(data)).exit_code == 0
    for args, missing in (
        (["data", "drift", "sales", "missing.csv"], "missing.csv"),
        (["data", "profile", "folder/data"], "folder/data"),
        (["data", "diff", "sales", "new.parquet"], "new.parquet"),
        (["data", "validate", "./missing.csv", "-e", str(suite)], "./missing.csv"),
    ):
        result = cli(*args)
        assert result.exit_code == 4, (args, result.output)
        assert result.output.startswith(f"error: no such file or folder: {missing} ")
        assert "Traceback" not in result.output
    unknown = cli("data", "drift", "sales", "nosuchname")
    assert unknown.exit_code == 4
    assert "dataset 'nosuchname' does not exist" in unknown.output


def test_no_token_names_the_environment_variable(served: str) -> None:
    runner = CliRunner()
    bare = runner.invoke(app, ["--tracking-uri", served, "projects", "list"])
    assert bare.exit_code == 6, bare.output
    assert "MODELYARD_TRACKING_TOKEN" in bare.output and "modelyard tokens create" in bare.output
    assert "header" not in bare.output.lower() and "Bearer" not in bare.output
    wrong = runner.invoke(
        app,
        ["--tracking-uri", served, "projects", "list"],
        env={"MODELYARD_TRACKING_TOKEN": "my_not-a-real-token"},
    )
    assert wrong.exit_code == 6, wrong.output
    assert "refused the access token of tracking.token (MODELYARD_TRACKING_TOKEN)" in wrong.output
    assert len(wrong.output.strip().splitlines()) == 1
