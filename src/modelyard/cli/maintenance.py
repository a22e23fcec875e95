"""``modelyard gc`` and ``modelyard version``."""

from __future__ import annotations

import typer

from modelyard.cli._common import JsonOption, client, console, print_json, run_command


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)
    app.command("version")(version)


def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
    min_age: float = typer.Option(
        3600.0, "--min-age", help="Keep unreferenced blobs younger than this many seconds."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Remove blobs that no artifact refers to any more."""

    def body() -> None:
        with client(ctx) as c:
            removed = c.gc(dry_run=dry_run, min_age_s=min_age)
        if as_json:
            print_json({"dry_run": dry_run, "blobs": removed})
            return
        verb = "would remove" if dry_run else "removed"
        console.print(f"{verb} {len(removed)} unreferenced blob(s)")
        for digest in removed:
            console.print(f"  {digest}", highlight=False)

    run_command(body)


def version() -> None:
    """Print the installed version."""
    console.print(f"modelyard {installed_version()}", highlight=False)


def installed_version() -> str:
    """The version in the installed package's metadata (``modelyard.__version__`` when
    the source runs uninstalled)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as metadata_version

    try:
        return metadata_version("modelyard")
    except PackageNotFoundError:
        from modelyard import __version__

        return __version__
