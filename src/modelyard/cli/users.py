"""``modelyard users``: create, list, disable and enable accounts, reset passwords."""

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
    styled,
    table,
)
from modelyard.cli._governance import PasswordStdinOption, governance, operator, read_password

app = typer.Typer(
    help="User accounts (on the metadata store, as the local operator).", no_args_is_help=True
)


@app.command("create")
@one_line_errors
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Username (letters, digits, '.', '_', '-')."),
    admin: bool = typer.Option(False, "--admin", help="Give the user administrator rights."),
    email: str | None = typer.Option(None, "--email", help="The user's email address."),
    password_stdin: bool = PasswordStdinOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a user who signs in with a password (prompted twice unless --password-stdin)."""
    password = read_password(password_stdin)
    with governance(ctx) as gov:
        user = gov.users.create_user(name, password, actor=operator(), admin=admin, email=email)
    if as_json:
        print_json(asdict(user))
    else:
        role = " (administrator)" if user.is_admin else ""
        console.print(styled("created user ", (user.username, "bold"), role))


@app.command("list")
@one_line_errors
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List users and service accounts."""
    with governance(ctx) as gov:
        users = gov.users.list_users(actor=operator())
    if as_json:
        print_json([asdict(u) for u in users])
        return
    if not users:
        say_empty("no users yet: `modelyard users create NAME --admin` makes the first", ctx)
        return
    table(
        "Users",
        ["username", "kind", "admin", "status", "created", "last sign-in"],
        [
            (
                u.username,
                "service account" if u.is_service_account else "user",
                "yes" if u.is_admin else "",
                "disabled" if u.disabled else "active",
                fmt_time(u.created_at),
                fmt_time(u.last_login_at),
            )
            for u in users
        ],
    )


@app.command("disable")
@one_line_errors
def disable(ctx: typer.Context, name: str = typer.Argument(..., help="Username.")) -> None:
    """Disable an account: no sign-in and none of its tokens work."""
    with governance(ctx) as gov:
        user = gov.users.disable_user(name, actor=operator())
    console.print(styled("disabled ", (user.username, "bold")))


@app.command("enable")
@one_line_errors
def enable(ctx: typer.Context, name: str = typer.Argument(..., help="Username.")) -> None:
    """Enable a disabled account again."""
    with governance(ctx) as gov:
        user = gov.users.enable_user(name, actor=operator())
    console.print(styled("enabled ", (user.username, "bold")))


@app.command("unlock")
@one_line_errors
def unlock(ctx: typer.Context, name: str = typer.Argument(..., help="Username.")) -> None:
    """Clear a sign-in lock-out (too many failed attempts)."""
    with governance(ctx) as gov:
        gov.users.unlock_user(name, actor=operator())
    console.print(styled("unlocked ", (name, "bold")))


@app.command("set-password")
@one_line_errors
def set_password(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Username."),
    password_stdin: bool = PasswordStdinOption,
) -> None:
    """Set a user's password (prompted twice unless --password-stdin)."""
    password = read_password(password_stdin, "New password")
    with governance(ctx) as gov:
        gov.users.change_password(name, password, actor=operator())
    console.print(styled("password of ", (name, "bold"), " changed"))
