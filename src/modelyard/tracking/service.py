"""The tracking service: every rule about runs, params, metrics, tags and artifacts
lives here. Interfaces (SDK, CLI, the REST API) call these methods and never touch tables
directly; projects are the project service's (``modelyard/projects``), which a new run's
project is ensured by.

A service acts for one :class:`~modelyard.governance.Actor` through its
:class:`~modelyard.governance.access.Access` (the local operator unless
:meth:`TrackingService.acting_as` says otherwise). A signed-in principal's project role is
checked before every read and write: viewer reads, contributor writes runs and
artifacts, admin deletes and restores. Runs (created, resumed, ended, deleted, restored)
and stored artifacts are recorded in the audit log in the same transaction as the change;
the points, params and tags logged to a run are its data and are not audited one by one,
but a tag changed on someone else's run is, with its old value.

A run's data is closed once it ends: the params, metrics, artifacts, child runs and
lineage edges (:meth:`TrackingService.check_run_open`, asked by the dataset service) of
a finished, failed or killed run are refused (Conflict naming the run and its status),
and it ends once. Reopening it (:meth:`TrackingService.resume_run`) is its owner's act
or an admin's; so is writing to or ending a ``lost`` run (its owner's process may come
back). An artifact name is write-once (the same bytes again are fine) and is either a
file or a folder of others.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from blake3 import blake3
from sqlalchemy import Column, Connection, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from modelyard import limits
from modelyard._util import gc_paused, new_id, now_ms, validate_key
from modelyard.artifacts import BlobInfo, BlobStore, normalize_artifact_path
from modelyard.artifacts.blobs import check_digest, local_digest
from modelyard.errors import (
    Conflict,
    InvalidInput,
    ModelyardError,
    NotFound,
    PermissionDenied,
    StorageError,
    translate,
)
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role
from modelyard.projects.service import ProjectService
from modelyard.store import Store
from modelyard.store.tables import (
    artifacts,
    latest_metrics,
    metrics,
    params,
    projects,
    runs,
    tags,
    write_batches,
)
from modelyard.tracking._buffer import Batch
from modelyard.tracking._downsample import bucket_count, bucket_edges, downsample
from modelyard.tracking._values import as_metric_value, as_step, as_timestamp
from modelyard.tracking.entities import (
    TERMINAL_STATUSES,
    ArtifactInfo,
    ArtifactSource,
    MetricHistory,
    Run,
    RunPage,
    TarArchive,
)

if TYPE_CHECKING:
    from modelyard.tracking._filter import KeyedOrder

__all__ = ["BATCH_ID_PATTERN", "TrackingService"]

#: A client batch id: 8-64 printable ASCII characters.
BATCH_ID_PATTERN = r"^[\x21-\x7e]{8,64}$"
MAX_RESULTS = 50_000
MAX_HISTORY_POINTS = 1_000_000
#: A downsampled metric history of more points than SQL_POINTS[the store's dialect], cut
#: into at most SQL_BUCKETS buckets (a chart's 500 points: 249), reads each bucket's
#: extremes in SQL, three short queries a bucket; a shorter series, or one cut finer, is
#: cut in Python from every point read. Where the two cost the same for 249 buckets
#: (measured): ~5,000 points on SQLite, ~200,000 on PostgreSQL (a round trip a query).
SQL_POINTS = {"sqlite": 5_000, "postgresql": 200_000}
SQL_BUCKETS = 1_000
_RUN_PROJECT_CACHE = 100_000
#: How long a client batch id is remembered (clients give up retrying after minutes).
WRITE_BATCH_RETENTION_S = 7 * 24 * 3600.0
_CHUNK = 500
_BATCH_ID = re.compile(BATCH_ID_PATTERN)
_HEX = re.compile(r"^[0-9a-f]+$")
_ARTIFACT_KINDS = frozenset({"file", "tree"})
_LIVE = ("running", "lost")


class TrackingService:
    """Rules and queries for experiment tracking over one metadata store."""

    #: The blobs of run artifacts (files and tree manifests), for garbage collection.
    blob_columns: ClassVar[tuple[Column[Any], ...]] = (artifacts.c.digest,)

    def __init__(
        self,
        store: Store,
        access: Access,
        projects: ProjectService,
        *,
        blobs: BlobStore | None = None,
        heartbeat_timeout_s: float = 60.0,
    ) -> None:
        """``access``: the actor, its checks and the audit log; ``projects``: the project
        service a new run's project is ensured by; ``blobs``: where :meth:`store_artifact`
        puts the bytes of artifacts (a service without one records artifacts stored
        elsewhere, :meth:`record_artifact`)."""
        self.store = store
        self.access = access
        self.projects = projects
        self.blobs = blobs
        self.heartbeat_timeout_ms = int(heartbeat_timeout_s * 1000)
        self._run_projects: dict[str, str] = {}
        marks = ", ".join(["?" if store.is_sqlite else "%s"] * 4)
        self._insert_metrics_sql = (
            f'INSERT INTO metrics ("series_id", "value", "step", "timestamp") VALUES ({marks})'
        )
        self._upsert_latest = store.upsert_stmt(
            latest_metrics,
            ["run_id", "key"],
            ["value", "step", "timestamp"],
            only_if=lambda new: new.step >= latest_metrics.c.step,
        )
        # Built once: an upsert's ``excluded`` columns cost ~0.5 ms to build each time.
        self._upsert_tags_stmt = store.upsert_stmt(tags, ["run_id", "key"], ["value"])
        self._series_cache: dict[tuple[str, str], int] = {}
        mark = "?" if store.is_sqlite else "%s"
        points = f'SELECT "step", "value", "timestamp", id FROM metrics WHERE series_id = {mark}'
        in_bucket = f'{points} AND "step" >= {mark} AND "step" < {mark}'
        self._history_sql = f'{points} ORDER BY "step", id'
        self._history_first_sql = f'{points} ORDER BY "step", id LIMIT 1'
        self._history_upto_sql = (
            f"SELECT COUNT(*) FROM (SELECT 1 AS one FROM metrics WHERE series_id = {mark} "
            f"LIMIT {mark}) AS head"
        )
        self._history_last_sql = f'{points} ORDER BY "step" DESC, id DESC LIMIT 1'
        self._bucket_sql = (
            'SELECT COUNT(*), MIN("value"), MAX("value") FROM metrics WHERE series_id = '
            f'{mark} AND "step" >= {mark} AND "step" < {mark}'
        )
        self._bucket_first_sql = f'{in_bucket} ORDER BY "step", id LIMIT 1'
        self._bucket_value_sql = f'{in_bucket} AND "value" = {mark} ORDER BY "step", id LIMIT 1'

    def acting_as(self, actor: Actor) -> TrackingService:
        """This service acting for ``actor`` (sharing its caches): the server makes one
        per request for the signed-in principal."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.projects = self.projects.acting_as(actor)
        return view

    # -- access -------------------------------------------------------------------

    def _require_runs(self, conn: Connection, run_ids: Iterable[str], needed: Role) -> None:
        """:meth:`Access.require` on the project of each run. For a signed-in principal, a run
        that does not exist and a run in a project where it has no role are the same
        NotFound (the first such run id), so that neither can be told from the other."""
        if self.access.principal is None:
            return
        cache = self._run_projects
        wanted = set(run_ids)
        missing = sorted({r for r in wanted if r not in cache})
        for chunk in _chunks(missing):
            found = conn.execute(
                select(runs.c.id, projects.c.name)
                .join(projects, projects.c.id == runs.c.project_id)
                .where(runs.c.id.in_(chunk))
            )
            for run_id, project in found:
                if len(cache) >= _RUN_PROJECT_CACHE:
                    cache.clear()
                cache[run_id] = project
        by_project: dict[str, list[str]] = {}
        for run_id in wanted:
            if run_id in cache:
                by_project.setdefault(cache[run_id], []).append(run_id)
        unseen = [r for r in wanted if r not in cache]
        for project, ids in by_project.items():
            if not self.access.can_view(conn, project):
                unseen += ids
        if unseen:
            raise _missing_run(min(unseen))
        for project in sorted(by_project):
            self.access.require(conn, project, needed)

    def require_run(self, conn: Connection, run_id: str, needed: Role) -> None:
        """Inside the caller's transaction: NotFound for a run that does not exist (or that
        a signed-in principal may not see), PermissionDenied below ``needed`` on its
        project. Other services ask before they write what belongs to a run."""
        self._require_runs(conn, [run_id], needed)
        self._run_fact(conn, run_id)

    def check_run_access(self, run_id: str, needed: Role | str) -> None:
        """Raise unless the actor holds ``needed`` on the run's project (NotFound when
        the run does not exist): the server asks before it streams an upload."""
        with self.store.read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist", field="run_id")
            self._require_runs(conn, [run_id], Role.parse(needed))

    # -- who may write what to a run ------------------------------------------------

    def _run_facts(self, conn: Connection, run_ids: Iterable[str]) -> dict[str, Any]:
        """Status, owner and project of each run that exists, by id."""
        found: dict[str, Any] = {}
        for chunk in _chunks(sorted(set(run_ids))):
            for row in conn.execute(
                select(runs.c.id, runs.c.status, runs.c.user_name, projects.c.name.label("project"))
                .join(projects, projects.c.id == runs.c.project_id)
                .where(runs.c.id.in_(chunk))
            ):
                found[row.id] = row
        return found

    def _run_fact(self, conn: Connection, run_id: str) -> Any:
        row = self._run_facts(conn, [run_id]).get(run_id)
        if row is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run_id")
        return row

    def _owns(self, owner: str) -> bool:
        """Whether the actor is the run owner ``owner``: the signed-in user who started it,
        or for an operator (``local:<os user>``) the OS user it was started as. An actor
        with no identity (a server without sign-in acts as ``local`` for everyone) cannot
        be told apart from anyone, so it counts as the owner."""
        principal = self.access.principal
        if principal is not None:
            return principal.username == owner
        name = self.access.actor.name
        return not name.startswith("local:") or name == f"local:{owner}"

    def _may_reopen(self, conn: Connection, run: Any) -> bool:
        """Whether the actor may reopen ``run`` (resume it, or write to it while it is
        lost): its owner, an admin of its project, a global admin or an operator."""
        principal = self.access.principal
        if principal is None or principal.is_admin or principal.username == run.user_name:
            return True
        try:
            self.access.roles.check(conn, principal, run.project, Role.ADMIN)
        except PermissionDenied:
            return False
        return True

    def _closed(self, conn: Connection, run: Any) -> Conflict | None:
        """Why the params, metrics, artifacts, lineage and child runs of ``run`` cannot be
        written now, if they cannot: an ended run's are closed; a lost run's are its
        owner's and admins'."""
        if run.status in TERMINAL_STATUSES:
            return Conflict(
                f"run {run.id} is {run.status}: its params, metrics, artifacts, lineage and "
                f"child runs are closed (its owner or a project admin may resume it)",
                field="run_id",
            )
        if run.status == "lost" and not self._may_reopen(conn, run):
            return Conflict(
                f"run {run.id} is lost: only its owner ({run.user_name}) or an admin of project "
                f"{run.project} may write to it or bring it back",
                field="run_id",
            )
        return None

    def check_run_open(self, conn: Connection, run_id: str) -> None:
        """Raise unless the actor may write data to run ``run_id`` now, inside the caller's
        transaction: NotFound for a run it cannot see, PermissionDenied below contributor,
        and :meth:`_closed`'s Conflict. Other services ask before they write what belongs
        to a run (the lineage edges of the dataset versions it read or made)."""
        self._require_runs(conn, [run_id], Role.CONTRIBUTOR)
        closed = self._closed(conn, self._run_fact(conn, run_id))
        if closed is not None:
            raise closed

    # -- runs: writes ---------------------------------------------------------------

    def create_run(
        self,
        project: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        user: str = "",
        host: str = "",
        entry_point: str = "",
        tags_: dict[str, str] | None = None,
    ) -> Run:
        run_id = new_id()
        start = now_ms()
        name = name or f"run-{run_id[:8]}"
        if self.access.principal is not None:
            user = self.access.principal.username
        if not limits.check_text(name, "name", limits.RUN_NAME).strip():
            raise InvalidInput("a run name must not be blank", field="name")
        _check_run_text(user, host, entry_point, tags_ or {})
        if parent_id is not None:
            _check_run_refs([parent_id], "parent_id")
        proj = self.projects.ensure(project)
        row = {
            "id": run_id,
            "project_id": proj.id,
            "parent_id": parent_id,
            "name": name,
            "status": "running",
            "start_time": start,
            "heartbeat_at": start,
            "user_name": user,
            "host": host,
            "entry_point": entry_point,
        }
        with self.store.write() as conn:
            self.access.require(conn, project, Role.CONTRIBUTOR)
            if parent_id is not None:
                parent = self._run_facts(conn, [parent_id]).get(parent_id)
                if parent is None or parent.project != project:
                    raise NotFound(
                        f"parent run {parent_id!r} does not exist in project {project!r} (a "
                        "child run is in the project of its parent)",
                        field="parent_id",
                    )
                closed = self._closed(conn, parent)
                if closed is not None:  # a child run is part of its parent's work
                    raise Conflict(closed.message, field="parent_id")
            conn.execute(runs.insert().values(**row))
            if tags_:
                conn.execute(
                    tags.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tags_.items()],
                )
            self.access.record(
                conn, "run.created", "run", run_id, f"run {name} in project {project}"
            )
        return Run(
            id=run_id,
            project=project,
            name=name,
            status="running",
            start_time=start,
            end_time=None,
            parent_id=parent_id,
            user=user,
            host=host,
            entry_point=entry_point,
            tags=dict(tags_ or {}),
        )

    def resume_run(self, run_id: str) -> Run:
        """Make a run ``running`` again (a resumed training job); returns it as stored.

        Reopening a run is its owner's act, or an admin's (of its project, or global):
        PermissionDenied for any other contributor. Audited with the status it had.
        """
        with self.store.write() as conn:
            self._require_runs(conn, [run_id], Role.CONTRIBUTOR)
            run = self._run_fact(conn, run_id)
            if not self._may_reopen(conn, run):
                raise PermissionDenied(
                    f"run {run_id} is {run.user_name}'s: only its owner or an admin of project "
                    f"{run.project} may resume it"
                )
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status="running", end_time=None, error=None, heartbeat_at=now_ms())
            )
            self.access.record(
                conn, "run.resumed", "run", run_id, f"run resumed (was {run.status})"
            )
        return self.get_run(run_id)

    def last_steps(self, run_id: str) -> dict[str, int]:
        """The highest step logged so far for each metric of a run."""
        with self.store.read() as conn:
            self._require_runs(conn, [run_id], Role.VIEWER)
            rows = conn.execute(
                select(latest_metrics.c.key, func.max(metrics.c.step))
                .join(metrics, metrics.c.series_id == latest_metrics.c.id)
                .where(latest_metrics.c.run_id == run_id)
                .group_by(latest_metrics.c.key)
            ).all()
        return {key: int(step) for key, step in rows}

    def end_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        wall_time_s: float | None = None,
        cpu_time_s: float | None = None,
        peak_rss_bytes: int | None = None,
        gpu_time_s: float | None = None,
        cost: float | None = None,
    ) -> None:
        """End a running (or lost) run with its resource usage and cost, each a finite
        number >= 0. A run ends once: ending it again the same way changes nothing (a
        retried request), another way is Conflict. A lost run is ended only by those who
        may write to it (see :meth:`_closed`)."""
        if status not in TERMINAL_STATUSES:
            raise InvalidInput(
                f"status must be one of {sorted(TERMINAL_STATUSES)}; got {status!r}", field="status"
            )
        values: dict[str, Any] = {
            "status": status,
            "end_time": now_ms(),
            "error": limits.tail(error, limits.RUN_ERROR),
        }
        for key, value in (
            ("wall_time_s", wall_time_s),
            ("cpu_time_s", cpu_time_s),
            ("gpu_time_s", gpu_time_s),
            ("cost", cost),
        ):
            if value is not None:
                values[key] = _non_negative(key, value)
        if peak_rss_bytes is not None:
            values["peak_rss_bytes"] = _non_negative_int("peak_rss_bytes", peak_rss_bytes)
        with self.store.write() as conn:
            self._require_runs(conn, [run_id], Role.CONTRIBUTOR)
            run = self._run_fact(conn, run_id)
            if run.status in TERMINAL_STATUSES:
                if run.status == status:
                    return
                raise Conflict(
                    f"run {run_id} has already ended ({run.status}); it cannot end again as "
                    f"{status}",
                    field="status",
                )
            closed = self._closed(conn, run)  # a lost run is its owner's to end
            if closed is not None:
                raise closed
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
            self.access.record(conn, "run.ended", "run", run_id, f"run ended: {status}")

    def delete_run(self, run_id: str, *, permanent: bool = False) -> None:
        """Hide a run (and its children) from lists, or remove it and its rows for good."""
        with self.store.write() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist", field="run_id")
            self._require_runs(conn, [run_id], Role.ADMIN)
            ids = _descendants(conn, run_id)
            for chunk in _chunks(ids):
                if permanent:
                    series = select(latest_metrics.c.id).where(latest_metrics.c.run_id.in_(chunk))
                    conn.execute(delete(metrics).where(metrics.c.series_id.in_(series)))
                    for table in (latest_metrics, params, tags, artifacts):
                        conn.execute(delete(table).where(table.c.run_id.in_(chunk)))
                else:
                    conn.execute(
                        update(runs)
                        .where(runs.c.id.in_(chunk), runs.c.deleted_at.is_(None))
                        .values(deleted_at=now_ms())
                    )
            if permanent:
                for chunk in reversed(list(_chunks(ids))):
                    conn.execute(delete(runs).where(runs.c.id.in_(chunk)))
                gone = set(ids)
                for pair in [p for p in self._series_cache if p[0] in gone]:
                    del self._series_cache[pair]
            how = "removed for good" if permanent else "deleted"
            action = "run.purged" if permanent else "run.deleted"
            self.access.record(
                conn, action, "run", run_id, f"run {how} with {len(ids) - 1} child run(s)"
            )

    def restore_run(self, run_id: str) -> int:
        """Show a deleted run again, with its child runs deleted with it (or after it);
        returns how many runs were restored (0: the run was not deleted)."""
        with self.store.write() as conn:
            row = conn.execute(select(runs.c.deleted_at).where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFound(f"run {run_id!r} does not exist", field="run_id")
            self._require_runs(conn, [run_id], Role.ADMIN)
            if row.deleted_at is None:
                return 0
            restored = 0
            for chunk in _chunks(_descendants(conn, run_id)):
                restored += conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(chunk), runs.c.deleted_at >= row.deleted_at)
                    .values(deleted_at=None)
                ).rowcount
            self.access.record(
                conn,
                "run.restored",
                "run",
                run_id,
                f"run restored with {restored - 1} child run(s)",
            )
            return restored

    def write_batch(self, batch: Batch, batch_id: str | None = None) -> ModelyardError | None:
        """Store one batch of buffered values in one transaction.

        Every row is checked first (``_checked_batch``: counts, keys, text, numbers): a
        batch that breaks a rule is InvalidInput and nothing of it is stored.

        ``batch_id`` (client-generated) makes the write idempotent: a batch whose id was
        stored already is skipped, so a retried request never duplicates rows. Returns a
        deferred error (a param conflict with another writer) after storing the rest of
        the batch; raises StorageError when nothing could be stored.

        The metrics, params and heartbeats of a run whose data is closed (see
        :meth:`_closed`) are not stored: the rest is, and the first such run is the
        deferred Conflict. Heartbeats bring a lost run back to ``running``; a tag set on
        someone else's run is audited with its old value.
        """
        deferred: ModelyardError | None = None
        if batch_id is not None and (
            not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id)
        ):
            raise InvalidInput(
                f"batch_id must be 8-64 printable ASCII characters; got {limits.preview(batch_id)}",
                field="batch_id",
            )
        batch = _checked_batch(batch)
        try:
            with self.store.write() as conn:
                if self.access.principal is not None:
                    self._require_runs(conn, _batch_runs(batch), Role.CONTRIBUTOR)
                if batch_id is not None:
                    first_time = conn.execute(
                        self.store.insert_stmt(write_batches)
                        .values(id=batch_id, created_at=now_ms())
                        .on_conflict_do_nothing(index_elements=["id"])
                        .returning(write_batches.c.id)
                    ).first()
                    if first_time is None:
                        return None
                facts = self._run_facts(conn, _batch_runs(batch))
                batch, deferred = self._open_part(conn, batch, facts)
                if batch.metrics:
                    self._insert_metrics(conn, batch.metrics)
                if batch.params:
                    deferred = self._insert_params(conn, batch.params) or deferred
                if batch.tags:
                    self._audit_foreign_tags(conn, batch.tags, facts)
                    self._upsert_tags(conn, batch.tags)
                if batch.heartbeats:
                    conn.execute(
                        update(runs)
                        .where(runs.c.id.in_(batch.heartbeats), runs.c.status.in_(_LIVE))
                        .values(heartbeat_at=now_ms())
                    )
                    conn.execute(
                        update(runs)
                        .where(runs.c.id.in_(batch.heartbeats), runs.c.status == "lost")
                        .values(status="running")
                    )
        except (IntegrityError, Conflict) as exc:
            missing = self._missing_runs(_batch_runs(batch))
            if missing:  # what the foreign key refused: a run that does not exist
                raise _missing_run(min(missing)) from None
            raise translate(exc) from exc
        return deferred

    def _open_part(
        self, conn: Connection, batch: Batch, facts: dict[str, Any]
    ) -> tuple[Batch, Conflict | None]:
        """The batch without the metrics, params and heartbeats of runs whose data is
        closed, and the refusal of the first of them (None when nothing was left out).
        Unknown runs are left in: their rows fail on the foreign key, as before."""
        data = {row[0] for row in batch.metrics} | {row[0] for row in batch.params}
        refused: dict[str, Conflict] = {}
        for run_id in sorted(data | set(batch.heartbeats)):
            run = facts.get(run_id)
            if run is None or (run_id not in data and run.status != "lost"):
                continue  # an ended run's heartbeat changes nothing, and is no error
            why = self._closed(conn, run)
            if why is not None:
                refused[run_id] = why
        if not refused:
            return batch, None
        kept = Batch(
            metrics=[row for row in batch.metrics if row[0] not in refused],
            params=[row for row in batch.params if row[0] not in refused],
            tags=batch.tags,
            heartbeats=[run_id for run_id in batch.heartbeats if run_id not in refused],
        )
        return kept, next(iter(refused.values()))

    def _audit_foreign_tags(
        self, conn: Connection, rows: list[tuple[str, str, str]], facts: dict[str, Any]
    ) -> None:
        """Audit each tag the actor changes on a run that is not theirs, with the value it
        had (tags may change, so their history is the audit log's)."""
        wanted: dict[str, dict[str, str]] = {}
        for run_id, key, value in rows:
            run = facts.get(run_id)
            if run is not None and not self._owns(run.user_name):
                wanted.setdefault(run_id, {})[key] = value
        for run_id, values in sorted(wanted.items()):
            old = dict(
                conn.execute(
                    select(tags.c.key, tags.c.value).where(
                        tags.c.run_id == run_id, tags.c.key.in_(sorted(values))
                    )
                ).all()
            )
            owner = facts[run_id].user_name
            for key, value in sorted(values.items()):
                if old.get(key) == value:
                    continue
                was = f"was {old[key]!r}" if key in old else "was unset"
                summary = f"tag {key!r} of {owner}'s run set to {value!r} ({was})"
                self.access.record(conn, "run.tag_set", "run", run_id, summary)

    def _missing_runs(self, run_ids: set[str]) -> set[str]:
        found: set[str] = set()
        with self.store.read() as conn:
            for chunk in _chunks(sorted(run_ids)):
                found.update(conn.execute(select(runs.c.id).where(runs.c.id.in_(chunk))).scalars())
        return run_ids - found

    def _insert_metrics(
        self, conn: Connection, rows: list[tuple[str, str, float, int, int]]
    ) -> None:
        """Upsert each series' newest point, then insert every point by series id."""
        latest: dict[tuple[str, str], tuple[str, str, float, int, int]] = {}
        points: list[tuple[int, float | None, int, int]]
        for row in rows:
            pair = (row[0], row[1])
            cur = latest.get(pair)
            if cur is None or row[3] >= cur[3]:
                latest[pair] = row
        conn.execute(
            self._upsert_latest,
            [
                {"run_id": r, "key": k, "value": None if v != v else v, "step": s, "timestamp": t}
                for r, k, v, s, t in latest.values()
            ],
        )
        ids = self._series_ids(conn, latest)
        if self.store.is_sqlite:  # sqlite3 binds NaN as NULL by itself
            points = [(ids[(r, k)], v, s, t) for r, k, v, s, t in rows]
        else:
            points = [(ids[(r, k)], None if v != v else v, s, t) for r, k, v, s, t in rows]
        conn.exec_driver_sql(self._insert_metrics_sql, points)

    def _series_ids(self, conn: Connection, pairs: Iterable[tuple[str, str]]) -> dict:
        """The ``latest_metrics`` id of each (run id, key); cached, as series never move."""
        cache = self._series_cache
        missing = [pair for pair in pairs if pair not in cache]
        if missing:
            run_ids = sorted({r for r, _ in missing})
            keys = sorted({k for _, k in missing})
            for chunk in _chunks(run_ids):
                found = conn.execute(
                    select(
                        latest_metrics.c.id, latest_metrics.c.run_id, latest_metrics.c.key
                    ).where(latest_metrics.c.run_id.in_(chunk), latest_metrics.c.key.in_(keys))
                )
                for series_id, run_id, key in found:
                    cache[(run_id, key)] = series_id
        return cache

    def _insert_params(self, conn: Connection, rows: list[tuple[str, str, str]]) -> Conflict | None:
        wanted = {(r, k): v for r, k, v in rows}
        ins = self.store.insert_stmt(params).on_conflict_do_nothing(
            index_elements=["run_id", "key"]
        )
        conn.execute(ins, [{"run_id": r, "key": k, "value": v} for (r, k), v in wanted.items()])
        clashes = []
        for run_id in {r for r, _ in wanted}:
            stored = conn.execute(
                select(params.c.key, params.c.value).where(params.c.run_id == run_id)
            ).all()
            clashes += [
                (run_id, key, value, wanted[(run_id, key)])
                for key, value in stored
                if (run_id, key) in wanted and wanted[(run_id, key)] != value
            ]
        if not clashes:
            return None
        run_id, key, old, new = clashes[0]
        return Conflict(
            f"param {key!r} of run {run_id} is already {old!r}; params are write-once "
            f"(tried {new!r})",
            field=f"params.{key}",
        )

    def _upsert_tags(self, conn: Connection, rows: list[tuple[str, str, str]]) -> None:
        wanted = {(r, k): v for r, k, v in rows}
        conn.execute(
            self._upsert_tags_stmt,
            [{"run_id": r, "key": k, "value": v} for (r, k), v in wanted.items()],
        )

    def check_artifact(self, run_id: str, path: str) -> None:
        """Raise what :meth:`record_artifact` would before the bytes are known: NotFound,
        PermissionDenied, InvalidInput for the name, Conflict for a run whose artifacts
        are closed or a file/folder clash (the server asks before it stages an upload, the
        SDK before it stores blobs)."""
        self._stored_as(run_id, path)

    def _stored_as(self, run_id: str, path: str) -> Any:
        """:meth:`check_artifact`, returning the artifact stored as ``path`` (None if the
        name is free)."""
        path = normalize_artifact_path(path)
        with self.store.read() as conn:
            self._require_runs(conn, [run_id], Role.CONTRIBUTOR)
            return self._artifact_slot(conn, self._run_fact(conn, run_id), path)

    def store_artifact(self, run_id: str, path: str, source: ArtifactSource) -> ArtifactInfo:
        """Store ``source`` as artifact ``path`` of a run: bytes or a local file as a file,
        a local folder or a :class:`~modelyard.tracking.entities.TarArchive` as a tree.

        What :meth:`record_artifact` would refuse is refused before a blob is stored: the
        checks of :meth:`check_artifact` first and, when the name is taken, the bytes are
        hashed without being stored and compared (the same bytes again return the
        artifact as stored, others are Conflict; a tar archive, which is unpacked to be
        hashed, is stored and then compared). Then the bytes are put and recorded."""
        if self.blobs is None:
            raise StorageError("this tracking service has no blob store to put artifacts in")
        path = normalize_artifact_path(path)
        if self._stored_as(run_id, path) is not None and not isinstance(source, TarArchive):
            info = _digest(source)
        else:
            info = _put(self.blobs, source)
        return self.record_artifact(run_id, path, info.digest, info.kind, info.size)

    def record_artifact(
        self, run_id: str, path: str, digest: str, kind: str, size: int
    ) -> ArtifactInfo:
        """Record stored bytes as artifact ``path`` of a run that takes artifacts. A name
        is write-once: the same bytes again return the artifact as stored, others are
        Conflict; ``a`` cannot be stored where ``a/...`` is, nor ``a/...`` where ``a`` is."""
        path = normalize_artifact_path(path)
        check_digest(digest)
        if kind not in _ARTIFACT_KINDS:
            raise InvalidInput(f"kind must be file or tree; got {kind!r}", field="kind")
        size = _non_negative_int("size", size)
        info = ArtifactInfo(path=path, digest=digest, kind=kind, size=size, created_at=now_ms())
        with self.store.write() as conn:
            self._require_runs(conn, [run_id], Role.CONTRIBUTOR)
            stored = self._artifact_slot(conn, self._run_fact(conn, run_id), path)
            if stored is None:
                added = conn.execute(
                    self.store.insert_stmt(artifacts)
                    .values(run_id=run_id, **info.as_dict())
                    .on_conflict_do_nothing(index_elements=["run_id", "path"])
                ).rowcount
                if added:
                    self.access.record(
                        conn, "artifact.stored", "run", run_id, f"{kind} {path} ({size} bytes)"
                    )
                    return info
                stored = conn.execute(  # a concurrent writer stored it first
                    select(artifacts).where(artifacts.c.run_id == run_id, artifacts.c.path == path)
                ).first()
            if stored.digest != digest or stored.kind != kind:
                raise Conflict(
                    f"run {run_id} already has artifact {path!r} ({stored.kind}, {stored.size} "
                    f"bytes, digest {stored.digest[:16]}...); an artifact name is write-once "
                    f"(the same bytes again are fine)",
                    field="path",
                )
        return _artifact(stored)

    def _artifact_slot(self, conn: Connection, run: Any, path: str) -> Any:
        """The artifact stored as ``path`` (None if there is none), after checking that
        the run takes artifacts and that ``path`` is neither under another artifact nor
        above one (a file ``a`` and a folder ``a/`` never coexist)."""
        closed = self._closed(conn, run)
        if closed is not None:
            raise closed
        parts = path.split("/")
        above = ["/".join(parts[:depth]) for depth in range(1, len(parts))]
        found = conn.execute(
            select(artifacts).where(
                artifacts.c.run_id == run.id,
                artifacts.c.path.in_([*above, path])
                | artifacts.c.path.startswith(path + "/", autoescape=True),
            )
        ).all()
        for row in found:
            if row.path in above:
                raise Conflict(
                    f"run {run.id} has artifact {row.path!r} ({row.kind}): nothing can be "
                    f"stored under it as {path!r}",
                    field="path",
                )
            if row.path != path:
                raise Conflict(
                    f"run {run.id} has artifacts under {path + '/'!r} ({row.path!r}): "
                    f"{path!r} cannot be stored as well",
                    field="path",
                )
        return found[0] if found else None

    def prune_write_batches(self, older_than_s: float = WRITE_BATCH_RETENTION_S) -> int:
        """Forget batch ids recorded more than ``older_than_s`` ago (no client retries a
        batch for that long); returns how many."""
        cutoff = now_ms() - int(older_than_s * 1000)
        with self.store.write() as conn:
            return conn.execute(
                delete(write_batches).where(write_batches.c.created_at < cutoff)
            ).rowcount

    def sweep_lost(self) -> int:
        """Mark running runs whose heartbeat stopped as ``lost``; return how many."""
        cutoff = now_ms() - self.heartbeat_timeout_ms
        stale = and_(runs.c.status == "running", runs.c.heartbeat_at < cutoff)
        with self.store.read() as conn:
            if conn.execute(select(runs.c.id).where(stale).limit(1)).first() is None:
                return 0
        with self.store.write() as conn:
            return conn.execute(update(runs).where(stale).values(status="lost")).rowcount

    # -- runs: reads ------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInput("run id must be a non-empty string", field="run_id")
        self.sweep_lost()
        with self.store.read() as conn:
            row = conn.execute(_run_select().where(runs.c.id == run_id)).first()
            if row is None:
                raise _missing_run(run_id)
            self.access.require(conn, row.project_name, Role.VIEWER, hidden=_missing_run(run_id))
            return _hydrate(conn, [row])[0]

    def resolve_run_id(self, ref: str) -> str:
        """A full run id from a full id or a unique prefix of at least 6 hex digits."""
        ref = ref.strip().lower()
        if not _HEX.match(ref) or len(ref) < 6 or len(ref) > 32:
            raise InvalidInput(f"run id must be 6-32 hex digits; got {ref!r}", field="run_id")
        stmt = select(runs.c.id).where(runs.c.id.startswith(ref, autoescape=True))
        readable = self.access.member_projects()
        if readable is not None:  # runs it may see, only
            stmt = stmt.where(runs.c.project_id.in_(readable))
        with self.store.read() as conn:
            found = conn.execute(stmt.limit(2)).scalars().all()
        if not found:
            raise _missing_run(ref)
        if len(found) > 1:
            raise InvalidInput(
                f"run id prefix {ref!r} is ambiguous; give more digits", field="run_id"
            )
        with self.store.read() as conn:
            self._require_runs(conn, found, Role.VIEWER)
        return found[0]

    def search_runs(
        self,
        project: str,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        from modelyard.tracking._filter import compile_filter, compile_order_by, keyed_order

        if not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
            raise InvalidInput(
                f"max_results must be between 1 and {MAX_RESULTS}", field="max_results"
            )
        if isinstance(order_by, str):
            order_by = [order_by]
        proj = self.projects.get(project)
        where = compile_filter(filter)
        order = compile_order_by(list(order_by or []))
        fingerprint = _fingerprint(project, filter, order_by, include_deleted)
        offset = _decode_token(page_token, fingerprint)
        self.sweep_lost()
        stmt = _run_select().where(runs.c.project_id == proj.id)
        if not include_deleted:
            stmt = stmt.where(runs.c.deleted_at.is_(None))
        if where is not None:
            stmt = stmt.where(where)
        keyed = keyed_order(order_by)
        with self.store.read() as conn:
            if keyed is None:
                stmt = stmt.order_by(*order, runs.c.start_time.desc(), runs.c.id)
                rows = conn.execute(stmt.limit(max_results + 1).offset(offset)).all()
            else:
                rows = _keyed_page(conn, stmt, keyed, order[1:], max_results + 1, offset)
            more = len(rows) > max_results
            found = _hydrate(conn, rows[:max_results])
        token = _encode_token(offset + max_results, fingerprint) if more else None
        return RunPage(runs=found, next_page_token=token)

    def child_counts(self, project: str, run_ids: Iterable[str]) -> dict[str, int]:
        """How many child runs (not deleted) each of ``run_ids`` has in ``project``, by
        parent id, for runs with at least one: a grouped count per 500 ids, so a page of
        runs learns which of them to offer expanding without a query per run. NotFound
        for a project the actor may not view, as :meth:`search_runs`."""
        proj = self.projects.get(project)
        counts: dict[str, int] = {}
        with self.store.read() as conn:
            for chunk in _chunks(sorted(set(run_ids))):
                # The project is compared after grouping (a child is in its parent's
                # project): in the WHERE clause, SQLite reads the project's every run by
                # its (project_id, start_time) index instead of the children by parent_id.
                stmt = (
                    select(runs.c.parent_id, runs.c.project_id, func.count())
                    .where(runs.c.parent_id.in_(chunk), runs.c.deleted_at.is_(None))
                    .group_by(runs.c.parent_id, runs.c.project_id)
                )
                for parent, project_id, n in conn.execute(stmt):
                    if project_id == proj.id:
                        counts[parent] = int(n)
        return counts

    def metric_history(
        self, run_id: str, key: str, *, max_points: int | None = None
    ) -> MetricHistory:
        if max_points is not None and (not isinstance(max_points, int) or max_points < 2):
            raise InvalidInput("max_points must be an integer >= 2", field="max_points")
        with self.store.read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist", field="run_id")
            self._require_runs(conn, [run_id], Role.VIEWER)
            series = conn.execute(
                select(latest_metrics.c.id).where(
                    latest_metrics.c.run_id == run_id, latest_metrics.c.key == key
                )
            ).scalar()
            # Plain driver tuples and no collector passes while 100,000s of them are made:
            # SQLAlchemy Row objects and the GC runs they set off cost ~8x the read.
            with gc_paused():
                rows, total = (
                    self._history_points(conn, series, max_points)
                    if series is not None
                    else ([], 0)
                )
                nan = math.nan
                steps = [r[0] for r in rows]
                values = [nan if r[1] is None else r[1] for r in rows]
                stamps = [r[2] for r in rows]
        return MetricHistory(run_id, key, steps, values, stamps, total)

    def _history_points(
        self, conn: Connection, series_id: int, max_points: int | None
    ) -> tuple[Sequence[Sequence[Any]], int]:
        """The rows ``(step, value, timestamp, id)`` of a series in step order, at most
        ``max_points`` of them (``_downsample.py``), and how many it has. A series of more
        than :data:`SQL_POINTS` points (by dialect) cut into at most :data:`SQL_BUCKETS`
        buckets has each bucket's extremes read in SQL through the (series_id, step) index:
        no point of it is made in Python."""
        if max_points is None or not self._cut_in_sql(conn, series_id, max_points):
            rows = self._read_history(conn, self._history_sql, (series_id,))
            if max_points is not None:
                return downsample(rows, max_points), len(rows)
            return rows, len(rows)
        first = self._read_history(conn, self._history_first_sql, (series_id,))[0]
        last = self._read_history(conn, self._history_last_sql, (series_id,))[0]
        edges = bucket_edges(first[0], last[0], bucket_count(max_points))
        kept = {first[3]: first, last[3]: last}
        total = 0
        for start, end in itertools.pairwise(edges):
            if start == end:
                continue
            bucket = (series_id, start, end)
            [(count, lowest, highest)] = self._read_history(conn, self._bucket_sql, bucket)
            total += count
            if not count:
                continue
            if lowest is None:  # NaN alone: its first point, a gap in the chart
                found = self._read_history(conn, self._bucket_first_sql, bucket)
            else:
                found = [
                    *self._read_history(conn, self._bucket_value_sql, (*bucket, lowest)),
                    *self._read_history(conn, self._bucket_value_sql, (*bucket, highest)),
                ]
            kept.update((r[3], r) for r in found)
        return sorted(kept.values(), key=lambda r: (r[0], r[3])), total

    def _cut_in_sql(self, conn: Connection, series_id: int, max_points: int) -> bool:
        """Whether a series is downsampled in SQL: more than :data:`SQL_POINTS` points and
        than ``max_points`` (counted up to one more in the index) into at most
        :data:`SQL_BUCKETS` buckets."""
        if bucket_count(max_points) > SQL_BUCKETS:
            return False
        least = max(SQL_POINTS[self.store.dialect], max_points)
        [(upto,)] = self._read_history(conn, self._history_upto_sql, (series_id, least + 1))
        return bool(upto > least)

    def _read_history(self, conn: Connection, sql: str, args: tuple[Any, ...]) -> list[Any]:
        """The driver's tuples of a query on the metrics table (no SQLAlchemy rows)."""
        dbapi = conn.connection.driver_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, args)
            return cursor.fetchall()
        except conn.dialect.loaded_dbapi.Error as exc:
            raise StorageError(f"could not read metric history: {exc}") from exc
        finally:
            cursor.close()

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[ArtifactInfo]:
        stmt = select(artifacts).where(artifacts.c.run_id == run_id).order_by(artifacts.c.path)
        if prefix:
            stmt = stmt.where(
                (artifacts.c.path == prefix)
                | artifacts.c.path.startswith(prefix.rstrip("/") + "/", autoescape=True)
            )
        with self.store.read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist", field="run_id")
            self._require_runs(conn, [run_id], Role.VIEWER)
            rows = conn.execute(stmt).all()
        return [_artifact(r) for r in rows]

    def get_artifact(self, run_id: str, path: str) -> ArtifactInfo:
        with self.store.read() as conn:
            self._require_runs(conn, [run_id], Role.VIEWER)
            row = conn.execute(
                select(artifacts).where(artifacts.c.run_id == run_id, artifacts.c.path == path)
            ).first()
        if row is None:
            raise NotFound(f"run {run_id} has no artifact {path!r}", field="path")
        return _artifact(row)

    def referenced_digests(self) -> set[str]:
        with self.store.read() as conn:
            return set(conn.execute(select(artifacts.c.digest).distinct()).scalars())

    def tree_digests(self) -> set[str]:
        with self.store.read() as conn:
            stmt = select(artifacts.c.digest).where(artifacts.c.kind == "tree").distinct()
            return set(conn.execute(stmt).scalars())

    def count_runs(self, project: str) -> int:
        proj = self.projects.get(project)
        with self.store.read() as conn:
            stmt = select(func.count()).select_from(runs).where(runs.c.project_id == proj.id)
            return int(conn.execute(stmt).scalar_one())


