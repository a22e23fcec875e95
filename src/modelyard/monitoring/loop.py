"""The closed loop (a service): a policy per deployment, and each turn of the loop as one
record of ``loop_runs`` -- a state machine the worker advances one step at a time.

**Steps.** ``retrain`` (the policy's pipeline, run by the worker as schedules run theirs:
in a fresh process through ``python -m modelyard.worker._fire``, or inline, with the
tag :data:`LOOP_TAG` naming the loop) → ``register`` (the model's newest version whose
run belongs to that pipeline run) → ``evaluate`` (the candidate against the champion on
the deployment's newest labelled window of the prediction log) → ``approve`` (staging
through the registry's gates) → ``canary`` (a traffic plan sending ``canary.weight`` per
cent to the candidate, with the policy's rollout guard rails) → ``compare`` (once
``compare_s`` passed: the candidate's live metric and health against the champion's,
from the monitors' window values) → ``promote`` (production through the registry's
gates, then the deployment's promote moves the alias) or ``rollback``.

**Durability.** Each step's outcome is written (with its audit event and a
``loop.step_completed`` event) before the next starts. A worker claims a run with a lease
(``UPDATE ... WHERE lease expired``; candidates read ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so two workers never run the same step, and renews it while a pipeline
runs; a worker killed mid-step leaves the lease to expire and the next one runs that step
again. The one step that may have half-run, ``retrain``, first looks for its own pipeline
run (by its tag): a finished one is taken, one still ``running`` was abandoned and is
ended before another starts (at most :data:`MAX_ATTEMPTS`).

**People.** A person's decision (:meth:`LoopService.decide`, approvers) is needed where
the registry's gate needs approvals (a person approves the loop's staging request), when
``auto_approve_staging`` is false, and before production with ``production:
require_person``; the run waits in state ``waiting`` meanwhile.

Rights: reading needs ``viewer``; starting and cancelling ``contributor``; deciding
``approver``; setting a policy ``admin`` of the project. The worker acts as the system.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from modelyard import limits
from modelyard._refs import PipelineSources
from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import Conflict, InvalidInput, ModelyardError, NotFound
from modelyard.events import emit
from modelyard.events import kinds as event_kinds
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.monitoring._loop_policy import parse_policy
from modelyard.monitoring._loop_steps import (
    LOOP_TAG,
    MAX_ATTEMPTS,
    STEPS,
    LoopSteps,
    PipelineRunner,
    version_name,
)
from modelyard.monitoring.entities import LoopPolicy, LoopRun, LoopStep
from modelyard.predictions.service import PredictionService
from modelyard.registry.service import ModelService
from modelyard.schedules.cron import Cron, from_ms
from modelyard.serving.service import DeploymentService
from modelyard.store import Store
from modelyard.store.tables import (
    alerts,
    deployments,
    loop_policies,
    loop_runs,
    projects,
)
from modelyard.tracking.service import TrackingService

__all__ = [
    "ACTIVE",
    "LOOP",
    "LOOP_TAG",
    "MAX_ATTEMPTS",
    "STEPS",
    "LoopService",
    "PipelineRunner",
    "StepInterrupted",
]

#: Object type of loop runs (and policies) in the audit log.
LOOP = "loop_run"
#: States of a run still under way; the others are ends.
ACTIVE = ("running", "waiting")
_MAX_RUNS = 500

PENDING, RUNNING, DONE = "pending", "running", "done"
FAILED, SKIPPED, WAITING = "failed", "skipped", "waiting"


class StepInterrupted(Exception):
    """What a pipeline runner raises when its worker is stopping: the step's outcome is not
    written, and the next worker takes it up once the lease expired."""


class LoopService(LoopSteps):
    """Loop policies and runs over one metadata store, with the services a loop drives."""

    def __init__(
        self,
        store: Store,
        access: Access,
        *,
        models: ModelService,
        deployments: DeploymentService,
        predictions: PredictionService,
        tracking: TrackingService,
        sources: PipelineSources,
        lease_s: float = 60.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.access = access
        self.models = models
        self.deployments = deployments
        self.predictions = predictions
        self.tracking = tracking
        self.sources = sources
        self.lease_s = lease_s
        self.clock = clock

    def acting_as(self, actor: Actor) -> LoopService:
        """This service acting for ``actor``, as are the services it drives."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.models = self.models.acting_as(actor)
        view.deployments = self.deployments.acting_as(actor)
        view.predictions = self.predictions.acting_as(actor)
        view.tracking = self.tracking.acting_as(actor)
        return view

    def with_clock(self, clock: Callable[[], int]) -> LoopService:
        """This service telling the time (ms) by ``clock`` (a test's)."""
        view = copy.copy(self)
        view.clock = clock
        return view

    # -- rows -------------------------------------------------------------------------------

    def _deployment(self, conn: Connection, project: str, name: str, needed: Role) -> Any:
        validate_name(project, "project")
        validate_name(name, "deployment")
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            raise missing_project(project)
        self.access.require(conn, project, needed, hidden=missing_project(project))
        row = conn.execute(
            select(deployments.c.id, deployments.c.project_id, deployments.c.name).where(
                deployments.c.project_id == project_id, deployments.c.name == name
            )
        ).first()
        if row is None:
            raise NotFound(
                f"deployment {name!r} does not exist in project {project!r}", field="deployment"
            )
        return row

    def _run_row(self, conn: Connection, project: str, run_id: str, needed: Role) -> Any:
        validate_name(project, "project")
        if not isinstance(run_id, str) or not 0 < len(run_id) <= 64:
            raise InvalidInput("a loop run id is a string", field="run_id")
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            raise missing_project(project)
        self.access.require(conn, project, needed, hidden=missing_project(project))
        row = conn.execute(_run_select().where(loop_runs.c.id == run_id)).first()
        if row is None or row.project_id != project_id:
            raise NotFound(f"loop run {run_id!r} does not exist in project {project!r}")
        return row

    def _policy_row(self, conn: Connection, deployment_id: str) -> Any:
        return conn.execute(
            select(loop_policies).where(loop_policies.c.deployment_id == deployment_id)
        ).first()

    # -- policies ---------------------------------------------------------------------------

    def set_policy(
        self, deployment: str, config: Mapping[str, Any] | str, *, project: str
    ) -> LoopPolicy:
        """Set the deployment's loop policy (a mapping or YAML), checked whole: InvalidInput
        naming the field. Needs ``admin`` of the project (asked before the policy is
        judged)."""
        with self.store.read() as conn:
            self._deployment(conn, project, deployment, Role.ADMIN)
        policy = parse_policy(config, self.sources)
        text = json.dumps(policy.as_config(), sort_keys=True)
        at, who = self.clock(), self.access.who()
        with self.store.write() as conn:
            row = self._deployment(conn, project, deployment, Role.ADMIN)
            values = {
                "project_id": row.project_id,
                "config": text,
                "enabled": policy.enabled,
                "updated_by": who,
                "updated_at": at,
            }
            conn.execute(
                self.store.insert_stmt(loop_policies)
                .values(deployment_id=row.id, **values)
                .on_conflict_do_update(index_elements=["deployment_id"], set_=values)
            )
            self.access.record(
                conn, "loop.policy_set", LOOP, row.id, f"{project}/{deployment}: {policy.pipeline}"
            )
        return LoopPolicy(deployment, policy.enabled, policy.as_config(), who, at)

    def get_policy(self, deployment: str, *, project: str) -> LoopPolicy:
        with self.store.read() as conn:
            row = self._deployment(conn, project, deployment, Role.VIEWER)
            found = self._policy_row(conn, row.id)
        if found is None:
            raise NotFound(
                f"deployment {project}/{deployment} has no loop policy", field="deployment"
            )
        return LoopPolicy(
            deployment,
            bool(found.enabled),
            json.loads(found.config),
            found.updated_by,
            found.updated_at,
        )

    # -- runs -------------------------------------------------------------------------------

    def _champion(self, project: str, deployment: str) -> str | None:
        route = self.deployments.get(deployment, project=project).plan.champion
        return route.version_id

    def _begin(
        self,
        conn: Connection,
        project: str,
        row: Any,
        trigger: dict[str, Any],
        champion: str | None,
        *,
        manual: bool,
    ) -> LoopRun | None:
        """Insert a run of deployment ``row`` in the caller's write transaction: Conflict
        (by hand) or None (a trigger) while one is under way or without a policy."""
        policy = self._policy_row(conn, row.id)
        if policy is None or (not manual and not policy.enabled):
            if manual:
                raise InvalidInput(
                    f"deployment {project}/{row.name} has no loop policy: set one first",
                    field="deployment",
                )
            return None
        # the deployment's row held until this transaction ends: two starts at once on
        # PostgreSQL queue here, and the second sees the first's run (SQLite: one writer)
        conn.execute(select(deployments.c.id).where(deployments.c.id == row.id).with_for_update())
        busy = conn.execute(
            select(loop_runs.c.id).where(
                loop_runs.c.deployment_id == row.id, loop_runs.c.state.in_(ACTIVE)
            )
        ).first()
        if busy is not None:
            if manual:
                raise Conflict(
                    f"deployment {project}/{row.name} has a loop under way ({busy.id}): "
                    "one at a time",
                    field="deployment",
                )
            return None
        run_id, at, who = new_id(), self.clock(), self.access.who()
        steps = [_step(name) for name in STEPS]
        conn.execute(
            loop_runs.insert().values(
                id=run_id,
                project_id=row.project_id,
                deployment_id=row.id,
                trigger=json.dumps(trigger, sort_keys=True),
                state="running",
                steps=json.dumps(steps),
                champion_version_id=champion,
                created_by=who,
                created_at=at,
                updated_at=at,
            )
        )
        self.access.record(conn, "loop.started", LOOP, run_id, f"{project}/{row.name}")
        emit(
            conn,
            project,
            event_kinds.LOOP_STARTED,
            {"loop_id": run_id, "deployment": row.name, "trigger": trigger, "started_by": who},
            actor=who,
        )
        return self._hydrate(
            conn, project, conn.execute(_run_select().where(loop_runs.c.id == run_id)).one()
        )

    def start(self, deployment: str, *, project: str, reason: str = "") -> LoopRun:
        """Start a loop now (a person's trigger); Conflict while one is under way."""
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        champion = self._champion(project, deployment)
        with self.store.write() as conn:
            row = self._deployment(conn, project, deployment, Role.CONTRIBUTOR)
            trigger = {"kind": "manual", "by": self.access.who(), "reason": reason}
            run = self._begin(conn, project, row, trigger, champion, manual=True)
            assert run is not None
            return run

    def get_run(self, run_id: str, *, project: str) -> LoopRun:
        with self.store.read() as conn:
            return self._hydrate(conn, project, self._run_row(conn, project, run_id, Role.VIEWER))

    def list_runs(self, deployment: str, *, project: str, limit: int = 50) -> list[LoopRun]:
        """The deployment's loop runs, newest first (at most ``limit``, up to 500)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_RUNS:
            raise InvalidInput(f"limit must be from 1 to {_MAX_RUNS}", field="limit")
        with self.store.read() as conn:
            row = self._deployment(conn, project, deployment, Role.VIEWER)
            rows = conn.execute(
                _run_select()
                .where(loop_runs.c.deployment_id == row.id)
                .order_by(loop_runs.c.created_at.desc(), loop_runs.c.id)
                .limit(limit)
            ).all()
            return [self._hydrate(conn, project, r) for r in rows]

    def decide(self, run_id: str, *, project: str, approve: bool, comment: str = "") -> LoopRun:
        """A person's decision on a run waiting for one (``approver``). At ``approve``:
        approving the staging request the loop made as the system (or asking for it, when
        the policy does not auto-approve), rejecting ends the run ``rejected``. Before
        production: approving lets the worker promote, rejecting rolls the canary back."""
        if not isinstance(approve, bool):
            raise InvalidInput("approve must be true or false", field="approve")
        limits.check_text(comment, "comment", limits.DESCRIPTION)
        who = self.access.who()
        with self.store.read() as conn:
            row = self._run_row(conn, project, run_id, Role.APPROVER)
        if row.state != "waiting":
            raise Conflict(f"loop run {run_id} is {row.state}, not waiting for a decision")
        steps = json.loads(row.steps)
        current = _next(steps)
        assert current is not None
        detail = steps[current]["detail"]
        name = steps[current]["name"]
        decision = {"by": who, "approve": approve, "comment": comment, "at": self.clock()}
        if approve and name == "approve":
            candidate = self._version_ref(row.candidate_version_id)
            if detail.get("request_id"):
                self.models.approve(detail["request_id"], comment=comment)
            else:
                model, _, number = candidate.rpartition("/")
                asked = self.models.request_transition(
                    model, project=project, to="staging", version=int(number), comment=comment
                )
                detail["request_id"] = asked.id
        with self.store.write() as conn:
            row = self._run_row(conn, project, run_id, Role.APPROVER)
            if row.state != "waiting":
                raise Conflict(f"loop run {run_id} is {row.state}, not waiting for a decision")
            steps = json.loads(row.steps)
            steps[current]["detail"] = detail | {"decision": decision}
            state = "running"
            if approve:
                steps[current]["status"] = PENDING
            elif name == "approve":
                _finish(steps, current, FAILED, {"reason": f"rejected by {who}"}, self.clock())
                for later in steps[current + 1 :]:
                    later["status"] = SKIPPED
                state = "rejected"
            else:  # before production: the canary goes back
                _finish(steps, current, SKIPPED, {"reason": f"rejected by {who}"}, self.clock())
                steps[STEPS.index("rollback")]["status"] = PENDING
            values: dict[str, Any] = {
                "state": state,
                "steps": json.dumps(steps),
                "updated_at": self.clock(),
                "lease_owner": None,
                "lease_until": None,
            }
            if state == "rejected":
                values |= {"decision": f"rejected by {who}", "ended_at": self.clock()}
            conn.execute(update(loop_runs).where(loop_runs.c.id == run_id).values(**values))
            verb = "approved" if approve else "rejected"
            self.access.record(conn, f"loop.{verb}", LOOP, run_id, f"{name}: {comment}")
            if state == "rejected":
                self._finished(conn, project, row, state, values["decision"])
            return self._hydrate(conn, project, self._run_row(conn, project, run_id, Role.VIEWER))

    def cancel(self, run_id: str, *, project: str, reason: str = "") -> LoopRun:
        """End a run under way (``contributor``); a canary it started goes back to the
        champion. A step a worker is running meanwhile is not recorded."""
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        with self.store.write() as conn:
            row = self._run_row(conn, project, run_id, Role.CONTRIBUTOR)
            if row.state not in ACTIVE:
                raise Conflict(f"loop run {run_id} has ended ({row.state})")
            steps = json.loads(row.steps)
            canary_live = _status(steps, "canary") == DONE and all(
                _status(steps, s) != DONE for s in ("promote", "rollback")
            )
            for step in steps:
                if step["status"] in (PENDING, RUNNING, WAITING):
                    step["status"] = SKIPPED
            text = f"cancelled by {self.access.who()}" + (f": {reason}" if reason else "")
            at = self.clock()
            conn.execute(
                update(loop_runs)
                .where(loop_runs.c.id == run_id)
                .values(
                    state="cancelled",
                    steps=json.dumps(steps),
                    decision=text,
                    updated_at=at,
                    ended_at=at,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            self.access.record(conn, "loop.cancelled", LOOP, run_id, text)
            self._finished(conn, project, row, "cancelled", text)
        if canary_live:
            self.deployments.rollback(row.deployment, project=project, reason=text)
        return self.get_run(run_id, project=project)

    # -- the worker's part -------------------------------------------------------------------

    def trigger(self, *, project: str | None = None) -> list[LoopRun]:
        """Start the loops whose policy's triggers fired: an open (or acknowledged) alert
        of a trigger monitor on the deployment that started no loop yet, or a schedule
        occurrence since the last scheduled loop (or the policy's last change). A
        deployment with a loop under way is passed over."""
        started: list[LoopRun] = []
        stmt = (
            select(loop_policies, projects.c.name.label("project"), deployments.c.name)
            .join(projects, projects.c.id == loop_policies.c.project_id)
            .join(deployments, deployments.c.id == loop_policies.c.deployment_id)
            .where(loop_policies.c.enabled.is_(True))
        )
        if project is not None:
            stmt = stmt.where(projects.c.name == project)
        with self.store.read() as conn:
            found = conn.execute(stmt.order_by(loop_policies.c.updated_at)).all()
        for row in found:
            try:
                run = self._fire(row)
            except ModelyardError:
                continue  # the deployment changed meanwhile; the next pass sees it
            if run is not None:
                started.append(run)
        return started

    def _fire(self, row: Any) -> LoopRun | None:
        config = json.loads(row.config)
        triggers = config.get("triggers", {})
        with self.store.read() as conn:
            trigger = self._alert_trigger(conn, row, triggers) or self._schedule_trigger(
                conn, row, triggers
            )
        if trigger is None:
            return None
        champion = self._champion(row.project, row.name)
        with self.store.write() as conn:
            dep = self._deployment(conn, row.project, row.name, Role.CONTRIBUTOR)
            still = (
                self._alert_trigger(conn, row, triggers)
                if trigger["kind"] == "alert"
                else self._schedule_trigger(conn, row, triggers)
            )
            if still != trigger:
                return None
            return self._begin(conn, row.project, dep, trigger, champion, manual=False)

    def _alert_trigger(
        self, conn: Connection, row: Any, triggers: dict[str, Any]
    ) -> dict[str, Any] | None:
        names = triggers.get("monitors") or []
        if not names:
            return None
        a = alerts.c
        found = conn.execute(
            select(a.id, a.monitor, a.severity, a.title, a.details)
            .where(
                a.subject_kind == "deployment",
                a.subject_id == row.deployment_id,
                a.status.in_(("open", "acknowledged")),
                a.monitor.in_(names),
                a.severity.in_(triggers.get("severities") or ()),
            )
            .order_by(a.opened_at)
        ).all()
        if not found:
            return None
        seen = {
            json.loads(t).get("alert_id")
            for (t,) in conn.execute(
                select(loop_runs.c.trigger).where(loop_runs.c.deployment_id == row.deployment_id)
            ).all()
        }
        for alert in found:
            if alert.id not in seen:
                return {
                    "kind": "alert",
                    "alert_id": alert.id,
                    "monitor": alert.monitor,
                    "severity": alert.severity,
                    "finding": {"title": alert.title, "details": json.loads(alert.details)},
                }
        return None

    def _schedule_trigger(
        self, conn: Connection, row: Any, triggers: dict[str, Any]
    ) -> dict[str, Any] | None:
        if not triggers.get("schedule"):
            return None
        last = row.updated_at
        for text, created_at in conn.execute(
            select(loop_runs.c.trigger, loop_runs.c.created_at).where(
                loop_runs.c.deployment_id == row.deployment_id
            )
        ).all():
            if json.loads(text).get("kind") == "schedule":
                last = max(last, created_at)
        cron = Cron(triggers["schedule"], triggers.get("timezone", "UTC"))
        due = cron.due(from_ms(last), datetime.fromtimestamp(self.clock() / 1000, UTC))
        if due is None:
            return None
        return {"kind": "schedule", "schedule": cron.label(due[0])}

    def claim(self, *, worker: str, project: str | None = None, limit: int = 10) -> list[str]:
        """Lease up to ``limit`` running loops whose lease is free to ``worker``; their
        ids. Each is this worker's until it writes a step or its lease expires."""
        at = self.clock()
        r = loop_runs.c
        free = and_(r.state == "running", or_(r.lease_until.is_(None), r.lease_until < at))
        stmt = select(r.id).where(free)
        if project is not None:
            stmt = stmt.join(projects, projects.c.id == r.project_id).where(
                projects.c.name == project
            )
        stmt = stmt.order_by(r.updated_at).limit(limit).with_for_update(skip_locked=True)
        taken: list[str] = []
        with self.store.write() as conn:
            for (run_id,) in conn.execute(stmt).all():
                won = conn.execute(
                    update(loop_runs)
                    .where(r.id == run_id, free)
                    .values(lease_owner=worker, lease_until=at + int(self.lease_s * 1000))
                ).rowcount
                if won == 1:
                    taken.append(run_id)
        return taken

    def renew(self, run_id: str, *, worker: str) -> bool:
        """Extend ``worker``'s lease on a run; False when it holds it no more."""
        r = loop_runs.c
        with self.store.write() as conn:
            return bool(
                conn.execute(
                    update(loop_runs)
                    .where(r.id == run_id, r.lease_owner == worker, r.state == "running")
                    .values(lease_until=self.clock() + int(self.lease_s * 1000))
                ).rowcount
            )

    def advance(self, run_id: str, *, worker: str, runner: PipelineRunner) -> str | None:
        """Run the next step of a run ``worker`` holds (:meth:`claim`) and write its outcome
        (the lease is let go with it); the step's name, or None when the step was not due
        (the canary's window runs) or the lease was lost (the outcome is then not
        written)."""
        with self.store.read() as conn:
            row = conn.execute(_run_select().where(loop_runs.c.id == run_id)).one()
        if row.lease_owner != worker or row.state != "running":
            return None
        steps = json.loads(row.steps)
        current = _next(steps)
        if current is None:
            return None
        step = steps[current]
        policy = parse_policy(json.loads(row.config), self.sources)
        step["attempts"] += 1
        step["started_at"] = step["started_at"] or self.clock()
        waited = step["status"]
        step["status"] = RUNNING
        with self.store.write() as conn:  # the attempt is on record before it starts
            r = loop_runs.c
            if not conn.execute(
                update(loop_runs)
                .where(r.id == run_id, r.lease_owner == worker, r.state == "running")
                .values(steps=json.dumps(steps))
            ).rowcount:
                return None
        step["status"] = waited
        do = getattr(self, f"_do_{step['name']}")
        try:
            with self._renewing(row.id, worker):
                outcome = do(row, steps, step, policy, worker, runner)
        except StepInterrupted:
            return None
        except ModelyardError as exc:
            outcome = ("fail", {"error": f"{type(exc).__name__}: {exc.message}"})
        self._write(row, steps, current, outcome, worker)
        return None if outcome[0] == "later" else str(step["name"])

    def _write(
        self,
        row: Any,
        steps: list[dict[str, Any]],
        current: int,
        outcome: tuple[str, dict[str, Any]],
        worker: str,
    ) -> None:
        """Write a step's outcome (``done``, ``fail``, ``wait`` for a person, ``later``:
        not due yet, ``reject``: the run ends rejected) while ``worker`` holds the run."""
        what, detail = outcome
        step = steps[current]
        at = self.clock()
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "updated_at": at}
        state = "running"
        if what == "done":
            _finish(steps, current, DONE, detail, at)
            if detail.get("candidate_version_id"):
                values["candidate_version_id"] = detail["candidate_version_id"]
            if step["name"] == "compare":
                skip = "rollback" if detail["decision"] == "promote" else "promote"
                steps[STEPS.index(skip)]["status"] = SKIPPED
            elif step["name"] in ("promote", "rollback"):
                state = "promoted" if step["name"] == "promote" else "rolled_back"
        elif what == "fail":
            _finish(steps, current, FAILED, detail, at)
            state = "failed"
        elif what == "reject":
            _finish(steps, current, DONE, detail, at)
            state = "rejected"
        else:
            step["detail"] = step["detail"] | detail
            if what == "wait":
                step["status"] = WAITING
                state = "waiting"
            else:
                step["attempts"] -= 1  # not due: no attempt
                step["status"] = PENDING
        if state not in ACTIVE:
            for later in steps[current + 1 :]:
                if later["status"] == PENDING:
                    later["status"] = SKIPPED
            values["ended_at"] = at
            values["decision"] = _decision(state, step, detail)
        values |= {"state": state, "steps": json.dumps(steps)}
        with self.store.write() as conn:
            r = loop_runs.c
            won = conn.execute(
                update(loop_runs)
                .where(r.id == row.id, r.lease_owner == worker, r.state == "running")
                .values(**values)
            ).rowcount
            if won != 1:
                return
            if what in ("done", "fail", "reject"):
                self.access.record(
                    conn,
                    f"loop.step_{'failed' if what == 'fail' else 'completed'}",
                    LOOP,
                    row.id,
                    f"{row.project}/{row.deployment} {step['name']}",
                )
                emit(
                    conn,
                    row.project,
                    event_kinds.LOOP_STEP_COMPLETED,
                    {
                        "loop_id": row.id,
                        "deployment": row.deployment,
                        "step": step["name"],
                        "status": step["status"],
                        "detail": step["detail"],
                    },
                    actor=self.access.who(),
                )
            if state not in ACTIVE:
                self._finished(conn, row.project, row, state, values["decision"])

    def _finished(self, conn: Connection, project: str, row: Any, state: str, text: str) -> None:
        emit(
            conn,
            project,
            event_kinds.LOOP_FINISHED,
            {"loop_id": row.id, "deployment": row.deployment, "state": state, "decision": text},
            actor=self.access.who(),
        )

    @contextmanager
    def _renewing(self, run_id: str, worker: str) -> Iterator[None]:
        """Renew ``worker``'s lease every third of ``lease_s`` until the block ends."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease_s / 3):
                try:
                    if not self.renew(run_id, worker=worker):
                        return
                except ModelyardError:
                    continue  # the store is back next time, or the lease expires

        thread = threading.Thread(target=beat, name=f"modelyard-loop-{run_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    # -- reading back -------------------------------------------------------------------------

    def _hydrate(self, conn: Connection, project: str, row: Any) -> LoopRun:
        steps = tuple(
            LoopStep(
                name=s["name"],
                status=s["status"],
                started_at=s["started_at"],
                ended_at=s["ended_at"],
                attempts=s["attempts"],
                detail=s["detail"],
            )
            for s in json.loads(row.steps)
        )
        return LoopRun(
            id=row.id,
            project=project,
            deployment=row.deployment,
            trigger=json.loads(row.trigger),
            state=row.state,
            steps=steps,
            champion=version_name(conn, row.champion_version_id),
            candidate=version_name(conn, row.candidate_version_id),
            decision=row.decision,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            ended_at=row.ended_at,
        )


def _run_select() -> Any:
    return (
        select(
            loop_runs,
            projects.c.name.label("project"),
            deployments.c.name.label("deployment"),
            loop_policies.c.config,
        )
        .join(projects, projects.c.id == loop_runs.c.project_id)
        .join(deployments, deployments.c.id == loop_runs.c.deployment_id)
        .outerjoin(loop_policies, loop_policies.c.deployment_id == loop_runs.c.deployment_id)
    )


def _step(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": PENDING,
        "started_at": None,
        "ended_at": None,
        "attempts": 0,
        "detail": {},
    }


def _next(steps: list[dict[str, Any]]) -> int | None:
    """The step to run next: the first not done, failed or skipped."""
    for i, step in enumerate(steps):
        if step["status"] in (PENDING, RUNNING, WAITING):
            return i
    return None


def _status(steps: list[dict[str, Any]], name: str) -> str:
    return str(steps[STEPS.index(name)]["status"])


def _finish(
    steps: list[dict[str, Any]], i: int, status: str, detail: dict[str, Any], at: int
) -> None:
    """Step ``i`` ended ``status`` at ``at`` (the loop's clock, as its start was)."""
    steps[i]["status"] = status
    steps[i]["ended_at"] = at
    steps[i]["detail"] = steps[i]["detail"] | detail


def _decision(state: str, step: dict[str, Any], detail: dict[str, Any]) -> str:
    if state == "promoted":
        return f"promoted {detail.get('champion', '')}".strip()
    if state == "rolled_back":
        return "rolled back"
    why = detail.get("reason") or detail.get("error") or ""
    return f"{state} at {step['name']}: {why}" if why else f"{state} at {step['name']}"
