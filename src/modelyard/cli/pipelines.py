"""``modelyard pipelines``: run a pipeline and explain why its steps ran or were cached.

A pipeline is named ``MODULE:NAME`` (imported from the current directory, like
``python -m``) or ``path/to/file.py:NAME`` (see :mod:`modelyard.pipelines.refs`);
``--param key=value`` sets its parameters.
A value is JSON when it parses as JSON (``200``, ``true``, ``[1, 2]``) and the parameter
is not annotated ``str``; otherwise it is the text itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    fail,
    print_json,
    run_command,
    table,
)
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.pipelines.refs import load_pipeline

if TYPE_CHECKING:
    from modelyard.pipelines import Pipeline

app = typer.Typer(help="Pipelines: run them, and explain their cache.", no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="MODULE:PIPELINE or path/to/file.py:PIPELINE."),
    param: list[str] = typer.Option([], "--param", help="A pipeline parameter, key=value."),
    project: str = typer.Option("default", "--project", "-p", help="Project to run in."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step."),
    executor: str = typer.Option(
        "sequential",
        "--executor",
        help="sequential (this process), local (processes) or ray (Ray tasks).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run a pipeline; prints each step, whether it ran or was cached, and its run."""

    def body() -> None:
        found = load_pipeline(ref)
        params = parse_params(found, param)
        with client(ctx) as c:
            try:
                result = found.run(
                    client=c, project=project, cache=not no_cache, executor=executor, **params
                )
            except ModelyardError:
                raise
            except Exception as exc:  # the step's own error, recorded with its run
                raise fail(
                    f"pipeline {found.name!r} failed: {type(exc).__name__}: {exc} (the "
                    f"traceback is the error of the step run: modelyard runs list -p {project})"
                ) from None
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
        rows = [
            (s["step"], s["outcome"], s["run_id"][:12], s["output"]["materializer"]) for s in steps
        ]
        table(f"Pipeline {result.pipeline}", ["step", "outcome", "run", "output"], rows)
        console.print(f"pipeline run [bold]{result.run_id}[/bold]", highlight=False)

    run_command(body)


@app.command("explain")
def explain(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="The pipeline run (an id or a unique prefix)."),
    as_json: bool = JsonOption,
) -> None:
    """Say why each step of a pipeline run ran or was served from the cache."""

    def body() -> None:
        from modelyard.pipelines.explanations import explain as explain_run

        with client(ctx) as c:
            found = explain_run(c, run_id)
        if as_json:
            print_json({"steps": [e.to_dict() for e in found]})
            return
        rows = [(e.step, e.outcome, "; ".join(e.reasons), e.run_id[:12]) for e in found]
        table(None, ["step", "outcome", "why", "run"], rows)

    run_command(body)


def parse_params(found: Pipeline, pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs as the pipeline's parameters."""
    params: dict[str, Any] = {}
    hints = {name: p.annotation for name, p in found.signature.parameters.items()}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param must be key=value; got {pair!r}", field="param")
        if key not in hints:
            raise InvalidInput(
                f"pipeline {found.name!r} has no parameter {key!r} "
                f"(its parameters: {', '.join(hints) or 'none'})",
                field=key,
            )
        params[key] = text if _is_str(hints[key]) else _value(text)
    return params


def _is_str(annotation: Any) -> bool:
    return annotation is str or annotation == "str"


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
