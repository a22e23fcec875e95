"""``modelyard runs``: list, show, compare and delete runs."""

from __future__ import annotations

import math
from dataclasses import asdict

import typer
from rich.panel import Panel
from rich.text import Text

from modelyard.cli._common import (
    JsonOption,
    client,
    confirm,
    console,
    fmt,
    fmt_bytes,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    styled,
    table,
)

app = typer.Typer(help="Runs: list, show, compare, delete, restore.", no_args_is_help=True)

_STATUS_STYLE = {
    "running": "cyan",
    "finished": "green",
    "failed": "red",
    "killed": "yellow",
    "lost": "magenta",
}


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, "white"))


def _run_dict(run: object) -> dict:
    data = asdict(run)  # type: ignore[call-overload]
    data["duration_s"] = run.duration_s  # type: ignore[attr-defined]
    return data


@app.command("list")
@one_line_errors
def list_(
    ctx: typer.Context,
    project: str = project_option("Project to list."),
    filter: str | None = typer.Option(None, "--filter", "-f", help='e.g. "metrics.auc > 0.8".'),
    order_by: list[str] = typer.Option([], "--order-by", "-o", help='e.g. "metrics.auc DESC".'),
    max_results: int = typer.Option(50, "--max-results", "-n", help="How many runs to show."),
    deleted: bool = typer.Option(
        False, "--deleted", help="Include deleted runs (to restore with `runs restore`)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """List a project's runs, newest first (or as ordered)."""
    with client(ctx) as c:
        page = c.search_runs(
            project,
            filter=filter,
            order_by=order_by,
            max_results=max_results,
            include_deleted=deleted,
            output="list",
        )
    if as_json:
        print_json(
            {"runs": [_run_dict(r) for r in page.runs], "next_page_token": page.next_page_token}
        )
        return
    if not page.runs:
        say_empty(f"no runs in project {project}" + (f" match {filter!r}" if filter else ""), ctx)
        return
    keys = sorted({k for r in page.runs for k in r.metrics if not k.startswith("system/")})[:6]
    rows = [
        (
            r.id[:12],
            r.name,
            _status(r.status) + (" (deleted)" if r.deleted_at is not None else ""),
            fmt_time(r.start_time),
            fmt(r.duration_s),
            *(fmt(r.metrics.get(k)) for k in keys),
        )
        for r in page.runs
    ]
    table(f"Runs of {project}", ["id", "name", "status", "started", "duration s", *keys], rows)
    if page.next_page_token:
        console.print(
            Text(f"more runs exist; raise --max-results (showing {len(rows)})", style="dim")
        )


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (full or a unique prefix)."),
    as_json: bool = JsonOption,
) -> None:
    """Show one run: attributes, params, metrics, tags and artifacts."""
    with client(ctx) as c:
        run = c.get_run(_resolve(c, run_id))
        arts = c.list_artifacts(run.id)
    if as_json:
        data = _run_dict(run)
        data["artifacts"] = [a.as_dict() for a in arts]
        print_json(data)
        return
    lines = [
        f"id        {run.id}",
        f"project   {run.project}",
        f"parent    {run.parent_id or '-'}",
        f"started   {fmt_time(run.start_time)}   ended {fmt_time(run.end_time) or '-'}",
        f"duration  {fmt(run.duration_s)} s   cpu {fmt(run.cpu_time_s)} s   "
        f"peak RSS {fmt_bytes(run.peak_rss_bytes)}   cost {fmt(run.cost)}",
        f"user      {run.user}@{run.host}",
        f"entry     {run.entry_point}",
    ]
    if run.deleted_at is not None:
        lines.append(
            f"deleted   {fmt_time(run.deleted_at)} (hidden from lists; "
            f"modelyard runs restore {run.id[:12]} shows it again)"
        )
    gone = ("  deleted", "bold red") if run.deleted_at is not None else ""
    head = styled((run.name, "bold"), "  ", _status(run.status), gone, "\n")
    console.print(Panel(head + "\n".join(lines), title="run", expand=False))
    if run.params:
        table("Params", ["key", "value"], sorted(run.params.items()))
    if run.metrics:
        table("Metrics (latest)", ["key", "value"], sorted(run.metrics.items()))
    if run.tags:
        table("Tags", ["key", "value"], sorted(run.tags.items()))
    if arts:
        table(
            "Artifacts",
            ["path", "kind", "size", "digest"],
            [(a.path, a.kind, fmt_bytes(a.size), a.digest[:16]) for a in arts],
        )
    if run.error:
        console.print(Panel(run.error.rstrip(), title="error", style="red", expand=False))


@app.command("compare")
@one_line_errors
def compare(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids."),
    as_json: bool = JsonOption,
) -> None:
    """Compare runs side by side: params and metrics, differences highlighted."""
    if len(run_ids) < 2:
        from modelyard.errors import InvalidInput

        raise InvalidInput("compare needs at least two run ids", field="run_ids")
    with client(ctx) as c:
        found = [c.get_run(_resolve(c, r)) for r in run_ids]
    if as_json:
        print_json([_run_dict(r) for r in found])
        return
    header = ["", *(f"{r.name}\n{r.id[:12]}" for r in found)]
    rows: list[tuple] = [("status", *(_status(r.status) for r in found))]
    rows.append(("duration s", *(fmt(r.duration_s) for r in found)))
    for kind, getter in (("params", lambda r: r.params), ("metrics", lambda r: r.metrics)):
        keys = sorted({k for r in found for k in getter(r)})
        for key in keys:
            values = [getter(r).get(key) for r in found]
            differ = len({_cmp_key(v) for v in values}) > 1
            cells: list[str | Text] = [fmt(v) if v is not None else "-" for v in values]
            if differ:
                cells = [Text(str(c), style="bold yellow") for c in cells]
            rows.append((f"{kind}.{key}", *cells))
    table("Comparison", header, rows)


@app.command("delete")
@one_line_errors
def delete(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (full or a unique prefix)."),
    permanent: bool = typer.Option(
        False, "--permanent", help="Remove rows for good (blobs go with `modelyard gc`)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a run and its child runs (hidden from lists until `runs restore`, or removed
    for good with --permanent); asks first unless --yes."""
    with client(ctx) as c:
        full = _resolve(c, run_id)
        how = "permanently delete" if permanent else "delete"
        confirm(f"{how} run {full} and its child runs", yes)
        c.delete_run(full, permanent=permanent)
    if permanent:
        console.print(f"deleted run {full} permanently")
    else:
        console.print(f"deleted run {full} (modelyard runs restore {full[:12]} undoes it)")


@app.command("restore")
@one_line_errors
def restore(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (full or a unique prefix)."),
) -> None:
    """Show a deleted run again, with the child runs deleted with it (a run deleted with
    --permanent is gone)."""
    with client(ctx) as c:
        full = _resolve(c, run_id)
        restored = c.restore_run(full)
    if not restored:
        console.print(f"run {full} is not deleted: nothing to restore")
        return
    children = f" and {restored - 1} child run(s)" if restored > 1 else ""
    console.print(f"restored run {full}{children}")


def _cmp_key(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _resolve(c: object, run_id: str) -> str:
    """Accept a unique id prefix of at least 6 characters, like git."""
    return c.tracking.resolve_run_id(run_id)  # type: ignore[attr-defined]
