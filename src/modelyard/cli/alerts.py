"""``modelyard alerts``: list a project's alerts (newest first, by status, severity or
deployment), show one with its history, acknowledge, resolve and comment; and
``modelyard health DEPLOYMENT``: the health score with its components (``--version
MODEL/N`` for one version as served there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    styled,
    table,
)

if TYPE_CHECKING:
    from modelyard.monitoring.entities import Alert, Health

app = typer.Typer(
    help="Alerts: what monitors, budgets and the loop found; acknowledge, resolve, comment.",
    no_args_is_help=True,
)

ProjectOption = project_option("Project of the alert.")
AlertArgument = typer.Argument(..., help="The alert's id (from `modelyard alerts list`).")
CommentOption = typer.Option("", "--comment", "-m", help="Why (kept in the alert's history).")
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def _severity(value: str) -> Text:
    return styled((value, _SEVERITY_STYLE.get(value, "")))


def _print(found: Alert) -> None:
    facts: list[tuple[str, Any]] = [
        ("alert", found.id),
        ("severity", _severity(found.severity)),
        ("status", found.status),
        ("subject", found.subject),
        ("monitor", found.monitor),
        ("title", found.title),
        ("opened", fmt_time(found.opened_at)),
        ("last seen", f"{fmt_time(found.last_seen_at)} ({found.occurrences} times)"),
    ]
    if found.acknowledged_by:
        facts.append(
            ("acknowledged", f"{fmt_time(found.acknowledged_at)} by {found.acknowledged_by}")
        )
    if found.resolved_by:
        facts.append(("resolved", f"{fmt_time(found.resolved_at)} by {found.resolved_by}"))
    facts += [(f"details.{k}", v) for k, v in sorted(found.details.items())]
    table(f"Alert {found.id}", ["", ""], facts)
    rows = [(fmt_time(n.at), n.action, n.by, n.comment) for n in found.history]
    table("History", ["at", "action", "by", "comment"], rows)


def _show(found: Alert, as_json: bool) -> None:
    if as_json:
        print_json(found.as_dict())
    else:
        _print(found)


@app.command("list")
@one_line_errors
def list_alerts(
    ctx: typer.Context,
    status: str | None = typer.Option(
        None, "--status", help="open, acknowledged or resolved (default: all)."
    ),
    severity: str | None = typer.Option(None, "--severity", help="info, warning or critical."),
    deployment: str | None = typer.Option(
        None, "--deployment", "-d", help="Alerts on this deployment or opened by its monitors."
    ),
    limit: int = typer.Option(100, "--limit", help="At most this many (up to 1000)."),
    project: str = project_option("Project of the alerts."),
    as_json: bool = JsonOption,
) -> None:
    """A project's alerts, newest first."""
    with client(ctx) as c:
        found = c.alerts.list_alerts(
            project, status=status, severity=severity, deployment=deployment, limit=limit
        )
    if as_json:
        print_json([a.as_dict() for a in found])
        return
    if not found:
        say_empty(f"No alerts in project {project!r}.", ctx)
        return
    # a monitor's title names it; `alerts show` has every field
    rows = [
        (
            a.id,
            _severity(a.severity),
            a.status,
            a.subject,
            a.title,
            fmt_time(a.opened_at),
            a.occurrences,
        )
        for a in found
    ]
    table(
        f"Alerts in {project}",
        ["id", "severity", "status", "subject", "title", "opened", "seen"],
        rows,
    )


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    alert_id: str = AlertArgument,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """One alert with its history."""
    with client(ctx) as c:
        _show(c.alerts.get(alert_id, project=project), as_json)


@app.command("ack")
@one_line_errors
def acknowledge(
    ctx: typer.Context,
    alert_id: str = AlertArgument,
    comment: str = CommentOption,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Acknowledge an alert: someone is on it (it stays unresolved)."""
    with client(ctx) as c:
        _show(c.alerts.acknowledge(alert_id, project=project, comment=comment), as_json)


@app.command("resolve")
@one_line_errors
def resolve(
    ctx: typer.Context,
    alert_id: str = AlertArgument,
    comment: str = CommentOption,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Resolve an alert (if its condition is still there, the next pass opens a new one)."""
    with client(ctx) as c:
        _show(c.alerts.resolve(alert_id, project=project, comment=comment), as_json)


@app.command("comment")
@one_line_errors
def comment(
    ctx: typer.Context,
    alert_id: str = AlertArgument,
    text: str = typer.Argument(..., help="The comment."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a comment to an alert's history."""
    with client(ctx) as c:
        _show(c.alerts.comment(alert_id, text, project=project), as_json)


def _score(score: float | None) -> Text:
    """A score coloured: green from 80, yellow from 50, red below; '-' when not judged."""
    if score is None:
        return styled(("-", "dim"))
    style = "bold green" if score >= 80 else "bold yellow" if score >= 50 else "bold red"
    return styled((f"{score:.1f}", style))


def _basis(details: dict[str, Any]) -> str:
    """What a component was computed from, in a few words."""
    if "monitors" in details:
        return ", ".join(f"{name} {m['score']:g}" for name, m in details["monitors"].items())
    if "windows" in details:
        return f"{details['breached']} of {details['windows']} windows breached"
    if details.get("oldest_waiting_hour_end") is not None:
        return f"waiting since {fmt_time(details['oldest_waiting_hour_end'])}"
    if "newest_labelled_hour_end" in details:
        return "labels on time"
    return ""


def _print_health(found: Health) -> None:
    title = styled(f"Health of {found.subject}: ", _score(found.score))
    rows = [
        (
            c.name,
            _score(c.score),
            f"{c.weight:g}",
            _basis(c.details),
        )
        for c in found.components
    ]
    console.print(title)
    table(None, ["component", "score", "weight", "from"], rows)
    console.print(Text(found.formula, style="dim"))


@one_line_errors
def health(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="Deployment name."),
    version: str | None = typer.Option(
        None, "--version", help="One version as served there: MODEL/N or MODEL@ALIAS."
    ),
    project: str = project_option("Project of the deployment."),
    as_json: bool = JsonOption,
) -> None:
    """The health score of a deployment (0-100) with its components and formula."""
    with client(ctx) as c:
        found = c.alerts.health(deployment, project=project, version=version)
    if as_json:
        print_json(found.as_dict())
    else:
        _print_health(found)
