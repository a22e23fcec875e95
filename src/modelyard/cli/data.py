"""``modelyard data``: register, list, show, load, profile, validate, compare and diff
datasets.

A dataset is named ``NAME`` (the newest version), ``NAME:VERSION`` or ``NAME@ALIAS`` in
the project given by ``--project`` (``default``). ``profile``, ``drift`` and ``diff`` also
take the path of a CSV or Parquet file or a directory: an existing path wins over a name
(so do ``validate`` and ``suggest``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from modelyard.cli._common import (
    JsonOption,
    byte_progress,
    client,
    console,
    err_console,
    fmt,
    fmt_bytes,
    fmt_time,
    one_line_errors,
    print_json,
    project_option,
    say_empty,
    styled,
    table,
)
from modelyard.errors import InvalidInput
from modelyard.lineage.edges import DATASET_VERSION

if TYPE_CHECKING:
    from modelyard.data import Profile, ValidationReport
    from modelyard.datasets import ColumnSchema, DatasetVersion

app = typer.Typer(
    help="Datasets: register versioned data, inspect, load, profile, validate, compare.",
    no_args_is_help=True,
)

_REF = re.compile(r"^(?P<name>[^:@]+)(?::(?P<version>\d+)|@(?P<alias>[^:@]+))?$")

ProjectOption = project_option("Project of the dataset.")
EncodingOption = typer.Option(
    None, "--encoding", help="Text encoding of a CSV file given by path (default utf-8)."
)
#: Endings of the files the data commands read: a missing one is a missing file.
_DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".arrow", ".feather", ".gz", ".bz2", ".zst")


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS`` -> (name, version, alias)."""
    match = _REF.match(ref.strip())
    if match is None:
        raise InvalidInput(
            f"not a dataset reference: {ref!r}; use NAME, NAME:VERSION or NAME@ALIAS",
            field="ref",
        )
    version = match.group("version")
    return match.group("name"), int(version) if version else None, match.group("alias")


def _get(c: Any, ref: str, project: str) -> DatasetVersion:
    name, version, alias = parse_ref(ref)
    found: DatasetVersion = c.datasets.get(name, version, alias, project=project)
    return found


# -- register, list, versions, show, load -------------------------------------------------


