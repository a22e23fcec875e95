"""Executors: the order and the place steps run in.

Every executor walks the graph the same way (:func:`drive`): once a node's inputs are
known, its cache key is computed in the driver and the cache is asked there; a hit is
recorded at once, a miss is handed to a backend (:mod:`modelyard.pipelines.backends`)
-- run in this process one after another (``sequential``), in worker processes started
with ``spawn`` (``local``) or as Ray tasks (``ray``), as many at a time as the graph
allows. Steps exchange outputs through the artifact store in every case.

:func:`drive` runs several pipeline runs at once (the trials of a sweep): a step whose
cache key is the same as one still running in another run waits for it and is then
served from the cache, so a step shared by the trials runs once.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from modelyard._util import canonical_json, new_id
from modelyard.errors import InvalidInput
from modelyard.pipelines.backends import EXECUTORS, Backend, Executor, open_backend
from modelyard.pipelines.execute import PIPELINE_TAG, StepTask, record_cached, step_from_ref
from modelyard.pipelines.fingerprint import check_files, key_parts
from modelyard.pipelines.graph import Graph, Node
from modelyard.pipelines.result import PipelineResult, StepResult

if TYPE_CHECKING:
    from modelyard.sdk.client import Client
    from modelyard.sdk.run import ActiveRun

__all__ = [
    "EXECUTORS",
    "PARAMS_ARTIFACT",
    "Executor",
    "Plan",
    "check",
    "drive",
    "execute",
    "records_params",
]

EXECUTOR_TAG = "modelyard.executor"
#: The pipeline run's params as canonical JSON (what ``Pipeline.resume`` runs again).
PARAMS_ARTIFACT = "pipeline/params.json"


def execute(
    graph: Graph,
    params: dict[str, Any],
    *,
    client: Client,
    project: str,
    cache: bool,
    executor: str,
    max_workers: int | None,
    tags: Mapping[str, str] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Run a checked graph as a pipeline run (a parent run with one child per step);
    ``on_start(run_id)`` is called once the pipeline run exists."""
    check(graph, client, executor)
    project_id = client.tracking.ensure_project(project).id
    parent = client.start_run(
        project,
        name=f"{graph.pipeline}-{new_id()[:8]}",
        tags={**(tags or {}), PIPELINE_TAG: graph.pipeline, EXECUTOR_TAG: executor},
    )
    with parent:
        if on_start is not None:
            on_start(parent.id)
        params = {k: os.fspath(v) if isinstance(v, PurePath) else v for k, v in params.items()}
        parent.log_params(params)
        resumable = records_params(params)
        if resumable:
            parent.log_text(canonical_json(params), PARAMS_ARTIFACT)
        plan = Plan(graph, client, parent, project, project_id, cache)
        try:
            with open_backend(executor, client, max_workers) as backend:
                drive([plan], backend)
            if plan.failure is not None:
                raise plan.failure
        except Exception as exc:
            if resumable:
                exc.add_note(
                    f"pipeline run {parent.id} failed; after a fix, go on from the failed "
                    f"step: {graph.pipeline}.resume({parent.id!r}) in Python, or "
                    f"modelyard pipelines resume MODULE:{graph.pipeline} {parent.id}"
                )
            raise
    return PipelineResult(graph.pipeline, parent.id, plan.done, client)


def records_params(params: Mapping[str, Any]) -> bool:
    """Whether a pipeline run records ``params`` (every value has canonical JSON), so
    that :meth:`~modelyard.pipelines.Pipeline.resume` can run it again."""
    return all(_has_canonical_json(value) for value in params.values())


def _has_canonical_json(value: Any) -> bool:
    try:
        canonical_json(value)
    except InvalidInput:
        return False
    return True


def check(graph: Graph, client: Client, executor: str) -> None:
    """What must hold before a run of ``graph`` starts: a known executor (one of
    :data:`EXECUTORS`), a client on the stores, params with canonical JSON, files or
    folders at the path params, what the executor checks, and steps a worker can import
    (out of process)."""
    chosen = EXECUTORS.get(executor)
    if client.is_remote:
        raise InvalidInput(
            "pipelines run against the stores (embedded mode); this client works through "
            f"the server at {client.settings.tracking.uri}",
            field="tracking.uri",
        )
    for node in graph.nodes.values():
        for name, value in node.params.items():
            canonical_json(value, f"step {node.name!r}, param {name!r}")
        check_files(node.name, {name: node.params[name] for name in node.files})
    if chosen.check is not None:
        chosen.check()
    if not chosen.in_process:
        for node in graph.nodes.values():
            _check_importable(node, executor)


