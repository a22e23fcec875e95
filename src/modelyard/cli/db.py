"""``modelyard db``: schema migrations of the metadata store."""

from __future__ import annotations

import typer

from modelyard.cli._common import console, one_line_errors, state

app = typer.Typer(help="Metadata store schema.", no_args_is_help=True)


@app.command("upgrade")
@one_line_errors
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Option("head", "--revision", help="Target revision."),
) -> None:
    """Apply pending migrations (required for PostgreSQL; automatic for embedded SQLite)."""
    from modelyard.store import Store

    settings = state(ctx).settings()
    store = Store(settings.store_url, busy_timeout_s=settings.store.busy_timeout_s)
    try:
        before = store.current_revision()
        store.upgrade(revision)
        after = store.current_revision()
    finally:
        store.dispose()
    url = store.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"{url} is up to date (revision {after})")
    else:
        console.print(f"upgraded {url}: {before or 'empty'} -> {after}")


@app.command("current")
@one_line_errors
def current(ctx: typer.Context) -> None:
    """Print the store's schema revision."""
    from modelyard.store import Store

    settings = state(ctx).settings()
    store = Store(settings.store_url, busy_timeout_s=settings.store.busy_timeout_s)
    try:
        console.print(store.current_revision() or "empty (run `modelyard db upgrade`)")
    finally:
        store.dispose()
