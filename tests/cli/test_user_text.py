"""Whatever a user typed or logged is printed as it is: names, params, tags, paths, file
names, descriptions and error messages that look like Rich markup (``[draft]``,
``[/oops]``, ``[bold]``, ``[link=x]``) come out exactly, and nothing crashes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelyard import Client
from modelyard.cli._common import one_line_errors
from modelyard.errors import MissingDependency
from pipeline_files import pipeline_file

MARKUP = ["[draft] x", "[/oops]", "[bold]", "[link=x]"]


@pytest.fixture
def marked_run(client: Client, tmp_path: Path) -> str:
    """A run whose name, params, tags, artifact and error are all markup look-alikes."""
    report = tmp_path / "report.txt"
    report.write_text("hi")
    with client.start_run("p", name="[draft] x", capture=False) as run:
        run.log_params({"[/oops]": "[bold]", "depth": "[link=x]"})
        run.set_tag("[bold]", "[/oops]")
        run.log_artifact(report, "[link=x]/report.txt")
    return run.id


def _shows_all(output: str, *texts: str) -> None:
    assert "Traceback" not in output
    for text in texts:
        assert text in output, (text, output)


def test_runs_and_artifacts_print_user_text_as_text(
    cli: Callable[..., Any], client: Client, marked_run: str, tmp_path: Path
) -> None:
    with client.start_run("p", name="[/oops]", capture=False) as other:
        other.log_params({"[/oops]": "[draft] x", "depth": "[bold]"})
    listed = cli("runs", "list", "-p", "p")
    assert listed.exit_code == 0, listed.output
    _shows_all(listed.output, "[draft] x", "[/oops]")
    shown = cli("runs", "show", marked_run)
    assert shown.exit_code == 0, shown.output
    _shows_all(shown.output, "[draft] x", "[/oops]", "[bold]", "[link=x]", "[link=x]/report.txt")
    compared = cli("runs", "compare", marked_run, other.id)
    assert compared.exit_code == 0, compared.output
    _shows_all(compared.output, "[draft] x", "params.[/oops]", "[bold]", "[link=x]")
    arts = cli("artifacts", "list", marked_run)
    _shows_all(arts.output, "[link=x]/report.txt")
    dest = tmp_path / "[draft] out"
    got = cli("artifacts", "get", marked_run, "[link=x]/report.txt", "--dest", str(dest))
    assert got.exit_code == 0, got.output
    _shows_all(got.output.replace("\n", ""), str(dest / "[link=x]" / "report.txt"))
    lineage = cli("lineage", marked_run)
    assert lineage.exit_code == 0, lineage.output
    _shows_all(lineage.output, "[draft] x")


def test_error_lines_print_user_text_as_text(cli: Callable[..., Any]) -> None:
    for args, text in [
        (["runs", "list", "-p", "[bold]"], "project '[bold]'"),
        (["runs", "show", "[/oops]"], "'[/oops]'"),
        (["projects", "create", "[link=x]"], "'[link=x]'"),
        (["--config", "[draft] x.toml", "config", "show"], "[draft] x.toml"),
        (["pipelines", "run", "[/oops].py:tick"], "[/oops].py"),
    ]:
        result = cli(*args)
        assert result.exit_code != 0, (args, result.output)
        _shows_all(result.output, text)
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_the_install_hint_keeps_its_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    @one_line_errors
    def command() -> None:
        raise MissingDependency.for_extra("uvicorn", "server")

    with pytest.raises(Exception) as raised:
        command()
    assert getattr(raised.value, "exit_code", None) == 3
    assert "pip install 'modelyard[server]'" in capsys.readouterr().err


@pytest.mark.local_only("datasets are registered on the store itself here")
def test_data_commands_print_user_text_as_text(cli: Callable[..., Any]) -> None:
    first = Path("[draft] x.csv")  # in the working directory (tmp_path): a short label
    second = Path("[bold] y.csv")
    pd.DataFrame({"[bold]": [1, 2, 3], "[link=x]": ["a", "b", "a"]}).to_csv(first, index=False)
    pd.DataFrame({"[bold]": [7, 8, 9], "[/oops]": ["a", "b", "a"]}).to_csv(second, index=False)
    bad = cli("data", "register", "[/x]", str(first))
    assert bad.exit_code == 2
    _shows_all(bad.output, "'[/x]'")
    made = cli("data", "register", "d", str(first), "-d", "[bold] first", "-p", "p")
    assert made.exit_code == 0, made.output
    shown = cli("data", "show", "d", "-p", "p")
    _shows_all(shown.output, "[bold] first", "[link=x]", "[draft] x.csv")
    _shows_all(cli("data", "list").output, "[bold] first")
    profile = cli("data", "profile", str(first))
    assert profile.exit_code == 0, profile.output
    _shows_all(profile.output, "[bold]", "[link=x]", "[draft] x.csv")
    drift = cli("data", "drift", str(first), str(first))
    assert drift.exit_code == 0, drift.output
    _shows_all(drift.output, "[bold]", "[link=x]", "[draft] x.csv")
    apart = cli("data", "drift", str(first), str(second))
    assert apart.exit_code == 2
    _shows_all(apart.output, "['[link=x]']", "['[/oops]']")
    diff = cli("data", "diff", str(first), str(second))
    assert diff.exit_code == 0, diff.output
    _shows_all(diff.output, "[/oops]", "[link=x]", "[draft] x.csv")
    missing = cli("data", "show", "[/oops]", "-p", "p")
    assert missing.exit_code == 2
    _shows_all(missing.output, "[/oops]")


PIPES = """
import modelyard as my


@my.step
def emit(label: str) -> dict:
    return {"score": len(label)}


@my.pipeline
def tick(label: str = "x"):
    emit(label)
"""


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Path]:
    with pipeline_file(tmp_path, "markup_pipes", PIPES) as path:
        yield path


@pytest.mark.local_only("the schedule's pipeline is loaded here")
def test_pipelines_and_schedules_print_user_text_as_text(
    cli: Callable[..., Any], pipes: Path
) -> None:
    ref = f"{pipes}:tick"
    swept = cli(
        "pipelines", "sweep", ref, "--grid", "label=[/oops],[bold]", "--metric", "emit.score"
    )
    assert swept.exit_code == 0, swept.output
    _shows_all(swept.output, '"[/oops]"', '"[bold]"')
    made = cli(
        "schedules", "create", "nightly", "--pipeline", ref, "--param", "label=[link=x]",
        "--cron", "0 3 * * *", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["params"] == {"label": "[link=x]"}
    _shows_all(cli("schedules", "show", "nightly").output, "'[link=x]'")


@pytest.mark.local_only("governance commands work on the store itself")
def test_governance_commands_print_user_text_as_text(cli: Callable[..., Any]) -> None:
    bad = cli("users", "create", "[bold]", "--password-stdin", input="a long passphrase 1\n")
    assert bad.exit_code == 2
    _shows_all(bad.output, "'[bold]'")
    made = cli("tokens", "create", "--user", "ci", "--name", "[link=x]", "--service-account")
    assert made.exit_code == 0, made.output
    _shows_all(made.output, "'[link=x]'")
    _shows_all(cli("tokens", "list").output, "[link=x]")


def test_progress_descriptions_are_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from modelyard.cli import _common

    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, markup=False, width=120)
    monkeypatch.setattr(_common, "err_console", terminal)
    with _common.byte_progress("registering [/oops] [bold]") as update:
        update(5, 10)
    assert "registering [/oops] [bold]" in out.getvalue()