def _non_negative(field: str, value: Any) -> float:
    """A resource figure (a duration, a cost): a finite real number >= 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidInput(f"{field} must be a finite number >= 0; got {value!r}", field=field)
    return float(value)


def _non_negative_int(field: str, value: Any) -> int:
    """A count of bytes: an integer from 0 to 2**63 - 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 0 <= int(value) <= limits.INTEGER
    ):
        raise InvalidInput(
            f"{field} must be an integer from 0 to {limits.INTEGER}; got {value!r}", field=field
        )
    return int(value)


def _digest(source: bytes | Path) -> BlobInfo:
    """What putting ``source`` would give, without storing it."""
    if isinstance(source, bytes):
        return BlobInfo(blake3(source).hexdigest(), len(source))
    return local_digest(source)


def _put(blobs: BlobStore, source: ArtifactSource) -> BlobInfo:
    """Put the bytes of an artifact in the blob store."""
    if isinstance(source, TarArchive):
        with open(source.path, "rb") as tar:
            return blobs.put_tar(tar)
    if isinstance(source, bytes):
        return blobs.put_bytes(source)
    if source.is_dir():
        return blobs.put_tree(source)
    return blobs.put_file(source)


def _missing_run(run_id: str) -> NotFound:
    return NotFound(f"run {run_id!r} does not exist", field="run_id")


