"""``modelyard gc`` and ``modelyard version``."""

from __future__ import annotations

import typer

from modelyard.cli._common import (
    JsonOption,
    client,
    console,
    installed_version,
    one_line_errors,
    print_json,
)


@one_line_errors
def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
    min_age: float = typer.Option(
        3600.0, "--min-age", help="Keep unreferenced blobs younger than this many seconds."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Remove blobs that no artifact refers to any more."""
    with client(ctx) as c:
        removed = c.gc(dry_run=dry_run, min_age_s=min_age)
    if as_json:
        print_json({"dry_run": dry_run, "blobs": removed})
        return
    verb = "would remove" if dry_run else "removed"
    console.print(f"{verb} {len(removed)} unreferenced blob(s)")
    for digest in removed:
        console.print(f"  {digest}", highlight=False)


@one_line_errors
def version() -> None:
    """Print the installed version."""
    console.print(f"modelyard {installed_version()}", highlight=False)
