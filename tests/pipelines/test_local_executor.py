"""The local executor: independent steps in worker processes, outputs through the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from fan_steps import FAN_HEAD

import modelyard as my
from modelyard import Client, InvalidInput

STEPS = (
    FAN_HEAD
    + """


@my.step
def combine(a: dict, b: dict) -> list:
    return [a["total"], b["total"], a["pid"] != b["pid"]]


@my.step
def broken(values: list) -> int:
    raise ValueError("broken in a worker")


@my.step
def fine(values: list) -> int:
    time.sleep(0.5)  # still running when broken fails: it is waited for
    return len(values)


@my.pipeline
def half(n: int):
    values = source(n)
    broken(values)
    fine(values)
"""
)

Write = Callable[..., dict[str, ModuleType]]


@pytest.mark.slow
def test_independent_steps_run_at_once_in_worker_processes(
    pipe_client: Client, write_modules: Write, tmp_path: Path
) -> None:
    steps = write_modules(local_steps=STEPS)["local_steps"]
    marks = tmp_path / "marks"
    marks.mkdir()

    result = steps.fan.run(n=4, marks=str(marks), client=pipe_client, executor="local")

    assert result.output("combine") == [6, 14, True]
    assert sorted(result.ran) == ["branch", "branch_2", "combine", "source"]
    parent = pipe_client.get_run(result.run_id)
    assert parent.status == "finished" and parent.tags["modelyard.executor"] == "local"
    for step in result.steps.values():
        assert pipe_client.get_run(step.run_id).parent_id == parent.id

    for mark in marks.iterdir():
        mark.unlink()
    again = steps.fan.run(n=4, marks=str(marks), client=pipe_client, executor="local")
    assert sorted(again.cached) == ["branch", "branch_2", "combine", "source"]


def test_the_local_executor_needs_module_level_steps(pipe_client: Client) -> None:
    @my.step
    def inner() -> int:
        return 1

    @my.pipeline
    def nested():
        inner()

    with pytest.raises(InvalidInput, match="must be defined at the top level of a module"):
        nested.run(client=pipe_client, executor="local")


@pytest.mark.slow
def test_a_failure_in_a_worker_fails_the_run_and_keeps_what_finished(
    pipe_client: Client, write_modules: Write
) -> None:
    steps = write_modules(local_steps=STEPS)["local_steps"]
    with pytest.raises(ValueError, match="broken in a worker"):
        steps.half.run(n=3, client=pipe_client, executor="local", max_workers=2)

    runs = {r.name.rpartition("/")[2]: r for r in pipe_client.search_runs("default", output="list")}
    assert runs["broken"].status == "failed"
    assert "broken in a worker" in (runs["broken"].error or "")
    assert runs["fine"].status == "finished" and runs["source"].status == "finished"
    assert next(r for r in runs.values() if r.parent_id is None).status == "failed"