@app.command("register")
@one_line_errors
def register(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    path: Path = typer.Argument(..., help="CSV or Parquet file, or a directory of them."),
    project: str = ProjectOption,
    alias: list[str] = typer.Option([], "--alias", "-a", help="Alias to point at the version."),
    description: str = typer.Option("", "--description", "-d", help="What this version is."),
    encoding: str | None = typer.Option(None, "--encoding", help="CSV text encoding (utf-8)."),
    no_profile: bool = typer.Option(False, "--no-profile", help="Skip the profile."),
    expectations: Path | None = typer.Option(
        None,
        "--expectations",
        "-e",
        help="Validate first (YAML): a critical failure registers nothing (exit code 9).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Register a file or directory as a new version (or find the version that already
    holds the same data)."""
    with client(ctx) as c:
        before = {v.id for v in _versions_or_none(c, name, project)}
        with byte_progress(f"registering {name}") as update:
            found = c.datasets.register(
                name,
                path,
                project=project,
                description=description,
                aliases=alias,
                encoding=encoding,
                profile=not no_profile,
                progress=update,
                expectations=expectations,
            )
    new = found.id not in before
    if as_json:
        print_json({**found.as_dict(), "created": new})
        return
    verb = "registered" if new else "already registered as"
    console.print(
        styled(
            f"{verb} ",
            (found.ref, "bold"),
            f" in project {found.project}: {found.num_rows:,} rows, "
            f"{found.num_columns} columns, {fmt_bytes(found.size_bytes)} "
            f"(digest {found.digest[:16]})",
        )
    )


def _versions_or_none(c: Any, name: str, project: str) -> list[DatasetVersion]:
    from modelyard.errors import NotFound

    try:
        versions: list[DatasetVersion] = c.datasets.list_versions(name, project=project)
    except NotFound:
        return []
    return versions


@app.command("list")
@one_line_errors
def list_(
    ctx: typer.Context,
    project: str | None = typer.Option(None, "--project", "-p", help="Only this project."),
    as_json: bool = JsonOption,
) -> None:
    """List datasets with their newest version."""
    with client(ctx) as c:
        found = c.datasets.list_datasets(project)
    if as_json:
        print_json([d.as_dict() for d in found])
        return
    if not found:
        say_empty("no datasets" + (f" in project {project}" if project else ""), ctx)
        return
    table(
        "Datasets",
        ["project", "name", "latest", "updated", "description"],
        [
            (d.project, d.name, d.latest_version, fmt_time(d.updated_at), d.description)
            for d in found
        ],
    )


@app.command("versions")
@one_line_errors
def versions(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """List the versions of a dataset."""
    with client(ctx) as c:
        found = c.datasets.list_versions(name, project=project)
    if as_json:
        print_json([v.as_dict() for v in found])
        return
    table(
        f"Versions of {name}",
        ["version", "rows", "columns", "size", "digest", "aliases", "created", "by"],
        [
            (
                v.version,
                f"{v.num_rows:,}",
                v.num_columns,
                fmt_bytes(v.size_bytes),
                v.digest[:16],
                ", ".join(v.aliases),
                fmt_time(v.created_at),
                v.created_by,
            )
            for v in found
        ],
    )


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@ALIAS."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a version: schema, rows, digest, aliases, lineage and reports."""
    with client(ctx) as c:
        found = _get(c, ref, project)
        edges = c.lineage_service.edges(DATASET_VERSION, found.id)
        reports = c.datasets.service.get_reports(found)
    if as_json:
        print_json(
            {
                **found.as_dict(),
                "lineage": [e.as_dict() for e in edges],
                "reports": [
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "created_at": r.created_at,
                        "html": bool(r.html_digest),
                    }
                    for r in reports
                ],
            }
        )
        return
    fields = [
        ("dataset", f"{found.project}/{found.ref}"),
        ("aliases", ", ".join(found.aliases)),
        ("rows", f"{found.num_rows:,}"),
        ("columns", found.num_columns),
        ("size", fmt_bytes(found.size_bytes)),
        ("digest", found.digest),
        ("source", found.source),
        ("description", found.description),
        ("created", f"{fmt_time(found.created_at)} by {found.created_by}"),
        ("run", found.run_id or ""),
    ]
    for key, value in fields:
        console.print(styled((f"{key:>11}", "bold"), f"  {fmt(value)}"))
    table(
        "Schema",
        ["column", "type", "stored as", "nullable"],
        [
            (col.name, col.type, col.arrow_type, "yes" if col.nullable else "no")
            for col in found.columns
        ],
    )
    if edges:
        table(
            "Lineage",
            ["direction", "relation", "kind", "id", "when"],
            [
                (
                    "from" if e.target_id == found.id else "to",
                    e.relation,
                    e.source_kind if e.target_id == found.id else e.target_kind,
                    e.source_id if e.target_id == found.id else e.target_id,
                    fmt_time(e.created_at),
                )
                for e in edges
            ],
        )
    if reports:
        table(
            "Reports",
            ["kind", "created", "html", "id"],
            [
                (r.kind, fmt_time(r.created_at), "yes" if r.html_digest else "", r.id)
                for r in reports
            ],
        )


@app.command("load")
@one_line_errors
def load(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@ALIAS."),
    out: Path = typer.Option(..., "--out", "-o", help="File to write: .parquet or .csv."),
    project: str = ProjectOption,
) -> None:
    """Write a version to a Parquet or CSV file (streamed, verified against its digests)."""
    with client(ctx) as c:
        found = _get(c, ref, project)
        rows = c.datasets.export(found.dataset, out, version=found.version, project=found.project)
    console.print(f"wrote {rows:,} rows of {found.ref} to {out}", highlight=False)


# -- profile, drift, diff: datasets or files ----------------------------------------------


