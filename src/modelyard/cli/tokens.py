"""``modelyard tokens``: create, list and revoke access tokens."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import typer

from modelyard.cli._common import (
    JsonOption,
    console,
    err_console,
    fmt_time,
    one_line_errors,
    print_json,
    say_empty,
    table,
)
from modelyard.cli._governance import governance, operator

app = typer.Typer(
    help="Personal access tokens and service-account tokens (as the local operator).",
    no_args_is_help=True,
)


@app.command("create")
@one_line_errors
def create(
    ctx: typer.Context,
    user: str = typer.Option(..., "--user", "-u", help="Whose token it is."),
    name: str = typer.Option(..., "--name", "-n", help="What the token is for (e.g. 'ci')."),
    expires_days: int | None = typer.Option(
        None, "--expires-days", help="Days until it expires (at most 365); default: never."
    ),
    service_account: bool = typer.Option(
        False,
        "--service-account",
        help="The user is a service account (created now if it does not exist).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a token and print its secret (shown this once)."""
    from modelyard.errors import InvalidInput, NotFound

    expires = timedelta(days=expires_days) if expires_days is not None else None
    with governance(ctx) as gov:
        if service_account:
            try:
                account = gov.users.get_user(user)
            except NotFound:
                account = gov.users.create_service_account(user, actor=operator())
            if not account.is_service_account:
                raise InvalidInput(
                    f"{account.username} is a user, not a service account", field="user"
                )
        new = gov.tokens.create(user, name, actor=operator(), expires_in=expires)
    if as_json:
        print_json({"token": asdict(new.token), "secret": new.secret})
        return
    console.print(new.secret, highlight=False, soft_wrap=True)
    err_console.print(
        f"token {new.token.id} ({name!r} for {new.token.username}); "
        "copy the secret above now: it is not shown again",
        highlight=False,
    )


@app.command("list")
@one_line_errors
def list_(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", "-u", help="Only this user's tokens."),
    as_json: bool = JsonOption,
) -> None:
    """List tokens (never their secrets)."""
    with governance(ctx) as gov:
        tokens = gov.tokens.list_tokens(user, actor=operator())
    if as_json:
        print_json([asdict(t) for t in tokens])
        return
    if not tokens:
        say_empty("no tokens" + (f" of user {user}" if user else ""), ctx)
        return
    table(
        "Tokens",
        ["id", "user", "name", "state", "created", "expires", "last used", "minted by"],
        [
            (
                t.id,
                t.username,
                t.name,
                t.state,
                fmt_time(t.created_at),
                fmt_time(t.expires_at) or "never",
                fmt_time(t.last_used_at),
                t.parent_id or "",
            )
            for t in tokens
        ],
    )


@app.command("revoke")
@one_line_errors
def revoke(ctx: typer.Context, token_id: str = typer.Argument(..., help="Token id.")) -> None:
    """Revoke a token and every token minted with it; they stop working at once."""
    with governance(ctx) as gov:
        token = gov.tokens.revoke(token_id, actor=operator())
    console.print(f"revoked token {token.id} ({token.name!r} of {token.username})")
