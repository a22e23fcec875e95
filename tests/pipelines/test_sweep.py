"""Sweeps: trials as child pipeline runs over a grid or random draws, ranked by a metric."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from modelyard import Client, InvalidInput
from modelyard.pipelines.result import PipelineResult
from modelyard.pipelines.sweep import sweep_points

STEPS = """
import os
import time
from pathlib import Path

import modelyard as my


@my.step
def load(n: int) -> list:
    return list(range(n))


@my.step
def fit(values: list, scale: float, shift: int, marks: str) -> list:
    if shift < 0:
        raise ValueError(f"negative shift {shift}")
    if marks:  # wait until two trials are fitting at the same time
        Path(marks, f"{scale}-{shift}").write_text(str(os.getpid()))
        deadline = time.monotonic() + 30
        while len(list(Path(marks).iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    return [v * scale + shift for v in values]


@my.step
def evaluate(fitted: list) -> dict:
    return {"total": sum(fitted), "label": "sum"}


@my.pipeline
def tune(n: int, scale: float = 1.0, shift: int = 0, marks: str = ""):
    evaluate(fit(load(n), scale, shift, marks))
"""

Write = Callable[..., dict[str, ModuleType]]


@pytest.fixture
def tune(write_modules: Write) -> ModuleType:
    return write_modules(sweep_steps=STEPS)["sweep_steps"].tune


def test_a_grid_runs_every_combination_as_child_runs_and_ranks_them(
    pipe_client: Client, tune: ModuleType
) -> None:
    sweep = tune.sweep(
        grid={"scale": [1.0, 2.0], "shift": [0, 10]},
        params={"n": 4},
        metric="evaluate.total",
        client=pipe_client,
    )

    assert [t.params for t in sweep.trials] == [
        {"scale": 1.0, "shift": 0},
        {"scale": 1.0, "shift": 10},
        {"scale": 2.0, "shift": 0},
        {"scale": 2.0, "shift": 10},
    ]
    assert [t.metric for t in sweep.trials] == [6.0, 46.0, 12.0, 52.0]
    assert sweep.best.params == {"scale": 2.0, "shift": 10}
    assert [t.metric for t in sweep.ranked()] == [52.0, 46.0, 12.0, 6.0]
    assert sweep.result().output("fit") == [10.0, 12.0, 14.0, 16.0]
    # load has the same key in every trial: it ran once, the others reused it
    assert [t.steps["load"].cached for t in sweep.trials].count(False) == 1

    parent = pipe_client.get_run(sweep.run_id)
    assert parent.status == "finished" and parent.tags["modelyard.sweep"] == "tune"
    assert parent.tags["modelyard.best_run"] == sweep.best.run_id
    assert parent.params["best.scale"] == "2.0" and parent.params["best.shift"] == "10"
    assert parent.params["sweep.grid"] == '{"scale": [1.0, 2.0], "shift": [0, 10]}'
    assert parent.metrics["best.evaluate.total"] == 52.0
    for trial in sweep.trials:
        run = pipe_client.get_run(trial.run_id)
        assert run.parent_id == parent.id and run.status == "finished"
        assert run.tags["modelyard.trial"] == str(trial.number)
        assert run.metrics["evaluate.total"] == trial.metric
        assert run.params["scale"] == str(trial.params["scale"]) and run.params["n"] == "4"
        for step in trial.steps.values():
            assert pipe_client.get_run(step.run_id).parent_id == trial.run_id

    lowest = tune.sweep(
        grid={"shift": [0, 10]},
        params={"n": 4},
        metric="evaluate.total",
        mode="min",
        client=pipe_client,
    )
    assert lowest.best.params == {"shift": 0} and lowest.best.metric == 6.0
    assert all(s.cached for t in lowest.trials for s in t.steps.values())  # seen before


def test_random_search_draws_trials_from_ranges_and_choices() -> None:
    space = {"lr": (0.01, 0.3), "depth": (2, 8), "loss": ["l1", "l2"]}
    points = sweep_points(None, space, 20, seed=7)

    assert len(points) == 20 and points == sweep_points(None, space, 20, seed=7)
    assert points != sweep_points(None, space, 20, seed=8)
    assert all(isinstance(p["lr"], float) and 0.01 <= p["lr"] <= 0.3 for p in points)
    assert all(isinstance(p["depth"], int) and 2 <= p["depth"] <= 8 for p in points)
    assert {p["loss"] for p in points} == {"l1", "l2"}
    both = sweep_points({"n": [1, 2]}, {"lr": (0.0, 1.0)}, 3, seed=0)
    assert [p["n"] for p in both] == [1, 1, 1, 2, 2, 2]
    assert [p["lr"] for p in both[:3]] == [p["lr"] for p in both[3:]]


def test_a_function_metric_and_a_random_sweep(pipe_client: Client, tune: ModuleType) -> None:
    def first(result: PipelineResult) -> float:
        return float(result.output("fit")[0])

    sweep = tune.sweep(
        random={"shift": (0, 100)},
        trials=3,
        seed=1,
        params={"n": 2},
        metric=first,
        mode="min",
        client=pipe_client,
    )
    assert [t.metric for t in sweep.trials] == [float(t.params["shift"]) for t in sweep.trials]
    assert sweep.best.metric == min(t.params["shift"] for t in sweep.trials)
    assert pipe_client.get_run(sweep.best.run_id).metrics["first"] == sweep.best.metric
    assert pipe_client.get_run(sweep.run_id).params["sweep.random"] == '{"shift": [0, 100]}'


def test_a_failed_trial_is_recorded_and_ranked_last(pipe_client: Client, tune: ModuleType) -> None:
    sweep = tune.sweep(
        grid={"shift": [-1, 3]}, params={"n": 2}, metric="evaluate.total", client=pipe_client
    )
    failed, fine = sweep.trials
    assert failed.status == "failed" and failed.metric is None
    assert failed.error == "ValueError: negative shift -1"
    assert pipe_client.get_run(failed.run_id).status == "failed"
    assert sweep.ranked() == [fine, failed] and sweep.best is fine
    assert pipe_client.get_run(sweep.run_id).status == "finished"

    with pytest.raises(ValueError, match="negative shift -2"):
        tune.sweep(
            grid={"shift": [-2]}, params={"n": 2}, metric="evaluate.total", client=pipe_client
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grid": {}}, "a sweep needs grid= or random="),
        ({"grid": {"shift": []}}, "grid 'shift' must be a non-empty list"),
        ({"grid": {"offset": [1]}}, "pipeline 'tune' has no parameter 'offset'"),
        ({"grid": {"n": [1]}}, "'n' is both swept and given a fixed value"),
        ({"grid": {"shift": [1]}, "trials": 3}, "trials= is the number of random draws"),
        ({"random": {"shift": (0, 9)}}, "random search needs trials=N"),
        ({"random": {"shift": (9, 0)}, "trials": 2}, "random 'shift': low 9 is above high 0"),
        ({"random": {"shift": "big"}, "trials": 2}, "random 'shift' must be \\(low, high\\)"),
        ({"grid": {"shift": [1]}, "metric": "score.total"}, "pipeline 'tune' has no step 'score'"),
        ({"grid": {"shift": [1]}, "mode": "best"}, "mode must be max or min"),
    ],
)
def test_a_bad_sweep_is_refused_before_any_run(
    pipe_client: Client, tune: ModuleType, kwargs: dict, message: str
) -> None:
    options = {"metric": "evaluate.total", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        tune.sweep(params={"n": 2}, client=pipe_client, **options)
    pipe_client.projects.ensure("default")
    assert pipe_client.search_runs("default", output="list").runs == []


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (
            "evaluate.r2",
            "metric 'evaluate.r2': the output of step 'evaluate' has no key 'r2' "
            "\\(keys: label, total\\)",
        ),
        ("evaluate.label", "metric 'evaluate.label' must be a number; got \"sum\""),
        ("fit.total", "it is a list, not a dict"),
    ],
)
def test_a_metric_missing_from_the_output_stops_the_sweep(
    pipe_client: Client, tune: ModuleType, metric: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        tune.sweep(grid={"shift": [1, 2]}, params={"n": 2}, metric=metric, client=pipe_client)
    runs = pipe_client.search_runs("default", output="list").runs
    assert {r.status for r in runs if r.parent_id is None} == {"failed"}
    trials = [r for r in runs if r.tags.get("modelyard.trial")]
    assert len(trials) == 2 and {r.status for r in trials} == {"failed"}


@pytest.mark.slow
def test_local_trials_run_at_the_same_time(
    pipe_client: Client, tune: ModuleType, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    sweep = tune.sweep(
        grid={"shift": [1, 2]},
        params={"n": 3, "marks": str(marks)},
        metric="evaluate.total",
        executor="local",
        max_workers=2,
        client=pipe_client,
    )
    assert [t.metric for t in sweep.trials] == [6.0, 9.0]
    assert len({p.read_text() for p in marks.iterdir()}) == 2  # two worker processes, at once
    assert pipe_client.get_run(sweep.run_id).tags["modelyard.executor"] == "local"


@pytest.mark.ray
@pytest.mark.slow
def test_ray_trials_run_at_the_same_time(
    ray_instance: ModuleType, pipe_client: Client, tune: ModuleType, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    sweep = tune.sweep(
        grid={"shift": [1, 2]},
        params={"n": 3, "marks": str(marks)},
        metric="evaluate.total",
        executor="ray",
        client=pipe_client,
    )
    assert [t.metric for t in sweep.trials] == [6.0, 9.0] and sweep.best.params == {"shift": 2}
    pids = {int(p.read_text()) for p in marks.iterdir()}
    assert len(pids) == 2 and os.getpid() not in pids  # two Ray workers, at once
    assert [t.steps["load"].cached for t in sweep.trials].count(False) == 1
