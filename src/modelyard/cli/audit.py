"""``modelyard audit``: verify the hash chain, export events as JSON Lines."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import typer

from modelyard.cli._common import (
    JsonOption,
    console,
    err_console,
    fail,
    one_line_errors,
    print_json,
)
from modelyard.cli._governance import governance, operator

app = typer.Typer(help="The hash-chained audit log (as the local operator).", no_args_is_help=True)

_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


@app.command("verify")
@one_line_errors
def verify(
    ctx: typer.Context,
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="SEQ:DIGEST of a head recorded earlier; detects removed newest events.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check every event's digest and link; exit 1 naming the first broken event."""
    with governance(ctx) as gov:
        report = gov.audit.verify(actor=operator(), anchor=_parse_anchor(anchor))
    if as_json:
        print_json(asdict(report))
    elif report.ok:
        console.print(
            f"audit chain intact: {report.count} events "
            f"(head: event {report.head_seq}, digest {report.head_digest})",
            highlight=False,
        )
    if not report.ok:
        raise fail(f"audit chain broken at event {report.bad_seq}: {report.reason}", 1)


@app.command("export")
@one_line_errors
def export(
    ctx: typer.Context,
    since: datetime | None = typer.Option(
        None, "--since", formats=_DATE_FORMATS, help="Only events at or after this time (UTC)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
) -> None:
    """Write events, oldest first, as JSON Lines."""
    with governance(ctx) as gov:
        if out is None:
            gov.audit.write_jsonl(sys.stdout, actor=operator(), since=since)
            return
        with out.open("w", encoding="utf-8") as f:
            count = gov.audit.write_jsonl(f, actor=operator(), since=since)
    err_console.print(f"wrote {count} events to {out}", highlight=False)


def _parse_anchor(value: str | None) -> tuple[int, str] | None:
    from modelyard.errors import InvalidInput

    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise InvalidInput(f"--anchor must be SEQ:DIGEST, got {value!r}", field="anchor")
    return int(seq), digest.lower()
