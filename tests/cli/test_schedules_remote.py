"""``modelyard schedules`` through a server: the same commands and answers as embedded
(``tests/schedules/test_schedules_cli.py`` covers them in depth, embedded); a reference
only the server can load; ``modelyard worker`` refuses a server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.worker.worker import Worker
from pipeline_files import pipeline_file

#: ``tick`` with a parameter whose values are JSON (``--param sizes=[1, 2]``).
PIPES = """
import modelyard as my


@my.step
def emit(label: str) -> str:
    return label


@my.pipeline
def tick(label: str = "x", sizes: list | None = None):
    emit(label)
"""


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Path]:
    with pipeline_file(tmp_path, "cli_pipes", PIPES) as path:
        yield path


def test_create_list_show_toggle_fires_delete(
    cli: Callable[..., Any], embedded_settings: Settings, pipes: Path
) -> None:
    made = cli(
        "schedules", "create", "minutely", "--pipeline", "cli_pipes.py:tick",
        "--param", "label=7", "--param", "sizes=[1, 2]", "--cron", "* * * * *",
        "-p", "ml", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert data["params"] == {"label": "7", "sizes": [1, 2]}  # label is annotated str
    assert data["pipeline"] == f"{pipes.resolve()}:tick"
    listed = json.loads(cli("schedules", "list", "--json").stdout)
    assert [(s["project"], s["name"], s["trigger"]) for s in listed] == [
        ("ml", "minutely", "cron * * * * * (UTC)")
    ]
    shown = cli("schedules", "show", "minutely", "-p", "ml")
    assert shown.exit_code == 0 and "next fire" in shown.stdout
    off = cli("schedules", "disable", "minutely", "-p", "ml")
    assert off.exit_code == 0 and "is disabled" in off.stdout
    on = json.loads(cli("schedules", "enable", "minutely", "-p", "ml", "--json").stdout)
    assert on["enabled"] is True

    soon = datetime.now(UTC) + timedelta(minutes=2)
    with Worker(embedded_settings, clock=lambda: soon, log=lambda _: None) as worker:
        ran = worker.run_once().ran
    fires = json.loads(cli("schedules", "fires", "minutely", "-p", "ml", "--json").stdout)
    assert [(f["status"], f["run_id"]) for f in fires] == [("finished", ran[0].run_id)]
    table = cli("schedules", "fires", "minutely", "-p", "ml", "-n", "1")
    assert table.exit_code == 0 and "finished" in table.stdout
    bad = cli("schedules", "fires", "minutely", "-p", "ml", "-n", "0")
    assert bad.exit_code == 2 and "limit must be an integer from 1 to 500" in bad.stderr

    unknown = cli(
        "schedules", "create", "x", "--pipeline", "cli_pipes.py:tick", "--param", "nope=1",
        "--cron", "* * * * *",
    )  # fmt: skip
    assert unknown.exit_code == 2 and "has no parameter 'nope'" in unknown.stderr
    gone = cli("schedules", "delete", "minutely", "-p", "ml")
    assert gone.exit_code == 0 and "deleted schedule minutely" in gone.stdout
    missing = cli("schedules", "show", "minutely", "-p", "ml")
    assert missing.exit_code == 4
    assert missing.stderr.startswith(
        "error: schedule 'minutely' does not exist in project 'ml' (searched "
    )


def test_a_reference_only_the_server_loads(
    embedded_settings: Settings,
    server_process: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server runs in another folder: the reference is sent as typed and resolved
    there, without importing it; the parameters are read as JSON (else text), and their
    names are the worker's to check."""
    where = tmp_path / "server"
    where.mkdir()
    (where / "server_pipes.py").write_text(PIPES)
    monkeypatch.chdir(where)
    server = server_process(embedded_settings)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    base = ["--home", str(embedded_settings.home), "--tracking-uri", server.url]

    def create(name: str, *params: str) -> Any:
        args = ["schedules", "create", name, "--pipeline", "server_pipes.py:tick"]
        args += [f"--param={p}" for p in params]
        return runner.invoke(app, [*base, *args, "--cron", "0 3 * * *", "--json"])

    made = create("nightly", "label=7", "sizes=[1, 2]")
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert data["pipeline"] == f"{(where / 'server_pipes.py').resolve()}:tick"
    assert data["params"] == {"label": 7, "sizes": [1, 2]}  # not loaded here: JSON
    assert json.loads(create("words", "label=just words").stdout)["params"] == {
        "label": "just words"
    }
    unchecked = create("bad", "nope=1")
    assert unchecked.exit_code == 0, unchecked.output
    assert json.loads(unchecked.stdout)["params"] == {"nope": 1}
    embedded = runner.invoke(
        app, ["--store-url", embedded_settings.store_url, "schedules", "create", "e",
              "--pipeline", "server_pipes.py:tick", "--cron", "* * * * *"],
    )  # fmt: skip
    assert embedded.exit_code == 2 and "no such file" in embedded.stderr


def test_a_worker_refuses_a_server_in_one_line() -> None:
    result = CliRunner().invoke(app, ["--tracking-uri", "http://127.0.0.1:9", "worker", "--once"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "a worker needs the stores" in result.stderr
