"""Alerts and health (a service): list, read with history, acknowledge, resolve and
comment on the alerts that monitors, budgets and the loop open (with
:mod:`modelyard.monitoring._raise`), and the health score of a deployment or of one of
its versions, now and per window.

A person's acknowledgement keeps the alert unresolved: it still blocks the registry's
``no_critical_alerts`` gate (which reads the same table, :mod:`modelyard.registry.alerts`)
until it is resolved, by a person or because its condition cleared. Acknowledging or
resolving a resolved alert is a Conflict; a resolved alert is never reopened (the
condition found again opens a new one). Each change is a note of the alert's history and
an audit event in the same transaction; a person's resolve sends ``alert.resolved`` as the
automatic one does, naming them.

Rights: reading alerts and health needs ``viewer`` on the project; acknowledging,
resolving and commenting need ``contributor``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, or_, select

from modelyard import limits
from modelyard._util import now_ms, validate_name
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.governance.roles import Role, missing_project
from modelyard.monitoring._health import (
    DAY_MS,
    FORMULA,
    LOOKBACK_MS,
    Hour,
    LabelRules,
    Value,
    combine,
    components,
)
from modelyard.monitoring._raise import resolve_alert
from modelyard.monitoring.entities import Alert, AlertNote, Health
from modelyard.registry._deployed import resolve_refs
from modelyard.registry.alerts import (
    ACKNOWLEDGED,
    ALERT_STATUSES,
    RESOLVED,
    SEVERITIES,
)
from modelyard.registry.service import parse_ref
from modelyard.store.tables import (
    alert_notes,
    alerts,
    deployments,
    model_versions,
    monitor_values,
    monitor_windows,
    monitors,
    projects,
    registered_models,
)

if TYPE_CHECKING:
    from modelyard.governance.access import Access
    from modelyard.governance.identity import Actor
    from modelyard.store import Store

__all__ = ["HISTORY_POINTS", "AlertService"]

#: Most points of a health history (a longer span is thinned evenly).
HISTORY_POINTS = 1000
#: A health history's span when ``since`` is not given.
_DEFAULT_SPAN_MS = 7 * DAY_MS
_PERSON_NOTES = ("acknowledged", "commented", "resolved")


class AlertService:
    """Alerts of projects and health scores of deployments, over one metadata store.

    ``label_delay_hours``, ``label_horizon_days``, ``label_coverage``: when the health
    score's label freshness counts labels as late (``monitoring.*`` settings).
    """

    def __init__(
        self,
        store: Store,
        access: Access,
        *,
        label_delay_hours: float = 24.0,
        label_horizon_days: float = 30.0,
        label_coverage: float = 0.9,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.access = access
        self.rules = LabelRules(
            delay_ms=int(label_delay_hours * 3_600_000),
            horizon_ms=int(label_horizon_days * DAY_MS),
            coverage=label_coverage,
        )
        self.clock = clock

    def acting_as(self, actor: Actor) -> AlertService:
        """This service acting for ``actor`` (a server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        return view

    def with_clock(self, clock: Callable[[], int]) -> AlertService:
        """This service telling the time (ms) by ``clock``: a replay's event time (the
        quickstart's story), or a test's."""
        view = copy.copy(self)
        view.clock = clock
        return view

    # -- reads ----------------------------------------------------------------------------

    def _project(self, conn: Connection, project: str, needed: Role) -> str:
        validate_name(project, "project")
        found = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if found is None:
            raise missing_project(project)
        self.access.require(conn, project, needed, hidden=missing_project(project))
        return str(found)

    def _deployment(self, conn: Connection, project_id: str, project: str, name: str) -> Any:
        validate_name(name, "deployment")
        row = conn.execute(
            select(deployments).where(
                deployments.c.project_id == project_id, deployments.c.name == name
            )
        ).first()
        if row is None:
            raise NotFound(
                f"deployment {name!r} does not exist in project {project!r}", field="deployment"
            )
        return row

    def list_alerts(
        self,
        project: str,
        *,
        status: str | None = None,
        severity: str | None = None,
        deployment: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts of a project, newest first: of one ``status`` (open, acknowledged,
        resolved) or ``severity`` when given, on ``deployment`` (the deployment itself, or
        a subject its monitors opened an alert on) when given; at most ``limit``
        (1 to ``limits.ALERTS_PAGE``)."""
        _check_choice(status, ALERT_STATUSES, "status")
        _check_choice(severity, SEVERITIES, "severity")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidInput("limit must be an integer", field="limit")
        if not 1 <= limit <= limits.ALERTS_PAGE:
            raise InvalidInput(
                f"limit must be from 1 to {limits.ALERTS_PAGE}; got {limit}", field="limit"
            )
        with self.store.read() as conn:
            project_id = self._project(conn, project, Role.VIEWER)
            stmt = select(alerts).where(alerts.c.project_id == project_id)
            if status is not None:
                stmt = stmt.where(alerts.c.status == status)
            if severity is not None:
                stmt = stmt.where(alerts.c.severity == severity)
            if deployment is not None:
                row = self._deployment(conn, project_id, project, deployment)
                own = select(monitors.c.id).where(monitors.c.deployment_id == row.id)
                stmt = stmt.where(
                    or_(
                        (alerts.c.subject_kind == "deployment") & (alerts.c.subject_id == row.id),
                        alerts.c.monitor_id.in_(own),
                    )
                )
            rows = conn.execute(
                stmt.order_by(alerts.c.opened_at.desc(), alerts.c.id.desc()).limit(limit)
            ).all()
            names = _subject_names(conn, rows)
        return [_alert(project, row, names) for row in rows]

    def _row(self, conn: Connection, project_id: str, project: str, alert_id: str) -> Any:
        text = limits.check_text(alert_id, "alert_id", 64)
        stmt = select(alerts).where(alerts.c.id == text, alerts.c.project_id == project_id)
        row = conn.execute(stmt.with_for_update()).first()
        if row is None:
            raise NotFound(
                f"alert {alert_id!r} does not exist in project {project!r}", field="alert_id"
            )
        return row

    def _read(self, conn: Connection, project: str, row: Any) -> Alert:
        notes = conn.execute(
            select(alert_notes).where(alert_notes.c.alert_id == row.id).order_by(alert_notes.c.id)
        ).all()
        history = tuple(AlertNote(n.action, n.by, n.at, n.comment) for n in notes)
        return _alert(project, row, _subject_names(conn, [row]), history)

    def get(self, alert_id: str, *, project: str) -> Alert:
        """One alert with its history, oldest note first."""
        with self.store.read() as conn:
            project_id = self._project(conn, project, Role.VIEWER)
            return self._read(conn, project, self._row(conn, project_id, project, alert_id))

    # -- changes --------------------------------------------------------------------------

    def _change(self, alert_id: str, project: str, comment: str, action: str) -> Alert:
        """Add a person's note ``action`` to the alert, changing it as the action does."""
        text = limits.check_text(comment, "comment", limits.DESCRIPTION)
        with self.store.write() as conn:
            project_id = self._project(conn, project, Role.CONTRIBUTOR)
            row = self._row(conn, project_id, project, alert_id)
            if action != "commented" and row.status == RESOLVED:
                by = row.resolved_by or "someone"
                raise Conflict(
                    f"alert {row.id} is resolved already (by {by}); it cannot be {action}. "
                    "If its condition returns, a new alert opens",
                    field="alert_id",
                )
            if action == "acknowledged" and row.status == ACKNOWLEDGED:
                raise Conflict(
                    f"alert {row.id} is acknowledged already (by {row.acknowledged_by})",
                    field="alert_id",
                )
            added = conn.execute(
                select(func.count())
                .select_from(alert_notes)
                .where(alert_notes.c.alert_id == row.id, alert_notes.c.action.in_(_PERSON_NOTES))
            ).scalar_one()
            if added >= limits.ALERT_NOTES:
                raise Conflict(
                    f"alert {row.id} has {added} notes, the limit is {limits.ALERT_NOTES}",
                    field="comment",
                )
            at, who = self.clock(), self.access.who()
            if action == "resolved":
                subject = _subject_names(conn, [row])[(row.subject_kind, row.subject_id)]
                resolve_alert(
                    conn, row, project=project, subject=subject, by=who, at=at, comment=text
                )
            else:
                if action == "acknowledged":
                    conn.execute(
                        alerts.update()
                        .where(alerts.c.id == row.id)
                        .values(status=ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=who)
                    )
                conn.execute(
                    alert_notes.insert().values(
                        alert_id=row.id, action=action, by=who, at=at, comment=text
                    )
                )
            self.access.record(
                conn,
                f"alert.{action}",
                "alert",
                row.id,
                f"{action} alert {row.id} ({row.severity}: {row.title})"[: limits.SHORT_TEXT],
            )
            fresh = conn.execute(select(alerts).where(alerts.c.id == row.id)).one()
            return self._read(conn, project, fresh)

    def acknowledge(self, alert_id: str, *, project: str, comment: str = "") -> Alert:
        """Someone is on it: the alert stays unresolved (it still blocks the registry's
        gate). Conflict when it is acknowledged or resolved already."""
        return self._change(alert_id, project, comment, "acknowledged")

    def resolve(self, alert_id: str, *, project: str, comment: str = "") -> Alert:
        """Resolve the alert (``alert.resolved`` names who); Conflict when it is resolved
        already. A condition that is still there opens a new alert at the next pass."""
        return self._change(alert_id, project, comment, "resolved")

    def comment(self, alert_id: str, comment: str, *, project: str) -> Alert:
        """Add a comment to the alert's history (a resolved alert's too)."""
        if not isinstance(comment, str) or not comment.strip():
            raise InvalidInput("a comment must not be empty", field="comment")
        return self._change(alert_id, project, comment, "commented")

    # -- health ---------------------------------------------------------------------------

    def _health_inputs(
        self, conn: Connection, project: str, deployment: str, version: str | None, since: int
    ) -> tuple[Any, str | None, str, list[Value], list[Hour], bool]:
        """The deployment, the version's id (None: all), the subject's name, the findings
        and hours from ``since`` on, and whether it has a performance monitor."""
        project_id = self._project(conn, project, Role.VIEWER)
        row = self._deployment(conn, project_id, project, deployment)
        version_id, subject = None, f"deployment {row.name}"
        if version is not None:
            name, number, alias = parse_ref(version)
            ref = str(number) if number is not None else alias
            if ref is None:
                raise InvalidInput(
                    f"version must be MODEL/NUMBER or MODEL@ALIAS; got {version!r}",
                    field="version",
                )
            found = resolve_refs(conn, project_id, [(name, ref)]).get((name, ref))
            if found is None:
                raise NotFound(
                    f"model version {version!r} does not exist in project {project!r}",
                    field="version",
                )
            version_id, subject = found.version_id, f"{name}/{found.version}"
        m, v = monitors.c, monitor_values.c
        stmt = (
            select(m.name, m.kind, v.version_id, v.window_end, v.value, v.status, v.rows, v.details)
            .join(monitors, monitors.c.id == v.monitor_id)
            .where(m.deployment_id == row.id, v.window_end > since - LOOKBACK_MS)
        )
        hours_stmt = select(monitor_windows).where(
            monitor_windows.c.deployment_id == row.id,
            monitor_windows.c.window_end > since - self.rules.horizon_ms - self.rules.delay_ms,
        )
        if version_id is not None:
            stmt = stmt.where(v.version_id == version_id)
            hours_stmt = hours_stmt.where(monitor_windows.c.version_id == version_id)
        values = [
            Value(
                r.name,
                r.kind,
                r.version_id,
                r.window_end,
                r.value,
                r.status,
                r.rows,
                _details(r.details),
            )
            for r in conn.execute(stmt)
        ]
        hours = [
            Hour(h.version_id, h.window_start, h.window_end, h.rows, h.labelled)
            for h in conn.execute(hours_stmt)
        ]
        judged = (
            conn.execute(
                select(m.id).where(m.deployment_id == row.id, m.kind == "performance").limit(1)
            ).first()
            is not None
        )
        return row, version_id, subject, values, hours, judged

    def _score(
        self,
        values: list[Value],
        hours: list[Hour],
        at: int,
        version_id: str | None,
        subject: str,
        judged: bool,
    ) -> Health:
        parts = components(
            values, hours, at=at, whole=version_id is None, rules=self.rules, labels_judged=judged
        )
        kind = "deployment" if version_id is None else "model_version"
        return Health(kind, subject, combine(parts), parts, FORMULA, at)

    def health(self, deployment: str, *, project: str, version: str | None = None) -> Health:
        """The health of a deployment now, or of one of its versions (``model/3``,
        ``model@champion``) as served there: 0-100 with its components and the formula
        (``docs/monitoring.md``, "Health score")."""
        at = self.clock()
        with self.store.read() as conn:
            _, version_id, subject, values, hours, judged = self._health_inputs(
                conn, project, deployment, version, at
            )
        return self._score(values, hours, at, version_id, subject, judged)

    def health_history(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
    ) -> list[Health]:
        """The deployment's health at the end of each window a monitor judged from
        ``since`` (default: a week before ``until``) to ``until`` (default: now), oldest
        first; at most :data:`HISTORY_POINTS` (a longer series is thinned evenly)."""
        end = self.clock() if until is None else _ms(until, "until")
        start = end - _DEFAULT_SPAN_MS if since is None else _ms(since, "since")
        if start > end:
            raise InvalidInput("since must not be after until", field="since")
        with self.store.read() as conn:
            _, _, subject, values, hours, judged = self._health_inputs(
                conn, project, deployment, None, start
            )
        points = sorted({v.window_end for v in values if start <= v.window_end <= end})
        if len(points) > HISTORY_POINTS:
            step = len(points) / HISTORY_POINTS
            points = [points[int(i * step)] for i in range(HISTORY_POINTS - 1)] + [points[-1]]
        return [self._score(values, hours, at, None, subject, judged) for at in points]


def _ms(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limits.INTEGER:
        raise InvalidInput(f"{field} must be milliseconds since the epoch", field=field)
    return value


def _check_choice(value: str | None, choices: tuple[str, ...], field: str) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(f"{field} must be one of {list(choices)}; got {value!r}", field=field)


def _details(text: str) -> dict[str, Any]:
    found = json.loads(text) if text else {}
    return found if isinstance(found, dict) else {}


def _subject_names(conn: Connection, rows: Sequence[Any]) -> dict[tuple[str, str], str]:
    """The readable name of each alert's subject: ``deployment churn-api``,
    ``churn-rf/3``, ``model churn-rf``, ``project churn`` (the id when it is gone)."""
    wanted: dict[str, set[str]] = {}
    for row in rows:
        wanted.setdefault(row.subject_kind, set()).add(row.subject_id)
    names: dict[tuple[str, str], str] = {}
    if ids := wanted.get("deployment"):
        for d in conn.execute(
            select(deployments.c.id, deployments.c.name).where(deployments.c.id.in_(ids))
        ):
            names[("deployment", d.id)] = f"deployment {d.name}"
    if ids := wanted.get("model_version"):
        for mv in conn.execute(
            select(model_versions.c.id, registered_models.c.name, model_versions.c.version)
            .join(registered_models, registered_models.c.id == model_versions.c.model_id)
            .where(model_versions.c.id.in_(ids))
        ):
            names[("model_version", mv.id)] = f"{mv.name}/{mv.version}"
    if ids := wanted.get("model"):
        for rm in conn.execute(
            select(registered_models.c.id, registered_models.c.name).where(
                registered_models.c.id.in_(ids)
            )
        ):
            names[("model", rm.id)] = f"model {rm.name}"
    if ids := wanted.get("project"):
        for p in conn.execute(select(projects.c.id, projects.c.name).where(projects.c.id.in_(ids))):
            names[("project", p.id)] = f"project {p.name}"
    for row in rows:
        names.setdefault((row.subject_kind, row.subject_id), f"{row.subject_kind} {row.subject_id}")
    return names


def _alert(
    project: str,
    row: Any,
    names: dict[tuple[str, str], str],
    history: tuple[AlertNote, ...] = (),
) -> Alert:
    return Alert(
        id=row.id,
        project=project,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        subject=names[(row.subject_kind, row.subject_id)],
        monitor=row.monitor,
        severity=row.severity,
        status=row.status,
        title=row.title,
        details=_details(row.details),
        opened_at=row.opened_at,
        last_seen_at=row.last_seen_at,
        occurrences=row.occurrences,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        history=history,
    )
