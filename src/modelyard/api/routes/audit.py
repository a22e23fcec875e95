"""The audit log, one page at a time (global administrators)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Limit
from modelyard.api._routing import Route
from modelyard.api._services import get_governance
from modelyard.api.auth import get_actor
from modelyard.api.schemas.governance import AuditEventPublic, AuditPage
from modelyard.errors import InvalidInput
from modelyard.governance import Actor, Governance

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"], route_class=Route)
Gov = Annotated[Governance, Depends(get_governance)]
Caller = Annotated[Actor, Depends(get_actor)]


@router.get("", response_model=AuditPage)
def list_events(
    actor: Caller,
    gov: Gov,
    since: Annotated[
        datetime | None, Query(description="ISO 8601 time; events at or after it.")
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=20, description="next_cursor of the previous page.")
    ] = None,
) -> AuditPage:
    """Audit events in chain order (seq), oldest first."""
    after = 0
    if cursor:
        if not cursor.isdigit():
            raise InvalidInput("cursor is invalid", field="cursor")
        after = int(cursor)
    since_ms = None
    if since is not None:
        aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        since_ms = int(aware.timestamp() * 1000)
    events = gov.audit.list_events(actor=actor, after=after, limit=limit + 1, since_ms=since_ms)
    more = len(events) > limit
    events = events[:limit]
    return AuditPage(
        items=[AuditEventPublic.model_validate(e) for e in events],
        next_cursor=str(events[-1].seq) if more else None,
    )
