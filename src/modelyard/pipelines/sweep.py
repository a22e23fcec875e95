"""Sweeps: a pipeline run over a grid or random draws of its parameters.

A sweep is a run; each *trial* is a pipeline run whose parent is the sweep run. The
trials' steps are scheduled together (:func:`modelyard.pipelines.executors.drive`), so
with the ``local`` or ``ray`` executor trials run at the same time, and a step that is
the same in several trials (same code, params and inputs) runs once and is served from
the cache to the others. Each trial's metric is read from a step's output (or computed
by a function of its :class:`PipelineResult`) in the driver, logged on the trial's run,
and the best trial is logged on the sweep run.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import random as _random
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard._util import new_id
from modelyard.errors import InvalidInput
from modelyard.pipelines.backends import open_backend
from modelyard.pipelines.execute import PIPELINE_TAG
from modelyard.pipelines.executors import EXECUTOR_TAG, Plan, check, drive
from modelyard.pipelines.result import PipelineResult, StepResult

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Graph
    from modelyard.pipelines.pipeline import Pipeline
    from modelyard.sdk.client import Client

__all__ = ["Metric", "SweepResult", "Trial", "sweep_points"]

#: A metric: ``"step.key"`` (key of the dict a step returns), ``"step"`` (a step that
#: returns a number), or a function of a trial's PipelineResult.
Metric = str | Callable[[PipelineResult], float]
#: On a sweep run: the pipeline swept. On a trial: the sweep run, and the trial's number.
SWEEP_TAG = "modelyard.sweep"
SWEEP_RUN_TAG = "modelyard.sweep_run"
TRIAL_TAG = "modelyard.trial"
BEST_RUN_TAG = "modelyard.best_run"
MODES = ("max", "min")


@dataclass(frozen=True, slots=True)
class Trial:
    """One pipeline run of a sweep: the swept params, its status and its metric."""

    number: int
    params: dict[str, Any]
    run_id: str
    status: str
    metric: float | None
    error: str | None
    steps: dict[str, StepResult] = field(repr=False)


@dataclass(slots=True)
class SweepResult:
    """A finished sweep. ``trials`` are in the order they were defined; ``ranked()``
    best first; ``result(trial)`` reads a trial's outputs back."""

    pipeline: str
    run_id: str
    metric: str
    mode: str
    trials: list[Trial]
    client: Client = field(repr=False)

    def ranked(self) -> list[Trial]:
        """The finished trials best first (NaN last), then the failed ones."""
        sign = -1.0 if self.mode == "max" else 1.0

        def order(t: Trial) -> tuple[bool, bool, float]:
            value = t.metric if t.metric is not None else math.nan
            return (t.status != "finished", math.isnan(value), sign * value)

        return sorted(self.trials, key=order)

    @property
    def best(self) -> Trial:
        """The finished trial with the best metric."""
        return self.ranked()[0]

    def result(self, trial: Trial | None = None) -> PipelineResult:
        """The pipeline result of ``trial`` (default: the best), to read its outputs."""
        chosen = trial or self.best
        return PipelineResult(self.pipeline, chosen.run_id, chosen.steps, self.client)


def sweep_points(
    grid: Mapping[str, Sequence[Any]] | None,
    random: Mapping[str, Any] | None,
    trials: int | None,
    seed: int,
) -> list[dict[str, Any]]:
    """The params of each trial: the cartesian product of ``grid``, and with ``random``
    ``trials`` draws (``(low, high)``: uniform, integers when both are ints; a list: a
    choice), each combined with every grid point."""
    if not grid and not random:
        raise InvalidInput("a sweep needs grid= or random= (and trials=)", field="grid")
    points: list[dict[str, Any]] = [{}]
    for key, values in (grid or {}).items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise InvalidInput(
                f"grid {key!r} must be a non-empty list of values; got {values!r}", field=key
            )
        points = [{**point, key: value} for point, value in itertools.product(points, values)]
    if not random:
        if trials is not None:
            raise InvalidInput(
                "trials= is the number of random draws; give random=", field="trials"
            )
        return points
    if trials is None or isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise InvalidInput(f"random search needs trials=N (N >= 1); got {trials!r}", field="trials")
    both = sorted(set(random) & set(grid or {}))
    if both:
        raise InvalidInput(f"{both[0]!r} is both in grid and in random", field=both[0])
    rng = _random.Random(seed)
    draws = [{key: _draw(rng, key, space) for key, space in random.items()} for _ in range(trials)]
    return [{**point, **draw} for point in points for draw in draws]


