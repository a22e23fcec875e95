"""``modelyard roles``: who has which role on a project."""

from __future__ import annotations

from dataclasses import asdict

import typer

from modelyard.cli._common import (
    JsonOption,
    console,
    fmt_time,
    one_line_errors,
    print_json,
    say_empty,
    table,
)
from modelyard.cli._governance import governance, operator

app = typer.Typer(
    help="Project roles: predictor < viewer < contributor < approver < admin (as the local "
    "operator).",
    no_args_is_help=True,
)


@app.command("grant")
@one_line_errors
def grant(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name."),
    user: str = typer.Argument(..., help="Username."),
    role: str = typer.Argument(
        ..., help="predictor (may only predict), viewer, contributor, approver or admin."
    ),
) -> None:
    """Give a user a role on a project (replacing the role they had)."""
    with governance(ctx) as gov:
        member = gov.roles.grant(project, user, role, actor=operator())
    console.print(f"{member.username} is {member.role.value} on project {project}")


@app.command("revoke")
@one_line_errors
def revoke(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name."),
    user: str = typer.Argument(..., help="Username."),
) -> None:
    """Remove a user from a project."""
    with governance(ctx) as gov:
        gov.roles.revoke(project, user, actor=operator())
    console.print(f"{user} removed from project {project}")


@app.command("list")
@one_line_errors
def list_(
    ctx: typer.Context,
    project: str = typer.Argument(..., help="Project name."),
    as_json: bool = JsonOption,
) -> None:
    """List a project's members and their roles."""
    with governance(ctx) as gov:
        members = gov.roles.list_members(project, actor=operator())
    if as_json:
        print_json([asdict(m) for m in members])
        return
    if not members:
        say_empty(f"project {project} has no members with a role")
        return
    table(
        f"Members of {project}",
        ["user", "role", "granted", "by"],
        [(m.username, m.role.value, fmt_time(m.granted_at), m.granted_by) for m in members],
    )