def _side(
    c: Any, source: str, project: str, encoding: str | None = None
) -> tuple[str, list[ColumnSchema], Profile]:
    """Label, columns and profile of a dataset reference or a file/directory path."""
    if Path(source).exists():
        from modelyard.datasets._describe import describe

        with byte_progress(f"profiling {Path(source).name}") as update:
            found = describe(source, encoding=encoding, progress=update)
        assert found.profile is not None
        return source, list(found.columns), found.profile
    version = _dataset(c, source, project)
    name, number = version.dataset, version.version
    return version.ref, list(version.columns), c.datasets.get_profile(name, number, project=project)


def _dataset(c: Any, source: str, project: str) -> DatasetVersion:
    """The dataset version ``source`` names; when there is none and ``source`` looks like
    a path (a folder in it, or the ending of a data file), a missing file is the error."""
    from modelyard.errors import NotFound

    try:
        return _get(c, source, project)
    except (NotFound, InvalidInput):
        if "/" in source or os.sep in source or source.lower().endswith(_DATA_SUFFIXES):
            raise NotFound(
                f"no such file or folder: {source} (nor a dataset of that name in project "
                f"{project!r})",
                field="source",
            ) from None
        raise


def _write_html(path: Path | None, html: str) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    err_console.print(f"wrote {path}", highlight=False)


@app.command("profile")
@one_line_errors
def profile(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Dataset (NAME[:VERSION|@ALIAS]) or file/directory."),
    html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    project: str = ProjectOption,
    encoding: str | None = EncodingOption,
    as_json: bool = JsonOption,
) -> None:
    """Profile a dataset version (its stored profile) or a file."""
    with client(ctx) as c:
        label, _columns, found = _side(c, source, project, encoding)
    _write_html(html, found.to_html())
    if as_json:
        print_json(found.to_dict())
        return
    table(
        f"Profile of {label} ({found.rows:,} rows)",
        ["column", "type", "missing", "distinct", "mean", "std", "min", "max", "top"],
        [
            (
                col.name,
                col.type,
                _share(col.missing, col.count),
                col.distinct,
                col.mean,
                col.std,
                col.min,
                col.max,
                ", ".join(t.value for t in col.top[:3]),
            )
            for col in found.columns
        ],
    )


@app.command("drift")
@one_line_errors
def drift(
    ctx: typer.Context,
    reference: str = typer.Argument(..., help="Reference: a dataset or a file/directory."),
    current: str = typer.Argument(..., help="Current: a dataset or a file/directory."),
    html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    project: str = ProjectOption,
    encoding: str | None = EncodingOption,
    as_json: bool = JsonOption,
) -> None:
    """Compare the distributions of two datasets or files, feature by feature."""
    from modelyard.data import drift as measure

    with client(ctx) as c:
        label_a, _, profile_a = _side(c, reference, project, encoding)
        label_b, _, profile_b = _side(c, current, project, encoding)
    report = measure(profile_a, profile_b)
    _write_html(html, report.to_html())
    if as_json:
        print_json(report.to_dict())
        return
    table(
        f"Drift of {label_b} against {label_a}",
        ["column", "kind", "test", "statistic", "p-value", "threshold", "drifted"],
        [
            (
                f.column,
                f.kind,
                f.test or f.note,
                f.statistic,
                f.p_value,
                f.threshold,
                styled(("yes", "red")) if f.drifted else "no",
            )
            for f in report.features
        ],
    )
    verdict = ("drifted", "red") if report.dataset_drifted else ("no drift", "green")
    console.print(
        styled(
            verdict,
            f": {len(report.drifted)} of {len(report.features)} features drifted "
            f"({report.share_drifted:.0%}, threshold {report.drift_share:.0%})",
        )
    )