def _batch_runs(batch: Batch) -> set[str]:
    """The ids of the runs a batch writes to."""
    found = set(batch.heartbeats)
    for rows in (batch.metrics, batch.params, batch.tags):
        found.update(row[0] for row in rows)
    return found


def _artifact(row: Any) -> ArtifactInfo:
    return ArtifactInfo(
        path=row.path, digest=row.digest, kind=row.kind, size=row.size, created_at=row.created_at
    )


def _run_select() -> Any:
    return select(runs, projects.c.name.label("project_name")).join(
        projects, projects.c.id == runs.c.project_id
    )


def _keyed_page(
    conn: Connection, stmt: Any, keyed: KeyedOrder, rest: list[Any], limit: int, offset: int
) -> list[Any]:
    """A page of runs sorted first by a metric, param or tag: the runs that have a value,
    read in the order of the (key, value) index and joined to their runs (so a page is
    found without looking up the value of every run, as a sort key per run would), then
    the runs without one (missing, or a NaN metric), as NULLs sort last."""
    table, key, descending = keyed
    value = table.c.value.desc() if descending else table.c.value.asc()
    tail = (*rest, runs.c.start_time.desc(), runs.c.id)
    having = stmt.join(table, and_(table.c.run_id == runs.c.id, table.c.key == key)).where(
        table.c.value.is_not(None)
    )
    rows = list(conn.execute(having.order_by(value, *tail).limit(limit).offset(offset)))
    if len(rows) == limit:
        return rows
    if rows or offset == 0:
        having_count = offset + len(rows)
    else:  # past the runs with a value: how many there are
        counted = select(func.count()).select_from(having.with_only_columns(runs.c.id).subquery())
        having_count = conn.execute(counted).scalar_one()
    valued = select(table.c.run_id).where(
        table.c.run_id == runs.c.id, table.c.key == key, table.c.value.is_not(None)
    )
    without = stmt.where(~valued.exists()).order_by(*tail)
    rest_offset = offset + len(rows) - having_count
    return rows + list(conn.execute(without.limit(limit - len(rows)).offset(rest_offset)))


