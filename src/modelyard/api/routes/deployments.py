"""Deployments of a project: create, list, read (routes resolved to versions now), change
the traffic plan, promote a route, roll back, delete, and the plan's history.

Every rule -- who may read or change, names, weights, the status gate, revisions -- is the
deployment service's; routes translate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_deployments
from modelyard.api.schemas.deployments import (
    DeploymentCreate,
    DeploymentPage,
    DeploymentPublic,
    PlanBody,
    PlanRevisionPage,
    PlanRevisionPublic,
    PromoteBody,
    ReportBody,
    RollbackBody,
    RolloutBody,
    TrafficBody,
)
from modelyard.serving.entities import Deployment, PlanRevision, TrafficPlan
from modelyard.serving.entities import Route as PlanRoute
from modelyard.serving.rollouts import Rollout, ServingReport
from modelyard.serving.service import DeploymentService

__all__ = ["router"]

router = APIRouter(
    prefix="/projects/{project}/deployments", tags=["deployments"], route_class=Route
)

Deployments = Annotated[DeploymentService, Depends(get_deployments)]


def _plan(body: PlanBody) -> TrafficPlan:
    return TrafficPlan(
        tuple(PlanRoute(r.model, r.ref, r.weight) for r in body.routes),
        tuple(PlanRoute(r.model, r.ref, r.weight) for r in body.shadows),
        body.sticky_key,
    )


def _rollout(body: RolloutBody | None) -> Rollout | None:
    if body is None:
        return None
    return Rollout.from_dict(body.model_dump())


def _public(found: Deployment) -> DeploymentPublic:
    return DeploymentPublic.model_validate(found.as_dict())


def _revision(found: PlanRevision) -> PlanRevisionPublic:
    return PlanRevisionPublic.model_validate(found.as_dict())


@router.get("", response_model=DeploymentPage)
def list_deployments(
    project: str,
    deployments: Deployments,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> DeploymentPage:
    """The deployments of a project, by name, their routes resolved (predictors may ask)."""
    found = deployments.list_deployments(project)
    items, next_cursor = page(found, limit, cursor, "deployments", project)
    return DeploymentPage(items=[_public(d) for d in items], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=DeploymentPublic)
def create_deployment(
    project: str, body: DeploymentCreate, deployments: Deployments
) -> DeploymentPublic:
    """A new deployment (contributors): a plan, or one route as `model@alias` or
    `model/3`."""
    plan = body.plan if isinstance(body.plan, str) else _plan(body.plan)
    made = deployments.create(
        body.name,
        plan,
        project=project,
        description=body.description,
        sample_rate=body.sample_rate,
    )
    return _public(made)


@router.get("/{name}", response_model=DeploymentPublic)
def get_deployment(project: str, name: str, deployments: Deployments) -> DeploymentPublic:
    """One deployment, its routes resolved to versions now (predictors may ask)."""
    return _public(deployments.get(name, project=project))


@router.put("/{name}/plan", response_model=DeploymentPublic)
def set_traffic(
    project: str, name: str, body: TrafficBody, deployments: Deployments
) -> DeploymentPublic:
    """A new revision of the plan (contributors); 409 when `expected_revision` is not the
    current one."""
    changed = deployments.set_traffic(
        name,
        _plan(body.plan),
        project=project,
        reason=body.reason,
        expected_revision=body.expected_revision,
        rollout=_rollout(body.rollout),
    )
    return _public(changed)


@router.post("/-/reports", status_code=204, response_class=Response)
def report(project: str, body: ReportBody, deployments: Deployments) -> None:
    """An inference server's counts per deployment and version since its last report, and
    the versions it found unhealthy (contributors: a predictor token may not report). The
    rollouts of the deployments it names are judged at once."""
    deployments.report(project, ServingReport.from_dict(body.model_dump()))


@router.post("/{name}/promote", response_model=DeploymentPublic)
def promote(
    project: str, name: str, body: PromoteBody, deployments: Deployments
) -> DeploymentPublic:
    """Move the alias to a route's version and send all traffic to the alias, in one step
    (contributors)."""
    promoted = deployments.promote(
        name,
        project=project,
        model=body.model,
        ref=body.ref,
        alias=body.alias,
        reason=body.reason,
    )
    return _public(promoted)


@router.post("/{name}/rollback", response_model=DeploymentPublic)
def rollback(
    project: str, name: str, body: RollbackBody, deployments: Deployments
) -> DeploymentPublic:
    """A new revision equal to an earlier one (default: all traffic to the champion route)
    (contributors)."""
    back = deployments.rollback(
        name, project=project, to_revision=body.to_revision, reason=body.reason
    )
    return _public(back)


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_deployment(project: str, name: str, deployments: Deployments) -> None:
    """Delete a deployment and its plans' history (contributors; the audit log keeps every
    change)."""
    deployments.delete(name, project=project)


@router.get("/{name}/history", response_model=PlanRevisionPage)
def history(
    project: str,
    name: str,
    deployments: Deployments,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> PlanRevisionPage:
    """Every revision of the plan, oldest first, as written (viewers)."""
    found = deployments.history(name, project=project)
    items, next_cursor = page(found, limit, cursor, "deployment-history", project, name)
    return PlanRevisionPage(items=[_revision(r) for r in items], next_cursor=next_cursor)
