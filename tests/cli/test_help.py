"""What a user reads before running anything: --version and every command's --help."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from modelyard.cli.main import app, main


def _command_paths() -> Iterator[list[str]]:
    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(get_command(app), [])


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag_prints_the_package_version(flag: str) -> None:
    result = CliRunner().invoke(app, [flag])
    assert result.exit_code == 0, result.output
    assert result.output == f"modelyard {version('modelyard')}\n"


def test_version_command_agrees_with_the_flag() -> None:
    assert CliRunner().invoke(app, ["version"]).output == f"modelyard {version('modelyard')}\n"


def test_every_help_reads_cleanly() -> None:
    paths = list(_command_paths())
    assert ["runs", "list"] in paths and ["data", "suggest"] in paths and ["worker"] in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        text = " ".join(result.output.split())  # a wrapped line joined again
        assert re.search(r"\w \.(\s|$)", text) is None, (path, result.output)
        assert "<bool>" not in text, (path, result.output)


def test_setting_names_in_help_stay_as_written() -> None:
    result = CliRunner().invoke(app, ["server", "--help"])
    assert "Address to bind [server.host]." in result.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["runs", "list", "--bogus"],
            "error: No such option: --bogus (see `modelyard runs list --help`)",
        ),
        (["nosuch"], "error: No such command 'nosuch' (see `modelyard --help`)"),
        (
            ["runs", "show"],
            "error: Missing argument 'run_id' (see `modelyard runs show --help`)",
        ),
    ],
    ids=["option", "command", "argument"],
)
def test_a_usage_error_is_one_line_naming_the_help(
    args: list[str], line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["modelyard", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert capsys.readouterr().err == line + "\n"


def test_a_group_without_a_command_shows_its_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["modelyard", "runs"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "Usage: modelyard runs [OPTIONS] COMMAND [ARGS]..." in capsys.readouterr().err