def _hydrate(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    ids = [r.id for r in rows]
    p: dict[str, dict[str, str]] = {i: {} for i in ids}
    m: dict[str, dict[str, float]] = {i: {} for i in ids}
    t: dict[str, dict[str, str]] = {i: {} for i in ids}
    for chunk in _chunks(ids):
        for run_id, key, value in conn.execute(
            select(params.c.run_id, params.c.key, params.c.value).where(params.c.run_id.in_(chunk))
        ):
            p[run_id][key] = value
        for run_id, key, value in conn.execute(
            select(latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value).where(
                latest_metrics.c.run_id.in_(chunk)
            )
        ):
            m[run_id][key] = math.nan if value is None else value
        for run_id, key, value in conn.execute(
            select(tags.c.run_id, tags.c.key, tags.c.value).where(tags.c.run_id.in_(chunk))
        ):
            t[run_id][key] = value
    return [
        Run(
            id=r.id,
            project=r.project_name,
            name=r.name,
            status=r.status,
            start_time=r.start_time,
            end_time=r.end_time,
            parent_id=r.parent_id,
            user=r.user_name,
            host=r.host,
            entry_point=r.entry_point,
            error=r.error,
            wall_time_s=r.wall_time_s,
            cpu_time_s=r.cpu_time_s,
            peak_rss_bytes=r.peak_rss_bytes,
            gpu_time_s=r.gpu_time_s,
            cost=r.cost,
            params=p[r.id],
            metrics=m[r.id],
            tags=t[r.id],
            deleted_at=r.deleted_at,
        )
        for r in rows
    ]


def _descendants(conn: Connection, run_id: str) -> list[str]:
    found = [run_id]
    frontier = [run_id]
    while frontier:
        children: list[str] = []
        for chunk in _chunks(frontier):
            children += conn.execute(select(runs.c.id).where(runs.c.parent_id.in_(chunk))).scalars()
        found += children
        frontier = children
    return found


def _chunks(items: Sequence[str] | Iterable[str], size: int = _CHUNK) -> Iterable[list[str]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _fingerprint(*parts: Any) -> str:
    return hashlib.blake2b(json.dumps(parts, default=str).encode(), digest_size=8).hexdigest()


def _encode_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, fingerprint]).encode()).decode()


