"""Lineage: "was derived from" edges between any two objects, one hop at a time.

An edge says that ``source`` was used to make ``target``: a run read a dataset version
(``dataset_version -> run``, relation ``input``) or produced one (``run ->
dataset_version``, relation ``output``); a pipeline step run wrote an artifact (``run ->
artifact``, ``output``, the artifact named by its blob digest) that another step run read
(``artifact -> run``, ``input``); a run registered a model version (``run ->
model_version``, ``output``). Objects are named by kind and id, so deployments and
predictions join the same table later. An edge is stored
once (recording it again changes nothing). :meth:`Lineage.edges` answers one hop up
(what an object came from) or down (what was made from it); walking further is the
caller's loop.
"""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import Connection, and_, or_, select

from modelyard._util import now_ms
from modelyard.errors import InvalidInput
from modelyard.lineage.entities import LineageEdge
from modelyard.store import Store
from modelyard.store.tables import lineage_edges

__all__ = ["ARTIFACT", "DATASET_VERSION", "INPUT", "MODEL_VERSION", "OUTPUT", "RUN", "Lineage"]

ARTIFACT = "artifact"
DATASET_VERSION = "dataset_version"
MODEL_VERSION = "model_version"
RUN = "run"
INPUT = "input"
OUTPUT = "output"

_WORD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

Direction = Literal["up", "down", "both"]


def _check_word(value: object, field: str) -> str:
    if not isinstance(value, str) or not _WORD.match(value):
        raise InvalidInput(
            f"{field} must be 1-32 lowercase letters, digits or '_', starting with a letter; "
            f"got {value!r}",
            field=field,
        )
    return value


def _check_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidInput(f"{field} must be a string of 1-64 characters", field=field)
    return value


class Lineage:
    """Record and query lineage edges in one metadata store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        conn: Connection,
        source: tuple[str, str],
        target: tuple[str, str],
        relation: str,
        *,
        run_id: str | None = None,
    ) -> None:
        """Record ``source -> target`` inside the caller's transaction (idempotent)."""
        source_kind, source_id = _check_word(source[0], "source_kind"), source[1]
        target_kind, target_id = _check_word(target[0], "target_kind"), target[1]
        _check_id(source_id, "source_id")
        _check_id(target_id, "target_id")
        _check_word(relation, "relation")
        conn.execute(
            self.store.insert_stmt(lineage_edges)
            .values(
                source_kind=source_kind,
                source_id=source_id,
                target_kind=target_kind,
                target_id=target_id,
                relation=relation,
                run_id=run_id,
                created_at=now_ms(),
            )
            .on_conflict_do_nothing(
                index_elements=["source_kind", "source_id", "target_kind", "target_id", "relation"]
            )
        )

    def record(
        self,
        source: tuple[str, str],
        target: tuple[str, str],
        relation: str,
        *,
        run_id: str | None = None,
    ) -> None:
        """Record one edge in its own transaction."""
        with self.store.write() as conn:
            self.add(conn, source, target, relation, run_id=run_id)

    def edges(self, kind: str, object_id: str, direction: Direction = "both") -> list[LineageEdge]:
        """Edges one hop from an object: ``up`` (it is the target: what it came from),
        ``down`` (it is the source: what was made from it) or ``both``; oldest first."""
        _check_word(kind, "kind")
        _check_id(object_id, "id")
        up = and_(lineage_edges.c.target_kind == kind, lineage_edges.c.target_id == object_id)
        down = and_(lineage_edges.c.source_kind == kind, lineage_edges.c.source_id == object_id)
        if direction == "up":
            where = up
        elif direction == "down":
            where = down
        elif direction == "both":
            where = or_(up, down)
        else:
            raise InvalidInput(
                f"direction must be 'up', 'down' or 'both'; got {direction!r}", field="direction"
            )
        stmt = select(lineage_edges).where(where).order_by(lineage_edges.c.id)
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
        return [
            LineageEdge(
                source_kind=r.source_kind,
                source_id=r.source_id,
                target_kind=r.target_kind,
                target_id=r.target_id,
                relation=r.relation,
                run_id=r.run_id,
                created_at=r.created_at,
            )
            for r in rows
        ]
