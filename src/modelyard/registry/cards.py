"""Model cards: what the registry knows about a version, with the fields people fill in,
as a :class:`~modelyard.registry.entities.ModelCard` and rendered as Markdown or as one
self-contained HTML page (inline styles, no script, no external address; every text
escaped).

Known: the model's description and owners, the version's flavor, packages, aliases and
status, its run's parameters and metrics, the latest evaluation's headline metrics, the
dataset versions it was trained on (with the digest of their values and a summary of their
profile) and the code commit. Filled in: :data:`STANDARD_FIELDS` and any other field
named like ``snake_case`` (:func:`check_fields`).
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from modelyard import limits
from modelyard.errors import InvalidInput
from modelyard.registry.entities import ModelCard, ModelVersion
from modelyard.store.tables import (
    dataset_reports,
    dataset_versions,
    datasets,
    model_cards,
    model_evaluations,
    projects,
)

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore

__all__ = [
    "STANDARD_FIELDS",
    "check_field_name",
    "check_fields",
    "render_html",
    "render_markdown",
]

#: The fields every card shows (empty until filled in), in this order.
STANDARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "license")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_FIELDS = 50
_MAX_PROFILE_COLUMNS = 50


def check_field_name(name: object, field: str = "fields") -> str:
    if not isinstance(name, str) or not _FIELD.match(name):
        raise InvalidInput(
            f"{field}: a card field is named in snake_case (a lowercase letter, then letters, "
            f"digits or _; at most 64); got {limits.preview(name)}",
            field=field,
        )
    return name


def check_fields(fields: object) -> dict[str, str]:
    """The fields to set (text; an empty text clears a field), or InvalidInput naming the
    first bad one."""
    if not isinstance(fields, dict) or not fields:
        raise InvalidInput("give the card fields to set, as names to text", field="fields")
    if len(fields) > _MAX_FIELDS:
        raise InvalidInput(f"a card has at most {_MAX_FIELDS} fields", field="fields")
    return {
        check_field_name(name): limits.check_text(value, name, limits.DESCRIPTION)
        for name, value in fields.items()
    }


def merge_fields(before: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
    merged = {**before, **changes}
    found = {k: v for k, v in merged.items() if v != ""}
    if len(found) > _MAX_FIELDS:
        raise InvalidInput(f"a card has at most {_MAX_FIELDS} fields", field="fields")
    return found


def card_row(conn: Connection, version_id: str) -> Any:
    return conn.execute(select(model_cards).where(model_cards.c.version_id == version_id)).first()


def filled_fields(conn: Connection, version_id: str) -> dict[str, str]:
    row = card_row(conn, version_id)
    return json.loads(row.fields) if row is not None else {}


def build_card(
    conn: Connection,
    blobs: BlobStore,
    version: ModelVersion,
    model: Any,
    params: dict[str, str],
) -> ModelCard:
    """The card of ``version`` (``model``: its registered model's row; ``params``: its
    run's parameters), read inside the caller's transaction."""
    row = card_row(conn, version.id)
    return ModelCard(
        project=version.project,
        name=version.name,
        version=version.version,
        status=version.status,
        description=model.description,
        owners=json.loads(model.owners),
        aliases=version.aliases,
        flavor=version.flavor,
        packages=version.packages,
        run_id=version.run_id,
        code_commit=version.code_commit,
        params=params,
        metrics=version.metrics,
        datasets=[_dataset(conn, blobs, d) for d in version.dataset_versions],
        evaluation=_latest_evaluation(conn, version.id),
        fields=json.loads(row.fields) if row is not None else {},
        created_by=version.created_by,
        created_at=version.created_at,
        updated_by=row.updated_by if row is not None else None,
        updated_at=row.updated_at if row is not None else None,
    )


def _dataset(conn: Connection, blobs: BlobStore, version_id: str) -> dict[str, Any]:
    row = conn.execute(
        select(
            dataset_versions.c.version,
            dataset_versions.c.digest,
            dataset_versions.c.num_rows,
            dataset_versions.c.num_columns,
            datasets.c.name,
            projects.c.name.label("project"),
        )
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .join(projects, projects.c.id == datasets.c.project_id)
        .where(dataset_versions.c.id == version_id)
    ).first()
    if row is None:
        return {"id": version_id, "missing": True}
    profile = conn.execute(
        select(dataset_reports.c.data_digest)
        .where(dataset_reports.c.version_id == version_id, dataset_reports.c.kind == "profile")
        .order_by(dataset_reports.c.created_at.desc(), dataset_reports.c.id)
        .limit(1)
    ).scalar()
    return {
        "id": version_id,
        "project": row.project,
        "name": row.name,
        "version": row.version,
        "digest": row.digest,
        "rows": row.num_rows,
        "columns": row.num_columns,
        "profile": _profile_summary(blobs, profile) if profile is not None else [],
    }


def _profile_summary(blobs: BlobStore, digest: str) -> list[dict[str, Any]]:
    """Per column (the first 50): name, type, missing values, distinct values, min, max,
    mean."""
    data = json.loads(blobs.get_bytes(digest))
    return [
        {
            key: column.get(key)
            for key in ("name", "type", "missing", "distinct", "min", "max", "mean")
        }
        for column in data.get("columns", [])[:_MAX_PROFILE_COLUMNS]
    ]


def _latest_evaluation(conn: Connection, version_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(model_evaluations)
        .where(model_evaluations.c.version_id == version_id)
        .order_by(model_evaluations.c.created_at.desc(), model_evaluations.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "task": row.task,
        "target": row.target,
        "rows": row.rows,
        "source": row.source,
        "metrics": json.loads(row.metrics),
        "created_at": row.created_at,
    }


# -- rendering -------------------------------------------------------------------------------


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _facts(card: ModelCard) -> list[tuple[str, str]]:
    return [
        ("Model", f"{card.project}/{card.name}"),
        ("Version", str(card.version)),
        ("Status", card.status),
        ("Aliases", ", ".join(card.aliases)),
        ("Owners", ", ".join(card.owners)),
        ("Flavor", card.flavor),
        ("Packages", ", ".join(f"{k}=={v}" for k, v in sorted(card.packages.items()))),
        ("Run", card.run_id or ""),
        ("Code commit", card.code_commit or ""),
        ("Registered by", card.created_by),
    ]


def _field_items(card: ModelCard) -> list[tuple[str, str]]:
    extra = sorted(k for k in card.fields if k not in STANDARD_FIELDS)
    return [(name, card.fields.get(name, "")) for name in (*STANDARD_FIELDS, *extra)]


def _dataset_line(d: dict[str, Any]) -> str:
    if d.get("missing"):
        return f"dataset version {d['id']} (no longer stored)"
    return (
        f"{d['project']}/{d['name']} version {d['version']}: {d['rows']} rows, "
        f"{d['columns']} columns, digest blake3:{d['digest']}"
    )


def _md(text: object) -> str:
    """Text for a Markdown page: HTML escaped (Markdown renders inline HTML), table pipes
    and line breaks kept inside their cell."""
    return html.escape(str(text)).replace("|", "\\|").replace("\n", "<br>")


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown (every text escaped)."""
    out = [f"# Model card: {_md(card.project)}/{_md(card.name)} version {card.version}", ""]
    if card.description:
        out += [_md(card.description), ""]
    out += ["| | |", "| --- | --- |"]
    out += [f"| {k} | {_md(v)} |" for k, v in _facts(card)]
    for name, value in _field_items(card):
        out += ["", f"## {_title(name)}", "", _md(value) if value else "_Not filled in._"]
    out += ["", "## Training data", ""]
    out += [f"- {_md(_dataset_line(d))}" for d in card.datasets] or ["_None recorded._"]
    for d in card.datasets:
        if d.get("profile"):
            out += ["", f"### Profile of {_md(d['name'])} version {d['version']}", ""]
            out += ["| column | type | missing | distinct | min | max | mean |"]
            out += ["| --- | --- | --- | --- | --- | --- | --- |"]
            out += [
                "| "
                + " | ".join(
                    _md(_number(c.get(k)))
                    for k in ("name", "type", "missing", "distinct", "min", "max", "mean")
                )
                + " |"
                for c in d["profile"]
            ]
    if card.params:
        out += ["", "## Parameters", "", "| parameter | value |", "| --- | --- |"]
        out += [f"| {_md(k)} | {_md(v)} |" for k, v in sorted(card.params.items())]
    if card.metrics:
        out += ["", "## Metrics of its run", "", "| metric | value |", "| --- | --- |"]
        out += [f"| {_md(k)} | {_md(_number(v))} |" for k, v in sorted(card.metrics.items())]
    out += ["", "## Evaluation", ""]
    if card.evaluation is None:
        out += ["_Not evaluated yet._"]
    else:
        e = card.evaluation
        out += [f"On {_md(e['source'] or 'data')} ({e['rows']} rows, target {_md(e['target'])}):"]
        out += ["", "| metric | value |", "| --- | --- |"]
        out += [f"| {_md(k)} | {_md(_number(v))} |" for k, v in sorted(e["metrics"].items())]
    return "\n".join(out) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    ".empty{color:#888;font-style:italic}.field{white-space:pre-wrap}"
)


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page (inline CSS; no script, no external
    address; every text escaped)."""
    title = f"Model card: {card.project}/{card.name} version {card.version}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_h(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_h(title)}</h1>",
    ]
    if card.description:
        parts.append(f'<p class="field">{_h(card.description)}</p>')
    parts.append(_table(["", ""], [[k, v] for k, v in _facts(card)]))
    for name, value in _field_items(card):
        parts.append(f"<h2>{_h(_title(name))}</h2>")
        parts.append(
            f'<p class="field">{_h(value)}</p>' if value else '<p class="empty">Not filled in.</p>'
        )
    parts.append("<h2>Training data</h2>")
    if not card.datasets:
        parts.append('<p class="empty">None recorded.</p>')
    parts.append("<ul>" + "".join(f"<li>{_h(_dataset_line(d))}</li>" for d in card.datasets))
    parts.append("</ul>")
    for d in card.datasets:
        if d.get("profile"):
            keys = ["name", "type", "missing", "distinct", "min", "max", "mean"]
            parts.append(f"<h3>Profile of {_h(d['name'])} version {d['version']}</h3>")
            parts.append(
                _table(
                    ["column", *keys[1:]], [[_number(c.get(k)) for k in keys] for c in d["profile"]]
                )
            )
    if card.params:
        parts.append("<h2>Parameters</h2>")
        parts.append(
            _table(["parameter", "value"], [[k, v] for k, v in sorted(card.params.items())])
        )
    if card.metrics:
        parts.append("<h2>Metrics of its run</h2>")
        rows = [[k, _number(v)] for k, v in sorted(card.metrics.items())]
        parts.append(_table(["metric", "value"], rows))
    parts.append("<h2>Evaluation</h2>")
    if card.evaluation is None:
        parts.append('<p class="empty">Not evaluated yet.</p>')
    else:
        e = card.evaluation
        parts.append(
            f"<p>On {_h(e['source'] or 'data')} ({e['rows']} rows, target {_h(e['target'])}):</p>"
        )
        rows = [[k, _number(v)] for k, v in sorted(e["metrics"].items())]
        parts.append(_table(["metric", "value"], rows))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
