"""The schedule service: schedules of pipelines (create, read, enable, disable, run now,
delete) and the claiming rule the workers follow.

A schedule names a pipeline (``MODULE:NAME`` or ``path/to/file.py:NAME``, resolved as
``modelyard pipelines run`` resolves it; a file is stored by its absolute path), its
parameters, and a trigger: a five-field cron expression in a timezone, or each new
version of a dataset of the project. A signed-in principal needs ``viewer`` on the
project to read schedules and ``contributor`` to change them; each change is an audit
event in the same transaction.

**Claiming.** What a schedule has done is its cursor: ``cursor_at`` (cron occurrences at
or before it are fired or skipped) or ``seen_version`` (dataset versions up to it are
fired). A worker claims a due occurrence in one write transaction that moves the cursor
past it -- ``UPDATE ... WHERE cursor < occurrence``, which only one transaction can win
on SQLite (one writer at a time) and on PostgreSQL (the second update waits for the
first and then no longer matches) -- and inserts the fire, whose unique constraint
(schedule and due time, or schedule and dataset version) refuses a second claim of the
same occurrence. The fire is leased to its worker, which renews the lease while the
pipeline runs; a ``running`` fire whose lease expired (its worker died) is taken over
by the next worker that polls, up to :data:`MAX_ATTEMPTS` attempts.

A run asked for now (:meth:`ScheduleService.run_now`) is a request on the schedule
(``requested_at``, ``requested_by``); a worker claims it by clearing the very request it
saw (``UPDATE ... WHERE requested_at = seen``), which again only one transaction wins.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from modelyard import limits
from modelyard._refs import PipelineSources, load_object, not_a_pipeline
from modelyard._util import canonical_json, new_id, validate_name
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.projects.service import ProjectService
from modelyard.schedules.cron import Cron, check_timezone, from_ms, to_ms
from modelyard.schedules.entities import Due, Fire, Schedule
from modelyard.store import Store
from modelyard.store.tables import (
    dataset_versions,
    datasets,
    projects,
    schedule_fires,
    schedules,
)

__all__ = ["MAX_ATTEMPTS", "MAX_FIRES", "SCHEDULE", "ScheduleService", "normalize_ref"]

#: Object type of schedules in the audit log.
SCHEDULE = "schedule"
#: Attempts at one fire (a worker that dies mid-run leaves it to the next one).
MAX_ATTEMPTS = 3
#: The most fires one call to :meth:`ScheduleService.fires` returns.
MAX_FIRES = 500

RUNNING, FINISHED, FAILED = "running", "finished", "failed"

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_ref(ref: object) -> str:
    """``MODULE:NAME`` as it is; ``path/to/file.py:NAME`` with the file's absolute path
    (a worker may run elsewhere). Syntax only: :func:`resolve` imports it."""
    if not isinstance(ref, str):
        raise InvalidInput(
            f"pipeline must be MODULE:NAME or FILE.py:NAME; got {ref!r}", field="pipeline"
        )
    limits.check_text(ref, "pipeline", limits.PIPELINE_REF)
    where, sep, name = ref.rpartition(":")
    if not sep or not where.strip() or not name.strip():
        raise InvalidInput(
            f"not a pipeline reference: {ref!r}; use MODULE:PIPELINE or FILE.py:PIPELINE",
            field="pipeline",
        )
    if where.endswith(".py"):
        return f"{Path(where).resolve()}:{name}"
    return ref


def check_ref(ref: object, sources: PipelineSources) -> str:
    """``ref`` as stored when ``sources`` allow it (nothing imported), else InvalidInput
    on ``pipeline``."""
    if not isinstance(ref, str):
        raise InvalidInput(
            f"pipeline must be MODULE:NAME or FILE.py:NAME; got {ref!r}", field="pipeline"
        )
    try:
        return sources.check(ref)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="pipeline") from None


@runtime_checkable
class Runnable(Protocol):
    """What a schedule runs: a pipeline (:class:`modelyard.pipelines.Pipeline`)."""

    def bind(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def run(self, *args: Any, **kwargs: Any) -> Any: ...


def resolve(ref: str, sources: PipelineSources | None = None) -> Runnable:
    """The pipeline ``ref`` names, loaded the way ``modelyard pipelines run`` loads it
    (when ``sources`` are given, only if they allow it). Whatever stops it loading -- the
    reference, or the imported code failing in any way -- is InvalidInput on
    ``pipeline``."""
    if sources is not None:
        ref = check_ref(ref, sources)
    try:
        found = load_object(ref)
        if not isinstance(found, Runnable):
            raise not_a_pipeline(ref)
        return found
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="pipeline") from None
    except Exception as exc:  # the imported module's own code failed
        raise InvalidInput(
            f"cannot import {ref.rpartition(':')[0]}: {type(exc).__name__}: {exc}",
            field="pipeline",
        ) from None


def check_params(params: object) -> dict[str, Any]:
    """Pipeline parameters: a mapping (or a JSON object as text) of JSON values."""
    if params is None:
        return {}
    if isinstance(params, str):
        limits.check_text(params, "params", limits.SCHEDULE_PARAMS)
        try:
            params = json.loads(params)
        except ValueError as exc:
            raise InvalidInput(f"params are not JSON: {exc}", field="params") from None
    if not isinstance(params, Mapping):
        raise InvalidInput(
            f"params must be a JSON object of parameter names and values; got "
            f"{type(params).__name__}",
            field="params",
        )
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(
                f"param names must be non-empty strings; got {key!r}", field="params"
            )
        canonical_json(value, f"param {limits.preview(key)}")
        out[key] = value
    limits.check_text(json.dumps(out, sort_keys=True), "params", limits.SCHEDULE_PARAMS)
    return out


def check_limit(limit: object) -> int:
    """How many fires to read: an integer from 1 to :data:`MAX_FIRES`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FIRES:
        raise InvalidInput(
            f"limit must be an integer from 1 to {MAX_FIRES}; got {limit!r}", field="limit"
        )
    return limit


