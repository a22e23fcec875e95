"""Where the steps that miss the cache run: in this process (``sequential``), in worker
processes (``local``) or as Ray tasks (``ray``).

An :class:`Executor` opens the :class:`Backend` a pipeline run (or a sweep) submits its
steps to; :data:`EXECUTORS` has them by name. A third party adds one with
``EXECUTORS.register(name, Executor(...))`` or an entry point in the group
``modelyard.executors`` naming its :class:`Executor`.

A backend takes a :class:`StepTask` and hands back its :class:`StepResult`. Out of
process, the work is the same function, :func:`work`: it opens a Client of its own
from the driver's settings (passed as an argument), imports the step, reads the inputs
from the blob store and stores the output there -- only the small task and result
travel between processes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard._ray import import_ray, ray_session
from modelyard._registry import Registry
from modelyard.errors import InvalidInput
from modelyard.pipelines.execute import StepTask, run_step, step_from_ref
from modelyard.pipelines.result import StepResult

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.pipelines.step import Step
    from modelyard.sdk.client import Client

__all__ = ["EXECUTORS", "Backend", "Executor", "import_ray", "open_backend", "work"]


class Backend(Protocol):
    """Runs steps: ``submit`` returns a handle, ``wait`` the handles that are done."""

    #: How many steps may be submitted and not yet done (None: no limit).
    capacity: int | None

    def submit(self, step: Step[..., Any], task: StepTask) -> Any: ...

    def wait(self, handles: list[Any]) -> list[Any]: ...

    def result(self, handle: Any) -> StepResult:
        """The step's result, or the step's exception raised."""
        ...


def work(settings: Settings, task: StepTask) -> StepResult:
    """Run one step out of the driver's process, with a Client of its own."""
    from modelyard.sdk.client import Client

    with Client(settings) as client:
        return run_step(client, step_from_ref(task.step_ref), task)


@dataclass(frozen=True)
class Executor:
    """How the steps that miss the cache run.

    ``open(client, max_workers)`` gives, as a context manager, the :class:`Backend` of one
    pipeline run or sweep, and releases what it started on leaving (after the steps
    submitted are done). ``in_process``: steps run in the driver's process, so they
    need not be importable by a worker. ``check()``: called before a run starts, to
    refuse it early (a missing extra: :class:`~modelyard.errors.MissingDependency`).
    """

    open: Callable[[Client, int | None], AbstractContextManager[Backend]]
    in_process: bool = False
    check: Callable[[], object] | None = None


def _adopt(name: str, loaded: Any) -> Executor:
    if not isinstance(loaded, Executor):
        raise InvalidInput(
            f"the executor {name!r} must be a modelyard.pipelines.backends.Executor; "
            f"got {type(loaded).__name__}",
            field="executor",
        )
    return loaded


#: The executors by name.
EXECUTORS: Registry[Executor] = Registry(
    "executor", "modelyard.executors", field="executor", adopt=_adopt
)


def open_backend(
    executor: str, client: Client, max_workers: int | None
) -> AbstractContextManager[Backend]:
    """The backend of the executor named ``executor``; leaving shuts the local pool down
    (once its steps are done) or stops a Ray instance it started."""
    return EXECUTORS.get(executor).open(client, max_workers)


@contextlib.contextmanager
def _open_sequential(client: Client, max_workers: int | None) -> Iterator[Backend]:
    yield _Sequential(client)


@contextlib.contextmanager
def _open_local(client: Client, max_workers: int | None) -> Iterator[Backend]:
    with cf.ProcessPoolExecutor(
        max_workers=max_workers, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        yield _Local(pool, client.settings, max_workers or os.cpu_count() or 1)


@contextlib.contextmanager
def _open_ray(client: Client, max_workers: int | None) -> Iterator[Backend]:
    with ray_session(client.settings, max_workers) as ray:
        yield _Ray(ray, client.settings, max_workers)


class _Done:
    """A step the sequential backend has already run: its result or its exception."""

    __slots__ = ("error", "value")

    def __init__(self, value: StepResult | None, error: Exception | None) -> None:
        self.value = value
        self.error = error


class _Sequential:
    capacity: int | None = 1

    def __init__(self, client: Client) -> None:
        self.client = client

    def submit(self, step: Step[..., Any], task: StepTask) -> _Done:
        try:
            return _Done(run_step(self.client, step, task), None)
        except Exception as exc:
            return _Done(None, exc)

    def wait(self, handles: list[Any]) -> list[Any]:
        return handles

    def result(self, handle: _Done) -> StepResult:
        if handle.error is not None:
            raise handle.error
        assert handle.value is not None
        return handle.value


class _Local:
    def __init__(self, pool: cf.ProcessPoolExecutor, settings: Settings, capacity: int) -> None:
        self.pool = pool
        self.settings = settings
        self.capacity: int | None = capacity

    def submit(self, step: Step[..., Any], task: StepTask) -> cf.Future[StepResult]:
        return self.pool.submit(work, self.settings, task)

    def wait(self, handles: list[Any]) -> list[Any]:
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, handle: cf.Future[StepResult]) -> StepResult:
        return handle.result()


class _Ray:
    def __init__(self, ray: Any, settings: Settings, max_workers: int | None) -> None:
        self.ray = ray
        self.settings = _absolute(settings)
        self.capacity = max_workers
        # A fresh worker process per step (max_calls=1): a step is imported as its code
        # is now, never as a reused worker imported it for an earlier run.
        self.remote = ray.remote(num_cpus=1, max_calls=1, max_retries=0)(work)

    def submit(self, step: Step[..., Any], task: StepTask) -> Any:
        return self.remote.remote(self.settings, task)

    def wait(self, handles: list[Any]) -> list[Any]:
        done, _ = self.ray.wait(handles, num_returns=1)
        return list(done)

    def result(self, handle: Any) -> StepResult:
        from ray.exceptions import RayTaskError

        try:
            result: StepResult = self.ray.get(handle)
        except RayTaskError as exc:  # the step's own exception, as the step raised it
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        return result


def _absolute(settings: Settings) -> Settings:
    """``settings`` with the local paths made absolute: a Ray worker need not start in
    the driver's working directory."""
    from sqlalchemy.engine import make_url

    store = settings.store
    url = make_url(settings.store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        store = store.model_copy(
            update={
                "url": url.set(database=str(Path(url.database).resolve())).render_as_string(
                    hide_password=False
                )
            }
        )
    artifacts = settings.artifacts
    if "://" not in settings.artifacts_uri:
        artifacts = artifacts.model_copy(
            update={"uri": str(Path(settings.artifacts_uri).resolve())}
        )
    return settings.model_copy(
        update={"home": settings.home.resolve(), "store": store, "artifacts": artifacts}
    )


EXECUTORS.register("sequential", Executor(_open_sequential, in_process=True))
EXECUTORS.register("local", Executor(_open_local))
EXECUTORS.register("ray", Executor(_open_ray, check=import_ray))
