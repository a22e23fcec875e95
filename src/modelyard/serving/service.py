"""The deployment service: deployments (a name in a project plus a traffic plan over model
versions) and every revision of their plans, the control plane the inference servers
read.

A plan's routes name a model's version by number (``churn/3``) or alias
(``churn@champion``) and are stored as written; they are resolved to versions when a
deployment is read, so an alias that moves takes its routes with it. Only versions whose
status the model's policy lets serve (``serving``, by default staging and production) may
take traffic, live or shadow: a plan routing elsewhere is refused (PolicyViolation), and
the registry keeps it so afterwards -- a version a plan routes to cannot leave those
statuses, an alias a plan routes through moves only to a version that may serve and
cannot be removed, and a policy cannot narrow ``serving`` under a plan
(``registry/_deployed.py``).

Every change is one write transaction: the deployment's row, a row of
``deployment_plans`` (never changed: the plan, the action, who, when, why), its audit event
and its outbox event. A promotion moves the alias through the registry's own alias move in
the same transaction as the plan. A signed-in principal needs ``predictor`` on the project
to read a deployment or list them (an inference server's token), ``viewer`` to read a
plan's history, and ``contributor`` to change anything.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select, update

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PolicyViolation
from modelyard.events import kinds as event_kinds
from modelyard.events.outbox import emit
from modelyard.governance.identity import SYSTEM, Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.registry._deployed import Resolved, resolve_refs, serving_statuses
from modelyard.registry.directions import higher_is_better
from modelyard.serving.entities import Deployment, PlanRevision, Route, TrafficPlan
from modelyard.serving.rollouts import (
    Live,
    Rollout,
    RolloutAction,
    ServingReport,
    Totals,
    UnhealthyVersion,
    VersionStats,
    check_report,
    check_rollout,
    judge,
    live_value,
)
from modelyard.serving.traffic import Traffic, summarize
from modelyard.store import Store
from modelyard.store.tables import (
    deployment_incidents,
    deployment_plans,
    deployment_stats,
    deployments,
    model_versions,
    monitor_values,
    monitors,
    projects,
    registered_models,
    server_usage,
)

if TYPE_CHECKING:
    from modelyard.governance.access import Access
    from modelyard.registry.service import ModelService

__all__ = ["DEPLOYMENT", "DeploymentService", "parse_route"]

#: Object type of deployments in the audit log.
DEPLOYMENT = "deployment"
CREATE = "create"
SET_TRAFFIC = "set_traffic"
PROMOTE = "promote"
ROLLBACK = "rollback"
#: Actions of the system's revisions in a rollout: a breach sends all traffic to the
#: champion; a step moves the candidate's weight to the schedule's next step.
AUTO_ROLLBACK = "auto-rollback"
STEP = "step"
#: A version no report named unhealthy for this long starts a new incident when one does.
INCIDENT_GAP_MS = 60_000
#: Reports (and servers' usage) older than this are deleted as new ones arrive: a month
#: of serving cost is priced from them.
STATS_KEPT_MS = 35 * 86_400_000
#: At most this many buckets in one read of a deployment's traffic.
TRAFFIC_BUCKETS = 2000
#: An HTTP header name (RFC 9110's token), as a sticky key must be.
_HEADER = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")


def _numeric(ref: str) -> bool:
    """Whether a route's reference is a version number (ASCII digits; no alias is)."""
    return ref.isascii() and ref.isdigit()


def parse_route(text: str, weight: int = 100, field: str = "route") -> Route:
    """``model@alias`` or ``model/3`` as a route of ``weight``."""
    if not isinstance(text, str) or ("@" not in text and "/" not in text):
        raise InvalidInput(
            f"{field} must be MODEL@ALIAS or MODEL/VERSION; got {limits.preview(text)}",
            field=field,
        )
    model, sep, ref = text.partition("@") if "@" in text else text.partition("/")
    if sep == "/" and not (_numeric(ref) and int(ref) >= 1):
        raise InvalidInput(f"the version in {text!r} must be a positive integer", field=field)
    return Route(model, ref if sep == "@" else str(int(ref)), weight)


def _check_route(route: object, field: str) -> Route:
    """A route as written: a model name, a version number or alias, an integer weight."""
    if not isinstance(route, Route):
        raise InvalidInput(f"{field} must be a Route", field=field)
    validate_name(route.model, f"{field}.model")
    ref = route.ref
    if isinstance(ref, str) and _numeric(ref):
        if int(ref) < 1:
            raise InvalidInput(f"{field}.ref must be a version number from 1", field=f"{field}.ref")
        ref = str(int(ref))
    else:
        validate_name(ref, f"{field}.ref")  # an alias
    weight = route.weight
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise InvalidInput(
            f"{field}.weight must be a whole number from 0 to 100; got {limits.preview(weight)}",
            field=f"{field}.weight",
        )
    return Route(route.model, ref, weight)


