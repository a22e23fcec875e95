"""``modelyard webhooks``: subscribe URLs to a project's events, list and delete them,
read their deliveries (``--status dead``: the dead-letter list) and send one again.

A project's administrator manages its webhooks (``--project``, ``default``); ``modelyard
worker`` delivers them. Works embedded and through a server (``--tracking-uri``).
"""

from __future__ import annotations

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    err_console,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    table,
)

app = typer.Typer(
    help="Webhooks: send a project's registry and dataset events to URLs, signed.",
    no_args_is_help=True,
)

ProjectOption = project_option("Project of the webhooks.")


@app.command("create")
@one_line_errors
def create(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="http:// or https:// URL to POST events to."),
    event: list[str] = typer.Option(
        ["*"], "--event", "-e", help="An event kind to send (repeat; default: all, '*')."
    ),
    slack: bool = typer.Option(
        False, "--slack", help='Send {"text": ...} (Slack-compatible) instead of the event.'
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a webhook; its signing secret is printed this once."""
    with client(ctx) as c:
        made = c.webhooks.create(project, url, events=event, format="slack" if slack else "json")
    if as_json:
        print_json(made.as_dict())
        return
    console.print(
        f"created webhook {made.id} in project {made.project}: {made.url} "
        f"({made.format}) for {', '.join(made.events)}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"secret: {made.secret}", highlight=False, soft_wrap=True)
    err_console.print(
        "keep the secret now: it is not shown again (receivers check signatures with it)",
        highlight=False,
    )


@app.command("list")
@one_line_errors
def list_(ctx: typer.Context, project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """List the webhooks of a project."""
    with client(ctx) as c:
        found = c.webhooks.list_webhooks(project)
    if as_json:
        print_json([w.as_dict() for w in found])
        return
    if not found:
        say_empty(f"no webhooks in project {project}", ctx)
        return
    table(
        f"Webhooks of {project}",
        ["id", "url", "events", "format", "created (UTC)", "by"],
        [
            (w.id, w.url, ", ".join(w.events), w.format, fmt_time(w.created_at), w.created_by)
            for w in found
        ],
    )


@app.command("delete")
@one_line_errors
def delete(
    ctx: typer.Context,
    webhook_id: str = typer.Argument(..., help="Webhook id."),
    project: str = ProjectOption,
) -> None:
    """Delete a webhook and its deliveries."""
    with client(ctx) as c:
        c.webhooks.delete(project, webhook_id)
    console.print(
        f"deleted webhook {webhook_id} in project {project}", highlight=False, soft_wrap=True
    )


@app.command("deliveries")
@one_line_errors
def deliveries(
    ctx: typer.Context,
    webhook_id: str | None = typer.Option(None, "--webhook", "-w", help="Only this webhook's."),
    status: str | None = typer.Option(
        None, "--status", help="Only pending, delivered or dead (the dead-letter list)."
    ),
    limit: int = typer.Option(50, "--limit", "-n", help="How many, newest first."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """The deliveries of a project's webhooks: event, status, attempts, last error."""
    with client(ctx) as c:
        found = c.webhooks.deliveries(project, webhook_id=webhook_id, status=status, limit=limit)
    if as_json:
        print_json([d.as_dict() for d in found])
        return
    if not found:
        say_empty(f"no deliveries in project {project}" + (f" ({status})" if status else ""))
        return
    table(
        f"Deliveries of {project}",
        ["id", "webhook", "event", "status", "attempts", "next/at (UTC)", "last"],
        [
            (
                d.id,
                d.webhook_id,
                d.kind,
                d.status,
                d.attempts,
                fmt_time(d.delivered_at if d.status == "delivered" else d.next_attempt_at)
                if d.status != "dead"
                else "",
                d.last_error or (f"HTTP {d.last_status}" if d.last_status else ""),
            )
            for d in found
        ],
    )


@app.command("redeliver")
@one_line_errors
def redeliver(
    ctx: typer.Context,
    delivery_id: str = typer.Argument(..., help="Delivery id."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Send a delivery again (a dead one too): the next worker sends it, under the same id."""
    with client(ctx) as c:
        found = c.webhooks.redeliver(project, delivery_id)
    if as_json:
        print_json(found.as_dict())
        return
    console.print(
        f"delivery {found.id} ({found.kind}) is pending again: the next worker sends it",
        highlight=False,
        soft_wrap=True,
    )
