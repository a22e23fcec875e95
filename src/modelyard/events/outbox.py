"""The outbox: an event is written in the transaction of the change that caused it.

A service calls :func:`emit` with its open write connection, after its change and its
audit event: the event row and one delivery per webhook of the project subscribed to the
kind are committed with the change, or not at all. Delivery happens later, from these
rows (:mod:`modelyard.events.delivery`, run by the worker), so no change waits on a
receiver and no event is lost when a process dies.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from modelyard import limits
from modelyard._util import new_id, now_ms
from modelyard.errors import InvalidInput
from modelyard.events.kinds import EVENT_KINDS
from modelyard.governance.roles import missing_project
from modelyard.store.tables import events, projects, webhook_deliveries, webhooks

__all__ = ["ALL_KINDS", "PENDING", "emit", "subscribed"]

#: A webhook subscribed to this receives every kind.
ALL_KINDS = "*"
#: A delivery not yet delivered (waiting for its first or next attempt).
PENDING = "pending"


def subscribed(kinds: list[str], kind: str) -> bool:
    """Whether a webhook subscribed to ``kinds`` receives ``kind``."""
    return kind in kinds or ALL_KINDS in kinds


def emit(
    conn: Connection, project: str, kind: str, payload: dict[str, Any], *, actor: str = ""
) -> str:
    """Write an event of ``kind`` (one of :data:`~modelyard.events.kinds.EVENT_KINDS`) in
    ``project`` to the outbox inside the caller's write transaction, with a pending
    delivery for each webhook of the project subscribed to it; its id. ``payload``: the
    kind's documented fields, as JSON values; ``actor``: who made the change."""
    if kind not in EVENT_KINDS:
        raise InvalidInput(f"unknown event kind {kind!r}", field="kind")
    try:
        text = json.dumps(payload, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"an event's payload must be JSON: {exc}", field="payload") from None
    limits.check_text(text, "payload", limits.EVENT_PAYLOAD)
    project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
    if project_id is None:
        raise missing_project(project)
    event_id, at = new_id(), now_ms()
    conn.execute(
        events.insert().values(
            id=event_id,
            project_id=project_id,
            kind=kind,
            payload=text,
            actor=actor[: limits.SHORT_TEXT],
            created_at=at,
        )
    )
    hooks = conn.execute(
        select(webhooks.c.id, webhooks.c.events).where(webhooks.c.project_id == project_id)
    ).all()
    rows = [
        {
            "id": new_id(),
            "webhook_id": hook.id,
            "event_id": event_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for hook in hooks
        if subscribed(json.loads(hook.events), kind)
    ]
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)
    return event_id
