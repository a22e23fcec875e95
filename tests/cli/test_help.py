"""What a user reads before running anything: --version and every command's --help, which
import no command's module; every command ends a failure as one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from modelyard.cli._common import one_line_errors
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


#: What starting the command line must not import before a command runs.
_HEAVY = ("pandas", "pyarrow", "numpy", "sqlalchemy", "alembic", "httpx", "fastapi", "uvicorn")
_STARTUP = """
import contextlib, io, json, sys
from modelyard.cli.main import main

sys.argv = ["modelyard", *sys.argv[1:]]
with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
    main()
print(json.dumps({"out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], []], ids=["help", "version", "none"])
def test_starting_imports_no_command_and_nothing_heavy(args: list[str]) -> None:
    found = subprocess.run(
        [sys.executable, "-c", _STARTUP, *args], capture_output=True, text=True, check=True
    )
    started = json.loads(found.stdout)
    assert started["out"] or args == [], found.stderr  # no arguments: the help on stderr
    modules = set(started["modules"])
    assert [m for m in _HEAVY if m in modules] == []
    cli = {m for m in modules if m.split(".")[:2] == ["modelyard", "cli"]}
    assert cli == {
        "modelyard.cli",
        "modelyard.cli._common",
        "modelyard.cli._lazy",
        "modelyard.cli.main",
    }


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_listing_shows_the_help_each_command_gives(width: int) -> None:
    group = get_command(app)
    ctx = typer.Context(group, info_name="modelyard", terminal_width=width)
    listed = group.get_help(ctx)  # from the declared names and helps: nothing imported
    for name in list(getattr(group, "commands", {})):
        getattr(group, "commands", {})[name]  # import and build it
    assert group.get_help(ctx) == listed
    assert "runs " in listed and "worker " in listed and "audit " in listed


def test_every_command_ends_a_failure_as_one_line() -> None:
    one_line = one_line_errors(lambda: None).__code__

    def wrapped(fn: object) -> bool:
        while fn is not None:
            if getattr(fn, "__code__", None) is one_line:
                return True
            fn = getattr(fn, "__wrapped__", None)
        return False

    root = get_command(app)
    leaves = []
    for path in _command_paths():
        command = root
        for name in path:
            command = getattr(command, "commands", {})[name]
        if not hasattr(command, "commands"):
            leaves.append(path)
            assert wrapped(command.callback), path
    assert ["runs", "list"] in leaves and ["worker"] in leaves and ["version"] in leaves
