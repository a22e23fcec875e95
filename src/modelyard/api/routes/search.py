"""Run search: filter, order, page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelyard.api._routing import Route
from modelyard.api._services import get_tracking
from modelyard.api.schemas.runs import RunPublic
from modelyard.api.schemas.search import RunPagePublic, RunSearch
from modelyard.tracking.service import TrackingService

__all__ = ["router"]

router = APIRouter(tags=["search"], route_class=Route)
Tracking = Annotated[TrackingService, Depends(get_tracking)]


@router.post("/runs/search", response_model=RunPagePublic)
def search_runs(body: RunSearch, tracking: Tracking) -> RunPagePublic:
    """A project's runs matching a filter, ordered, one page at a time (the filter
    language of ``docs/tracking.md``; values are always bound, never spliced into SQL)."""
    found = tracking.search_runs(
        body.project,
        filter=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
        include_deleted=body.include_deleted,
    )
    return RunPagePublic(
        runs=[RunPublic.model_validate(r) for r in found.runs],
        next_page_token=found.next_page_token,
    )