def check_plan(plan: object) -> TrafficPlan:
    """A plan as written, checked: 1 to ``PLAN_ROUTES`` live routes whose weights add up
    to 100, at most ``PLAN_ROUTES`` shadows, no route twice, a sticky key that is a header
    name. InvalidInput naming the field."""
    if not isinstance(plan, TrafficPlan):
        raise InvalidInput("plan must be a TrafficPlan", field="plan")
    for name, group in (("routes", plan.routes), ("shadows", plan.shadows)):
        if not isinstance(group, tuple | list):
            raise InvalidInput(f"plan.{name} must be a list of routes", field=f"plan.{name}")
        if len(group) > limits.PLAN_ROUTES:
            raise InvalidInput(
                f"a plan has at most {limits.PLAN_ROUTES} {name}; got {len(group)}",
                field=f"plan.{name}",
            )
    if not plan.routes:
        raise InvalidInput("a plan needs at least one live route", field="plan.routes")
    live = tuple(_check_route(r, f"plan.routes[{i}]") for i, r in enumerate(plan.routes))
    shadows = tuple(_check_route(r, f"plan.shadows[{i}]") for i, r in enumerate(plan.shadows))
    total = sum(r.weight for r in live)
    if total != 100:
        raise InvalidInput(
            f"the live routes' weights must add up to 100; they add up to {total}",
            field="plan.routes",
        )
    seen: set[tuple[str, str]] = set()
    for name, group in (("routes", live), ("shadows", shadows)):
        for i, route in enumerate(group):
            if (route.model, route.ref) in seen:
                raise InvalidInput(
                    f"{_written(route)} is routed twice in the plan",
                    field=f"plan.{name}[{i}]",
                )
            seen.add((route.model, route.ref))
    sticky = plan.sticky_key
    if sticky is not None and (not isinstance(sticky, str) or not _HEADER.fullmatch(sticky)):
        raise InvalidInput(
            f"plan.sticky_key must be an HTTP header name (letters, digits and "
            f"!#$%&'*+-.^_`|~, at most 128); got {limits.preview(sticky)}",
            field="plan.sticky_key",
        )
    return TrafficPlan(live, shadows, sticky)


def _written(route: Route) -> str:
    return f"{route.model}/{route.ref}" if _numeric(route.ref) else f"{route.model}@{route.ref}"


def _check_rate(rate: object) -> float:
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or not 0 <= rate <= 1
    ):
        raise InvalidInput(
            f"sample_rate must be a number from 0 to 1; got {limits.preview(rate)}",
            field="sample_rate",
        )
    return float(rate)


