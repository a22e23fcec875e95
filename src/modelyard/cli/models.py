"""``modelyard models``: list registered models, show a version with its signature, list
versions, move aliases and read their history, evaluate a version and list its
evaluations.

A version is named ``NAME`` (the newest), ``NAME/VERSION`` or ``NAME@ALIAS`` in the
project given by ``--project`` (``default``). A model object is registered by the SDK
(``my.models.log``: its flavor writes the files in the process that holds it);
``models register`` registers a folder a flavor already wrote (local, or a run's
artifact folder).
"""

from __future__ import annotations

from datetime import datetime
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

if TYPE_CHECKING:
    from modelyard.registry import ModelVersion, Schema
    from modelyard.registry.entities import Evaluation

app = typer.Typer(
    help="Models: registered models, their versions, signatures and aliases.",
    no_args_is_help=True,
)

ProjectOption = project_option("Project of the model.")


@app.command("list")
@one_line_errors
def list_models(
    ctx: typer.Context, project: str = ProjectOption, as_json: bool = JsonOption
) -> None:
    """The models of a project, with their newest version and aliases."""
    with client(ctx) as c:
        found = c.models.list_models(project)
    if as_json:
        print_json([m.as_dict() for m in found])
        return
    if not found:
        say_empty(f"No models in project {project!r}.", ctx)
        return
    rows = [
        (
            m.name,
            m.latest_version,
            ", ".join(f"{a}={v}" for a, v in sorted(m.aliases.items())),
            ", ".join(m.owners),
            fmt_time(m.updated_at),
            m.description,
        )
        for m in found
    ]
    table(
        f"Models in {project}",
        ["name", "latest", "aliases", "owners", "updated", "description"],
        rows,
    )


@app.command("show")
@one_line_errors
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (the newest version), NAME/VERSION or NAME@ALIAS."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """One version: its files, flavor, packages, run, metrics, data, commit and signature."""
    with client(ctx) as c:
        found = c.models.get_version(ref, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_version(found)


def _print_version(found: ModelVersion) -> None:
    facts: list[tuple[str, Any]] = [
        ("model", f"{found.project}/{found.name}"),
        ("version", found.version),
        ("aliases", ", ".join(found.aliases)),
        ("flavor", found.flavor),
        ("packages", ", ".join(f"{k}=={v}" for k, v in sorted(found.packages.items()))),
        ("files", f"blake3:{found.tree_digest} ({fmt_bytes(found.size_bytes)})"),
        ("input example", found.input_example),
        ("run", found.run_id),
        ("code commit", found.code_commit),
        ("dataset versions", ", ".join(found.dataset_versions)),
        ("registered", f"{fmt_time(found.created_at)} by {found.created_by}"),
        ("description", found.description),
    ]
    table(f"Model {found.project}/{found.ref}", ["", ""], [(k, fmt(v)) for k, v in facts])
    if found.metrics:
        table("Metrics of its run", ["metric", "value"], sorted(found.metrics.items()))
    if found.signature is None:
        console.print("No signature (logged without an input example).")
        return
    _print_schema("Signature: inputs", found.signature.inputs)
    if found.signature.outputs is not None:
        _print_schema("Signature: outputs", found.signature.outputs)


def _print_schema(title: str, schema: Schema) -> None:
    if schema.tensor is not None:
        shape = "x".join("?" if n == -1 else str(n) for n in schema.tensor.shape)
        table(title, ["tensor", "dtype", "shape"], [("", schema.tensor.dtype, shape)])
        return
    rows = [(c.name, c.type, "yes" if c.nullable else "no", c.dtype) for c in schema.columns or ()]
    table(title, ["column", "type", "nullable", "dtype"], rows)


@app.command("register")
@one_line_errors
def register(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name (created if needed)."),
    flavor: str = typer.Option(..., "--flavor", help="The flavor that wrote the files."),
    from_dir: Path | None = typer.Option(
        None, "--from-dir", help="A local folder laid out as a version: model/ and its files."
    ),
    run: str | None = typer.Option(
        None, "--run", help="The run it comes from (id or unique prefix)."
    ),
    path: str | None = typer.Option(
        None, "--path", help="With --run: the run's artifact folder laid out as a version."
    ),
    input_example: str | None = typer.Option(
        None, "--input-example", help="The input example's path among the files."
    ),
    description: str = typer.Option("", "--description", "-d", help="What this version is."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a folder a flavor wrote as a version: a local one (--from-dir) or a run's
    artifact folder (--run with --path). It is laid out as `models.log` lays a version out
    (the flavor's files under model/); it is stored as it is, with the flavor's default
    configuration, and the same files again are the existing version."""
    import tempfile

    from modelyard.cli.runs import _resolve

    if (from_dir is None) == (path is None):
        raise InvalidInput("give --from-dir DIR, or --run RUN with --path PATH", field="path")
    if path is not None and run is None:
        raise InvalidInput("--path names an artifact folder of a run: add --run", field="run")
    with client(ctx) as c, tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
        run_id = _resolve(c, run) if run is not None else None
        folder = from_dir if path is None else c.download_artifact(str(run_id), path, tmp)
        assert folder is not None
        if not (folder / "model").is_dir():
            where = str(from_dir) if path is None else f"artifact {path!r} of run {run_id}"
            raise InvalidInput(
                f"{where} has no model/ folder: register a folder laid out as a version (the "
                "flavor's files under model/, as models.log writes them)",
                field="path",
            )
        found = c.models.service.register(
            name,
            folder,
            project=project,
            flavor=flavor,
            input_example=input_example,
            run_id=run_id,
            description=description,
        )
    if as_json:
        print_json(found.as_dict())
        return
    console.print(
        styled("registered ", (f"{found.project}/{found.ref}", "bold"), f" ({found.flavor})")
    )


