"""Running one step: load its inputs from the blob store, call the function (with
retries, a timeout and its stdout/stderr captured), store its output through a
materializer, and record the step run -- or, on a cache hit, record a step run that
reuses the outputs of the run that made them.

:func:`run_step` works the same in the driver and in a worker process: everything it
needs travels in a :class:`StepTask` and through the stores, never through memory.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from modelyard.errors import InvalidInput
from modelyard.lineage.edges import ARTIFACT, INPUT, OUTPUT, RUN
from modelyard.lineage.service import Edge
from modelyard.pipelines.fingerprint import KeyParts
from modelyard.pipelines.materializers import materializer_for, materializer_named
from modelyard.pipelines.result import StepResult
from modelyard.pipelines.step import Step
from modelyard.steps.entities import OutputRef, StepRecord

if TYPE_CHECKING:
    from modelyard.sdk.client import Client
    from modelyard.tracking.service import TrackingService

__all__ = ["StepTask", "load_output", "record_cached", "run_step", "step_from_ref"]

STDOUT_ARTIFACT = "logs/stdout.txt"
STDERR_ARTIFACT = "logs/stderr.txt"
#: Tags every step run carries.
PIPELINE_TAG = "modelyard.pipeline"
STEP_TAG = "modelyard.step"
CACHED_TAG = "modelyard.cached"
CACHED_FROM_TAG = "modelyard.cached_from"
CACHE_KEY_TAG = "modelyard.cache_key"
CACHE_OFF_TAG = "modelyard.cache_disabled"
ATTEMPTS_TAG = "modelyard.attempts"
DATASET_TAG = "modelyard.dataset"
#: The lineage relation from the run that made an output to a cached step run reusing it.
REUSED = "reused"


@dataclass(frozen=True, slots=True)
class StepTask:
    """Everything needed to run one step, picklable (a worker process gets a copy)."""

    pipeline: str
    node: str
    step_ref: tuple[str, str, str | None]  # module, qualname, file
    params: dict[str, Any]
    inputs: dict[str, OutputRef]
    parts: KeyParts
    project: str
    project_id: str
    parent_run_id: str
    run_name: str
    #: Why the cache was not asked: "step" (``cache=False`` on it), "run", or None.
    cache_off: str | None = None


def step_from_ref(ref: tuple[str, str, str | None]) -> Step[..., Any]:
    """The Step a :attr:`StepTask.step_ref` names, importing its module (from its file
    when it is not importable by name, as a module loaded from a path)."""
    module_name, qualname, file = ref
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if file is None:
                raise
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:
                raise
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, Step):
        raise InvalidInput(f"{module_name}.{qualname} is not a step", field="step")
    return found


def _service(client: Client) -> TrackingService:
    return client.services.tracking


def record_cached(client: Client, task: StepTask, hit: StepRecord) -> StepResult:
    """Record a step run served from the cache: it reuses ``hit``'s output."""
    assert hit.output is not None
    source = hit.source_run_id if hit.cached and hit.source_run_id else hit.run_id
    tags = {**_tags(task), CACHED_TAG: "true", CACHED_FROM_TAG: source}
    if hit.output.dataset is not None:
        tags[DATASET_TAG] = hit.output.dataset
    run = client.start_run(
        task.project,
        name=task.run_name,
        parent=task.parent_run_id,
        tags=tags,
        capture=False,
    )
    with run:  # params logged inside, so a param that cannot be logged ends the run
        run.log_params(task.params)
        out = hit.output
        _service(client).record_artifact(run.id, out.path, out.digest, out.kind, out.size)
        _index(client, task, run.id, source=source, output=out)
    return _result(run.id, task, cached=True, source=source, output=out)