@app.command("diff")
@one_line_errors
def diff(
    ctx: typer.Context,
    a: str = typer.Argument(..., help="First: a dataset or a file/directory."),
    b: str = typer.Argument(..., help="Second: a dataset or a file/directory."),
    project: str = ProjectOption,
    encoding: str | None = EncodingOption,
    as_json: bool = JsonOption,
) -> None:
    """Schema and profile differences between two datasets or files."""
    from modelyard.datasets.diff import diff as compare

    with client(ctx) as c:
        result = compare(_side(c, a, project, encoding), _side(c, b, project, encoding))
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        styled(
            (result.a, "bold"),
            f" ({fmt(result.rows[0])} rows) -> ",
            (result.b, "bold"),
            f" ({fmt(result.rows[1])} rows)",
        )
    )
    changes = [("added", col.name, "", col.arrow_type) for col in result.added]
    changes += [("removed", col.name, col.arrow_type, "") for col in result.removed]
    changes += [("retyped", ch.name, ch.a, ch.b) for ch in result.retyped]
    changes += [("nullability", ch.name, ch.a, ch.b) for ch in result.nullability]
    if changes:
        table("Schema changes", ["change", "column", result.a, result.b], changes)
    else:
        console.print("schema: no changes")
    rows = []
    for name in result.changed_columns():
        left, right = result.columns[name]
        for stat in ("count", "missing_share", "mean", "std", "min", "max", "distinct", "top"):
            x = getattr(left, stat) if left is not None else None
            y = getattr(right, stat) if right is not None else None
            if x != y:
                rows.append((name, stat, _stat(stat, x), _stat(stat, y)))
    if rows:
        table("Profile changes", ["column", "statistic", result.a, result.b], rows)
    else:
        console.print("profile: no changes")


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else ""


def _stat(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "missing_share":
        return f"{value:.1%}"
    if name == "top":
        return ", ".join(value)
    return fmt(value)


@app.command("validate")
@one_line_errors
def validate(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Dataset (NAME[:VERSION|@ALIAS]) or file/directory."),
    expectations: Path = typer.Option(
        ..., "--expectations", "-e", help="YAML file of expectations (see `data suggest`)."
    ),
    html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    project: str = ProjectOption,
    encoding: str | None = EncodingOption,
    as_json: bool = JsonOption,
) -> None:
    """Check data against expectations. A dataset's report is archived with its version;
    a critical failure exits with code 9 after the results are shown."""
    from modelyard.data import validate as check

    with client(ctx) as c:
        if Path(source).exists():
            report = check(source, expectations, encoding=encoding)
            label = source
        else:
            found = _dataset(c, source, project)
            report = c.datasets.validate(
                found.dataset, expectations, version=found.version, project=found.project
            )
            label = found.ref
    _write_html(html, report.to_html())
    if as_json:
        print_json(report.to_dict())
    else:
        table(
            f"Validation of {label} ({report.rows:,} rows): {_verdict(report)}",
            ["rule", "column", "severity", "result", "observed", "expected"],
            [
                (
                    r.kind,
                    r.column or "",
                    r.rule.severity,
                    "ok" if r.passed else "FAIL" if r.critical_failure else "WARN",
                    _short(r.observed),
                    _short(r.expected),
                )
                for r in report.results
            ],
        )
    report.raise_for_critical()


@app.command("suggest")
@one_line_errors
def suggest(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Dataset (NAME[:VERSION|@ALIAS]) or file/directory."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the YAML here."),
    project: str = ProjectOption,
    encoding: str | None = EncodingOption,
) -> None:
    """Suggest expectations (YAML) from a dataset's profile or a file, to edit and use with
    `data validate`."""
    from modelyard.data import dump_expectations, suggest_expectations

    with client(ctx) as c:
        _label, _columns, found = _side(c, source, project, encoding)
    text = dump_expectations(suggest_expectations(found), out)
    if out is None:
        console.print(text, end="", highlight=False, markup=False)
    else:
        err_console.print(f"wrote {out}", highlight=False)


def _verdict(report: ValidationReport) -> str:
    """FAILED on a critical failure; passed, saying so when warnings failed."""
    if not report.ok:
        return "FAILED"
    warned = len(report.warnings)
    if warned:
        return f"passed with {warned} warning{'' if warned == 1 else 's'}"
    return "passed"


def _short(value: Any, width: int = 60) -> str:
    text = fmt(value) if not isinstance(value, (list, dict, tuple)) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
