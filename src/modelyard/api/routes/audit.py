"""The audit log, one page at a time (global administrators)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from modelyard import limits
from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Limit
from modelyard.api._routing import Route
from modelyard.api._services import get_governance
from modelyard.api.auth import get_actor
from modelyard.api.schemas.governance import AuditEventPublic, AuditPage
from modelyard.errors import InvalidInput
from modelyard.governance import Actor, Governance

__all__ = ["router"]

router = APIRouter(prefix="/audit", tags=["audit"], route_class=Route)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Gov = Annotated[Governance, Depends(get_governance)]
Caller = Annotated[Actor, Depends(get_actor)]


@router.get("", response_model=AuditPage)
def list_events(
    actor: Caller,
    gov: Gov,
    since: Annotated[
        datetime | None, Query(description="ISO 8601 time; events at or after it.")
    ] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601 time; events before it.")] = None,
    by: Annotated[
        str | None,
        Query(alias="actor", max_length=limits.NAME * 2, description="Who acted (a name)."),
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=limits.NAME,
            description="An action (`user.created`), or its kind (`user`: every `user.` action).",
        ),
    ] = None,
    object_type: Annotated[
        str | None,
        Query(max_length=limits.NAME, description="The kind of object acted on (`deployment`)."),
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=20, description="next_cursor of the previous page.")
    ] = None,
) -> AuditPage:
    """Audit events in chain order (seq), oldest first, that match every filter given."""
    after = 0
    if cursor:
        if not cursor.isdigit():
            raise InvalidInput("cursor is invalid", field="cursor")
        after = int(cursor)
    since_ms, until_ms = _ms(since), _ms(until)
    if since_ms is not None and until_ms is not None and until_ms < since_ms:
        raise InvalidInput("until is before since", field="until")
    events = gov.audit.list_events(
        actor=actor,
        after=after,
        limit=limit + 1,
        since_ms=since_ms,
        until_ms=until_ms,
        who=by,
        action=action,
        object_type=object_type,
    )
    more = len(events) > limit
    events = events[:limit]
    return AuditPage(
        items=[AuditEventPublic.model_validate(e) for e in events],
        next_cursor=str(events[-1].seq) if more else None,
    )


def _ms(moment: datetime | None) -> int | None:
    """A time as ms since the epoch (a naive one is UTC)."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