def run_step(client: Client, step: Step[..., Any], task: StepTask) -> StepResult:
    """Run a step as a child run of the pipeline run; re-raises the step's exception
    after recording the failure."""
    run = client.start_run(
        task.project,
        name=task.run_name,
        parent=task.parent_run_id,
        tags={**_tags(task), CACHED_TAG: "false"}
        | ({CACHE_OFF_TAG: task.cache_off} if task.cache_off else {}),
        capture="usage",
    )
    with run:
        run.log_params(task.params)
        stdout, stderr = io.StringIO(), io.StringIO()
        try:
            kwargs = dict(task.params)
            for name in task.parts.files:  # kept as text in params and the key
                kwargs[name] = Path(kwargs[name])
            for name, ref in task.inputs.items():
                kwargs[name] = load_output(client, ref)
            value = _call(step, kwargs, run, stdout, stderr)
            output = _save_output(client, run.id, value, step, task.project)
        except BaseException:
            _index(client, task, run.id, source=None, output=None)
            raise
        finally:
            for text, name in ((stdout, STDOUT_ARTIFACT), (stderr, STDERR_ARTIFACT)):
                if text.getvalue():
                    run.log_text(text.getvalue(), name)
        if output.dataset is not None:
            run.set_tag(DATASET_TAG, output.dataset)
        _index(client, task, run.id, source=None, output=output)
    return _result(run.id, task, cached=False, source=None, output=output)


def _index(
    client: Client, task: StepTask, run_id: str, *, source: str | None, output: OutputRef | None
) -> None:
    """Record the step run, in one transaction: its row in the step index (cached when
    ``source`` names the run whose output it reuses; ``output`` None when it failed) and
    its lineage edges: each input artifact into it (``artifact -> run``, ``input``), the
    artifact it wrote (``run -> artifact``, ``output``), or the run whose output it reuses
    (``run -> run``, ``reused``). Artifacts are named by their blob digest.

    Through the lineage service and the step index (the actor needs ``contributor`` on
    the project; each leaves an audit event), not the closed-run rule: pipelines run
    embedded only (a remote client is refused before a run starts), and this is the step
    run this process started, recorded even when a worker has already ended it (an
    interrupted fire)."""
    me = (RUN, run_id)
    edges: list[Edge] = [((ARTIFACT, ref.digest), me, INPUT) for ref in task.inputs.values()]
    if source is not None:
        edges.append(((RUN, source), me, REUSED))
    elif output is not None:
        edges.append((me, (ARTIFACT, output.digest), OUTPUT))
    services = client.services
    with services.store.write() as conn:
        services.lineage.record_run_edges(conn, run_id, edges)
        services.steps.record(
            conn,
            run_id=run_id,
            pipeline_run_id=task.parent_run_id,
            project_id=task.project_id,
            pipeline=task.pipeline,
            step=task.node,
            parts=task.parts,
            cached=source is not None,
            source_run_id=source,
            output=output,
        )


def _tags(task: StepTask) -> dict[str, str]:
    return {PIPELINE_TAG: task.pipeline, STEP_TAG: task.node, CACHE_KEY_TAG: task.parts.key()}


def _result(
    run_id: str, task: StepTask, *, cached: bool, source: str | None, output: OutputRef
) -> StepResult:
    return StepResult(
        name=task.node, run_id=run_id, cached=cached, source_run_id=source, output=output
    )


def _call(
    step: Step[..., Any], kwargs: dict[str, Any], run: Any, stdout: io.StringIO, stderr: io.StringIO
) -> Any:
    """Call the step's function with its output streams copied into ``stdout`` and
    ``stderr``; try again after a failure while retries are left, waiting
    ``retry_delay_s`` and twice as long each time after."""
    options = step.options
    attempts = options.retries + 1
    for attempt in range(1, attempts):
        try:
            value = _attempt(step, kwargs, stdout, stderr)
        except Exception:
            stderr.write(
                f"[modelyard] attempt {attempt} of {attempts} failed:\n{traceback.format_exc()}"
            )
            time.sleep(options.retry_delay_s * 2 ** (attempt - 1))
        else:
            run.set_tag(ATTEMPTS_TAG, str(attempt))
            return value
    try:
        return _attempt(step, kwargs, stdout, stderr)
    finally:
        run.set_tag(ATTEMPTS_TAG, str(attempts))