class Plan:
    """The state of one pipeline run: which steps are started and done, their tasks,
    and the first failure."""

    def __init__(
        self,
        graph: Graph,
        client: Client,
        parent: ActiveRun,
        project: str,
        project_id: str,
        cache: bool,
    ) -> None:
        self.graph = graph
        self.client = client
        self.parent = parent
        self.project = project
        self.project_id = project_id
        self.cache = cache
        self.index = client.services.steps
        self.started: set[str] = set()
        self.done: dict[str, StepResult] = {}
        self.failure: BaseException | None = None
        self._tasks: dict[str, StepTask] = {}

    def ready(self) -> list[Node]:
        """The nodes not started whose inputs are done (none once a step failed)."""
        if self.failure is not None:
            return []
        return [
            node
            for node in self.graph.nodes.values()
            if node.name not in self.started and node.upstream <= self.done.keys()
        ]

    def task(self, node: Node) -> StepTask:
        if node.name in self._tasks:
            return self._tasks[node.name]
        inputs = {param: self.done[producer].output for param, producer in node.inputs.items()}
        parts = key_parts(
            node.step,
            node.name,
            node.params,
            {p: ref.digest for p, ref in inputs.items()},
            node.files,
        )
        fn = node.step.fn
        task = StepTask(
            pipeline=self.graph.pipeline,
            node=node.name,
            step_ref=(fn.__module__, fn.__qualname__, fn.__code__.co_filename),
            params=node.params,
            inputs=inputs,
            parts=parts,
            project=self.project,
            project_id=self.project_id,
            parent_run_id=self.parent.id,
            run_name=f"{self.parent.name}/{node.name}",
            cache_off="step" if not node.step.options.cache else None if self.cache else "run",
        )
        self._tasks[node.name] = task
        return task

    def cached(self, task: StepTask) -> StepResult | None:
        """Record ``task`` as served from the cache if an earlier run's outputs are
        there to reuse."""
        if task.cache_off is not None:
            return None
        hit = self.index.find_cached(self.project_id, task.parts.key())
        if hit is None or hit.output is None or not self.client.blobs.exists(hit.output.digest):
            return None
        return record_cached(self.client, task, hit)

    @property
    def complete(self) -> bool:
        """Every step done, or a step failed."""
        return self.failure is not None or len(self.done) == len(self.graph.nodes)


def drive(
    plans: list[Plan], backend: Backend, on_complete: Callable[[Plan], None] | None = None
) -> None:
    """Run the steps of ``plans`` on ``backend`` until each plan is complete; a failure
    stops its own plan (the steps of it still running are waited for), not the others.
    ``on_complete`` is called for each plan as soon as nothing of it is left to run; an
    exception it raises stops everything (after the steps running are waited for)."""
    running: dict[Any, tuple[Plan, str, str]] = {}
    in_flight: Counter[str] = Counter()
    reported: set[int] = set()
    try:
        while True:
            _submit_ready(plans, backend, running, in_flight)
            busy = {id(plan) for plan, _, _ in running.values()}
            for i, plan in enumerate(plans):
                if i not in reported and plan.complete and id(plan) not in busy:
                    reported.add(i)
                    if on_complete is not None:
                        on_complete(plan)
            if not running:
                return
            for handle in backend.wait(list(running)):
                plan, name, key = running.pop(handle)
                in_flight[key] -= 1
                try:
                    plan.done[name] = backend.result(handle)
                except Exception as exc:
                    plan.failure = plan.failure or exc
    except Exception:
        while running:  # let the steps running end their runs
            for handle in backend.wait(list(running)):
                running.pop(handle)
        raise


def _submit_ready(
    plans: list[Plan],
    backend: Backend,
    running: dict[Any, tuple[Plan, str, str]],
    in_flight: Counter[str],
) -> None:
    """Start what is ready, up to the backend's capacity; cache hits are recorded at
    once and may make more ready. A step whose key is being computed elsewhere waits."""
    progress = True
    while progress:
        progress = False
        for plan in plans:
            for node in plan.ready():
                if backend.capacity is not None and len(running) >= backend.capacity:
                    return
                task = plan.task(node)
                key = task.parts.key()
                if task.cache_off is None and in_flight[key]:
                    continue
                plan.started.add(node.name)
                hit = plan.cached(task)
                if hit is not None:
                    plan.done[node.name] = hit
                    progress = True
                    continue
                running[backend.submit(node.step, task)] = (plan, node.name, key)
                in_flight[key] += 1
                progress = True


def _check_importable(node: Node, executor: str) -> None:
    fn = node.step.fn
    try:
        found = step_from_ref((fn.__module__, fn.__qualname__, fn.__code__.co_filename))
    except (ImportError, AttributeError, InvalidInput):
        found = None
    if found is not node.step:
        raise InvalidInput(
            f"step {node.name!r} ({fn.__module__}.{fn.__qualname__}) must be defined at the "
            f"top level of a module for the {executor} executor, which imports it in a worker",
            field=node.name,
        )
