"""``Pipeline.resume`` and ``modelyard pipelines resume``: a failed run goes on from the
step that failed, with the finished steps served from the cache."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard import Client, InvalidInput
from modelyard.cli.main import app
from modelyard.config import Settings

SOURCE = """
from pathlib import Path

import modelyard as my

BROKEN = Path({flag!r})


@my.step
def load(rows: int) -> list:
    return list(range(rows))


@my.step
def scale(values: list, factor: float) -> list:
    if BROKEN.exists():
        raise RuntimeError("the scaler is broken")
    return [v * factor for v in values]


@my.step
def total(values: list) -> float:
    return float(sum(values))


@my.pipeline
def flow(rows: int, factor: float = 2.0):
    total(scale(load(rows), factor))


@my.pipeline
def other(rows: int):
    load(rows)
"""


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    broken = tmp_path / "broken"
    broken.touch()
    return broken


@pytest.fixture
def resumable(write_modules: Callable[..., dict[str, ModuleType]], flag: Path) -> ModuleType:
    return write_modules(resumable_steps=SOURCE.format(flag=str(flag)))["resumable_steps"]


def _failed_run(client: Client, module: ModuleType) -> str:
    started: list[str] = []
    with pytest.raises(RuntimeError, match="broken") as raised:
        module.flow.run(client=client, project="p", rows=4, factor=0.5, on_start=started.append)
    runs = client.search_runs("p", filter="tags.`modelyard.pipeline` = 'flow'", output="list")
    (failed,) = [r for r in runs.runs if r.parent_id is None]
    assert failed.status == "failed"
    assert started == [failed.id]  # known from the start, though a step failed
    assert raised.value.__notes__ == [  # the user's own exception, with the run to resume
        f"pipeline run {failed.id} failed; after a fix, go on from the failed step: "
        f"flow.resume({failed.id!r}) in Python, or modelyard pipelines resume MODULE:flow "
        f"{failed.id}"
    ]
    return failed.id


def test_resume_goes_on_from_the_failed_step(
    pipe_client: Client, resumable: ModuleType, flag: Path
) -> None:
    failed = _failed_run(pipe_client, resumable)
    flag.unlink()  # the fix
    result = resumable.flow.resume(failed[:10], client=pipe_client)
    assert result.cached == ["load"] and result.ran == ["scale", "total"]
    assert result.output("total") == 3.0  # the failed run's params: rows=4, factor=0.5
    again = pipe_client.get_run(result.run_id)
    assert again.project == "p" and again.status == "finished"
    assert again.tags["modelyard.resumed_from"] == failed
    assert again.params == {"rows": "4", "factor": "0.5"}


def test_only_a_failed_run_of_the_same_pipeline_is_resumed(
    pipe_client: Client, resumable: ModuleType, flag: Path
) -> None:
    failed = _failed_run(pipe_client, resumable)
    with pytest.raises(InvalidInput, match="not a run of pipeline 'other'"):
        resumable.other.resume(failed, client=pipe_client)
    flag.unlink()
    done = resumable.flow.resume(failed, client=pipe_client)
    with pytest.raises(InvalidInput, match="is finished: only a failed"):
        resumable.flow.resume(done.run_id, client=pipe_client)
    step_run = done.steps["total"].run_id
    with pytest.raises(InvalidInput, match="not a run of pipeline"):
        resumable.flow.resume(step_run, client=pipe_client)


def test_resume_from_the_command_line(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: Path
) -> None:
    (tmp_path / "cli_resumable.py").write_text(SOURCE.format(flag=str(flag)))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "cli_resumable", raising=False)
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(app, [*base, "pipelines", *args])

    failed = cli("run", "cli_resumable:flow", "--param", "rows=3", "-p", "p")
    assert failed.exit_code == 1
    with Client(settings) as client:
        (run,) = [r for r in client.search_runs("p", output="list").runs if r.parent_id is None]
    assert failed.output == (
        f"error: pipeline 'flow' failed in run {run.id}: RuntimeError: the scaler is broken "
        "(the step's run holds the traceback); after a fix, go on from the failed step: "
        f"modelyard pipelines resume cli_resumable:flow {run.id}\n"
    )
    again = cli("resume", "cli_resumable:flow", run.id[:8])
    with Client(settings) as client:
        runs = client.search_runs("p", output="list").runs
    (second,) = [r for r in runs if r.tags.get("modelyard.resumed_from") == run.id]
    assert f"failed in run {second.id}: RuntimeError" in again.output
    assert again.output.endswith(f"resume cli_resumable:flow {second.id}\n")
    flag.unlink()
    resumed = cli("resume", "cli_resumable:flow", run.id[:8], "--json")
    assert resumed.exit_code == 0, resumed.output
    steps = json.loads(resumed.output)["steps"]
    assert [(s["step"], s["outcome"]) for s in steps] == [
        ("load", "cached"),
        ("scale", "ran"),
        ("total", "ran"),
    ]
    finished = cli("resume", "cli_resumable:flow", json.loads(resumed.output)["run_id"])
    assert finished.exit_code == 2 and "only a failed" in finished.output
    sys.modules.pop("cli_resumable", None)