def _attempt(
    step: Step[..., Any], kwargs: dict[str, Any], stdout: io.StringIO, stderr: io.StringIO
) -> Any:
    with (
        contextlib.redirect_stdout(_Tee(sys.stdout, stdout)),
        contextlib.redirect_stderr(_Tee(sys.stderr, stderr)),
    ):
        return _with_timeout(step, kwargs, step.options.timeout_s)


def _with_timeout(step: Step[..., Any], kwargs: dict[str, Any], timeout_s: float | None) -> Any:
    """Call the function, stopped after ``timeout_s`` by a timer signal (SIGALRM) in the
    main thread of a POSIX process -- a worker's, or the driver's -- and otherwise run on
    a daemon thread that is abandoned when the time is up (Python cannot stop a thread)."""
    if timeout_s is None:
        return step.fn(**kwargs)
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        pending, _ = signal.getitimer(signal.ITIMER_REAL)
        if not pending or pending > timeout_s:  # another timer due first keeps its signal
            return _with_alarm(step, kwargs, timeout_s)
    return _on_thread(step, kwargs, timeout_s)


def _timed_out(step: Step[..., Any], timeout_s: float) -> TimeoutError:
    return TimeoutError(f"step {step.name!r} did not finish within {timeout_s} s")


def _with_alarm(step: Step[..., Any], kwargs: dict[str, Any], timeout_s: float) -> Any:
    """Run with SIGALRM raising TimeoutError in the step; the handler and any timer that
    was set before (pytest-timeout's, say) are put back afterwards."""

    def expire(signum: int, frame: Any) -> None:
        raise _timed_out(step, timeout_s)

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    pending, interval = signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return step.fn(**kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if pending:
            left = pending - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), interval)


def _on_thread(step: Step[..., Any], kwargs: dict[str, Any], timeout_s: float) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = step.fn(**kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"modelyard-step-{step.name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise _timed_out(step, timeout_s)
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Tee(io.TextIOBase):
    """Writes to a stream and to a buffer."""

    def __init__(self, target: TextIO, copy: io.StringIO) -> None:
        self._target = target
        self._copy = copy

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._copy.write(text)
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:  # what is written to the descriptor itself is not copied
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._target.encoding


def _save_output(
    client: Client, run_id: str, value: Any, step: Step[..., Any], project: str
) -> OutputRef:
    materializer = materializer_for(value)
    with tempfile.TemporaryDirectory(prefix="modelyard-output-") as tmp:
        path = materializer.save(value, Path(tmp))
        info = client.store_artifact(run_id, f"outputs/{path.name}", path)
    dataset = None
    if step.options.dataset is not None:
        version = client.datasets.register(step.options.dataset, value, project=project)
        dataset = f"{version.dataset}:{version.version}"
    cls = type(value)
    return OutputRef(
        path=info.path,
        digest=info.digest,
        kind=info.kind,
        size=info.size,
        materializer=materializer.name,
        type=f"{cls.__module__}.{cls.__qualname__}",
        dataset=dataset,
    )


def load_output(client: Client, ref: OutputRef) -> Any:
    """Read a stored step output back from the blob store."""
    materializer = materializer_named(ref.materializer)
    with tempfile.TemporaryDirectory(prefix="modelyard-input-") as tmp:
        target = Path(tmp) / Path(ref.path).name
        if ref.kind == "tree":
            client.blobs.get_tree(ref.digest, target)
        else:  # a scratch copy, verified as it is read; not synced, since it is thrown away
            with client.blobs.open(ref.digest) as reader, target.open("wb") as out:
                shutil.copyfileobj(reader, out, client.blobs.chunk_size)
        return materializer.load(target)
