"""Steps: plain functions that become nodes of a pipeline when a pipeline calls them.

``@step`` (or ``@step(cache=False, dataset="name", ...)``) wraps a function in a
:class:`Step`. Called while a pipeline is being traced, a step runs nothing: it records a
node of the DAG and returns an :class:`~modelyard.pipelines.graph.Output` placeholder.
Called anywhere else it is the plain function.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar, overload

from modelyard.errors import InvalidInput

__all__ = ["Step", "StepOptions", "step"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StepOptions:
    """How a step is run and cached.

    ``cache``: reuse the outputs of an earlier run with the same cache key.
    ``dataset``: register the output (a DataFrame or Arrow table) as a version of this
    dataset. ``fingerprint``: a declared environment fingerprint used instead of the
    versions of the packages the step's module imports. ``retries``: how many more times
    to try after a failure, waiting ``retry_delay_s`` and twice as long each time after.
    ``timeout_s``: fail an attempt that runs longer (stopped by SIGALRM in a main
    thread on POSIX, abandoned on a daemon thread elsewhere).
    """

    cache: bool = True
    dataset: str | None = None
    fingerprint: str | None = None
    retries: int = 0
    retry_delay_s: float = 1.0
    timeout_s: float | None = None


class Step(Generic[P, R]):
    """A function that a pipeline runs as a tracked, cached step."""

    def __init__(self, fn: Callable[P, R], name: str | None = None, **options: Any) -> None:
        if not inspect.isfunction(fn):
            raise InvalidInput(f"@step decorates a function; got {type(fn).__name__}", field="step")
        self.fn = fn
        self.name = name or fn.__name__
        self.options = _options(self.name, options)
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from modelyard.pipelines.graph import current_tracer

        tracer = current_tracer()
        if tracer is not None:
            return tracer.add(self, args, kwargs)  # type: ignore[return-value]
        from modelyard.pipelines.graph import reject_outputs

        reject_outputs(self, args, kwargs)
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Step {self.name} ({self.fn.__module__}.{self.fn.__qualname__})>"


def _options(name: str, options: dict[str, Any]) -> StepOptions:
    try:
        found = StepOptions(**options)
    except TypeError:
        known = ", ".join(StepOptions.__dataclass_fields__)
        unknown = ", ".join(sorted(set(options) - set(StepOptions.__dataclass_fields__)))
        raise InvalidInput(
            f"step {name!r}: unknown option {unknown}; the options are {known}", field="step"
        ) from None
    if not isinstance(found.retries, int) or found.retries < 0:
        raise InvalidInput(f"step {name!r}: retries must be an integer >= 0", field="retries")
    if found.retry_delay_s < 0:
        raise InvalidInput(f"step {name!r}: retry_delay_s must be >= 0", field="retry_delay_s")
    if found.timeout_s is not None and found.timeout_s <= 0:
        raise InvalidInput(f"step {name!r}: timeout_s must be > 0", field="timeout_s")
    return found


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    dataset: str | None = None,
    fingerprint: str | None = None,
    retries: int = 0,
    retry_delay_s: float = 1.0,
    timeout_s: float | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None, /, *, name: str | None = None, **options: Any
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step: ``@step`` or ``@step(cache=False, ...)`` (the
    options are those of :class:`StepOptions`)."""
    if fn is not None:
        return Step(fn, name)

    def decorate(f: Callable[P, R]) -> Step[P, R]:
        return Step(f, name, **options)

    return decorate
