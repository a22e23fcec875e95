"""``modelyard artifacts``: list and fetch a run's artifacts."""

from __future__ import annotations

from pathlib import Path

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    fmt_bytes,
    fmt_time,
    one_line_errors,
    print_json,
    say_empty,
    table,
)
from modelyard.cli.runs import _resolve

app = typer.Typer(help="Artifacts: files and folders stored with runs.", no_args_is_help=True)


@app.command("list")
@one_line_errors
def list_(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    prefix: str | None = typer.Option(None, "--prefix", help="Only artifacts under this path."),
    as_json: bool = JsonOption,
) -> None:
    """List a run's artifacts."""
    with client(ctx) as c:
        arts = c.list_artifacts(_resolve(c, run_id), prefix)
    if as_json:
        print_json([a.as_dict() for a in arts])
        return
    if not arts:
        say_empty(f"run {run_id} has no artifacts" + (f" under {prefix!r}" if prefix else ""))
        return
    table(
        "Artifacts",
        ["path", "kind", "size", "digest", "logged"],
        [(a.path, a.kind, fmt_bytes(a.size), a.digest[:16], fmt_time(a.created_at)) for a in arts],
    )


@app.command("get")
@one_line_errors
def get(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    path: str = typer.Argument(..., help="Artifact path inside the run."),
    dest: Path = typer.Option(Path("."), "--dest", "-d", help="Folder to write into."),
) -> None:
    """Download an artifact (file or folder) into a local folder, verified on the way."""
    with client(ctx) as c:
        written = c.download_artifact(_resolve(c, run_id), path, dest)
    console.print(f"wrote {written}")