def _check_revision(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limits.NUMBER:
        raise InvalidInput(
            f"{field} must be a revision number from 1 to {limits.NUMBER}", field=field
        )
    return value


def _plan_json(plan: TrafficPlan) -> str:
    def route(r: Route) -> dict[str, Any]:
        return {"model": r.model, "ref": r.ref, "weight": r.weight}

    return json.dumps(
        {
            "routes": [route(r) for r in plan.routes],
            "shadows": [route(r) for r in plan.shadows],
            "sticky_key": plan.sticky_key,
        },
        sort_keys=True,
    )


def _plan_from_json(text: str) -> TrafficPlan:
    data = json.loads(text)
    return TrafficPlan(
        tuple(Route(r["model"], r["ref"], r["weight"]) for r in data["routes"]),
        tuple(Route(r["model"], r["ref"], r["weight"]) for r in data["shadows"]),
        data["sticky_key"],
    )


def _resolved(plan: TrafficPlan, found: dict[tuple[str, str], Resolved]) -> TrafficPlan:
    def route(r: Route) -> Route:
        got = found.get((r.model, r.ref))
        if got is None:
            return Route(r.model, r.ref, r.weight)
        return Route(r.model, r.ref, r.weight, got.version, got.version_id)

    return TrafficPlan(
        tuple(route(r) for r in plan.routes),
        tuple(route(r) for r in plan.shadows),
        plan.sticky_key,
    )


class DeploymentService:
    """Deployments and their plans' revisions over one metadata store; the registry
    (``models``) moves an alias when a route is promoted."""

    def __init__(
        self,
        store: Store,
        access: Access,
        models: ModelService,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.access = access
        self.models = models
        self.clock = clock

    def acting_as(self, actor: Actor) -> DeploymentService:
        """This service acting for ``actor`` (a server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        view.models = self.models.acting_as(actor)
        return view

    def _who(self) -> str:
        principal = self.access.principal
        return principal.username if principal is not None else self.access.actor.name

    # -- reads ----------------------------------------------------------------------------

    def _project(self, conn: Connection, project: str, needed: Role) -> str:
        """The project's id, after the actor's right to ``needed`` there."""
        validate_name(project, "project")
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            raise missing_project(project)
        self.access.require(conn, project, needed, hidden=missing_project(project))
        return str(project_id)

    def _row(self, conn: Connection, project: str, name: str, needed: Role) -> Any:
        project_id = self._project(conn, project, needed)
        validate_name(name, "name")
        row = conn.execute(
            select(deployments).where(
                deployments.c.project_id == project_id, deployments.c.name == name
            )
        ).first()
        if row is None:
            raise NotFound(
                f"deployment {name!r} does not exist in project {project!r}", field="name"
            )
        return row

    def _hydrate(self, conn: Connection, project: str, rows: list[Any]) -> list[Deployment]:
        """Deployments with their routes resolved now (one resolution for them all)."""
        plans = [_plan_from_json(r.plan) for r in rows]
        refs = {(r.model, r.ref) for p in plans for r in (*p.routes, *p.shadows)}
        found = resolve_refs(conn, rows[0].project_id, refs) if rows else {}
        return [
            Deployment(
                id=row.id,
                project=project,
                name=row.name,
                description=row.description,
                plan=_resolved(plan, found),
                revision=row.revision,
                sample_rate=row.sample_rate,
                created_by=row.created_by,
                created_at=row.created_at,
                updated_by=row.updated_by,
                updated_at=row.updated_at,
                rollout=Rollout.from_dict(json.loads(row.rollout)) if row.rollout else None,
                rollout_since=row.rollout_since,
            )
            for row, plan in zip(rows, plans, strict=True)
        ]

    def _read(self, conn: Connection, project: str, deployment_id: str) -> Deployment:
        row = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).one()
        return self._hydrate(conn, project, [row])[0]

    def get(self, name: str, *, project: str) -> Deployment:
        """The deployment with its plan's routes resolved to versions now."""
        with self.store.read() as conn:
            row = self._row(conn, project, name, Role.PREDICTOR)
            return self._hydrate(conn, project, [row])[0]

    def list_deployments(self, project: str) -> list[Deployment]:
        """Every deployment of a project by name, resolved as :meth:`get` resolves one."""
        with self.store.read() as conn:
            project_id = self._project(conn, project, Role.PREDICTOR)
            rows = conn.execute(
                select(deployments)
                .where(deployments.c.project_id == project_id)
                .order_by(deployments.c.name)
            ).all()
            return self._hydrate(conn, project, list(rows))

    def history(self, name: str, *, project: str) -> list[PlanRevision]:
        """Every revision of the plan, oldest first, each as it was written (routes by
        number or alias, unresolved: an alias meant the version it pointed at then)."""
        with self.store.read() as conn:
            row = self._row(conn, project, name, Role.VIEWER)
            rows = conn.execute(
                select(deployment_plans)
                .where(deployment_plans.c.deployment_id == row.id)
                .order_by(deployment_plans.c.revision)
            ).all()
        return [
            PlanRevision(
                row.name,
                r.revision,
                _plan_from_json(r.plan),
                r.action,
                r.changed_by,
                r.changed_at,
                r.reason,
            )
            for r in rows
        ]

    def traffic(self, name: str, *, project: str, since: int, until: int, step_ms: int) -> Traffic:
        """What the servers reported answering for the deployment from ``since`` to
        ``until`` (ms) in buckets of ``step_ms``, in all and per version (viewers; see
        :mod:`modelyard.serving.traffic`)."""
        for value, field in ((since, "since"), (until, "until"), (step_ms, "step_ms")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"{field} must be a whole number of ms", field=field)
        if until <= since or step_ms < 1 or (until - since) // step_ms > TRAFFIC_BUCKETS:
            raise InvalidInput(
                f"the span must be positive and hold at most {TRAFFIC_BUCKETS} buckets",
                field="step_ms",
            )
        s = deployment_stats.c
        with self.store.read() as conn:
            row = self._row(conn, project, name, Role.VIEWER)
            rows = conn.execute(
                select(s.version_id, s.window_end, s.requests, s.errors, s.latency_ms).where(
                    s.deployment_id == row.id, s.window_end >= since, s.window_end < until
                )
            ).all()
            names = {
                v.id: (v.name, v.version)
                for v in conn.execute(
                    select(model_versions.c.id, model_versions.c.version, registered_models.c.name)
                    .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                    .where(model_versions.c.id.in_({r.version_id for r in rows}))
                )
            }
        return summarize(rows, names, since=since, until=until, step_ms=step_ms)

    # -- the rules of a plan ----------------------------------------------------------------

    def _admit(self, conn: Connection, project: str, project_id: str, plan: TrafficPlan) -> None:
        """Every route names a model, version or alias of the project (InvalidInput naming
        the route's field) whose version may take traffic (PolicyViolation). The models'
        rows are locked first (PostgreSQL), as the registry's status and alias changes lock
        them: a version cannot be archived, nor an alias moved, between this check and the
        commit of the plan."""
        groups = (("routes", plan.routes), ("shadows", plan.shadows))
        models = set(  # locked as the registry locks a model to change a status or alias
            conn.execute(
                select(registered_models.c.name)
                .where(
                    registered_models.c.project_id == project_id,
                    registered_models.c.name.in_({r.model for _, g in groups for r in g}),
                )
                .order_by(registered_models.c.id)
                .with_for_update()
            ).scalars()
        )
        found = resolve_refs(conn, project_id, {(r.model, r.ref) for _, g in groups for r in g})
        for name, group in groups:
            for i, route in enumerate(group):
                field = f"plan.{name}[{i}]"
                if route.model not in models:
                    raise InvalidInput(
                        f"model {route.model!r} does not exist in project {project!r}",
                        field=f"{field}.model",
                    )
                got = found.get((route.model, route.ref))
                if got is None:
                    what = "version" if _numeric(route.ref) else "alias"
                    raise InvalidInput(
                        f"model {route.model!r} has no {what} {route.ref!r}",
                        field=f"{field}.ref",
                    )
                allowed = serving_statuses(conn, project, route.model)
                if got.status not in allowed:
                    via = "" if _numeric(route.ref) else f" ({_written(route)})"
                    raise PolicyViolation(
                        f"model version {project}/{route.model}/{got.version}{via} is "
                        f"{got.status}: only versions that are "
                        f"{' or '.join(allowed) or 'nothing'} may take traffic (the policy's "
                        "serving)",
                        field=f"{field}.ref",
                    )

    def _locked(self, conn: Connection, project: str, name: str) -> Any:
        """The deployment's row, locked for this transaction, after the contributor check."""
        row = self._row(conn, project, name, Role.PREDICTOR)
        self.access.require(conn, project, Role.CONTRIBUTOR)
        conn.execute(select(deployments.c.id).where(deployments.c.id == row.id).with_for_update())
        return conn.execute(select(deployments).where(deployments.c.id == row.id)).one()

    def _revise(
        self,
        conn: Connection,
        project: str,
        row: Any,
        plan: TrafficPlan,
        action: str,
        reason: str,
        rollout: Rollout | None = None,
        keep_rollout: bool = False,
    ) -> Deployment:
        """Write ``plan`` as the deployment's next revision, with its audit event. The
        revision carries ``rollout`` (begun now), or keeps the current one
        (``keep_rollout``: a step), or ends it."""
        revision, at, who = row.revision + 1, self.clock(), self._who()
        text = _plan_json(plan)
        guards: dict[str, Any] = {"rollout": None, "rollout_since": None}
        if keep_rollout:
            guards = {"rollout": row.rollout, "rollout_since": row.rollout_since}
        elif rollout is not None:
            guards = {"rollout": json.dumps(rollout.as_dict(), sort_keys=True), "rollout_since": at}
        moved = conn.execute(
            update(deployments)
            .where(deployments.c.id == row.id, deployments.c.revision == row.revision)
            .values(plan=text, revision=revision, updated_by=who, updated_at=at, **guards)
        ).rowcount
        if moved != 1:
            raise Conflict(
                f"deployment {project}/{row.name} changed meanwhile; ask again", field="revision"
            )
        self._record(conn, row.id, revision, text, action, who, at, reason)
        self.access.record(
            conn,
            f"deployment.{action}",
            DEPLOYMENT,
            row.id,
            f"{project}/{row.name}: revision {revision}{' (' + reason + ')' if reason else ''}",
        )
        return self._read(conn, project, row.id)

    def _record(
        self,
        conn: Connection,
        deployment_id: str,
        revision: int,
        plan: str,
        action: str,
        who: str,
        at: int,
        reason: str,
    ) -> None:
        conn.execute(
            deployment_plans.insert().values(
                deployment_id=deployment_id,
                revision=revision,
                plan=plan,
                action=action,
                changed_by=who,
                changed_at=at,
                reason=reason,
            )
        )

    def _emit(self, conn: Connection, project: str, kind: str, payload: dict[str, Any]) -> None:
        emit(conn, project, kind, payload, actor=self._who())

    @staticmethod
    def _about(found: Deployment) -> dict[str, Any]:
        return {
            "deployment": found.name,
            "deployment_id": found.id,
            "revision": found.revision,
            "plan": _written_plan(found.plan),
            "rollout": found.rollout.as_dict() if found.rollout is not None else None,
        }

    # -- changes ----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        plan: TrafficPlan | str,
        *,
        project: str,
        description: str = "",
        sample_rate: float = 1.0,
    ) -> Deployment:
        """A new deployment; ``plan`` is a plan or one route as ``model@alias`` /
        ``model/3`` (all traffic to it)."""
        validate_name(name, "name")
        if isinstance(plan, str):
            plan = TrafficPlan((parse_route(plan, field="plan"),))
        checked = check_plan(plan)
        limits.check_text(description, "description", limits.DESCRIPTION)
        rate = _check_rate(sample_rate)
        with self.store.write() as conn:
            project_id = self._project(conn, project, Role.CONTRIBUTOR)
            if conn.execute(
                select(deployments.c.id).where(
                    deployments.c.project_id == project_id, deployments.c.name == name
                )
            ).first():
                raise AlreadyExists(
                    f"deployment {name!r} already exists in project {project!r}", field="name"
                )
            self._admit(conn, project, project_id, checked)
            deployment_id, at, who = new_id(), self.clock(), self._who()
            text = _plan_json(checked)
            conn.execute(
                deployments.insert().values(
                    id=deployment_id,
                    project_id=project_id,
                    name=name,
                    description=description,
                    plan=text,
                    revision=1,
                    sample_rate=rate,
                    created_by=who,
                    created_at=at,
                    updated_by=who,
                    updated_at=at,
                )
            )
            self._record(conn, deployment_id, 1, text, CREATE, who, at, "")
            self.access.record(
                conn, "deployment.created", DEPLOYMENT, deployment_id, f"{project}/{name}"
            )
            found = self._read(conn, project, deployment_id)
            self._emit(
                conn,
                project,
                event_kinds.DEPLOYMENT_CREATED,
                self._about(found) | {"sample_rate": rate, "created_by": who},
            )
            return found

    def set_traffic(
        self,
        name: str,
        plan: TrafficPlan,
        *,
        project: str,
        reason: str = "",
        expected_revision: int | None = None,
        rollout: Rollout | None = None,
    ) -> Deployment:
        """A new revision of the plan; Conflict when ``expected_revision`` is given and
        is not the current one. ``rollout``: the guard rails its candidates are judged by
        (and its stepping schedule) from now; without it, the plan has none."""
        checked = check_plan(plan)
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        guards = None if rollout is None else check_rollout(rollout)
        if guards is not None and guards.steps and len(checked.routes) != 2:
            raise InvalidInput(
                "a rollout with steps needs a plan of two live routes: the champion and the "
                f"candidate; this one has {len(checked.routes)}",
                field="rollout.steps",
            )
        if expected_revision is not None:
            _check_revision(expected_revision, "expected_revision")
        with self.store.write() as conn:
            row = self._locked(conn, project, name)
            if expected_revision is not None and row.revision != expected_revision:
                raise Conflict(
                    f"deployment {project}/{name} is at revision {row.revision}, not "
                    f"{expected_revision}: read it again and retry",
                    field="expected_revision",
                )
            self._admit(conn, project, row.project_id, checked)
            if guards is not None and guards.live_monitor is not None:
                self._live_metric(conn, row, guards.live_monitor)
            found = self._revise(conn, project, row, checked, SET_TRAFFIC, reason, guards)
            self._emit(
                conn,
                project,
                event_kinds.DEPLOYMENT_PLAN_CHANGED,
                self._about(found)
                | {"action": SET_TRAFFIC, "changed_by": self._who(), "reason": reason},
            )
            return found

    def promote(
        self,
        name: str,
        *,
        project: str,
        model: str | None = None,
        ref: str | None = None,
        alias: str = "champion",
        reason: str = "",
    ) -> Deployment:
        """Move ``alias`` to a route's version (the plan's one non-champion live route
        unless named) and make the plan all traffic to the alias, in one step."""
        validate_name(alias, "alias")
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        with self.store.write() as conn:
            row = self._locked(conn, project, name)
            current = _plan_from_json(row.plan)
            candidate = _candidate(current, model, ref)
            found = resolve_refs(conn, row.project_id, {(candidate.model, candidate.ref)})
            target = found.get((candidate.model, candidate.ref))
            if target is None:
                raise InvalidInput(f"{_written(candidate)} names no version now", field="ref")
            plan = TrafficPlan((Route(candidate.model, alias, 100),))
            self._admit(conn, project, row.project_id, TrafficPlan((candidate,)))
            move = self.models.move_alias(
                conn, candidate.model, alias, target.version, project=project, reason=reason
            )
            deployed = self._revise(conn, project, row, plan, PROMOTE, reason)
            self._emit(
                conn,
                project,
                event_kinds.DEPLOYMENT_PROMOTED,
                self._about(deployed)
                | {
                    "model": candidate.model,
                    "alias": alias,
                    "from_version": move.from_version,
                    "to_version": move.to_version,
                    "changed_by": self._who(),
                    "reason": reason,
                },
            )
            return deployed

    def rollback(
        self,
        name: str,
        *,
        project: str,
        to_revision: int | None = None,
        reason: str = "",
    ) -> Deployment:
        """A new revision equal to an earlier one (by default, all traffic to the
        champion route)."""
        if to_revision is not None:
            _check_revision(to_revision, "to_revision")
        limits.check_text(reason, "reason", limits.DESCRIPTION)
        with self.store.write() as conn:
            row = self._locked(conn, project, name)
            if to_revision is None:
                champion = _plan_from_json(row.plan).champion
                plan = TrafficPlan((Route(champion.model, champion.ref, 100),))
            else:
                earlier = conn.execute(
                    select(deployment_plans.c.plan).where(
                        deployment_plans.c.deployment_id == row.id,
                        deployment_plans.c.revision == to_revision,
                    )
                ).scalar()
                if earlier is None:
                    raise NotFound(
                        f"deployment {project}/{name} has no revision {to_revision} (the "
                        f"newest is {row.revision})",
                        field="to_revision",
                    )
                plan = _plan_from_json(earlier)
            self._admit(conn, project, row.project_id, plan)
            found = self._revise(conn, project, row, plan, ROLLBACK, reason)
            self._emit(
                conn,
                project,
                event_kinds.DEPLOYMENT_ROLLED_BACK,
                self._about(found)
                | {"to_revision": to_revision, "changed_by": self._who(), "reason": reason},
            )
            return found

    def delete(self, name: str, *, project: str) -> None:
        """Remove a deployment and its plans' history (the audit log keeps every change)."""
        with self.store.write() as conn:
            row = self._locked(conn, project, name)
            conn.execute(delete(deployments).where(deployments.c.id == row.id))
            self.access.record(conn, "deployment.deleted", DEPLOYMENT, row.id, f"{project}/{name}")
            self._emit(
                conn,
                project,
                event_kinds.DEPLOYMENT_DELETED,
                {
                    "deployment": name,
                    "deployment_id": row.id,
                    "revision": row.revision,
                    "deleted_by": self._who(),
                },
            )

    # -- reports and rollouts -------------------------------------------------------------

    def report(self, project: str, report: ServingReport) -> None:
        """Store an inference server's report (a retried one replaces itself; needs
        ``contributor``, which a predictor token lacks). A version named unhealthy opens
        an incident (one ``deployment.version_unhealthy`` event, audited) unless one is
        open; then the rollouts of the deployments it names are judged at once, as the
        system actor. A deployment or version of no such name is refused."""
        checked = check_report(report)
        touched: set[str] = set()
        with self.store.write() as conn:
            project_id = self._project(conn, project, Role.CONTRIBUTOR)
            named = {s.deployment for s in checked.stats} | {
                u.deployment for u in checked.unhealthy
            }
            rows = {
                r.name: r
                for r in conn.execute(
                    select(deployments).where(
                        deployments.c.project_id == project_id, deployments.c.name.in_(named)
                    )
                )
            }
            versions = {
                v.id: v
                for v in conn.execute(
                    select(model_versions.c.id, model_versions.c.version, registered_models.c.name)
                    .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                    .where(
                        registered_models.c.project_id == project_id,
                        model_versions.c.id.in_(
                            {s.version_id for s in checked.stats}
                            | {u.version_id for u in checked.unhealthy}
                        ),
                    )
                )
            }
            entries: list[tuple[str, VersionStats | UnhealthyVersion]] = [
                *((f"stats[{i}]", e) for i, e in enumerate(checked.stats)),
                *((f"unhealthy[{i}]", e) for i, e in enumerate(checked.unhealthy)),
            ]
            for where, entry in entries:
                if entry.deployment not in rows:
                    raise NotFound(
                        f"deployment {entry.deployment!r} does not exist in project {project!r}",
                        field=f"{where}.deployment",
                    )
                if entry.version_id not in versions:
                    raise InvalidInput(
                        f"{limits.preview(entry.version_id)} is no model version of "
                        f"project {project!r}",
                        field=f"{where}.version_id",
                    )
            now = self.clock()
            for entry in checked.stats:
                row = rows[entry.deployment]
                key = (
                    deployment_stats.c.deployment_id == row.id,
                    deployment_stats.c.version_id == entry.version_id,
                    deployment_stats.c.server == checked.server,
                    deployment_stats.c.window_start == checked.window_start,
                )
                conn.execute(delete(deployment_stats).where(*key))
                conn.execute(
                    deployment_stats.insert().values(
                        deployment_id=row.id,
                        version_id=entry.version_id,
                        server=checked.server,
                        window_start=checked.window_start,
                        window_end=checked.window_end,
                        requests=entry.requests,
                        errors=entry.errors,
                        latency_ms=json.dumps(list(entry.latency_ms)),
                    )
                )
                touched.add(entry.deployment)
            for row in rows.values():
                conn.execute(
                    delete(deployment_stats).where(
                        deployment_stats.c.deployment_id == row.id,
                        deployment_stats.c.window_end < now - STATS_KEPT_MS,
                    )
                )
            self._usage(conn, project_id, checked, now)
            for sick in checked.unhealthy:
                self._incident(conn, project, rows[sick.deployment], versions[sick.version_id],
                               checked.server, sick.reason, now)  # fmt: skip
        if touched:
            self.acting_as(SYSTEM).evaluate(project=project, names=touched)

    @staticmethod
    def _usage(conn: Connection, project_id: str, report: ServingReport, now: int) -> None:
        """Store the server's usage (CPU-seconds, memory-time) from the report's usage
        start to its end, replacing a retried report's, and forget usage older than the
        stats (any server's: one retention for all)."""
        key = (
            server_usage.c.project_id == project_id,
            server_usage.c.server == report.server,
            server_usage.c.window_start == report.usage_start,
        )
        conn.execute(delete(server_usage).where(*key))
        conn.execute(delete(server_usage).where(server_usage.c.window_end < now - STATS_KEPT_MS))
        if report.cpu_s or report.memory_byte_s:
            conn.execute(
                server_usage.insert().values(
                    project_id=project_id,
                    server=report.server,
                    window_start=report.usage_start,
                    window_end=report.window_end,
                    cpu_s=report.cpu_s,
                    memory_byte_s=report.memory_byte_s,
                )
            )

    def _incident(
        self,
        conn: Connection,
        project: str,
        row: Any,
        version: Any,
        server: str,
        reason: str,
        now: int,
    ) -> None:
        """A report named a version unhealthy: the open incident goes on, or a new one
        opens (its event and audit record) when none was seen for INCIDENT_GAP_MS."""
        key = (
            deployment_incidents.c.deployment_id == row.id,
            deployment_incidents.c.version_id == version.id,
        )
        seen = conn.execute(select(deployment_incidents.c.last_seen_at).where(*key)).scalar()
        if seen is not None and now - seen <= INCIDENT_GAP_MS:
            conn.execute(update(deployment_incidents).where(*key).values(last_seen_at=now))
            return
        conn.execute(delete(deployment_incidents).where(*key))
        conn.execute(
            deployment_incidents.insert().values(
                deployment_id=row.id,
                version_id=version.id,
                reason=reason,
                opened_at=now,
                last_seen_at=now,
            )
        )
        written = f"{version.name}/{version.version}"
        self.access.record(
            conn,
            event_kinds.DEPLOYMENT_VERSION_UNHEALTHY,
            DEPLOYMENT,
            row.id,
            f"{project}/{row.name}: {written} is unhealthy on {server}: {reason}",
        )
        self._emit(
            conn,
            project,
            event_kinds.DEPLOYMENT_VERSION_UNHEALTHY,
            {
                "deployment": row.name,
                "deployment_id": row.id,
                "version_id": version.id,
                "model": version.name,
                "version": version.version,
                "server": server,
                "reason": reason,
            },
        )

    def evaluate(
        self, *, project: str | None = None, names: Collection[str] | None = None
    ) -> list[RolloutAction]:
        """Judge the rollouts (of a project, of some deployments of it, or all) from the
        reports of their window: a breach rolls back to the champion and ends the rollout;
        a due step moves the candidate's weight. For the worker and the report route: the
        service should act as the system actor."""
        with self.store.read() as conn:
            query = (
                select(deployments.c.id, projects.c.name.label("project"))
                .join(projects, projects.c.id == deployments.c.project_id)
                .where(deployments.c.rollout.is_not(None))
            )
            if project is not None:
                query = query.where(projects.c.name == project)
            if names is not None:
                query = query.where(deployments.c.name.in_(set(names)))
            targets = conn.execute(query.order_by(deployments.c.id)).all()
        done = []
        for target in targets:
            acted = self._judge(target.project, target.id)
            if acted is not None:
                done.append(acted)
        return done

    def _judge(self, project: str, deployment_id: str) -> RolloutAction | None:
        with self.store.write() as conn:
            conn.execute(
                select(deployments.c.id).where(deployments.c.id == deployment_id).with_for_update()
            )
            row = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).first()
            if row is None or row.rollout is None:
                return None
            rollout = Rollout.from_dict(json.loads(row.rollout))
            now = self.clock()
            plan = self._hydrate(conn, project, [row])[0].plan
            written = _plan_from_json(row.plan)
            totals: dict[str, Totals] = {}
            for stat in conn.execute(
                select(deployment_stats).where(
                    deployment_stats.c.deployment_id == row.id,
                    deployment_stats.c.window_end
                    > max(now - rollout.window_s * 1000, row.rollout_since),
                )
            ):
                totals.setdefault(stat.version_id, Totals()).add(
                    stat.requests, stat.errors, json.loads(stat.latency_ms)
                )
            champion = plan.champion
            candidates = [
                (r.version_id, f"{r.model}/{r.version}", totals.get(r.version_id, Totals()))
                for r in plan.routes[1:]
                if r.version_id is not None and r.weight and r.version_id != champion.version_id
            ]
            live = (
                self._live(conn, row, rollout, champion.version_id, [c[0] for c in candidates])
                if rollout.live_monitor is not None
                else None
            )
            breaches, judged = judge(rollout, totals.get(champion.version_id or "", Totals()),
                                     candidates, live)  # fmt: skip
            if breaches:
                return self._auto_rollback(conn, project, row, written, breaches)
            due = now - row.updated_at >= rollout.step_every_s * 1000
            if not (rollout.steps and judged and candidates and due and len(written.routes) == 2):
                return None
            return self._step(conn, project, row, written, rollout)

    def _live_metric(self, conn: Connection, row: Any, name: str) -> tuple[str, str, bool]:
        """The live guard's monitor of deployment ``row``: its id, metric and whether higher
        is better; InvalidInput (``rollout.live_monitor``) when there is no such
        ``performance`` monitor or its metric has no better direction."""
        found = conn.execute(
            select(monitors.c.id, monitors.c.kind, monitors.c.config).where(
                monitors.c.deployment_id == row.id, monitors.c.name == name
            )
        ).first()
        field = "rollout.live_monitor"
        if found is None or found.kind != "performance":
            what = "no monitor" if found is None else f"a {found.kind} monitor"
            raise InvalidInput(
                f"the live guard needs a performance monitor of deployment {row.name}; "
                f"{name!r} is {what}",
                field=field,
            )
        metric = str(json.loads(found.config).get("metric", ""))
        better = higher_is_better(metric)
        if better is None:
            raise InvalidInput(
                f"monitor {name!r} watches {metric}, which has no better direction: the "
                "live guard needs a metric that is better higher or lower",
                field=field,
            )
        return found.id, metric, better

    def _live(
        self,
        conn: Connection,
        row: Any,
        rollout: Rollout,
        champion: str | None,
        candidates: list[str],
    ) -> Live | None:
        """The live guard's values: each version's windows of the monitor that ended since
        the rollout began (and by now), as the monitoring pass judged them for that
        version. None when the monitor is gone or its metric changed to one without a
        direction (nothing is judged live, so the steps wait)."""
        assert rollout.live_monitor is not None
        try:
            known = self._live_metric(conn, row, rollout.live_monitor)
        except InvalidInput:
            return None
        monitor_id, metric, better = known
        v = monitor_values.c
        wanted = [c for c in (champion, *candidates) if c]
        windows: dict[str, list[tuple[float, int]]] = {}
        for found in conn.execute(
            select(v.version_id, v.value, v.rows).where(
                v.monitor_id == monitor_id,
                v.version_id.in_(wanted),
                v.window_end > row.rollout_since,
                v.window_end <= self.clock(),
                v.value.is_not(None),
            )
        ):
            windows.setdefault(found.version_id, []).append((found.value, found.rows))
        values = {k: live_value(w) for k, w in windows.items()}
        return Live(
            metric,
            better,
            values.get(champion or ""),
            {k: found for k, found in values.items() if found is not None and k != champion},
        )

    def _auto_rollback(
        self, conn: Connection, project: str, row: Any, written: TrafficPlan, breaches: list[Any]
    ) -> RolloutAction:
        champion = written.champion
        plan = TrafficPlan((Route(champion.model, champion.ref, 100),))
        reason = "guard breached: " + "; ".join(f"{b.guard}: {b.reason}" for b in breaches)
        reason = reason[: limits.DESCRIPTION]
        self._admit(conn, project, row.project_id, plan)
        found = self._revise(conn, project, row, plan, AUTO_ROLLBACK, reason)
        self._emit(
            conn,
            project,
            event_kinds.DEPLOYMENT_ROLLED_BACK,
            self._about(found)
            | {
                "to_revision": None,
                "changed_by": self._who(),
                "reason": reason,
                "automatic": True,
                "guard": breaches[0].guard,
                "version_id": breaches[0].version_id,
            },
        )
        return RolloutAction(project, row.name, AUTO_ROLLBACK, found.revision, reason)

    def _step(
        self, conn: Connection, project: str, row: Any, written: TrafficPlan, rollout: Rollout
    ) -> RolloutAction | None:
        """The candidate's weight to the next step; the last, 100, ends the rollout: a
        promotion when the champion route is an alias of the candidate's model (the alias
        moves to the candidate's version), else all traffic to the candidate's route."""
        champion, candidate = written.routes
        upcoming = [s for s in rollout.steps if s > candidate.weight]
        if not upcoming:
            return None
        weight = upcoming[0]
        reason = f"rollout step: {_written(candidate)} {candidate.weight}% -> {weight}%"
        if weight < 100:
            plan = TrafficPlan(
                (Route(champion.model, champion.ref, 100 - weight),
                 Route(candidate.model, candidate.ref, weight)),
                written.shadows,
                written.sticky_key,
            )  # fmt: skip
            self._admit(conn, project, row.project_id, plan)
            found = self._revise(conn, project, row, plan, STEP, reason, keep_rollout=True)
            self._emit(
                conn,
                project,
                event_kinds.DEPLOYMENT_PLAN_CHANGED,
                self._about(found) | {"action": STEP, "changed_by": self._who(), "reason": reason},
            )
            return RolloutAction(project, row.name, STEP, found.revision, reason)
        if _numeric(champion.ref) or champion.model != candidate.model:
            plan = TrafficPlan((Route(candidate.model, candidate.ref, 100),), written.shadows)
            reason += " (rollout complete)"
            self._admit(conn, project, row.project_id, plan)
            found = self._revise(conn, project, row, plan, STEP, reason)
            self._emit(
                conn,
                project,
                event_kinds.DEPLOYMENT_PLAN_CHANGED,
                self._about(found) | {"action": STEP, "changed_by": self._who(), "reason": reason},
            )
            return RolloutAction(project, row.name, STEP, found.revision, reason)
        target = resolve_refs(conn, row.project_id, {(candidate.model, candidate.ref)}).get(
            (candidate.model, candidate.ref)
        )
        if target is None:
            return None
        reason += f" (rollout complete: {champion.model}@{champion.ref} moves to it)"
        self._admit(conn, project, row.project_id, TrafficPlan((candidate,)))
        move = self.models.move_alias(
            conn, candidate.model, champion.ref, target.version, project=project, reason=reason
        )
        plan = TrafficPlan((Route(champion.model, champion.ref, 100),), written.shadows)
        found = self._revise(conn, project, row, plan, PROMOTE, reason)
        self._emit(
            conn,
            project,
            event_kinds.DEPLOYMENT_PROMOTED,
            self._about(found)
            | {
                "model": candidate.model,
                "alias": champion.ref,
                "from_version": move.from_version,
                "to_version": move.to_version,
                "changed_by": self._who(),
                "reason": reason,
            },
        )
        return RolloutAction(project, row.name, PROMOTE, found.revision, reason)


