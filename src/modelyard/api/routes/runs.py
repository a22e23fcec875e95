"""Runs: create, get, resolve an id prefix, resume, end, delete, last steps, and why
each step of a pipeline run ran or was cached."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from modelyard.api._routing import Route
from modelyard.api._services import Services, get_services, get_tracking
from modelyard.api.schemas.runs import (
    ExplanationPublic,
    LastStepsPublic,
    RunCreate,
    RunEnd,
    RunPublic,
    RunRef,
    RunRestored,
    StepExplanationPublic,
)
from modelyard.tracking.service import TrackingService

__all__ = ["router"]

router = APIRouter(prefix="/runs", tags=["runs"], route_class=Route)
Tracking = Annotated[TrackingService, Depends(get_tracking)]


@router.post("", status_code=201, response_model=RunPublic)
def create_run(body: RunCreate, tracking: Tracking) -> RunPublic:
    """Start a run (its project is created when missing)."""
    run = tracking.create_run(
        body.project,
        name=body.name,
        parent_id=body.parent_id,
        user=body.user,
        host=body.host,
        entry_point=body.entry_point,
        tags_=body.tags,
    )
    return RunPublic.model_validate(run)


@router.get("/resolve", response_model=RunRef)
def resolve_run_id(
    tracking: Tracking, ref: Annotated[str, Query(description="6-32 hex digits.")]
) -> RunRef:
    """The full id of a run from a unique prefix of its id."""
    return RunRef(id=tracking.resolve_run_id(ref))


@router.get("/{run_id}", response_model=RunPublic)
def get_run(run_id: str, tracking: Tracking) -> RunPublic:
    """A run with its params, latest metrics and tags."""
    return RunPublic.model_validate(tracking.get_run(run_id))


@router.post("/{run_id}/resume", response_model=RunPublic)
def resume_run(run_id: str, tracking: Tracking) -> RunPublic:
    """Make a run ``running`` again: its owner's act, or an admin's (403 for any other
    contributor); audited with the status it had."""
    return RunPublic.model_validate(tracking.resume_run(run_id))


@router.post("/{run_id}/end", status_code=204, response_class=Response)
def end_run(run_id: str, body: RunEnd, tracking: Tracking) -> None:
    """End a run: finished, failed or killed, with its resource usage and cost (finite,
    >= 0). A run ends once: the same end again changes nothing, another is 409."""
    tracking.end_run(
        run_id,
        body.status,
        error=body.error,
        wall_time_s=body.wall_time_s,
        cpu_time_s=body.cpu_time_s,
        peak_rss_bytes=body.peak_rss_bytes,
        gpu_time_s=body.gpu_time_s,
        cost=body.cost,
    )


@router.delete("/{run_id}", status_code=204, response_class=Response)
def delete_run(run_id: str, tracking: Tracking, permanent: bool = False) -> None:
    """Hide a run and its children, or with ``permanent`` remove them."""
    tracking.delete_run(run_id, permanent=permanent)


@router.post("/{run_id}/restore", response_model=RunRestored)
def restore_run(run_id: str, tracking: Tracking) -> RunRestored:
    """Show a deleted run again, with the child runs deleted with it."""
    return RunRestored(restored=tracking.restore_run(run_id))


@router.get("/{run_id}/last-steps", response_model=LastStepsPublic)
def last_steps(run_id: str, tracking: Tracking) -> LastStepsPublic:
    """The highest step of each metric (a resumed run continues after it)."""
    return LastStepsPublic(steps=tracking.last_steps(run_id))


@router.get("/{run_id}/explain", response_model=ExplanationPublic)
def explain(
    run_id: str, tracking: Tracking, services: Annotated[Services, Depends(get_services)]
) -> ExplanationPublic:
    """Why each step of a pipeline run (an id or a unique prefix) ran or was served from
    the cache (422 for a run that is not a pipeline run)."""
    from modelyard.pipelines.explanations import explain_in

    found = explain_in(tracking, services.steps, run_id)
    return ExplanationPublic(
        steps=[StepExplanationPublic.model_validate(e.to_dict()) for e in found]
    )