def _draw(rng: _random.Random, key: str, space: Any) -> Any:
    if isinstance(space, tuple) and len(space) == 2 and all(_is_number(v) for v in space):
        low, high = space
        if low > high:
            raise InvalidInput(f"random {key!r}: low {low} is above high {high}", field=key)
        if isinstance(low, int) and isinstance(high, int):
            return rng.randint(low, high)
        return rng.uniform(float(low), float(high))
    if isinstance(space, list) and space:
        return rng.choice(space)
    raise InvalidInput(
        f"random {key!r} must be (low, high) for a range or a non-empty list of choices; "
        f"got {space!r}",
        field=key,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def metric_name(metric: Metric) -> str:
    """What a metric is logged as: its text, or the function's name."""
    if isinstance(metric, str):
        return metric
    return getattr(metric, "__name__", "metric")


def run_sweep(
    pipeline: Pipeline,
    points: list[dict[str, Any]],
    *,
    fixed: dict[str, Any],
    metric: Metric,
    mode: str,
    executor: str,
    max_workers: int | None,
    client: Client,
    project: str,
    cache: bool,
    definition: dict[str, Any],
) -> SweepResult:
    """Run one pipeline run per point under a sweep run; see :meth:`Pipeline.sweep`."""
    if mode not in MODES:
        raise InvalidInput(f"mode must be max or min; got {mode!r}", field="mode")
    if not isinstance(metric, str) and not callable(metric):
        raise InvalidInput(
            f"metric must be 'step.key' or a function; got {metric!r}", field="metric"
        )
    name = metric_name(metric)
    clash = sorted(set(fixed) & set(points[0]))
    if clash:
        raise InvalidInput(f"{clash[0]!r} is both swept and given a fixed value", field=clash[0])
    traced: list[tuple[dict[str, Any], Graph]] = []
    for point in points:
        bound = pipeline.bind({**fixed, **point})
        graph = pipeline(**bound)
        check(graph, client, executor)
        if isinstance(metric, str) and metric.partition(".")[0] not in graph.nodes:
            raise InvalidInput(
                f"metric {metric!r}: pipeline {pipeline.name!r} has no step "
                f"{metric.partition('.')[0]!r} (its steps: {', '.join(graph.nodes)})",
                field="metric",
            )
        traced.append((bound, graph))
    project_id = client.tracking.ensure_project(project).id
    sweep_run = client.start_run(
        project,
        name=f"{pipeline.name}-sweep-{new_id()[:8]}",
        tags={SWEEP_TAG: pipeline.name, EXECUTOR_TAG: executor},
    )
    trials: list[Trial] = []
    with sweep_run:
        sweep_run.log_params({**fixed, **{f"sweep.{k}": v for k, v in definition.items()}})
        plans: list[Plan] = []
        numbers_of: dict[int, int] = {}
        for number, (bound, graph) in enumerate(traced):
            run = client.start_run(
                project,
                name=f"{pipeline.name}-{new_id()[:8]}",
                parent=sweep_run.id,
                tags={
                    PIPELINE_TAG: pipeline.name,
                    EXECUTOR_TAG: executor,
                    SWEEP_RUN_TAG: sweep_run.id,
                    TRIAL_TAG: str(number),
                },
                capture=False,  # the sweep run has the git state and the packages
            )
            plan = Plan(graph, client, run, project, project_id, cache)
            plans.append(plan)
            numbers_of[id(plan)] = number
            try:
                run.log_params(bound)
            except BaseException as exc:
                _end_open(plans, exc)
                raise

        def finish(plan: Plan) -> None:
            number = numbers_of[id(plan)]
            run = plan.parent
            if plan.failure is not None:
                failure = plan.failure
                run.end("failed", error="".join(traceback.format_exception(failure)))
                error = f"{type(failure).__name__}: {failure}"
                trials.append(_trial(number, points, run.id, "failed", None, error, plan))
                return
            value = _metric_value(
                metric, name, PipelineResult(pipeline.name, run.id, plan.done, client)
            )
            run.log_metric(name, value)
            run.end("finished")
            sweep_run.log_metric(name, value, step=number)
            trials.append(_trial(number, points, run.id, "finished", value, None, plan))

        try:
            with open_backend(executor, client, max_workers) as backend:
                drive(plans, backend, on_complete=finish)
        except BaseException as exc:
            _end_open(plans, exc)
            raise
        trials.sort(key=lambda t: t.number)
        result = SweepResult(pipeline.name, sweep_run.id, name, mode, trials, client)
        if all(t.status == "failed" for t in trials):
            first = next(p.failure for p in plans if p.failure is not None)
            assert first is not None
            raise first
        best = result.best
        sweep_run.set_tag(BEST_RUN_TAG, best.run_id)
        sweep_run.log_params({f"best.{k}": v for k, v in best.params.items()})
        if best.metric is not None:
            sweep_run.log_metric(f"best.{name}", best.metric)
    return result


def _trial(
    number: int,
    points: list[dict[str, Any]],
    run_id: str,
    status: str,
    metric: float | None,
    error: str | None,
    plan: Plan,
) -> Trial:
    return Trial(number, points[number], run_id, status, metric, error, dict(plan.done))


def _end_open(plans: list[Plan], exc: BaseException) -> None:
    """End the trial runs still open when the sweep stops on ``exc``."""
    status = "killed" if isinstance(exc, KeyboardInterrupt) else "failed"
    for plan in plans:
        plan.parent.end(status, error=f"the sweep stopped: {type(exc).__name__}: {exc}")


def _metric_value(metric: Metric, name: str, result: PipelineResult) -> float:
    if isinstance(metric, str):
        step, dot, key = metric.partition(".")
        output = result.output(step)
        if dot:
            if not isinstance(output, Mapping) or key not in output:
                keys = f"keys: {', '.join(map(str, output))}" if isinstance(output, Mapping) else ""
                raise InvalidInput(
                    f"metric {metric!r}: the output of step {step!r} has no key {key!r} "
                    f"({keys or f'it is a {type(output).__name__}, not a dict'})",
                    field="metric",
                )
            output = output[key]
        value = output
    else:
        value = metric(result)
    if not _is_number(value):
        raise InvalidInput(
            f"metric {name!r} must be a number; got {json.dumps(value, default=repr)[:80]}",
            field="metric",
        )
    return float(value)
