"""The DAG of a pipeline, built by tracing: the pipeline function is called with its
parameters, each step it calls becomes a :class:`Node`, and the :class:`Output`
placeholder a step returns becomes an edge wherever it is passed to another step.

A step can only be given outputs that already exist, so the nodes come out in a
topological order and tracing cannot make a cycle. Everything else is checked before
anything runs (:meth:`Graph.check`): required inputs given, no unknown parameters, and a
producer's return annotation compatible with the consumer's parameter annotation where
both are concrete classes.
"""

from __future__ import annotations

import contextvars
import inspect
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.pipelines.step import Step

__all__ = ["Graph", "Node", "Output", "current_tracer", "reject_outputs", "trace"]

_TRACER: contextvars.ContextVar[Graph | None] = contextvars.ContextVar(
    "modelyard_pipeline_tracer", default=None
)


class Output:
    """What a step returns while a pipeline is traced: a placeholder for its output,
    to be passed to other steps."""

    __slots__ = ("graph", "node")

    def __init__(self, graph: Graph, node: str) -> None:
        self.graph = graph
        self.node = node

    def _misuse(self) -> InvalidInput:
        return InvalidInput(
            f"the output of step {self.node!r} is a placeholder while the pipeline is traced; "
            "pass it to another step instead of using its value in the pipeline function",
            field=self.node,
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._misuse()

    def __bool__(self) -> bool:
        raise self._misuse()

    def __iter__(self) -> Iterator[Any]:
        raise self._misuse()

    def __repr__(self) -> str:
        return f"<Output of step {self.node}>"


@dataclass(slots=True)
class Node:
    """One call of a step in a pipeline: its inputs (outputs of earlier nodes) and its
    params (every other argument, defaults included). ``files`` names the params that
    are paths of local files or folders (annotated ``pathlib.Path``, or given a path
    object), kept in ``params`` as text; their content is part of the cache key."""

    name: str
    step: Step[..., Any]
    inputs: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def upstream(self) -> set[str]:
        return set(self.inputs.values())


@dataclass(slots=True)
class Graph:
    """The nodes of a traced pipeline, in the order they were called (a topological
    order)."""

    pipeline: str
    nodes: dict[str, Node] = field(default_factory=dict)

    def add(self, step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Output:
        """Record a call of ``step`` and return the placeholder of its output."""
        name = step.name
        n = 2
        while name in self.nodes:
            name, n = f"{step.name}_{n}", n + 1
        bound = _bind(step, args, kwargs)
        node = Node(name, step)
        hints = _hints(step)
        for param, value in bound.items():
            if isinstance(value, Output):
                if value.graph is not self:
                    raise InvalidInput(
                        f"step {name!r}, parameter {param!r}: the output of step "
                        f"{value.node!r} belongs to another pipeline",
                        field=param,
                    )
                node.inputs[param] = value.node
            elif isinstance(value, PurePath) or (
                isinstance(value, str) and _is_path_type(hints.get(param))
            ):
                node.params[param] = os.fspath(value)
                node.files.append(param)
            else:
                _no_nested_output(name, param, value)
                node.params[param] = value
        self.nodes[name] = node
        return Output(self, name)

    def check(self) -> None:
        """Raise InvalidInput for an empty pipeline or an annotated type mismatch."""
        if not self.nodes:
            raise InvalidInput(f"pipeline {self.pipeline!r} calls no steps", field="pipeline")
        for node in self.nodes.values():
            hints = _hints(node.step)
            for param, producer_name in node.inputs.items():
                producer = self.nodes[producer_name]
                made = _hints(producer.step).get("return")
                wanted = hints.get(param)
                if (
                    isinstance(made, type)
                    and isinstance(wanted, type)
                    and not issubclass(made, wanted)
                ):
                    raise InvalidInput(
                        f"step {node.name!r}, parameter {param!r} expects "
                        f"{_type_name(wanted)} but step {producer_name!r} returns "
                        f"{_type_name(made)}",
                        field=param,
                    )


def current_tracer() -> Graph | None:
    """The graph being traced in this context, if any."""
    return _TRACER.get()


def trace(pipeline: str, fn: Any, params: dict[str, Any]) -> Graph:
    """Call a pipeline function with ``params`` while recording the steps it calls."""
    graph = Graph(pipeline)
    token = _TRACER.set(graph)
    try:
        fn(**params)
    finally:
        _TRACER.reset(token)
    graph.check()
    return graph


def reject_outputs(step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A step called outside tracing runs its function; placeholders make no sense there."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, Output):
            raise InvalidInput(
                f"step {step.name!r} was given the output of step {value.node!r} outside a "
                "pipeline; call it from a function decorated with @pipeline",
                field=step.name,
            )


def _bind(step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a call by parameter name, defaults applied; InvalidInput naming the
    step and the parameter when one is unknown, given twice or missing."""
    sig = step.signature
    params = sig.parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in kwargs:
        if key not in params and not takes_kwargs:
            raise InvalidInput(
                f"step {step.name!r} has no parameter {key!r} "
                f"(its parameters: {', '.join(params) or 'none'})",
                field=key,
            )
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise InvalidInput(f"step {step.name!r}: {exc}", field=step.name) from None
    for name, p in params.items():
        if (
            name not in bound.arguments
            and p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ):
            raise InvalidInput(
                f"step {step.name!r} is missing its required input {name!r}", field=name
            )
    bound.apply_defaults()
    return dict(bound.arguments)


def _no_nested_output(node: str, param: str, value: Any) -> None:
    items: list[Any] = []
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    for item in items:
        if isinstance(item, Output):
            raise InvalidInput(
                f"step {node!r}, parameter {param!r}: the output of step {item.node!r} is "
                "inside a container; pass each output as an argument of its own",
                field=param,
            )
        _no_nested_output(node, param, item)


def _hints(step: Step[..., Any]) -> dict[str, Any]:
    """The step's resolved annotations (none when they cannot be resolved)."""
    try:
        return typing.get_type_hints(step.fn)
    except Exception:  # an annotation naming something the module does not define
        return {}


def _is_path_type(hint: Any) -> bool:
    """``pathlib.Path`` (or another ``PurePath`` class), alone or in a union
    (``Path | None``)."""
    if isinstance(hint, type):
        return issubclass(hint, PurePath)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_path_type(arg) for arg in typing.get_args(hint))
    return False


def _type_name(cls: type) -> str:
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
