"""``modelyard config``: show the effective settings."""

from __future__ import annotations

import typer

from modelyard.cli._common import JsonOption, one_line_errors, print_json, state, table

app = typer.Typer(help="Settings.", no_args_is_help=True)

_SECRET = ("secret", "password", "token")


@app.command("show")
@one_line_errors
def show(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Show every setting with its value and the environment variable that sets it."""
    from modelyard.config import iter_settings

    settings = state(ctx).settings()
    rows = []
    for path, env, _default, _doc in iter_settings():
        value = settings
        for part in path.split("."):
            value = getattr(value, part)
        if value is not None and any(word in path for word in _SECRET):
            value = "********"
        rows.append((path, value, env))
    derived = [
        ("store_url (effective)", settings.store_url, ""),
        ("artifacts_uri (effective)", settings.artifacts_uri, ""),
    ]
    if as_json:
        print_json({path: value for path, value, _ in rows + derived})
        return
    table("Settings", ["setting", "value", "environment variable"], rows + derived)
