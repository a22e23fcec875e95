"""``modelyard pipelines``: run a pipeline (or resume a failed run), sweep its parameters,
and explain why its steps ran or were cached.

A pipeline is named ``MODULE:NAME`` (imported from the current directory, like
``python -m``) or ``path/to/file.py:NAME`` (see :mod:`modelyard.pipelines.refs`);
``--param key=value`` sets its parameters.
A value is JSON when it parses as JSON (``200``, ``true``, ``[1, 2]``) and the parameter
is not annotated ``str``; otherwise it is the text itself. Before anything runs, each value
(and each ``--grid`` value) is checked against the parameter's annotation as JSON would be:
``count=abc`` for an ``int`` is one line naming the parameter, the type and the value.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    fail,
    one_line_errors,
    print_json,
    project_option,
    styled,
    table,
)
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.pipelines.refs import load_pipeline

if TYPE_CHECKING:
    from modelyard.pipelines import Pipeline
    from modelyard.pipelines.result import PipelineResult

app = typer.Typer(
    help="Pipelines: run them, sweep their parameters, and explain their cache.",
    no_args_is_help=True,
)

RefArgument = typer.Argument(..., help="MODULE:PIPELINE or path/to/file.py:PIPELINE.")
ExecutorOption = typer.Option(
    "sequential",
    "--executor",
    help="sequential (this process), local (processes) or ray (Ray tasks).",
)
ProjectOption = project_option("Project to run in.")
NoCacheOption = typer.Option(False, "--no-cache", help="Run every step.")


@app.command("run")
@one_line_errors
def run(
    ctx: typer.Context,
    ref: str = RefArgument,
    param: list[str] = typer.Option([], "--param", help="A pipeline parameter, key=value."),
    project: str = ProjectOption,
    no_cache: bool = NoCacheOption,
    executor: str = ExecutorOption,
    as_json: bool = JsonOption,
) -> None:
    """Run a pipeline; prints each step, whether it ran or was cached, and its run."""
    from modelyard.pipelines.executors import records_params

    found = load_pipeline(ref)
    params = parse_params(found, param)
    with client(ctx) as c:
        result = _reported(
            found,
            ref,
            records_params(found.bind(params)),
            lambda on_start: found.run(
                client=c,
                project=project,
                cache=not no_cache,
                executor=executor,
                on_start=on_start,
                **params,
            ),
        )
    _show(result, as_json)


@app.command("resume")
@one_line_errors
def resume(
    ctx: typer.Context,
    ref: str = RefArgument,
    run_id: str = typer.Argument(..., help="The failed pipeline run (id or 6+ hex prefix)."),
    executor: str = ExecutorOption,
    as_json: bool = JsonOption,
) -> None:
    """Run a failed pipeline run again with its params: finished steps come from the
    cache, so it goes on from the step that failed."""
    found = load_pipeline(ref)
    with client(ctx) as c:
        result = _reported(
            found,
            ref,
            True,  # the run being resumed recorded its params, so the new one does too
            lambda on_start: found.resume(run_id, client=c, executor=executor, on_start=on_start),
        )
    _show(result, as_json)


def _reported(
    found: Pipeline,
    ref: str,
    resumable: bool,
    go: Callable[[Callable[[str], None]], PipelineResult],
) -> PipelineResult:
    """``go(on_start)``; a failure becomes one line, and once the pipeline run exists it
    names that run and the command that resumes it (the traceback is recorded with the
    run of the step that failed)."""
    started: list[str] = []
    try:
        return go(started.append)
    except Exception as exc:
        if isinstance(exc, ModelyardError) and not started:
            raise
        what = exc.message if isinstance(exc, ModelyardError) else f"{type(exc).__name__}: {exc}"
        code = exc.exit_code if isinstance(exc, ModelyardError) else 1
        if not started:
            raise fail(f"pipeline {found.name!r} failed: {what}", code) from None
        run_id = started[0]
        then = (
            f"after a fix, go on from the failed step: modelyard pipelines resume {ref} {run_id}"
            if resumable
            else "its params have no JSON form, so run it again after a fix"
        )
        raise fail(
            f"pipeline {found.name!r} failed in run {run_id}: {what} (the step's run holds "
            f"the traceback); {then}",
            code,
        ) from None


def _show(result: PipelineResult, as_json: bool) -> None:
    steps: list[dict[str, Any]] = [
        {
            "step": s.name,
            "outcome": "cached" if s.cached else "ran",
            "run_id": s.run_id,
            "cached_from": s.source_run_id,
            "output": s.output.to_dict(),
        }
        for s in result.steps.values()
    ]
    if as_json:
        print_json({"pipeline": result.pipeline, "run_id": result.run_id, "steps": steps})
        return
    rows = [(s["step"], s["outcome"], s["run_id"][:12], s["output"]["materializer"]) for s in steps]
    table(f"Pipeline {result.pipeline}", ["step", "outcome", "run", "output"], rows)
    console.print(styled("pipeline run ", (result.run_id, "bold")))


@app.command("sweep")
@one_line_errors
def sweep(
    ctx: typer.Context,
    ref: str = RefArgument,
    grid: list[str] = typer.Option(
        [], "--grid", help="A swept parameter and its values, key=v1,v2,..."
    ),
    random: list[str] = typer.Option(
        [], "--random", help="A randomly drawn parameter: key=low:high (a range) or key=a,b,..."
    ),
    trials: int | None = typer.Option(None, "--trials", help="How many random draws."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random draws."),
    metric: str = typer.Option(
        ..., "--metric", help="step.key (a key of the dict the step returns) or step."
    ),
    mode: str = typer.Option("max", "--mode", help="max or min: which metric is best."),
    param: list[str] = typer.Option([], "--param", help="A fixed parameter, key=value."),
    project: str = ProjectOption,
    no_cache: bool = NoCacheOption,
    executor: str = ExecutorOption,
    max_workers: int | None = typer.Option(
        None, "--max-workers", help="Most steps at once (local: processes; ray: tasks)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run a pipeline over a grid or random draws of its parameters; prints the trials,
    best first."""
    found = load_pipeline(ref)
    space = dict(_swept(found, pair, "--grid") for pair in grid)
    draws = dict(_drawn(found, pair) for pair in random)
    with client(ctx) as c:
        try:
            result = found.sweep(
                space or None,
                random=draws or None,
                trials=trials,
                seed=seed,
                metric=metric,
                mode=mode,
                params=parse_params(found, param),
                executor=executor,
                max_workers=max_workers,
                client=c,
                project=project,
                cache=not no_cache,
            )
        except ModelyardError:
            raise
        except Exception as exc:  # every trial failed: the first one's error
            raise fail(
                f"sweep of {found.name!r} failed: every trial failed, the first with "
                f"{type(exc).__name__}: {exc}"
            ) from None
    ranked = [
        {
            "trial": t.number,
            "params": t.params,
            "metric": t.metric,
            "status": t.status,
            "run_id": t.run_id,
            "error": t.error,
        }
        for t in result.ranked()
    ]
    if as_json:
        print_json(
            {
                "pipeline": result.pipeline,
                "run_id": result.run_id,
                "metric": result.metric,
                "mode": result.mode,
                "best": ranked[0],
                "trials": ranked,
            }
        )
        return
    rows = [
        (
            t.number,
            " ".join(f"{k}={json.dumps(v)}" for k, v in t.params.items()),
            t.metric if t.status == "finished" else t.error,
            t.status,
            t.run_id[:12],
        )
        for t in result.ranked()
    ]
    table(
        f"Sweep of {result.pipeline}, best first ({result.mode} {result.metric})",
        ["trial", "params", result.metric, "status", "run"],
        rows,
    )
    console.print(styled("sweep run ", (result.run_id, "bold")))


