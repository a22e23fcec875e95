"""Executors: the order and the place steps run in.

Both executors walk the graph the same way: once a node's inputs are known, its cache
key is computed in the driver and the cache is asked there; a hit is recorded at once,
a miss is run -- in this process one after another (``sequential``), or in worker
processes started with ``spawn``, as many at a time as the graph allows (``local``).
Steps exchange outputs through the artifact store in both cases.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from typing import TYPE_CHECKING, Any

from modelyard._util import new_id
from modelyard.errors import InvalidInput
from modelyard.pipelines.execute import (
    PIPELINE_TAG,
    StepTask,
    record_cached,
    run_step,
    step_from_ref,
)
from modelyard.pipelines.fingerprint import canonical_json, key_parts
from modelyard.pipelines.graph import Graph, Node
from modelyard.pipelines.index import StepIndex
from modelyard.pipelines.result import PipelineResult, StepResult

if TYPE_CHECKING:
    from modelyard.client import Client
    from modelyard.config import Settings
    from modelyard.tracking.run import ActiveRun

__all__ = ["EXECUTORS", "execute"]

EXECUTORS: tuple[str, ...] = ("sequential", "local")


def execute(
    graph: Graph,
    params: dict[str, Any],
    *,
    client: Client,
    project: str,
    cache: bool,
    executor: str,
    max_workers: int | None,
) -> PipelineResult:
    """Run a checked graph as a pipeline run (a parent run with one child per step)."""
    if executor not in EXECUTORS:
        raise InvalidInput(
            f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}", field="executor"
        )
    if client.is_remote:
        raise InvalidInput(
            "pipelines run against the stores (embedded mode); this client works through "
            f"the server at {client.settings.tracking.uri}",
            field="tracking.uri",
        )
    for node in graph.nodes.values():
        for name, value in node.params.items():
            canonical_json(value, f"step {node.name!r}, param {name!r}")
    if executor == "local":
        for node in graph.nodes.values():
            _check_importable(node)
    project_id = client.tracking.ensure_project(project).id
    parent = client.start_run(
        project,
        name=f"{graph.pipeline}-{new_id()[:8]}",
        tags={PIPELINE_TAG: graph.pipeline, "modelyard.executor": executor},
    )
    with parent:
        parent.log_params(params)
        plan = _Plan(graph, client, parent, project, project_id, cache)
        if executor == "sequential":
            for node in graph.nodes.values():
                task = plan.task(node)
                plan.done[node.name] = plan.cached(task) or run_step(client, node.step, task)
        else:
            _run_local(plan, client.settings, max_workers)
    return PipelineResult(graph.pipeline, parent.id, plan.done, client)


class _Plan:
    """The state of one pipeline run: which steps are done, and their tasks."""

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
        self.index = StepIndex(client.store)
        self.done: dict[str, StepResult] = {}

    def ready(self, started: set[str]) -> list[Node]:
        return [
            node
            for node in self.graph.nodes.values()
            if node.name not in started and node.upstream <= self.done.keys()
        ]

    def task(self, node: Node) -> StepTask:
        inputs = {param: self.done[producer].output for param, producer in node.inputs.items()}
        parts = key_parts(
            node.step, node.name, node.params, {p: ref.digest for p, ref in inputs.items()}
        )
        fn = node.step.fn
        return StepTask(
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
            producers={param: self.done[p].run_id for param, p in node.inputs.items()},
            cache_off="step" if not node.step.options.cache else None if self.cache else "run",
        )

    def cached(self, task: StepTask) -> StepResult | None:
        """Record ``task`` as served from the cache if an earlier run's outputs are
        there to reuse."""
        if task.cache_off is not None:
            return None
        hit = self.index.find_cached(self.project_id, task.parts.key())
        if hit is None or hit.output is None or not self.client.blobs.exists(hit.output.digest):
            return None
        return record_cached(self.client, task, hit)


def _check_importable(node: Node) -> None:
    fn = node.step.fn
    try:
        found = step_from_ref((fn.__module__, fn.__qualname__, fn.__code__.co_filename))
    except (ImportError, AttributeError, InvalidInput):
        found = None
    if found is not node.step:
        raise InvalidInput(
            f"step {node.name!r} ({fn.__module__}.{fn.__qualname__}) must be defined at the "
            "top level of a module for the local executor, which imports it in a worker",
            field=node.name,
        )


def _work(settings: Settings, task: StepTask) -> StepResult:
    """Run one step in a worker process, with a Client of its own."""
    from modelyard.client import Client

    with Client(settings) as client:
        return run_step(client, step_from_ref(task.step_ref), task)


def _run_local(plan: _Plan, settings: Settings, max_workers: int | None) -> None:
    context = multiprocessing.get_context("spawn")
    started: set[str] = set()
    running: dict[cf.Future[StepResult], str] = {}
    failure: BaseException | None = None
    with cf.ProcessPoolExecutor(max_workers=max_workers, mp_context=context) as pool:
        while True:
            if failure is None:
                for node in plan.ready(started):
                    started.add(node.name)
                    task = plan.task(node)
                    hit = plan.cached(task)
                    if hit is not None:
                        plan.done[node.name] = hit
                        continue
                    running[pool.submit(_work, settings, task)] = node.name
                if plan.ready(started):  # cache hits made more steps ready
                    continue
            if not running:
                break
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                try:
                    plan.done[name] = future.result()
                except BaseException as exc:
                    failure = failure or exc
    if failure is not None:
        raise failure