def _decode_token(token: str | None, fingerprint: str) -> int:
    if not token:
        return 0
    try:
        offset, fp = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(offset, int) or offset < 0 or fp != fingerprint:
            raise ValueError
    except (ValueError, TypeError, UnicodeError):
        raise InvalidInput(
            "page_token is invalid or belongs to a different query", field="page_token"
        ) from None
    return offset


def _check_run_text(user: str, host: str, entry_point: str, tags_: dict[str, str]) -> None:
    limits.check_text(user, "user", limits.SHORT_TEXT)
    limits.check_text(host, "host", limits.SHORT_TEXT)
    limits.check_text(entry_point, "entry_point", limits.ENTRY_POINT)
    _check_tags(tags_.items())


def _check_tags(pairs: Iterable[tuple[str, str]]) -> None:
    for key, value in pairs:
        validate_key(key, "tag key")
        limits.check_text(value, f"tags.{key}", limits.TAG_VALUE)


def _check_run_refs(run_ids: Iterable[object], field: str) -> None:
    """Each a reference to a run: a non-empty string without NUL (one that names no run is
    NotFound when it is looked up; anything else is InvalidInput before)."""
    for run_id in run_ids:
        if not isinstance(run_id, str) or not run_id or "\x00" in run_id:
            raise InvalidInput(
                f"{field} must be a run id; got {limits.preview(run_id)}", field=field
            )


