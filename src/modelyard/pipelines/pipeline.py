"""Pipelines: a function that calls steps; ``.run(...)`` traces it into a DAG, checks
it and runs it as a tracked pipeline run.

>>> @pipeline                                              # doctest: +SKIP
... def training(month: str, n_estimators: int = 200):
...     df = check(load(month))
...     evaluate(train(df, n_estimators), df)
>>> result = training.run(month="2011-03")                # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from modelyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Graph
    from modelyard.pipelines.result import PipelineResult
    from modelyard.pipelines.sweep import Metric, SweepResult
    from modelyard.sdk.client import Client
    from modelyard.tracking.entities import Run

__all__ = ["Pipeline", "pipeline"]

#: Keyword arguments of :meth:`Pipeline.run` that a pipeline's own parameters may not use.
RUN_OPTIONS = ("client", "project", "cache", "executor", "max_workers", "tags", "on_start")
#: Tag of a run made by :meth:`Pipeline.resume`: the run it resumed.
RESUMED_FROM_TAG = "modelyard.resumed_from"


class Pipeline:
    """A function whose step calls make a DAG."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        if not inspect.isfunction(fn):
            raise InvalidInput(
                f"@pipeline decorates a function; got {type(fn).__name__}", field="pipeline"
            )
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        clash = [p for p in self.signature.parameters if p in RUN_OPTIONS]
        if clash:
            raise InvalidInput(
                f"pipeline {self.name!r}: parameter {clash[0]!r} has the name of an option of "
                f"run() ({', '.join(RUN_OPTIONS)}); rename it",
                field=clash[0],
            )
        functools.update_wrapper(self, fn)

    def __call__(self, **params: Any) -> Graph:
        """Trace the pipeline with ``params``: the checked DAG, nothing run."""
        from modelyard.pipelines.graph import trace

        return trace(self.name, self.fn, self.bind(params))

    def bind(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` checked against the pipeline's signature, defaults applied."""
        sig = self.signature
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        for key in params:
            if key not in sig.parameters and not takes_kwargs:
                raise InvalidInput(
                    f"pipeline {self.name!r} has no parameter {key!r} "
                    f"(its parameters: {', '.join(sig.parameters) or 'none'})",
                    field=key,
                )
        missing = [
            name
            for name, p in sig.parameters.items()
            if name not in params
            and p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]
        if missing:
            raise InvalidInput(
                f"pipeline {self.name!r} is missing its required parameter {missing[0]!r}",
                field=missing[0],
            )
        bound = sig.bind(**params)
        bound.apply_defaults()
        return dict(bound.arguments)

    def run(
        self,
        *,
        client: Client | None = None,
        project: str | None = None,
        cache: bool = True,
        executor: str = "sequential",
        max_workers: int | None = None,
        tags: Mapping[str, str] | None = None,
        on_start: Callable[[str], None] | None = None,
        **params: Any,
    ) -> PipelineResult:
        """Trace, check and run the pipeline with ``params``; returns when every step is
        done (raises the exception of a failed step, after recording it, with a note that
        names the pipeline run to :meth:`resume`).

        ``client``: where to track (default: one from the settings). ``project``:
        ``default`` unless given. ``cache=False`` runs every step. ``executor``:
        ``sequential`` (in this process), ``local`` (independent steps at once, in up
        to ``max_workers`` worker processes) or ``ray`` (independent steps at once as
        Ray tasks, on the cluster at the ``ray.address`` setting or a local instance).
        ``tags``: set on the pipeline run from its start; ``on_start(run_id)``: called
        once the pipeline run exists (its id is known even if a step then fails).
        """
        from modelyard.pipelines.executors import execute
        from modelyard.sdk.client import DEFAULT_PROJECT, Client

        bound = self.bind(params)
        graph = self(**bound)
        own = client is None
        active = client if client is not None else Client()
        try:
            return execute(
                graph,
                bound,
                client=active,
                project=project or DEFAULT_PROJECT,
                cache=cache,
                executor=executor,
                max_workers=max_workers,
                tags=tags,
                on_start=on_start,
            )
        finally:
            if own:
                active.close()

    def resume(
        self,
        run_id: str,
        *,
        client: Client | None = None,
        executor: str = "sequential",
        max_workers: int | None = None,
        on_start: Callable[[str], None] | None = None,
    ) -> PipelineResult:
        """Run a failed (or killed, or lost) run of this pipeline again with the same
        params in the same project: the steps that finished are served from the cache,
        so it goes on from the step that failed. The new run is tagged
        ``modelyard.resumed_from`` with ``run_id`` (a full id or a unique prefix);
        ``on_start(new_run_id)`` is called once it exists, as in :meth:`run`."""
        from modelyard.sdk.client import Client

        own = client is None
        active = client if client is not None else Client()
        try:
            run, params = self._resumable(active, run_id)
            return self.run(
                client=active,
                project=run.project,
                executor=executor,
                max_workers=max_workers,
                tags={RESUMED_FROM_TAG: run.id},
                on_start=on_start,
                **params,
            )
        finally:
            if own:
                active.close()

    def _resumable(self, client: Client, run_id: str) -> tuple[Run, dict[str, Any]]:
        import json

        from modelyard.pipelines.execute import PIPELINE_TAG
        from modelyard.pipelines.executors import PARAMS_ARTIFACT

        run = client.get_run(client.tracking.resolve_run_id(run_id))
        if run.tags.get(PIPELINE_TAG) != self.name or run.parent_id is not None:
            raise InvalidInput(
                f"run {run.id} is not a run of pipeline {self.name!r}", field="run_id"
            )
        if run.status not in ("failed", "killed", "lost"):
            raise InvalidInput(
                f"run {run.id} is {run.status}: only a failed, killed or lost run is resumed "
                "(run the pipeline again to rerun a finished one)",
                field="run_id",
            )
        try:
            recorded = client.read_artifact(run.id, PARAMS_ARTIFACT)
        except NotFound:
            raise InvalidInput(
                f"run {run.id} did not record its params as JSON, so it cannot be resumed; "
                "run the pipeline again with them",
                field="run_id",
            ) from None
        return run, json.loads(recorded)

    def sweep(
        self,
        grid: Mapping[str, Sequence[Any]] | None = None,
        *,
        random: Mapping[str, Any] | None = None,
        trials: int | None = None,
        seed: int = 0,
        metric: Metric,
        mode: str = "max",
        params: Mapping[str, Any] | None = None,
        executor: str = "sequential",
        max_workers: int | None = None,
        client: Client | None = None,
        project: str | None = None,
        cache: bool = True,
    ) -> SweepResult:
        """Run the pipeline once per point of a parameter space, each run (a *trial*) a
        child of one sweep run, and rank the trials by ``metric``.

        ``grid={"n_estimators": [50, 100]}``: every combination of the values.
        ``random={"lr": (0.01, 0.3), "depth": (2, 8), "loss": ["l1", "l2"]}`` with
        ``trials=N``: N draws (uniform in a ``(low, high)`` range -- integers when both
        ends are -- or a choice from a list) from ``seed``; with a grid too, each draw
        is tried with every grid point. ``params``: the fixed parameters.
        ``metric``: ``"evaluate.r2"`` (key ``r2`` of the dict step ``evaluate``
        returns), ``"score"`` (a step returning a number), or a function of the
        trial's :class:`PipelineResult`; logged on each trial run; ``mode``: ``max`` or
        ``min``. ``executor``: as :meth:`run`; with ``local`` or ``ray`` the trials'
        steps run at the same time, and a step that is the same in several trials
        runs once. A failed trial is recorded and ranked last; if every trial fails,
        the first failure is raised.
        """
        from modelyard.pipelines.sweep import metric_name, run_sweep, sweep_points
        from modelyard.sdk.client import DEFAULT_PROJECT, Client

        points = sweep_points(grid, random, trials, seed)
        definition: dict[str, Any] = {"metric": metric_name(metric), "mode": mode}
        if grid:
            definition["grid"] = {k: list(v) for k, v in grid.items()}
        if random:
            definition |= {"random": dict(random), "trials": trials, "seed": seed}
        own = client is None
        active = client if client is not None else Client()
        try:
            return run_sweep(
                self,
                points,
                fixed=dict(params or {}),
                metric=metric,
                mode=mode,
                executor=executor,
                max_workers=max_workers,
                client=active,
                project=project or DEFAULT_PROJECT,
                cache=cache,
                definition=definition,
            )
        finally:
            if own:
                active.close()

    def __repr__(self) -> str:
        return f"<Pipeline {self.name} ({self.fn.__module__}.{self.fn.__qualname__})>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(name="...")``."""
    if fn is not None:
        return Pipeline(fn, name)

    def decorate(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name)

    return decorate
