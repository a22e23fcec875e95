"""Batched writes (metrics, params, tags, heartbeats) and metric histories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from modelyard._util import gc_paused
from modelyard.api._errors import error_body
from modelyard.api._routing import Route
from modelyard.api._services import get_tracking
from modelyard.api.schemas._types import Text
from modelyard.api.schemas.metrics import (
    BatchConflict,
    BatchCreate,
    BatchPublic,
    MetricHistoryPublic,
)
from modelyard.errors import InvalidInput
from modelyard.tracking._buffer import Batch
from modelyard.tracking.service import MAX_HISTORY_POINTS, TrackingService

__all__ = ["router"]

router = APIRouter(tags=["metrics"], route_class=Route)
Tracking = Annotated[TrackingService, Depends(get_tracking)]


@router.post(
    "/batches",
    response_model=BatchPublic,
    responses={
        409: {"model": BatchConflict, "description": "A param clashed, or a run is unknown."}
    },
)
def write_batch(body: BatchCreate, tracking: Tracking) -> BatchPublic | JSONResponse:
    """Store a batch in one transaction, once per ``batch_id`` (a retried batch is not
    stored again). A param that clashes with a value another writer stored is answered
    409 with the batch marked stored: everything else in it was written."""
    with gc_paused():  # the rows live only in here: no full collections over them
        batch = Batch(
            metrics=body.metric_rows(),
            params=body.params,
            tags=body.tags,
            heartbeats=body.heartbeats,
        )
        deferred = tracking.write_batch(batch, batch_id=body.batch_id)
        del batch
    stored = BatchPublic(batch_id=body.batch_id, stored=True)
    if deferred is None:
        return stored
    content = {
        **error_body(deferred.code, deferred.message, deferred.field),
        "batch": stored.model_dump(),
    }
    return JSONResponse(content, status_code=deferred.http_status)


@router.get("/runs/{run_id}/metrics/history", response_model=MetricHistoryPublic)
def metric_history(
    run_id: str,
    tracking: Tracking,
    key: Annotated[Text, Query(description="The metric.")],
    max_points: Annotated[
        int | None,
        Query(
            le=MAX_HISTORY_POINTS,
            description="Downsample to at most this many points, keeping each bucket's "
            f"lowest and highest value. Needed when the metric has more than "
            f"{MAX_HISTORY_POINTS:,} points.",
        ),
    ] = None,
) -> MetricHistoryPublic:
    """Every point of one metric of a run in step order, or at most ``max_points``."""
    history = tracking.metric_history(run_id, key, max_points=max_points)
    if len(history) > MAX_HISTORY_POINTS:
        raise InvalidInput(
            f"metric {key!r} has {len(history):,} points; one answer holds at most "
            f"{MAX_HISTORY_POINTS:,}: ask for max_points",
            field="max_points",
        )
    return MetricHistoryPublic.model_validate(history)
