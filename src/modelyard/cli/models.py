"""``modelyard models``: list registered models, show a version with its signature, list
versions, move aliases and read their history, evaluate a version and list its
evaluations; model cards; status changes through the model's policy (request, approve,
reject, requests) and the policy itself; archive and retire versions by hand, and the
retirement policies (show, set, run, --dry-run).

A version is named ``NAME`` (the newest), ``NAME/VERSION`` or ``NAME@ALIAS`` in the
project given by ``--project`` (``default``). A model object is registered by the SDK
(``my.models.log``: its flavor writes the files in the process that holds it);
``models register`` registers a folder a flavor already wrote (local, or a run's
artifact folder).
"""

from __future__ import annotations

import json
import sys
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
    from modelyard.registry.entities import Evaluation, TransitionRequest
    from modelyard.registry.policy import ModelPolicy
    from modelyard.registry.retirement import ModelRetirementPolicy

app = typer.Typer(
    help="Models: registered models, their versions, signatures, aliases, cards and status.",
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
        ("status", found.status),
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
    configuration, and the same files again are the existing version. A run's artifact
    folder is not downloaded or copied: the version points at the files the run stored."""
    from modelyard.cli.runs import _resolve

    if (from_dir is None) == (path is None):
        raise InvalidInput("give --from-dir DIR, or --run RUN with --path PATH", field="path")
    if path is not None and run is None:
        raise InvalidInput("--path names an artifact folder of a run: add --run", field="run")
    with client(ctx) as c:
        run_id = _resolve(c, run) if run is not None else None
        if path is not None:
            assert run_id is not None
            found = c.models.service.register_from_run(
                name,
                project=project,
                run_id=run_id,
                path=path,
                flavor=flavor,
                input_example=input_example,
                description=description,
            )
        else:
            assert from_dir is not None
            if not (from_dir / "model").is_dir():
                raise InvalidInput(
                    f"{from_dir} has no model/ folder: register a folder laid out as a "
                    "version (the flavor's files under model/, as models.log writes them)",
                    field="path",
                )
            found = c.models.service.register(
                name,
                from_dir,
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
            v.status,
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
        ["version", "status", "flavor", "aliases", "size", "run", "registered", "by"],
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


# -- model cards ------------------------------------------------------------------------------


@app.command("card")
@one_line_errors
def card(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (the newest version), NAME/VERSION or NAME@ALIAS."),
    fields: list[str] = typer.Option(
        [],
        "--set",
        help="FIELD=TEXT: fill in a field first (intended_use, limitations, "
        "ethical_considerations, license or any snake_case name; FIELD= clears it). Repeat.",
    ),
    format: str = typer.Option("md", "--format", "-f", help="md, html or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write it to this file."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """A version's model card (Markdown, HTML or JSON), after filling in fields."""
    kind = "json" if as_json else format
    if kind not in ("md", "html", "json"):
        raise InvalidInput(f"--format must be md, html or json; got {format!r}", field="format")
    changes = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set takes FIELD=TEXT; got {item!r}", field="set")
        changes[key] = value
    with client(ctx) as c:
        if changes:
            found = c.models.set_card_fields(ref, project=project, **changes)
        else:
            found = c.models.card(ref, project=project)
    if kind == "json":
        text = json.dumps(found.as_dict(), indent=2, default=str) + "\n"
    elif kind == "html":
        text = c.models.card_html(found)
    else:
        text = c.models.card_markdown(found)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text)
    console.print(f"Wrote the card of {found.project}/{found.ref} to {output}")


# -- status through policy gates --------------------------------------------------------------


def _print_request(found: TransitionRequest) -> None:
    facts = [
        ("request", found.id),
        ("version", f"{found.project}/{found.name}/{found.version}"),
        ("move", f"{found.from_status} -> {found.to_status}"),
        ("state", found.state),
        ("approvals", f"{found.approvals} of {found.approvals_needed}"),
        ("requested", f"{fmt_time(found.requested_at)} by {found.requested_by}"),
        ("comment", found.comment),
    ]
    table(f"Status change request {found.id}", ["", ""], [(k, fmt(v)) for k, v in facts])
    if found.checks:
        rows = [(c.rule, "yes" if c.passed else "NO", c.observed, c.bound) for c in found.checks]
        table("Rules", ["rule", "passed", "observed", "bound"], rows)
    if found.decisions:
        rows = [
            (fmt_time(d.decided_at), d.decided_by, d.decision, d.comment) for d in found.decisions
        ]
        table("Decisions", ["when", "by", "decision", "comment"], rows)


