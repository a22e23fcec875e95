"""The closed loop: a deployment's loop policy (admins set it), its loop runs (start,
list, read), and a person's decision or cancel on a run.

Every rule is the loop service's; routes translate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_loops
from modelyard.api.schemas.loops import (
    DecideBody,
    LoopPolicyBody,
    LoopPolicyPublic,
    LoopRunPage,
    LoopRunPublic,
    ReasonBody,
)
from modelyard.monitoring.entities import LoopRun
from modelyard.monitoring.loop import LoopService

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}", tags=["loops"], route_class=Route)

Loops = Annotated[LoopService, Depends(get_loops)]
#: How many runs a listing reads before it is paged.
_MAX_RUNS = 500


def _public(found: LoopRun) -> LoopRunPublic:
    return LoopRunPublic.model_validate(found.as_dict())


@router.put("/deployments/{deployment}/loop-policy", response_model=LoopPolicyPublic)
def set_policy(
    project: str, deployment: str, body: LoopPolicyBody, loops: Loops
) -> LoopPolicyPublic:
    """Set the deployment's loop policy (project admins), checked whole."""
    found = loops.set_policy(deployment, body.policy, project=project)
    return LoopPolicyPublic.model_validate(found.as_dict())


@router.get("/deployments/{deployment}/loop-policy", response_model=LoopPolicyPublic)
def get_policy(project: str, deployment: str, loops: Loops) -> LoopPolicyPublic:
    """The deployment's loop policy (viewers)."""
    return LoopPolicyPublic.model_validate(loops.get_policy(deployment, project=project).as_dict())


@router.post("/deployments/{deployment}/loops", status_code=201, response_model=LoopRunPublic)
def start(project: str, deployment: str, body: ReasonBody, loops: Loops) -> LoopRunPublic:
    """Start a loop now (contributors); 409 while one is under way."""
    return _public(loops.start(deployment, project=project, reason=body.reason))


@router.get("/deployments/{deployment}/loops", response_model=LoopRunPage)
def list_runs(
    project: str,
    deployment: str,
    loops: Loops,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> LoopRunPage:
    """The deployment's loop runs, newest first (viewers)."""
    found = loops.list_runs(deployment, project=project, limit=_MAX_RUNS)
    items, next_cursor = page(found, limit, cursor, "loops", project, deployment)
    return LoopRunPage(items=[_public(r) for r in items], next_cursor=next_cursor)


@router.get("/loops/{run_id}", response_model=LoopRunPublic)
def get_run(project: str, run_id: str, loops: Loops) -> LoopRunPublic:
    """One loop run with its steps and lineage (viewers)."""
    return _public(loops.get_run(run_id, project=project))


@router.post("/loops/{run_id}/decide", response_model=LoopRunPublic)
def decide(project: str, run_id: str, body: DecideBody, loops: Loops) -> LoopRunPublic:
    """A person's decision on a run waiting for one (approvers); 409 when it waits for
    none."""
    return _public(
        loops.decide(run_id, project=project, approve=body.approve, comment=body.comment)
    )


@router.post("/loops/{run_id}/cancel", response_model=LoopRunPublic)
def cancel(project: str, run_id: str, body: ReasonBody, loops: Loops) -> LoopRunPublic:
    """End a run under way (contributors); a canary it started goes back."""
    return _public(loops.cancel(run_id, project=project, reason=body.reason))
