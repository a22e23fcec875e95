"""Opening and clearing alerts inside the caller's write transaction: what monitoring
passes, budgets and the loop call when a condition is found or clears.

One alert stays open (or acknowledged) per monitor and subject: a breach seen again adds
to the open alert's ``occurrences`` and ``last_seen_at``, so a pass run twice, or two
workers judging the same window, never open a second one. Sightings in a row are one
``seen`` note of the history, moved to the last of them (``occurrences`` counts them), so
a breach that lasts for months leaves a history of a few lines. Once an alert is resolved
(its condition cleared, or a person resolved it), the condition found again opens a new
alert, never the old one again: each alert is one episode with its own history and its
own ``alert.opened``. Opening and resolving each write the alert's history and an outbox
event (``alert.opened``, ``alert.resolved``) in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from modelyard._util import new_id
from modelyard.errors import InvalidInput
from modelyard.events import emit
from modelyard.events.kinds import ALERT_OPENED, ALERT_RESOLVED
from modelyard.monitoring.entities import SEVERITIES
from modelyard.store.tables import alert_notes, alerts, projects

__all__ = ["SYSTEM", "Raised", "clear_alert", "raise_alert", "resolve_alert"]

#: Who resolves an alert whose condition cleared.
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Raised:
    """The alert a breach is on, and whether this breach opened it."""

    alert_id: str
    opened: bool


def _open_alert(conn: Connection, subject_kind: str, subject_id: str, monitor: str) -> Any:
    c = alerts.c
    return conn.execute(
        select(alerts).where(
            c.subject_kind == subject_kind,
            c.subject_id == subject_id,
            c.monitor == monitor,
            c.status != "resolved",
        )
    ).first()


def _note(conn: Connection, alert_id: str, action: str, by: str, at: int, comment: str) -> None:
    conn.execute(
        alert_notes.insert().values(alert_id=alert_id, action=action, by=by, at=at, comment=comment)
    )


def _seen(conn: Connection, alert_id: str, at: int, title: str) -> None:
    """A ``seen`` note, or the last note moved to ``at`` when it is a ``seen`` already."""
    last = conn.execute(
        select(alert_notes.c.id, alert_notes.c.action)
        .where(alert_notes.c.alert_id == alert_id)
        .order_by(alert_notes.c.id.desc())
        .limit(1)
    ).first()
    if last is not None and last.action == "seen":
        conn.execute(
            alert_notes.update().where(alert_notes.c.id == last.id).values(at=at, comment=title)
        )
    else:
        _note(conn, alert_id, "seen", SYSTEM, at, title)


def raise_alert(
    conn: Connection,
    *,
    project: str,
    subject_kind: str,
    subject_id: str,
    subject: str,
    monitor: str,
    severity: str,
    title: str,
    details: dict[str, Any],
    at: int,
    monitor_id: str | None = None,
) -> Raised:
    """Open an alert on ``subject`` for ``monitor`` (the monitor's name, or what raised
    it: ``budget:all``), or, when one is open already, count this breach on it."""
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {list(SEVERITIES)}", field="severity")
    found = _open_alert(conn, subject_kind, subject_id, monitor)
    if found is not None:
        conn.execute(
            alerts.update()
            .where(alerts.c.id == found.id)
            .values(occurrences=found.occurrences + 1, last_seen_at=at)
        )
        _seen(conn, found.id, at, title)
        return Raised(found.id, opened=False)
    project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar_one()
    alert_id = new_id()
    text = json.dumps(details, sort_keys=True, allow_nan=False, default=str)
    conn.execute(
        alerts.insert().values(
            id=alert_id,
            project_id=project_id,
            subject_kind=subject_kind,
            subject_id=subject_id,
            monitor=monitor,
            monitor_id=monitor_id,
            severity=severity,
            status="open",
            title=title,
            details=text,
            opened_at=at,
            last_seen_at=at,
            occurrences=1,
        )
    )
    _note(conn, alert_id, "opened", SYSTEM, at, title)
    emit(
        conn,
        project,
        ALERT_OPENED,
        {
            "alert_id": alert_id,
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            "subject": subject,
            "monitor": monitor,
            "severity": severity,
            "title": title,
            "details": json.loads(text),
            "opened_at": at,
        },
        actor=SYSTEM,
    )
    return Raised(alert_id, opened=True)


def clear_alert(
    conn: Connection,
    *,
    project: str,
    subject_kind: str,
    subject_id: str,
    subject: str,
    monitor: str,
    at: int,
    comment: str = "the condition cleared",
) -> str | None:
    """Resolve the open alert of ``monitor`` on ``subject`` because its condition cleared
    (by :data:`SYSTEM`); its id, or None when none was open."""
    found = _open_alert(conn, subject_kind, subject_id, monitor)
    if found is None:
        return None
    resolve_alert(conn, found, project=project, subject=subject, by=SYSTEM, at=at, comment=comment)
    return str(found.id)


def resolve_alert(
    conn: Connection,
    found: Any,
    *,
    project: str,
    subject: str,
    by: str,
    at: int,
    comment: str,
) -> None:
    """Resolve the alert row ``found`` (not resolved yet) for ``by``: :data:`SYSTEM` when
    its condition cleared (a ``cleared`` note), a person otherwise (a ``resolved`` note);
    either way an ``alert.resolved`` event naming who."""
    conn.execute(
        alerts.update()
        .where(alerts.c.id == found.id)
        .values(status="resolved", resolved_at=at, resolved_by=by)
    )
    _note(conn, found.id, "cleared" if by == SYSTEM else "resolved", by, at, comment)
    emit(
        conn,
        project,
        ALERT_RESOLVED,
        {
            "alert_id": found.id,
            "subject_kind": found.subject_kind,
            "subject_id": found.subject_id,
            "subject": subject,
            "monitor": found.monitor,
            "severity": found.severity,
            "title": found.title,
            "resolved_by": by,
            "comment": comment,
            "resolved_at": at,
        },
        actor=by,
    )