class ScheduleService:
    """Rules and queries for schedules and their fires over one metadata store."""

    def __init__(
        self,
        store: Store,
        access: Access,
        projects: ProjectService,
        *,
        clock: Clock | None = None,
        sources: PipelineSources | None = None,
        load_pipelines: bool = True,
    ) -> None:
        """``access``: the actor, its checks and the audit log; ``projects``: what a
        schedule's project is ensured by. ``sources``: the code a schedule may name (None:
        any). ``load_pipelines``:
        whether :meth:`create` imports the pipeline to check the reference and the
        parameters -- for a program creating schedules of its own code; a server, where
        a request names the code, passes False (only a worker imports)."""
        self.store = store
        self.sources = sources
        self.load_pipelines = load_pipelines
        self.access = access
        self.projects = projects
        self.clock = clock or _utcnow

    def acting_as(self, actor: Actor) -> ScheduleService:
        """This service acting for ``actor``."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.projects = self.projects.acting_as(actor)
        return view

    def with_clock(self, clock: Clock) -> ScheduleService:
        """This service telling the time by ``clock`` (a worker's; a test's fake one)."""
        view = copy.copy(self)
        view.clock = clock
        return view

    def _now(self, now: datetime | None) -> datetime:
        moment = now if now is not None else self.clock()
        if moment.tzinfo is None:
            raise InvalidInput("times must be timezone-aware", field="now")
        return moment

    # -- changing -------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        project: str,
        pipeline: str,
        params: Mapping[str, Any] | str | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        dataset: str | None = None,
        enabled: bool = True,
    ) -> Schedule:
        """A schedule that runs ``pipeline`` with ``params`` on the cron expression
        ``cron`` (in ``timezone``, default UTC) or on each new version of ``dataset`` in
        ``project`` (versions registered after this call). The reference must lie within
        :attr:`sources`; with :attr:`load_pipelines` the pipeline is imported to check it
        and the parameters, else the parameters are checked as JSON values only and the
        worker checks the rest when it loads the pipeline."""
        validate_name(name, "schedule")
        validate_name(project, "project")
        if cron is not None:
            limits.check_text(cron, "cron", limits.CRON)
        if timezone is not None:
            limits.check_text(timezone, "timezone", limits.TIMEZONE)
        if (cron is None) == (dataset is None):
            raise InvalidInput(
                "a schedule needs one trigger: a cron expression or a dataset", field="cron"
            )
        if cron is not None:
            Cron(cron, timezone if timezone is not None else "UTC")
            timezone = timezone if timezone is not None else "UTC"
            cron = " ".join(cron.split())
        elif timezone is not None:
            check_timezone(timezone)
            raise InvalidInput("a timezone goes with a cron expression", field="timezone")
        if dataset is not None:
            validate_name(dataset, "dataset")
        values = check_params(params)
        with self.store.read() as conn:  # refused before the reference is looked at
            if conn.execute(select(projects.c.id).where(projects.c.name == project)).first():
                self.access.require(conn, project, Role.CONTRIBUTOR)
        if self.sources is not None:
            ref = check_ref(pipeline, self.sources)
        else:
            ref = normalize_ref(pipeline)
        if self.load_pipelines:
            resolve(ref).bind(values)
        self.projects.ensure(project)
        now = to_ms(self._now(None))
        schedule_id = new_id()
        with self.store.write() as conn:
            self.access.require(conn, project, Role.CONTRIBUTOR)
            project_id = conn.execute(
                select(projects.c.id).where(projects.c.name == project)
            ).scalar_one()
            taken = conn.execute(
                select(schedules.c.id).where(
                    schedules.c.project_id == project_id, schedules.c.name == name
                )
            ).first()
            if taken is not None:
                raise AlreadyExists(
                    f"schedule {name!r} already exists in project {project!r}", field="name"
                )
            conn.execute(
                schedules.insert().values(
                    id=schedule_id,
                    project_id=project_id,
                    name=name,
                    pipeline=ref,
                    params=json.dumps(values, sort_keys=True),
                    cron=cron,
                    timezone=timezone,
                    dataset=dataset,
                    enabled=bool(enabled),
                    cursor_at=now if cron is not None else None,
                    seen_version=(
                        _latest_version(conn, project_id, dataset) if dataset is not None else None
                    ),
                    created_by=self.access.who(),
                    created_at=now,
                    updated_at=now,
                )
            )
            trigger = f"cron {cron} ({timezone})" if cron is not None else f"dataset {dataset}"
            self.access.record(
                conn,
                "schedule.created",
                SCHEDULE,
                schedule_id,
                f"{project}/{name}: {ref} on {trigger}",
            )
        return self.get(name, project=project)

    def set_enabled(self, name: str, enabled: bool, *, project: str) -> Schedule:
        """Enable or disable a schedule. Enabling starts from now: cron occurrences and
        dataset versions that came while it was disabled do not fire."""
        with self.store.write() as conn:
            row = self._row(conn, project, name)
            self.access.require(conn, project, Role.CONTRIBUTOR)
            if bool(row.enabled) != enabled:
                values: dict[str, Any] = {"enabled": enabled, "updated_at": to_ms(self._now(None))}
                if enabled and row.cron is not None:
                    values["cursor_at"] = values["updated_at"]
                if enabled and row.dataset is not None:
                    values["seen_version"] = _latest_version(conn, row.project_id, row.dataset)
                conn.execute(update(schedules).where(schedules.c.id == row.id).values(**values))
                action = "schedule.enabled" if enabled else "schedule.disabled"
                self.access.record(conn, action, SCHEDULE, row.id, f"{project}/{name}")
        return self.get(name, project=project)

    def enable(self, name: str, *, project: str) -> Schedule:
        return self.set_enabled(name, True, project=project)

    def disable(self, name: str, *, project: str) -> Schedule:
        return self.set_enabled(name, False, project=project)

    def run_now(self, name: str, *, project: str) -> Schedule:
        """Ask for a run of the schedule now: the next worker to poll runs its pipeline
        once with its params (trigger ``manual:USER@TIME``), whatever its trigger and
        even when it is disabled; its cron cursor and dataset versions are left as they
        are. A request still waiting for a worker is kept, not doubled."""
        with self.store.write() as conn:
            row = self._row(conn, project, name)
            self.access.require(conn, project, Role.CONTRIBUTOR)
            if row.requested_at is None:
                now = to_ms(self._now(None))
                conn.execute(
                    update(schedules)
                    .where(schedules.c.id == row.id, schedules.c.requested_at.is_(None))
                    .values(requested_at=now, requested_by=self.access.who())
                )
                self.access.record(
                    conn, "schedule.run_requested", SCHEDULE, row.id, f"{project}/{name}"
                )
        return self.get(name, project=project)

    def delete(self, name: str, *, project: str) -> None:
        """Delete a schedule and the record of its fires (the runs stay)."""
        with self.store.write() as conn:
            row = self._row(conn, project, name)
            self.access.require(conn, project, Role.CONTRIBUTOR)
            conn.execute(delete(schedule_fires).where(schedule_fires.c.schedule_id == row.id))
            conn.execute(delete(schedules).where(schedules.c.id == row.id))
            self.access.record(conn, "schedule.deleted", SCHEDULE, row.id, f"{project}/{name}")

    # -- reading ----------------------------------------------------------------------------

    def _row(self, conn: Connection, project: str, name: str) -> Any:
        validate_name(project, "project")
        validate_name(name, "schedule")
        row = conn.execute(
            _schedule_select().where(projects.c.name == project, schedules.c.name == name)
        ).first()
        if row is None:
            if conn.execute(select(projects.c.id).where(projects.c.name == project)).first():
                self.access.require(conn, project, Role.VIEWER, hidden=missing_project(project))
                raise NotFound(
                    f"schedule {name!r} does not exist in project {project!r}", field="schedule"
                )
            raise missing_project(project)
        self.access.require(conn, project, Role.VIEWER, hidden=missing_project(project))
        return row

    def get(self, name: str, *, project: str) -> Schedule:
        """One schedule by name."""
        with self.store.read() as conn:
            row = self._row(conn, project, name)
            self.access.require(conn, project, Role.VIEWER)
            return _schedule(row)

    def list_schedules(self, project: str | None = None) -> list[Schedule]:
        """The schedules of a project, or of every project the actor may read."""
        stmt = _schedule_select().order_by(projects.c.name, schedules.c.name)
        with self.store.read() as conn:
            if project is not None:
                validate_name(project, "project")
                self.access.require(conn, project, Role.VIEWER, hidden=missing_project(project))
                stmt = stmt.where(projects.c.name == project)
            elif (readable := self.access.member_projects()) is not None:
                stmt = stmt.where(projects.c.id.in_(readable))
            rows = conn.execute(stmt).all()
        return [_schedule(r) for r in rows]

    def fires(self, name: str, *, project: str, limit: int = 50) -> list[Fire]:
        """The fires of a schedule, newest first: at most ``limit`` (1 to
        :data:`MAX_FIRES`)."""
        check_limit(limit)
        with self.store.read() as conn:
            row = self._row(conn, project, name)
            self.access.require(conn, project, Role.VIEWER)
            found = conn.execute(
                _fire_select()
                .where(schedule_fires.c.schedule_id == row.id)
                .order_by(schedule_fires.c.claimed_at.desc(), schedule_fires.c.id)
                .limit(limit)
            ).all()
        return [_fire(r) for r in found]

    # -- what workers do ----------------------------------------------------------------------

    def due(self, *, project: str | None = None, now: datetime | None = None) -> list[Due]:
        """The occurrences due at ``now``: per schedule a run asked for now (enabled or
        not), then, when it is enabled, per cron schedule the newest occurrence after its
        cursor (the earlier ones counted as missed), per dataset schedule each version
        newer than the last one it saw, oldest first; schedules in the order they were
        created, then by project and name."""
        moment = self._now(now)
        stmt = _schedule_select().where(
            or_(schedules.c.enabled.is_(True), schedules.c.requested_at.is_not(None))
        )
        if project is not None:
            stmt = stmt.where(projects.c.name == project)
        found: list[Due] = []
        with self.store.read() as conn:
            if project is not None:
                self.access.require(conn, project, Role.VIEWER)
            for row in conn.execute(
                stmt.order_by(schedules.c.created_at, projects.c.name, schedules.c.name)
            ).all():
                schedule = _schedule(row)
                if row.requested_at is not None:
                    asked = from_ms(row.requested_at).isoformat(timespec="seconds")
                    found.append(
                        Due(
                            schedule,
                            f"manual:{row.requested_by}@{asked}",
                            requested_at=row.requested_at,
                        )
                    )
                if not row.enabled:
                    continue
                if row.cron is not None:
                    cron = Cron(row.cron, row.timezone)
                    due = cron.due(from_ms(row.cursor_at), moment)
                    if due is not None:
                        at, missed = due
                        found.append(
                            Due(schedule, f"cron:{cron.label(at)}", due_at=to_ms(at), missed=missed)
                        )
                    continue
                versions = conn.execute(
                    select(dataset_versions.c.id, dataset_versions.c.version)
                    .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                    .where(
                        datasets.c.project_id == row.project_id,
                        datasets.c.name == row.dataset,
                        dataset_versions.c.version > (row.seen_version or 0),
                    )
                    .order_by(dataset_versions.c.version)
                ).all()
                found.extend(
                    Due(
                        schedule,
                        f"dataset:{row.dataset}:{v.version}",
                        dataset_version_id=v.id,
                        version=v.version,
                    )
                    for v in versions
                )
        return found

    def claim(
        self, due: Due, *, worker: str, lease_s: float, now: datetime | None = None
    ) -> Fire | None:
        """Claim ``due`` for ``worker``: the fire, or None when another worker claimed it
        (or the schedule was disabled or deleted) first. A run asked for now is claimed
        by clearing the request it saw."""
        moment = to_ms(self._now(now))
        s = schedules.c
        with self.store.write() as conn:
            if due.requested_at is not None:
                moved = update(schedules).where(
                    s.id == due.schedule.id, s.requested_at == due.requested_at
                )
                moved = moved.values(requested_at=None, requested_by=None)
            elif due.due_at is not None:
                moved = update(schedules).where(
                    s.id == due.schedule.id,
                    s.enabled.is_(True),
                    or_(s.cursor_at.is_(None), s.cursor_at < due.due_at),
                )
                moved = moved.values(cursor_at=due.due_at)
            else:
                assert due.version is not None
                moved = update(schedules).where(
                    s.id == due.schedule.id,
                    s.enabled.is_(True),
                    or_(s.seen_version.is_(None), s.seen_version < due.version),
                )
                moved = moved.values(seen_version=due.version)
            if conn.execute(moved).rowcount != 1:
                return None
            fire_id = new_id()
            inserted = conn.execute(
                self.store.insert_stmt(schedule_fires)
                .values(
                    id=fire_id,
                    schedule_id=due.schedule.id,
                    due_at=due.due_at,
                    dataset_version_id=due.dataset_version_id,
                    trigger=due.trigger,
                    missed=due.missed,
                    status=RUNNING,
                    worker=worker,
                    attempts=1,
                    lease_until=moment + int(lease_s * 1000),
                    claimed_at=moment,
                )
                .on_conflict_do_nothing()
                .returning(schedule_fires.c.id)
            ).first()
            if inserted is None:
                return None
            return _fire(conn.execute(_fire_select().where(schedule_fires.c.id == fire_id)).one())

    def take_over(
        self,
        *,
        worker: str,
        lease_s: float,
        project: str | None = None,
        now: datetime | None = None,
    ) -> Fire | None:
        """The oldest fire still ``running`` whose lease expired (its worker stopped),
        taken over by ``worker`` for another attempt; None when there is none. Expired
        fires that had :data:`MAX_ATTEMPTS` attempts are marked failed on the way. One at
        a time: a fire taken over is leased, and only the fire being run is renewed."""
        moment = to_ms(self._now(now))
        f = schedule_fires.c
        stmt = select(f.id, f.attempts).where(f.status == RUNNING, f.lease_until < moment)
        if project is not None:
            stmt = stmt.join(schedules, schedules.c.id == f.schedule_id).join(
                projects, projects.c.id == schedules.c.project_id
            )
            stmt = stmt.where(projects.c.name == project)
        with self.store.read() as conn:
            expired = conn.execute(stmt.order_by(f.claimed_at)).all()
        for fire_id, attempts in expired:
            still = and_(f.id == fire_id, f.status == RUNNING, f.lease_until < moment)
            with self.store.write() as conn:
                if attempts >= MAX_ATTEMPTS:
                    conn.execute(
                        update(schedule_fires)
                        .where(still)
                        .values(
                            status=FAILED,
                            finished_at=moment,
                            error=f"abandoned: its worker stopped during each of {attempts} "
                            "attempts",
                        )
                    )
                    continue
                won = conn.execute(
                    update(schedule_fires)
                    .where(still)
                    .values(
                        worker=worker,
                        attempts=f.attempts + 1,
                        lease_until=moment + int(lease_s * 1000),
                        run_id=None,
                        error=None,
                    )
                ).rowcount
                if won == 1:
                    return _fire(conn.execute(_fire_select().where(f.id == fire_id)).one())
        return None

    def renew(
        self, fire_id: str, *, worker: str, lease_s: float, now: datetime | None = None
    ) -> bool:
        """Extend ``worker``'s lease on a running fire; False when it no longer holds it."""
        moment = to_ms(self._now(now))
        f = schedule_fires.c
        with self.store.write() as conn:
            return bool(
                conn.execute(
                    update(schedule_fires)
                    .where(f.id == fire_id, f.worker == worker, f.status == RUNNING)
                    .values(lease_until=moment + int(lease_s * 1000))
                ).rowcount
            )

    def record_run(self, fire_id: str, *, worker: str, run_id: str) -> None:
        """The pipeline run of a fire, as soon as it started."""
        f = schedule_fires.c
        with self.store.write() as conn:
            conn.execute(
                update(schedule_fires)
                .where(f.id == fire_id, f.worker == worker, f.status == RUNNING)
                .values(run_id=run_id)
            )

    def finish(
        self,
        fire_id: str,
        *,
        worker: str,
        status: str,
        run_id: str | None = None,
        error: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Record the outcome of ``worker``'s fire; False when another worker took it
        over (this worker's lease had expired), whose outcome will count instead."""
        if status not in (FINISHED, FAILED):
            raise InvalidInput(f"a fire ends finished or failed; got {status!r}", field="status")
        moment = to_ms(self._now(now))
        f = schedule_fires.c
        values: dict[str, Any] = {
            "status": status,
            "error": limits.tail(error, limits.RUN_ERROR),
            "finished_at": moment,
        }
        if run_id is not None:
            values["run_id"] = run_id
        with self.store.write() as conn:
            return bool(
                conn.execute(
                    update(schedule_fires)
                    .where(f.id == fire_id, f.worker == worker, f.status == RUNNING)
                    .values(**values)
                ).rowcount
            )


def _latest_version(conn: Connection, project_id: str, dataset: str) -> int | None:
    found = conn.execute(
        select(func.max(dataset_versions.c.version))
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(datasets.c.project_id == project_id, datasets.c.name == dataset)
    ).scalar()
    return int(found) if found is not None else None


def _schedule_select() -> Any:
    return select(schedules, projects.c.name.label("project")).join(
        projects, projects.c.id == schedules.c.project_id
    )


def _schedule(row: Any) -> Schedule:
    next_at: int | None = None
    if row.cron is not None and row.enabled:
        cron = Cron(row.cron, row.timezone)
        next_at = to_ms(cron.next_after(from_ms(row.cursor_at)))
    return Schedule(
        id=row.id,
        project=row.project,
        name=row.name,
        pipeline=row.pipeline,
        params=json.loads(row.params),
        cron=row.cron,
        timezone=row.timezone,
        dataset=row.dataset,
        enabled=bool(row.enabled),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        next_fire_at=next_at,
        seen_version=row.seen_version,
        requested_at=row.requested_at,
        requested_by=row.requested_by,
    )


def _fire_select() -> Any:
    return (
        select(
            schedule_fires,
            schedules.c.name.label("schedule"),
            projects.c.name.label("project"),
        )
        .join(schedules, schedules.c.id == schedule_fires.c.schedule_id)
        .join(projects, projects.c.id == schedules.c.project_id)
    )


def _fire(row: Any) -> Fire:
    return Fire(
        id=row.id,
        schedule_id=row.schedule_id,
        schedule=row.schedule,
        project=row.project,
        trigger=row.trigger,
        due_at=row.due_at,
        dataset_version_id=row.dataset_version_id,
        missed=row.missed,
        status=row.status,
        worker=row.worker,
        attempts=row.attempts,
        lease_until=row.lease_until,
        run_id=row.run_id,
        error=row.error,
        claimed_at=row.claimed_at,
        finished_at=row.finished_at,
    )