@app.command("explain")
@one_line_errors
def explain(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="The pipeline run (an id or a unique prefix)."),
    as_json: bool = JsonOption,
) -> None:
    """Say why each step of a pipeline run ran or was served from the cache."""
    from modelyard.pipelines import explain as explain_run

    with client(ctx) as c:
        found = explain_run(run_id, client=c)
    if as_json:
        print_json({"steps": [e.to_dict() for e in found]})
        return
    rows = [(e.step, e.outcome, "; ".join(e.reasons), e.run_id[:12]) for e in found]
    table(None, ["step", "outcome", "why", "run"], rows)


def parse_params(found: Pipeline | None, pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs as the pipeline's parameters. Without the pipeline (one that
    only a server can load, which checks the names) each value is JSON when it parses as
    JSON, else the text."""
    if found is None:
        return {key: _value(text) for key, text in map(_param_pair, pairs)}
    params: dict[str, Any] = {}
    hints = _hints(found)
    for key, text in map(_param_pair, pairs):
        if key not in hints:
            raise InvalidInput(
                f"pipeline {found.name!r} has no parameter {key!r} "
                f"(its parameters: {', '.join(hints) or 'none'})",
                field=key,
            )
        params[key] = _typed(found, key, hints[key], text, "--param")
    return params


def _hints(found: Pipeline) -> dict[str, Any]:
    """Each parameter's annotation, resolved where it is a string (``from __future__
    import annotations``); ``inspect.Parameter.empty`` where there is none."""
    import typing

    try:
        resolved = typing.get_type_hints(found.fn)
    except (NameError, TypeError):  # a name it cannot resolve: keep them as written
        resolved = {}
    return {
        name: resolved.get(name, p.annotation) for name, p in found.signature.parameters.items()
    }


def _typed(found: Pipeline, key: str, annotation: Any, text: str, option: str) -> Any:
    """``text`` read as a value of parameter ``key`` (see the module docstring), checked
    against its annotation as JSON would be (strictly: ``abc`` is no int, ``1`` no bool;
    text is a path or a date); an annotation that is not a type is not checked."""
    from pydantic import TypeAdapter, ValidationError
    from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

    value = text if _is_str(annotation) else _value(text)
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return value
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError):
        return value
    try:
        adapter.validate_json(json.dumps(value), strict=True)
    except ValidationError:
        raise InvalidInput(
            f"pipeline {found.name!r}: parameter {key!r} takes {_type_name(annotation)}; "
            f"got {text!r} ({option} {key}={text})",
            field=key,
        ) from None
    return value


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _param_pair(pair: str) -> tuple[str, str]:
    key, sep, text = pair.partition("=")
    if not sep or not key:
        raise InvalidInput(f"--param must be key=value; got {pair!r}", field="param")
    return key, text


def _split(pair: str, option: str) -> tuple[str, str]:
    key, sep, text = pair.partition("=")
    if not sep or not key or not text:
        raise InvalidInput(f"{option} must be key=values; got {pair!r}", field=option[2:])
    return key, text


def _swept(found: Pipeline, pair: str, option: str) -> tuple[str, list[Any]]:
    """``key=v1,v2`` as the parameter's values, each read as ``--param`` reads one."""
    key, text = _split(pair, option)
    annotation = _hints(found).get(key, inspect.Parameter.empty)
    return key, [_typed(found, key, annotation, part, option) for part in text.split(",")]


def _drawn(found: Pipeline, pair: str) -> tuple[str, Any]:
    """``key=low:high`` as a range (a tuple of two numbers), ``key=a,b,...`` as choices."""
    key, text = _split(pair, "--random")
    low, sep, high = text.partition(":")
    if sep:
        ends = (_value(low), _value(high))
        if not all(isinstance(e, int | float) and not isinstance(e, bool) for e in ends):
            raise InvalidInput(
                f"--random {key}: low and high must be numbers; got {text!r}", field=key
            )
        return key, ends
    return _swept(found, pair, "--random")


def _is_str(annotation: Any) -> bool:
    return annotation is str or annotation == "str"


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
