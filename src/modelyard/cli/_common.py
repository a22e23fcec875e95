"""What every command shares: the Client from the global options, output, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from modelyard.client import DEFAULT_PROJECT
from modelyard.errors import ModelyardError

console = Console()
err_console = Console(stderr=True)


@dataclass
class State:
    """Global options collected by the root callback (flags beat env and file)."""

    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> Any:
        from modelyard.config import load_settings

        return load_settings(self.config_file, **self.overrides)


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


@contextmanager
def client(ctx: typer.Context) -> Iterator[Any]:
    from modelyard.client import Client

    with Client(state(ctx).settings()) as c:
        yield c


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def run_command(fn: Callable[[], None]) -> None:
    """Run a command body; a ModelyardError becomes one line and its exit code."""
    try:
        fn()
    except ModelyardError as exc:
        raise fail(exc.message, exc.exit_code) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    console.print(t)


def say_empty(message: str) -> None:
    """What a list command prints instead of an empty table: that nothing was found."""
    console.print(message, highlight=False, markup=False, soft_wrap=True)


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


JsonOption = typer.Option(False, "--json", help="Print JSON for machines instead of a table.")


def project_option(help: str) -> Any:
    """``--project``/``-p``, defaulting to the project the SDK uses when none is named
    (``DEFAULT_PROJECT``), so that every command looks in the same one."""
    return typer.Option(DEFAULT_PROJECT, "--project", "-p", help=help)
