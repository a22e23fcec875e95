"""``modelyard monitors``: declare monitors on a deployment (one with ``create``, or a YAML
document with ``apply``), list, show and delete them, run a monitoring pass now (a progress
bar over the new log segments) and read a monitor's values per window as a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    confirm,
    err_console,
    fmt,
    fmt_time,
    one_line_errors,
    print_json,
    progress,
    project_option,
    say_empty,
    table,
)
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.monitoring.entities import Monitor

app = typer.Typer(
    help="Monitors: drift, performance, volume and SLO checks on a deployment, judged per "
    "window by incremental passes.",
    no_args_is_help=True,
)

ProjectOption = project_option("Project of the deployment.")
DeploymentArgument = typer.Argument(..., help="Deployment name.")


def _config(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        raise InvalidInput(
            f"--config must be a JSON object; got {text!r}", field="config"
        ) from None
    if not isinstance(found, dict):
        raise InvalidInput("--config must be a JSON object", field="config")
    return found


def _window(m: Monitor) -> str:
    return f"{m.window} sliding by an {m.slide}" if m.slide else m.window


def _show(found: Monitor, as_json: bool) -> None:
    if as_json:
        print_json(found.as_dict())
        return
    facts = [
        ("monitor", f"{found.project}/{found.deployment}/{found.name}"),
        ("kind", found.kind),
        ("window", _window(found)),
        ("severity", found.severity),
        ("enabled", found.enabled),
        ("config", json.dumps(found.config, sort_keys=True)),
        ("last pass", fmt_time(found.last_pass_at) if found.last_pass_at else "never"),
        ("created", f"{fmt_time(found.created_at)} by {found.created_by}"),
    ]
    table(f"Monitor {found.name}", ["", ""], [(k, fmt(v)) for k, v in facts])


@app.command("create")
@one_line_errors
def create(
    ctx: typer.Context,
    deployment: str = DeploymentArgument,
    name: str = typer.Argument(..., help="Monitor name."),
    kind: str = typer.Option(..., "--kind", help="drift, prediction_drift, performance, ..."),
    window: str = typer.Option("hour", "--window", help="hour or day."),
    slide: str | None = typer.Option(
        None, "--slide", help="hour: a day window sliding by an hour (default: tumbling)."
    ),
    severity: str = typer.Option("warning", "--severity", help="info, warning or critical."),
    config: str | None = typer.Option(None, "--config", help="The kind's settings as JSON."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a monitor to a deployment."""
    with client(ctx) as c:
        made = c.monitors.create(
            deployment,
            name,
            kind,
            project=project,
            config=_config(config),
            window=window,
            slide=slide,
            severity=severity,
        )
    _show(made, as_json)


@app.command("apply")
@one_line_errors
def apply(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A YAML file: {deployment, monitors: [...]}."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Create or update the monitors a YAML file declares (all or none)."""
    text = file.read_text(encoding="utf-8")
    with client(ctx) as c:
        made = c.monitors.apply(text, project=project)
    if as_json:
        print_json([m.as_dict() for m in made])
        return
    _table(made, f"Monitors applied from {file}")


def _table(found: list[Monitor], title: str) -> None:
    rows = [
        (m.name, m.kind, _window(m), m.severity, m.enabled, fmt_time(m.last_pass_at)) for m in found
    ]
    table(title, ["name", "kind", "window", "severity", "enabled", "last pass"], rows)


@app.command("list")
@one_line_errors
def list_monitors(
    ctx: typer.Context,
    deployment: str = DeploymentArgument,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """The monitors of a deployment."""
    with client(ctx) as c:
        found = c.monitors.list_monitors(deployment, project=project)
    if as_json:
        print_json([m.as_dict() for m in found])
        return
    if not found:
        say_empty(f"No monitors on deployment {deployment!r}.", ctx)
        return
    _table(found, f"Monitors of {project}/{deployment}")


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    deployment: str = DeploymentArgument,
    name: str = typer.Argument(..., help="Monitor name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """One monitor and its configuration."""
    with client(ctx) as c:
        _show(c.monitors.get(deployment, name, project=project), as_json)


@app.command("delete")
@one_line_errors
def delete(
    ctx: typer.Context,
    deployment: str = DeploymentArgument,
    name: str = typer.Argument(..., help="Monitor name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    project: str = ProjectOption,
) -> None:
    """Delete a monitor and its values (its alerts stay)."""
    confirm(f"delete monitor {name} of deployment {deployment}", yes)
    with client(ctx) as c:
        c.monitors.delete(deployment, name, project=project)
    err_console.print(f"Deleted monitor {name} of {project}/{deployment}.")


@app.command("run")
@one_line_errors
def run(
    ctx: typer.Context,
    deployment: str = DeploymentArgument,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Run a monitoring pass over a deployment now: its new log segments and labels,
    judged by every enabled monitor."""
    from rich.progress import MofNCompleteColumn

    with client(ctx) as c, progress(MofNCompleteColumn()) as bar:
        task = bar.add_task("segments", total=None)
        report = c.monitors.run_pass(
            deployment,
            project=project,
            on_segment=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(report.as_dict())
        return
    facts = [
        ("segments read", report.segments),
        ("rows", report.rows),
        ("windows rebuilt", report.windows),
        ("labels joined", report.labels),
        ("labels for unknown predictions", report.unknown_labels),
        ("labels repeated", report.repeated_labels),
        ("values written", report.values),
        ("alerts opened", len(report.opened)),
        ("alerts resolved", len(report.resolved)),
        ("seconds", f"{report.seconds:.2f}"),
    ]
    table(f"Pass over {project}/{deployment}", ["", ""], [(k, fmt(v)) for k, v in facts])
    for error in report.errors:
        err_console.print(f"error: {error}")
    if report.errors:
        raise typer.Exit(1)


@app.command("values")
@one_line_errors
def values(
    ctx: typer.Context,
    deployment: str = DeploymentArgument,
    name: str = typer.Argument(..., help="Monitor name."),
    since: int | None = typer.Option(None, "--since", help="From this time (ms since the epoch)."),
    until: int | None = typer.Option(None, "--until", help="Until this time (ms)."),
    version: str | None = typer.Option(
        None, "--version", help="One version (MODEL/VERSION); default: all versions together."
    ),
    newest: int | None = typer.Option(None, "--newest", help="Only the newest N windows."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """A monitor's values per window, oldest first."""
    with client(ctx) as c:
        found = c.monitors.values(
            deployment,
            name,
            project=project,
            since=since,
            until=until,
            version=version,
            newest=newest,
        )
    if as_json:
        print_json([v.as_dict() for v in found])
        return
    if not found:
        say_empty(f"No values of monitor {name!r} yet.", ctx)
        return
    rows = [
        (
            fmt_time(v.window_start),
            fmt_time(v.window_end),
            fmt(v.value),
            fmt(v.threshold),
            v.status + (" (partial)" if v.details.get("partial") else ""),
            v.rows,
        )
        for v in found
    ]
    table(
        f"Values of {name} on {project}/{deployment}",
        ["start", "end", "value", "threshold", "status", "rows"],
        rows,
    )