@app.command("versions")
@one_line_errors
def versions(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Every version of a model, oldest first."""
    with client(ctx) as c:
        found = c.models.list_versions(name, project=project)
    if as_json:
        print_json([v.as_dict() for v in found])
        return
    if not found:
        say_empty(f"Model {name!r} has no versions yet.")
        return
    rows = [
        (
            v.version,
            v.flavor,
            ", ".join(v.aliases),
            fmt_bytes(v.size_bytes),
            v.run_id[:8] if v.run_id else "",
            fmt_time(v.created_at),
            v.created_by,
        )
        for v in found
    ]
    table(
        f"Versions of {project}/{name}",
        ["version", "flavor", "aliases", "size", "run", "registered", "by"],
        rows,
    )


@app.command("alias")
@one_line_errors
def alias(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="The alias (champion, ...)."),
    version: int | None = typer.Argument(None, help="The version to point it at."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept with the move)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Point an alias at a version (or remove it with --delete); the move is recorded."""
    if delete == (version is not None):
        raise InvalidInput("give a VERSION to point the alias at, or --delete", field="version")
    with client(ctx) as c:
        if version is not None:
            move = c.models.set_alias(name, alias_name, version, project=project, reason=reason)
        else:
            move = c.models.delete_alias(name, alias_name, project=project, reason=reason)
    if as_json:
        print_json(move.as_dict())
        return
    console.print(
        styled(
            f"{project}/{name}@{alias_name}: ",
            (_version_word(move.from_version), "dim"),
            " -> ",
            (_version_word(move.to_version), "bold"),
        )
    )


def _version_word(version: int | None) -> str:
    return f"version {version}" if version is not None else "none"


@app.command("history")
@one_line_errors
def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str | None = typer.Option(None, "--alias", "-a", help="Only this alias."),
    at: datetime | None = typer.Option(
        None,
        "--at",
        help="With --alias: which version it pointed at then (a date or time, UTC unless "
        "it names its zone).",
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Every move of a model's aliases, oldest first: who, from, to, when and why."""
    if at is not None:
        if alias_name is None:
            raise InvalidInput("--at needs --alias", field="alias")
        _alias_at(ctx, name, alias_name, at, project, as_json)
        return
    with client(ctx) as c:
        moves = c.models.history(name, alias=alias_name, project=project)
    if as_json:
        print_json([m.as_dict() for m in moves])
        return
    if not moves:
        say_empty(f"No alias of {project}/{name} has moved yet.")
        return
    rows = [
        (fmt_time(m.moved_at), m.alias, m.from_version, m.to_version, m.moved_by, m.reason)
        for m in moves
    ]
    table(f"Alias moves of {project}/{name}", ["when", "alias", "from", "to", "by", "why"], rows)


def _alias_at(
    ctx: typer.Context, name: str, alias_name: str, at: datetime, project: str, as_json: bool
) -> None:
    from datetime import UTC

    when = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    with client(ctx) as c:
        found = c.models.alias_at(name, alias_name, when, project=project)
    if as_json:
        print_json({"alias": alias_name, "at": when.isoformat(), "version": found})
        return
    console.print(f"{project}/{name}@{alias_name} at {when.isoformat()}: {_version_word(found)}")


# -- evaluations ----------------------------------------------------------------------------

#: The headline metrics shown in tables, in this order, where the report has them.
_HEADLINE = ("accuracy", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "rmse", "mae", "r2")


@app.command("evaluate")
@one_line_errors
def evaluate(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (the newest version), NAME/VERSION or NAME@ALIAS."),
    data: str = typer.Option(
        ...,
        "--data",
        help="dataset:NAME[@ALIAS|@VERSION|/VERSION] (a stored dataset version, read where it "
        "is stored), or a Parquet or CSV file (or a folder of them).",
    ),
    target: str = typer.Option(..., "--target", help="The column holding the true values."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Another version (NAME/VERSION, NAME@ALIAS) to compare with."
    ),
    slices: list[str] = typer.Option(
        [], "--slice", help="A column to slice by (repeat): its values or quantile bins."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report's HTML page here (it opens offline)."
    ),
    trusted: list[str] = typer.Option(
        [],
        "--trusted",
        help="A type skops may load that it does not trust by default (repeat); embedded "
        "only: a server trusts its setting registry.trusted_types.",
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate a version on data with known answers and keep the report with it (where
    the registry is: here, or on the server)."""
    with client(ctx) as c:
        source: Any = _dataset(c, data, project) if data.startswith("dataset:") else Path(data)
        label = f"evaluating {ref} on {data}"
        with byte_progress(label) as update:
            found = c.models.evaluate(
                ref,
                source,
                target,
                baseline=baseline,
                slices=slices,
                project=project,
                trusted=trusted,
                progress=update,
            )
        page = c.models.evaluation_html(found) if output is not None else None
    if output is not None and page is not None:
        output.write_text(page, encoding="utf-8")
        err_console.print(f"wrote {output}", highlight=False)
    if as_json:
        print_json(found.as_dict())
        return
    _print_evaluation(found)


def _dataset(c: Any, data: str, project: str) -> Any:
    """The dataset version ``dataset:NAME[@ALIAS|@VERSION|/VERSION]`` names."""
    from modelyard.registry.service import parse_ref

    name, version, alias = parse_ref(data.removeprefix("dataset:"))
    if alias is not None and alias.isdigit():
        version, alias = int(alias), None
    return c.datasets.get(name, version, alias, project=project)


def _print_evaluation(found: Evaluation) -> None:
    against = f" against {found.baseline}" if found.baseline else ""
    console.print(
        f"Evaluation {found.id} of {found.project}/{found.ref}{against}: {found.task}, "
        f"{found.rows} rows of {found.source or 'data'} (target {found.target})",
        highlight=False,
    )
    comparison = (found.report.get("comparison") or {}).get("metrics", {})
    rows = []
    for key in [k for k in _HEADLINE if k in found.metrics]:
        row: list[Any] = [key, fmt(found.metrics[key])]
        if comparison:
            versus = comparison.get(key) or {}
            row += [fmt(versus.get("baseline")), fmt(versus.get("verdict"))]
        rows.append(row)
    columns = ["metric", "value", "baseline", "verdict"] if comparison else ["metric", "value"]
    table("Headline metrics", columns, rows)
    flagged = [s for s in found.report.get("slices", []) if s.get("flagged")]
    if flagged:
        console.print(
            "Slices far below the overall: "
            + ", ".join(f"{s['column']}={s['slice']} ({s['rows']} rows)" for s in flagged),
            highlight=False,
        )


@app.command("evaluations")
@one_line_errors
def evaluations(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (the newest version), NAME/VERSION or NAME@ALIAS."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Only the newest N."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """A version's evaluations, newest first, with their headline metrics."""
    with client(ctx) as c:
        found = c.models.evaluations(ref, project=project, limit=limit)
    if as_json:
        print_json([e.as_dict() for e in found])
        return
    if not found:
        say_empty(f"No evaluation of {project}/{ref} yet.")
        return
    keys = [k for k in _HEADLINE if any(k in e.metrics for e in found)]
    rows = [
        (
            e.id[:8],
            fmt_time(e.created_at),
            e.created_by,
            e.rows,
            e.source,
            e.baseline,
            *(fmt(e.metrics.get(k)) for k in keys),
        )
        for e in found
    ]
    table(
        f"Evaluations of {project}/{ref}",
        ["id", "when", "by", "rows", "data", "baseline", *keys],
        rows,
    )
