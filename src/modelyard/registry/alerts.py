"""Alerts on registry subjects, as the status gate reads them.

The monitoring issue raises alerts (a monitor's finding on a model, a model version, later
a deployment) and extends the ``alerts`` table; the registry only asks which unresolved
alerts of a severity stand on a subject (:func:`unresolved_alerts`), so a version with an
open critical alert cannot pass a gate with ``no_critical_alerts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from modelyard.store.tables import alerts

__all__ = [
    "ACKNOWLEDGED",
    "ALERT_STATUSES",
    "CRITICAL",
    "OPEN",
    "RESOLVED",
    "SEVERITIES",
    "unresolved_alerts",
]

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
ALERT_STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
CRITICAL = "critical"
SEVERITIES = ("info", "warning", CRITICAL)


def unresolved_alerts(
    conn: Connection, subjects: Sequence[tuple[str, str]], severity: str | None = None
) -> list[Any]:
    """The alerts on any of ``subjects`` (kind, id) that are open or acknowledged (not yet
    resolved), of ``severity`` when given, oldest first."""
    if not subjects:
        return []
    stmt = select(alerts).where(
        or_(*(and_(alerts.c.subject_kind == k, alerts.c.subject_id == i) for k, i in subjects)),
        alerts.c.status != RESOLVED,
    )
    if severity is not None:
        stmt = stmt.where(alerts.c.severity == severity)
    return list(conn.execute(stmt.order_by(alerts.c.opened_at, alerts.c.id)).all())
