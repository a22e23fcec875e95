"""The step index (a service): one ``step_runs`` row per step run, in the metadata store.

It is the cache (the newest finished, not deleted step run of a project with a given key
whose outputs are known) and the memory ``explain`` compares against (the key parts of
each step run, and which run an earlier one of the same step was).

A step run is recorded (:meth:`StepIndex.record`) in the caller's write transaction, for
an actor that may write to the run's project (contributor), with an audit event.
"""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

from sqlalchemy import Column, Connection, and_, select

from modelyard._util import now_ms
from modelyard.errors import InvalidInput, NotFound
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role
from modelyard.steps.entities import KeyParts, OutputRef, StepRecord
from modelyard.store import Store
from modelyard.store.tables import projects, runs, step_runs

__all__ = ["StepIndex"]


class StepIndex:
    """Records and finds step runs in one metadata store."""

    #: The blobs of step outputs, for garbage collection.
    blob_columns: ClassVar[tuple[Column[Any], ...]] = (step_runs.c.outputs,)

    def __init__(self, store: Store, access: Access) -> None:
        """``access``: the actor, its checks and the audit log."""
        self.store = store
        self.access = access

    def acting_as(self, actor: Actor) -> StepIndex:
        """This index acting for ``actor``."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        return view

    def record(
        self,
        conn: Connection,
        *,
        run_id: str,
        pipeline_run_id: str,
        project_id: str,
        pipeline: str,
        step: str,
        parts: KeyParts,
        cached: bool,
        source_run_id: str | None,
        output: OutputRef | None,
    ) -> None:
        """Insert the row of a step run inside the caller's write transaction, and its
        audit event. The actor must be a contributor of the run's project, ``project_id``
        (a run it has no role in is NotFound, as a missing one). Not the closed-run rule:
        a step run is recorded even when a worker has already ended it (an interrupted
        fire)."""
        found = conn.execute(
            select(runs.c.project_id, projects.c.name)
            .join(projects, projects.c.id == runs.c.project_id)
            .where(runs.c.id == run_id)
        ).first()
        missing = NotFound(f"run {run_id!r} does not exist", field="run_id")
        if found is None:
            raise missing
        self.access.require(conn, found.name, Role.CONTRIBUTOR, hidden=missing)
        if found.project_id != project_id:
            raise InvalidInput(
                f"run {run_id} is not in the project of its step record", field="project_id"
            )
        conn.execute(
            step_runs.insert().values(
                run_id=run_id,
                pipeline_run_id=pipeline_run_id,
                project_id=project_id,
                pipeline=pipeline,
                step=step,
                cache_key=parts.key(),
                key_parts=parts.to_json(),
                cached=cached,
                source_run_id=source_run_id,
                outputs=None if output is None else json.dumps(output.to_dict()),
                created_at=now_ms(),
            )
        )
        if source_run_id is not None:
            outcome = f"cached from run {source_run_id}"
        else:
            outcome = "failed" if output is None else "ran"
        summary = f"step {step} of pipeline {pipeline} in project {found.name}: {outcome}"
        self.access.record(conn, "step.recorded", "run", run_id, summary)

    def find_cached(self, project_id: str, key: str) -> StepRecord | None:
        """The newest usable step run with ``key``: finished, not deleted, outputs known."""
        stmt = (
            _select()
            .where(
                and_(
                    step_runs.c.project_id == project_id,
                    step_runs.c.cache_key == key,
                    step_runs.c.outputs.is_not(None),
                    runs.c.status == "finished",
                    runs.c.deleted_at.is_(None),
                )
            )
            .order_by(step_runs.c.created_at.desc())
            .limit(1)
        )
        with self.store.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _record(row)

    def of_pipeline_run(self, pipeline_run_id: str) -> list[StepRecord]:
        """The step runs of one pipeline run, in the order they were recorded."""
        stmt = (
            _select()
            .where(step_runs.c.pipeline_run_id == pipeline_run_id)
            .order_by(step_runs.c.created_at, runs.c.start_time)
        )
        with self.store.read() as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def previous(self, record: StepRecord, project_id: str) -> StepRecord | None:
        """The newest run of the same step of the same pipeline recorded before
        ``record``, in another pipeline run."""
        stmt = (
            _select()
            .where(
                and_(
                    step_runs.c.project_id == project_id,
                    step_runs.c.pipeline == record.pipeline,
                    step_runs.c.step == record.step,
                    step_runs.c.pipeline_run_id != record.pipeline_run_id,
                    step_runs.c.created_at <= record.created_at,
                )
            )
            .order_by(step_runs.c.created_at.desc())
            .limit(1)
        )
        with self.store.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _record(row)

    def project_of(self, pipeline_run_id: str) -> str | None:
        """The project id of a pipeline run that has step runs."""
        stmt = (
            select(step_runs.c.project_id)
            .where(step_runs.c.pipeline_run_id == pipeline_run_id)
            .limit(1)
        )
        with self.store.read() as conn:
            found = conn.execute(stmt).scalar()
        return None if found is None else str(found)

    def referenced_digests(self) -> set[str]:
        """The blob of every recorded step output (also an artifact of the step's run)."""
        return {output.digest for output in self._outputs()}

    def tree_digests(self) -> set[str]:
        """The step outputs stored as trees (their files are referenced too)."""
        return {output.digest for output in self._outputs() if output.kind == "tree"}

    def _outputs(self) -> list[OutputRef]:
        stmt = select(step_runs.c.outputs).where(step_runs.c.outputs.is_not(None))
        with self.store.read() as conn:
            return [OutputRef(**json.loads(found)) for found in conn.execute(stmt).scalars()]


def _select() -> Any:
    return select(step_runs, runs.c.status).join(runs, runs.c.id == step_runs.c.run_id)


def _record(row: Any) -> StepRecord:
    return StepRecord(
        run_id=row.run_id,
        pipeline_run_id=row.pipeline_run_id,
        pipeline=row.pipeline,
        step=row.step,
        cache_key=row.cache_key,
        parts=KeyParts.from_json(row.key_parts),
        cached=bool(row.cached),
        source_run_id=row.source_run_id,
        output=None if row.outputs is None else OutputRef(**json.loads(row.outputs)),
        created_at=row.created_at,
        status=row.status,
    )