@app.command("request")
@one_line_errors
def request(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (the newest version), NAME/VERSION or NAME@ALIAS."),
    to: str = typer.Option(
        ..., "--to", help="registered, staging, production, archived or retired."
    ),
    comment: str = typer.Option("", "--comment", "-m", help="Why (kept with the request)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Ask to move a version to a status; the model's policy judges it (every failed rule
    is named), and approvers decide when it asks for approvals."""
    with client(ctx) as c:
        found = c.models.request(ref, to=to, comment=comment, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_request(found)


def _decide(ctx: typer.Context, verb: str, target: str, comment: str, project: str) -> Any:
    with client(ctx) as c:
        decide = c.models.approve if verb == "approve" else c.models.reject
        return decide(target, comment=comment, project=project)


TargetArgument = typer.Argument(
    ..., metavar="REF_OR_ID", help="NAME/VERSION or NAME@ALIAS (its open request), or a request id."
)


@app.command("approve")
@one_line_errors
def approve(
    ctx: typer.Context,
    target: str = TargetArgument,
    comment: str = typer.Option("", "--comment", "-m", help="Kept with the approval."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Approve an open status change request (approvers other than its requester)."""
    found = _decide(ctx, "approve", target, comment, project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_request(found)


@app.command("reject")
@one_line_errors
def reject(
    ctx: typer.Context,
    target: str = TargetArgument,
    comment: str = typer.Option("", "--comment", "-m", help="Kept with the rejection."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Reject an open status change request (approvers other than its requester)."""
    found = _decide(ctx, "reject", target, comment, project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_request(found)


@app.command("requests")
@one_line_errors
def requests(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    version: int | None = typer.Option(None, "--version", "-v", help="Only this version's."),
    state: str | None = typer.Option(
        None, "--state", help="Only those open, applied, rejected or refused."
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """A model's status change requests, oldest first."""
    with client(ctx) as c:
        found = c.models.requests(name, version, state=state, project=project)
    if as_json:
        print_json([r.as_dict() for r in found])
        return
    if not found:
        say_empty(f"No status change requests for {project}/{name}.")
        return
    rows = [
        (
            r.id,
            r.version,
            f"{r.from_status} -> {r.to_status}",
            r.state,
            f"{r.approvals}/{r.approvals_needed}",
            ", ".join(c.rule for c in r.failures),
            r.requested_by,
            fmt_time(r.requested_at),
        )
        for r in found
    ]
    table(
        f"Status change requests of {project}/{name}",
        ["id", "version", "move", "state", "approvals", "failing", "by", "when"],
        rows,
    )


policy_app = typer.Typer(
    help="The status policy of a project or a model: show it, or set it from YAML.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")


def _print_policy(
    found: ModelPolicy | ModelRetirementPolicy, kind: str = "Status", unset: str = ""
) -> None:
    """A policy document in force (its YAML), or what holds without one (``unset``)."""
    where = f"model {found.project}/{found.model}" if found.model else f"project {found.project}"
    if found.scope == "none":
        console.print(
            f"No {kind.lower()} policy for {where}: {unset or 'any move needs no approval.'}"
        )
        return
    by = f" (set by {found.updated_by} {fmt_time(found.updated_at)})" if found.updated_by else ""
    console.print(f"{kind} policy of {where}, from its {found.scope}{by}:")
    sys.stdout.write(found.policy.to_yaml())


@policy_app.command("show")
@one_line_errors
def policy_show(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="A model (its policy in force)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """The policy in force for a model (its own, else the project's), or the project's."""
    with client(ctx) as c:
        found = c.models.policy(name, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_policy(found)


@policy_app.command("set")
@one_line_errors
def policy_set(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The policy in YAML (a gate per target status)."),
    name: str | None = typer.Argument(None, help="A model (else the project's policy)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the status policy of the project, or of one model (project admins)."""
    with client(ctx) as c:
        found = c.models.set_policy(file.read_text(), name, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_policy(found)


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


# -- retirement -------------------------------------------------------------------------------

ReasonOption = typer.Option("", "--reason", "-m", help="Why (kept with the request).")


@app.command("archive")
@one_line_errors
def archive(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (the newest version), NAME/VERSION or NAME@ALIAS."),
    reason: str = ReasonOption,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Archive a version by hand: a status change request the model's policy judges."""
    with client(ctx) as c:
        found = c.models.archive(ref, reason=reason, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_request(found)


@app.command("retire")
@one_line_errors
def retire(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME/VERSION or NAME (the newest version)."),
    reason: str = ReasonOption,
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Retire a version by hand (registered or archived, no alias on it): a status change
    request the model's policy judges. Retired is final."""
    with client(ctx) as c:
        found = c.models.retire(ref, reason=reason, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_request(found)


retirement_app = typer.Typer(
    help="The retirement policy of a project or a model: show it, set it from YAML, run it.",
    no_args_is_help=True,
)
app.add_typer(retirement_app, name="retirement")


def _print_retirement_policy(found: ModelRetirementPolicy) -> None:
    _print_policy(found, "Retirement", "versions are moved by hand only.")


@retirement_app.command("show")
@one_line_errors
def retirement_show(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="A model (its policy in force)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """The retirement policy in force for a model (its own, else the project's), or the
    project's."""
    with client(ctx) as c:
        found = c.models.retirement_policy(name, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_retirement_policy(found)


@retirement_app.command("set")
@one_line_errors
def retirement_set(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ...,
        help="The policy in YAML: keep_last, archive_unaliased_after_days, "
        "retire_unused_after_days.",
    ),
    name: str | None = typer.Argument(None, help="A model (else the project's policy)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the retirement policy of the project, or of one model (project admins)."""
    with client(ctx) as c:
        found = c.models.set_retirement_policy(file.read_text(), name, project=project)
    if as_json:
        print_json(found.as_dict())
        return
    _print_retirement_policy(found)


@retirement_app.command("run")
@one_line_errors
def retirement_run(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Only this model's versions."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what the policies would do, without doing it."
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Apply the retirement policies (project admins): each move a status change request
    by the system actor with its rule as the comment. With --dry-run (viewers), only
    which version, which move and which rule."""
    with client(ctx) as c:
        found = c.models.run_retirement(name, dry_run=dry_run, project=project)
    if as_json:
        print_json([m.as_dict() for m in found])
        return
    if not found:
        say_empty(f"The retirement policies of {project} move nothing now.")
        return
    rows = [
        (
            f"{m.name}/{m.version}",
            f"{m.from_status} -> {m.to_status}",
            m.rule,
            m.outcome,
            m.detail,
            m.request_id or "",
        )
        for m in found
    ]
    title = "What the retirement policies would do" if dry_run else "Retirement"
    table(
        f"{title} in {project}",
        ["version", "move", "rule", "outcome", "detail", "request"],
        rows,
    )