def _checked_batch(batch: Batch) -> Batch:
    """``batch`` when every row keeps the rules (before any of it is stored): at most
    :data:`~modelyard.limits.BATCH_ROWS` rows of each kind, keys and text within
    :mod:`modelyard.limits`, run ids strings (see :func:`_check_run_refs`), metric points a
    number at an integer step and time (see ``tracking/_values.py``). A point given as
    another kind of number (an int value, a NumPy step) comes back as float and int, in a
    copy; anything else is InvalidInput."""
    for kind, rows in (
        ("metrics", batch.metrics),
        ("params", batch.params),
        ("tags", batch.tags),
        ("heartbeats", batch.heartbeats),
    ):
        if len(rows) > limits.BATCH_ROWS:
            raise InvalidInput(
                f"a batch holds at most {limits.BATCH_ROWS:,} {kind}, not {len(rows):,}",
                field=kind,
            )
    try:
        run_ids = _batch_runs(batch)
    except TypeError:  # an unhashable run id
        raise InvalidInput("run ids must be strings", field="run_id") from None
    _check_run_refs(run_ids, "run_id")
    for key in {row[1] for row in batch.metrics}:
        validate_key(key, "metric key")
    for _, key, value in batch.params:
        validate_key(key, "param key")
        limits.check_text(value, f"params.{key}", limits.PARAM_VALUE)
    _check_tags((key, value) for _, key, value in batch.tags)
    top = limits.INTEGER
    for _, _, number, step, stamp in batch.metrics:  # the common case, at ~100 ns a point
        if not (
            type(number) is float
            and type(step) is int
            and type(stamp) is int
            and 0 <= step <= top
            and 0 <= stamp <= top
        ):
            break
    else:
        return batch
    points = [
        (run_id, key, as_metric_value(key, value), as_step(step), as_timestamp(stamp))
        for run_id, key, value, step, stamp in batch.metrics
    ]
    return Batch(metrics=points, params=batch.params, tags=batch.tags, heartbeats=batch.heartbeats)
