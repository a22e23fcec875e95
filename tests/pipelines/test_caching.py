"""Caching end to end: a change in code, params or data reruns exactly the steps it
affects; nothing changed serves the whole pipeline from the cache; ``explain`` says why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from modelyard import Client
from modelyard.pipelines import explain

HELPERS = """
def clean(rows):
    return [r for r in rows if r is not None]
"""

STEPS = """
import json
from pathlib import Path

import modelyard as my
import pipe_helpers

SCALE_BONUS = {bonus}


@my.step(cache={load_cache})
def load(path: str) -> list:
    print("loading", path)
    return json.loads(Path(path).read_text())


@my.step
def check(rows: list) -> list:
    return pipe_helpers.clean(rows)


@my.step
def train(rows: list, scale: int = 2) -> dict:
    return {{"weights": [r * scale + SCALE_BONUS for r in rows]}}


@my.step
def evaluate(model: dict, rows: list) -> float:
    return sum(model["weights"]) / len(rows)


@my.pipeline
def training(path: str, scale: int = 2):
    rows = check(load(path))
    evaluate(train(rows, scale), rows)
"""

Write = Callable[..., dict[str, ModuleType]]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([1, 2, None, 3]))
    return path


def _modules(write: Write, helpers: str = HELPERS, **knobs: object) -> ModuleType:
    values = {"bonus": 0, "load_cache": True, **knobs}
    return write(pipe_helpers=helpers, pipe_steps=STEPS.format(**values))["pipe_steps"]


def _why(client: Client, run_id: str) -> dict[str, str]:
    return {e.step: f"{e.outcome}: {'; '.join(e.reasons)}" for e in explain(run_id, client=client)}


def test_nothing_changed_serves_the_whole_pipeline_from_the_cache(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    steps = _modules(write_modules)
    first = steps.training.run(path=str(data), client=pipe_client)
    assert first.ran == ["load", "check", "train", "evaluate"]
    assert first.output("evaluate") == pytest.approx(12 / 3)

    again = steps.training.run(path=str(data), client=pipe_client)

    assert again.cached == ["load", "check", "train", "evaluate"] and again.ran == []
    assert again.output("evaluate") == first.output("evaluate")
    for name, step in again.steps.items():
        assert step.source_run_id == first.steps[name].run_id
        assert step.output.digest == first.steps[name].output.digest
    why = _why(pipe_client, again.run_id)
    assert why["train"] == f"cached: same key as run {first.steps['train'].run_id[:8]}"
    assert _why(pipe_client, first.run_id)["load"] == "ran: no earlier run"


def test_editing_a_step_reruns_it_and_what_depends_on_it(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    _modules(write_modules).training.run(path=str(data), client=pipe_client)
    edited = STEPS.replace("r * scale + SCALE_BONUS", "r * scale * scale + SCALE_BONUS")
    steps = write_modules(pipe_helpers=HELPERS, pipe_steps=edited.format(bonus=0, load_cache=True))[
        "pipe_steps"
    ]

    result = steps.training.run(path=str(data), client=pipe_client)

    assert result.cached == ["load", "check"]
    assert result.ran == ["train", "evaluate"]
    why = _why(pipe_client, result.run_id)
    assert why["train"] == "ran: source of step `pipe_steps.train` changed"
    assert why["evaluate"] == "ran: input model changed"


def test_a_step_whose_output_did_not_change_stops_the_reruns(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    _modules(write_modules).training.run(path=str(data), client=pipe_client)
    edited = STEPS.replace("    return {{", "    # a comment\n    return {{")
    steps = write_modules(pipe_helpers=HELPERS, pipe_steps=edited.format(bonus=0, load_cache=True))[
        "pipe_steps"
    ]

    result = steps.training.run(path=str(data), client=pipe_client)

    assert result.ran == ["train"]  # same model bytes: evaluate's key did not change
    assert _why(pipe_client, result.run_id)["evaluate"].startswith("cached: same key as run")


def test_editing_a_helper_reruns_the_steps_that_call_it(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    _modules(write_modules).training.run(path=str(data), client=pipe_client)
    helpers = HELPERS.replace("r is not None", "r is not None and r > 1")
    steps = _modules(write_modules, helpers=helpers)

    result = steps.training.run(path=str(data), client=pipe_client)

    assert result.cached == ["load"]
    assert result.ran == ["check", "train", "evaluate"]
    assert result.output("check") == [2, 3]
    why = _why(pipe_client, result.run_id)
    assert why["check"] == "ran: source of helper `pipe_helpers.clean` changed"
    assert why["train"] == "ran: input rows changed"
    assert why["evaluate"] == "ran: input model changed; input rows changed"


def test_changing_a_constant_a_step_reads_reruns_it(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    _modules(write_modules).training.run(path=str(data), client=pipe_client)
    result = _modules(write_modules, bonus=1).training.run(path=str(data), client=pipe_client)
    assert result.ran == ["train", "evaluate"]
    assert (
        _why(pipe_client, result.run_id)["train"]
        == "ran: value of `pipe_steps.SCALE_BONUS` changed"
    )


def test_changing_a_param_reruns_the_steps_that_take_it(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    steps = _modules(write_modules)
    steps.training.run(path=str(data), client=pipe_client)
    result = steps.training.run(path=str(data), scale=3, client=pipe_client)
    assert result.ran == ["train", "evaluate"]
    assert _why(pipe_client, result.run_id)["train"] == "ran: param scale 2 → 3"
    back = steps.training.run(path=str(data), scale=2, client=pipe_client)
    assert back.ran == []  # the first run's outputs are still there


def test_changing_the_data_reruns_exactly_the_affected_steps(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    steps = _modules(write_modules, load_cache=False)
    steps.training.run(path=str(data), client=pipe_client)

    same = steps.training.run(path=str(data), client=pipe_client)
    assert same.ran == ["load"]  # load always runs; its output did not change
    assert (
        _why(pipe_client, same.run_id)["load"] == "ran: cache turned off for the step (cache=False)"
    )

    data.write_text(json.dumps([1, 2, None, 3, 4]))
    changed = steps.training.run(path=str(data), client=pipe_client)
    assert changed.ran == ["load", "check", "train", "evaluate"]
    assert changed.output("evaluate") == pytest.approx(20 / 4)
    assert _why(pipe_client, changed.run_id)["check"] == "ran: input rows changed"


def test_cache_false_for_a_run_runs_every_step(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    steps = _modules(write_modules)
    steps.training.run(path=str(data), client=pipe_client)
    result = steps.training.run(path=str(data), client=pipe_client, cache=False)
    assert result.cached == []
    assert set(_why(pipe_client, result.run_id).values()) == {
        "ran: cache turned off for the run (cache=False)"
    }


def test_a_failed_step_fails_the_run_and_a_rerun_reuses_the_finished_steps(
    pipe_client: Client, write_modules: Write, data: Path
) -> None:
    failing = STEPS.replace(
        "    return sum(", "    raise RuntimeError('evaluation broke')\n    return sum("
    )
    steps = write_modules(
        pipe_helpers=HELPERS, pipe_steps=failing.format(bonus=0, load_cache=True)
    )["pipe_steps"]
    with pytest.raises(RuntimeError, match="evaluation broke"):
        steps.training.run(path=str(data), client=pipe_client)

    runs = {r.name.rpartition("/")[2]: r for r in pipe_client.search_runs("default", output="list")}
    pipeline_run = next(r for r in runs.values() if r.parent_id is None)
    assert pipeline_run.status == "failed"
    assert runs["evaluate"].status == "failed"
    assert "evaluation broke" in (runs["evaluate"].error or "")
    assert [runs[s].status for s in ("load", "check", "train")] == ["finished"] * 3
    assert _why(pipe_client, pipeline_run.id)["evaluate"] == "failed: no earlier run"

    fixed = _modules(write_modules).training.run(path=str(data), client=pipe_client)
    assert fixed.cached == ["load", "check", "train"]
    assert fixed.ran == ["evaluate"]
    assert (
        _why(pipe_client, fixed.run_id)["evaluate"]
        == "ran: source of step `pipe_steps.evaluate` changed"
    )
