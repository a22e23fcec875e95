"""Filesystem errors are one line: every command that reads or writes a file names the
path and the reason (it exists as a file, a folder is missing, permission denied, it is
a folder, the disk is full) and exits non-zero, never with a traceback."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer

from modelyard import Client
from modelyard.cli._common import one_line_errors, os_error_line

as_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders"
)


def _one_line(result: Any, code: int, *texts: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for text in texts:
        assert text in result.output, (text, result.output)


@pytest.fixture
def run_id(client: Client, tmp_path: Path) -> str:
    report = tmp_path / "report.txt"
    report.write_text("all good")
    with client.start_run("churn", capture=False) as run:
        run.log_artifact(report, "reports/report.txt")
    return run.id


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_text("not a folder")
    return path


def test_artifacts_get_onto_a_file_or_under_one(
    cli: Callable[..., Any], run_id: str, a_file: Path, tmp_path: Path
) -> None:
    got = cli("artifacts", "get", run_id, "reports/report.txt", "--dest", str(a_file))
    _one_line(got, 2, f"{a_file}: is a file, not a folder")
    below = a_file / "sub"
    got = cli("artifacts", "get", run_id, "reports/report.txt", "--dest", str(below))
    _one_line(got, 2, str(a_file))
    taken = tmp_path / "out" / "reports" / "report.txt"
    taken.mkdir(parents=True)  # a folder where the file is to go
    got = cli("artifacts", "get", run_id, "reports/report.txt", "--dest", str(tmp_path / "out"))
    assert got.exit_code != 0 and "Traceback" not in got.output
    assert str(taken) in got.output and len(got.output.strip().splitlines()) == 1


@as_root
def test_artifacts_get_into_a_read_only_folder(
    cli: Callable[..., Any], run_id: str, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        got = cli("artifacts", "get", run_id, "reports/report.txt", "--dest", str(locked))
        _one_line(got, 6, "permission denied", str(locked))
    finally:
        locked.chmod(0o700)


@pytest.mark.local_only("datasets and governance work on the store itself here")
def test_data_outputs_and_inputs(cli: Callable[..., Any], a_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(data, index=False)
    assert cli("data", "register", "d", str(data)).exit_code == 0
    suite = tmp_path / "suite.yaml"
    assert cli("data", "suggest", str(data), "--out", str(suite)).exit_code == 0
    under = str(a_file / "out.csv")
    _one_line(cli("data", "load", "d", "--out", under), 2, f"{a_file}: is a file, not a folder")
    folder = str(tmp_path)
    for args in (
        ["data", "profile", str(data), "--html", folder],
        ["data", "drift", str(data), str(data), "--html", folder],
        ["data", "validate", str(data), "-e", str(suite), "--html", folder],
        ["data", "suggest", str(data), "--out", folder],
        ["audit", "export", "--out", folder],
        ["--config", folder, "config", "show"],
    ):
        _one_line(cli(*args), 2, f"{folder}: is a folder, not a file")
    for args in (
        ["data", "profile", str(data), "--html", str(a_file / "r.html")],
        ["data", "suggest", str(data), "--out", str(a_file / "s.yaml")],
        ["audit", "export", "--out", str(a_file / "events.jsonl")],
    ):
        _one_line(cli(*args), 2, str(a_file))
    made = cli("users", "create", "ann", "--password-stdin", input="a long pass phrase\n")
    assert made.exit_code == 0, made.output
    qr = cli("mfa", "enrol", "ann", "--qr", str(a_file / "qr.png"))
    _one_line(qr, 2, str(a_file))
    _one_line(cli("data", "validate", str(data), "-e", folder), 2, folder)


def test_each_kind_of_filesystem_error_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y"),
            4,
            "no such file or folder",
        ),
        (PermissionError(errno.EACCES, "Permission denied", "/x/y"), 6, "permission denied"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/x/y"), 2, "is a folder, not a file"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/y"), 8, "no space left on device"),
        (OSError(errno.EIO, "Input/output error", "/x/y"), 8, "input/output error"),
    ]
    for exc, code, reason in cases:
        assert os_error_line(exc) == (f"/x/y: {reason}", code)

        @one_line_errors
        def command(exc: OSError = exc) -> None:
            raise exc

        with pytest.raises(typer.Exit) as raised:
            command()
        assert raised.value.exit_code == code
        assert capsys.readouterr().err == f"error: /x/y: {reason}\n"
    assert os_error_line(OSError("cannot save into a folder that does not exist")) == (
        "cannot save into a folder that does not exist",
        8,
    )


@pytest.mark.parametrize("options", [[], ["--json"]], ids=["table", "json"])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    tmp_path: Path, options: list[str]
) -> None:
    """``modelyard projects list | head -0``: the pipe's reader is gone before the command
    writes; the command stops with SIGPIPE's status and prints nothing on stderr."""
    env = {**os.environ, "MODELYARD_HOME": str(tmp_path / "home")}
    modelyard = [sys.executable, "-m", "modelyard"]
    made = subprocess.run([*modelyard, "projects", "create", "p"], env=env, capture_output=True)
    assert made.returncode == 0, made.stderr
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        listed = subprocess.run(
            [*modelyard, "projects", "list", *options],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    assert (listed.returncode, listed.stderr) == (141, b"")
