"""The lineage service: lineage edges read and written with the caller's rights.

Reading: one hop around a run, a dataset version (by id), a model version (by id) or an
artifact (by blob digest) the actor may read, keeping only the edges whose run the actor
may read (an edge is a fact about its run). Writing: the edges a pipeline step run
records about itself (the artifacts it read, the one it wrote, the run whose output it
reused) need ``contributor`` on the run's project and leave an audit event. The dataset
service writes the edges of the versions a run read or made itself, in its own
transactions (through :class:`~modelyard.lineage.edges.Lineage`, after the run's
closed-run rule).

Walks of several hops are :mod:`modelyard.lineage.graph`, over :meth:`LineageService.edges`
(here or on a server).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from modelyard.errors import InvalidInput, NotFound
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role
from modelyard.lineage.edges import (
    ARTIFACT,
    DATASET_VERSION,
    MODEL_VERSION,
    RUN,
    Direction,
    Lineage,
)
from modelyard.lineage.entities import LineageEdge
from modelyard.store import Store
from modelyard.store.tables import artifacts, runs

if TYPE_CHECKING:
    from modelyard.datasets.service import DatasetService
    from modelyard.registry.service import ModelService
    from modelyard.tracking.service import TrackingService

__all__ = ["Edge", "LineageService"]

#: ``(source, target, relation)``: ``source`` was used to make ``target``; each end a
#: ``(kind, id)`` pair.
Edge = tuple[tuple[str, str], tuple[str, str], str]

_CHUNK = 500


class LineageService:
    """Lineage edges over one metadata store, for one actor."""

    def __init__(
        self,
        store: Store,
        access: Access,
        *,
        tracking: TrackingService,
        datasets: DatasetService,
        models: ModelService,
    ) -> None:
        """``access``: the actor, its checks and the audit log; ``tracking``,
        ``datasets`` and ``models``: who may read a run, a dataset version, a model
        version."""
        self.store = store
        self.access = access
        self.tracking = tracking
        self.datasets = datasets
        self.models = models
        self.table = Lineage(store)

    def acting_as(self, actor: Actor) -> LineageService:
        """This service acting for ``actor`` (the server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.tracking = self.tracking.acting_as(actor)
        view.datasets = self.datasets.acting_as(actor)
        view.models = self.models.acting_as(actor)
        return view

    # -- writing --------------------------------------------------------------------------

    def record_run_edges(self, conn: Connection, run_id: str, edges: Sequence[Edge]) -> None:
        """Record the edges run ``run_id`` made (inside the caller's transaction): the actor
        needs ``contributor`` on its project. Not the closed-run rule: a pipeline records
        the step run it started even when a worker has already ended it (an interrupted
        fire)."""
        if not edges:
            return
        self.tracking.require_run(conn, run_id, Role.CONTRIBUTOR)
        for source, target, relation in edges:
            self.table.add(conn, source, target, relation, run_id=run_id)
        self.access.record(conn, "lineage.recorded", RUN, run_id, f"{len(edges)} lineage edge(s)")

    # -- reading --------------------------------------------------------------------------

    def edges(self, kind: str, object_id: str, direction: Direction = "both") -> list[LineageEdge]:
        """One hop of lineage around any object the actor may read: a ``run``, a
        ``dataset_version`` or a ``model_version`` (by id) or an ``artifact`` (by blob
        digest: readable when a run that holds it is)."""
        if kind == DATASET_VERSION:
            self.datasets.get_by_id(object_id)
        elif kind == MODEL_VERSION:
            self.models.get_version_by_id(object_id)
        elif kind == RUN:
            self.tracking.check_run_access(object_id, Role.VIEWER)
        elif kind == ARTIFACT:
            self._check_artifact_access(object_id)
        else:
            raise InvalidInput(
                f"kind must be {RUN!r}, {DATASET_VERSION!r}, {MODEL_VERSION!r} or {ARTIFACT!r}; "
                f"got {kind!r}",
                field="kind",
            )
        return self._readable(self.table.edges(kind, object_id, direction))

    def _readable(self, edges: list[LineageEdge]) -> list[LineageEdge]:
        """The edges whose run the actor may read: an edge is a fact about its run, and a
        principal learns nothing of runs in projects where it has no role (the same bytes
        as an artifact of its own are no window on other projects' pipelines)."""
        member_projects = self.access.member_projects()
        run_ids = sorted({e.run_id for e in edges if e.run_id is not None})
        if member_projects is None or not run_ids:
            return edges
        readable: set[str] = set()
        with self.store.read() as conn:
            for start in range(0, len(run_ids), _CHUNK):
                readable.update(
                    conn.execute(
                        select(runs.c.id).where(
                            runs.c.project_id.in_(member_projects),
                            runs.c.id.in_(run_ids[start : start + _CHUNK]),
                        )
                    ).scalars()
                )
        return [e for e in edges if e.run_id is None or e.run_id in readable]

    def _check_artifact_access(self, digest: str) -> None:
        with self.store.read() as conn:
            holders = (
                conn.execute(
                    select(artifacts.c.run_id).where(artifacts.c.digest == digest).limit(100)
                )
                .scalars()
                .all()
            )
        for run_id in holders:
            try:
                self.tracking.check_run_access(run_id, Role.VIEWER)
                return
            except NotFound:  # a run in a project the actor has no role in
                continue
        raise NotFound(f"no run holds an artifact with digest {digest!r}", field="id")
