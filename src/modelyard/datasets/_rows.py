"""Reading dataset rows inside a caller's transaction and turning them into entities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from modelyard.datasets.entities import ColumnSchema, DatasetVersion
from modelyard.store.tables import dataset_aliases, dataset_versions, datasets, projects

__all__ = ["LATEST", "alias_names", "hydrate", "latest_version", "version_row"]

#: The computed alias of every dataset's newest version.
LATEST = "latest"


def latest_version(conn: Connection, dataset_id: str) -> int:
    """The newest version number of a dataset (0 when it has none)."""
    newest = conn.execute(
        select(func.max(dataset_versions.c.version)).where(
            dataset_versions.c.dataset_id == dataset_id
        )
    ).scalar()
    return int(newest or 0)


def alias_names(conn: Connection, dataset_id: str) -> list[str]:
    """A dataset's user aliases, by name."""
    return list(
        conn.execute(
            select(dataset_aliases.c.alias)
            .where(dataset_aliases.c.dataset_id == dataset_id)
            .order_by(dataset_aliases.c.alias)
        ).scalars()
    )


def version_row(conn: Connection, version_id: str) -> Any:
    """A version row with its dataset's and project's names (None if there is none)."""
    return conn.execute(
        select(
            dataset_versions,
            datasets.c.name.label("dataset_name"),
            projects.c.name.label("project"),
        )
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .join(projects, projects.c.id == datasets.c.project_id)
        .where(dataset_versions.c.id == version_id)
    ).first()


def hydrate(conn: Connection, rows: Sequence[Any], project: str, name: str) -> list[DatasetVersion]:
    """Entities for version rows of one dataset, with their aliases (``latest`` first on
    the newest)."""
    if not rows:
        return []
    dataset_id = rows[0].dataset_id
    newest = latest_version(conn, dataset_id)
    names: dict[str, list[str]] = {}
    for alias, version_id in conn.execute(
        select(dataset_aliases.c.alias, dataset_aliases.c.version_id)
        .where(dataset_aliases.c.dataset_id == dataset_id)
        .order_by(dataset_aliases.c.alias)
    ):
        names.setdefault(version_id, []).append(alias)
    out = []
    for row in rows:
        aliases = list(names.get(row.id, []))
        if row.version == newest:
            aliases.insert(0, LATEST)
        out.append(
            DatasetVersion(
                id=row.id,
                project=project,
                dataset=name,
                version=row.version,
                digest=row.digest,
                tree_digest=row.tree_digest,
                columns=tuple(ColumnSchema(**c) for c in json.loads(row.schema_json)),
                num_rows=row.num_rows,
                size_bytes=row.size_bytes,
                source=row.source,
                description=row.description,
                created_by=row.created_by,
                created_at=row.created_at,
                run_id=row.run_id,
                aliases=tuple(aliases),
            )
        )
    return out
