"""Reading registry rows inside a caller's transaction and turning them into entities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from modelyard.registry.entities import ModelVersion, RegisteredModel
from modelyard.registry.signature import Signature
from modelyard.store.tables import model_aliases, model_versions, projects, registered_models

__all__ = ["hydrate_model", "hydrate_versions", "latest_version", "model_row", "version_select"]


def latest_version(conn: Connection, model_id: str) -> int:
    """The newest version number of a model (0 when it has none)."""
    newest = conn.execute(
        select(func.max(model_versions.c.version)).where(model_versions.c.model_id == model_id)
    ).scalar()
    return int(newest or 0)


def model_row(conn: Connection, project: str, name: str) -> Any:
    """The model's row with its project's name, or None."""
    return conn.execute(
        select(registered_models, projects.c.name.label("project"))
        .join(projects, projects.c.id == registered_models.c.project_id)
        .where(projects.c.name == project, registered_models.c.name == name)
    ).first()


def version_select() -> Any:
    """Versions with their model's name and project."""
    return (
        select(
            model_versions,
            registered_models.c.name.label("model_name"),
            projects.c.name.label("project"),
        )
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .join(projects, projects.c.id == registered_models.c.project_id)
    )


def _aliases_by_version(conn: Connection, version_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not version_ids:
        return found
    rows = conn.execute(
        select(model_aliases.c.version_id, model_aliases.c.alias)
        .where(model_aliases.c.version_id.in_(list(version_ids)))
        .order_by(model_aliases.c.alias)
    )
    for version_id, alias in rows:
        found.setdefault(version_id, []).append(alias)
    return found


def hydrate_versions(conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
    aliases = _aliases_by_version(conn, [r.id for r in rows])
    return [
        ModelVersion(
            id=r.id,
            project=r.project,
            name=r.model_name,
            version=r.version,
            tree_digest=r.tree_digest,
            size_bytes=r.size_bytes,
            flavor=r.flavor,
            flavor_config=json.loads(r.flavor_config),
            packages=json.loads(r.packages),
            signature=Signature.from_dict(json.loads(r.signature)) if r.signature else None,
            input_example=r.input_example,
            run_id=r.run_id,
            metrics=json.loads(r.metrics),
            dataset_versions=json.loads(r.dataset_versions),
            code_commit=r.code_commit,
            description=r.description,
            created_by=r.created_by,
            created_at=r.created_at,
            aliases=aliases.get(r.id, []),
            status=r.status,
        )
        for r in rows
    ]


def hydrate_model(conn: Connection, row: Any) -> RegisteredModel:
    aliases = conn.execute(
        select(model_aliases.c.alias, model_versions.c.version)
        .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
        .where(model_aliases.c.model_id == row.id)
        .order_by(model_aliases.c.alias)
    ).all()
    latest = latest_version(conn, row.id)
    return RegisteredModel(
        id=row.id,
        project=row.project,
        name=row.name,
        description=row.description,
        owners=json.loads(row.owners),
        tags=json.loads(row.tags),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        latest_version=latest or None,
        aliases={alias: version for alias, version in aliases},
    )