def _candidate(plan: TrafficPlan, model: str | None, ref: str | None) -> Route:
    """The route to promote: the one named (``model`` and ``ref``; ``model`` alone when
    the plan routes to it once besides the champion), else the plan's one non-champion
    live route."""
    if ref is not None and not isinstance(ref, str):
        raise InvalidInput("ref must be a version number or an alias, as text", field="ref")
    if ref is not None and model is None:
        raise InvalidInput("name the model of the route to promote with its ref", field="model")
    if model is not None:
        validate_name(model, "model")
        pool = [r for r in (*plan.routes, *plan.shadows) if r.model == model]
        if ref is not None:
            wanted = parse_route(f"{model}/{ref}" if _numeric(ref) else f"{model}@{ref}", 0, "ref")
            pool = [r for r in pool if r.ref == wanted.ref]
        elif len(pool) > 1:
            pool = [r for r in pool if r != plan.champion]
        if len(pool) != 1:
            named = model if ref is None else _written(Route(model, ref, 0))
            raise InvalidInput(
                f"the plan has {'no' if not pool else 'more than one'} route {named}: name one "
                f"of {', '.join(_written(r) for r in (*plan.routes, *plan.shadows))}",
                field="ref",
            )
        return pool[0]
    others = plan.routes[1:]
    if len(others) != 1:
        raise InvalidInput(
            f"the plan has {len(others)} live routes besides the champion: name the one to "
            "promote (model and ref)",
            field="ref",
        )
    return others[0]


def _written_plan(plan: TrafficPlan) -> dict[str, Any]:
    """A plan as written (no resolved versions), for events."""
    out = plan.as_dict()
    for group in ("routes", "shadows"):
        out[group] = [
            {"model": r["model"], "ref": r["ref"], "weight": r["weight"]} for r in out[group]
        ]
    return out
