"""What serving a deployment and training a model version cost, and the projects'
monthly budgets.

Every rule -- who may read or change, the periods, amounts and thresholds -- is the cost
service's; routes translate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from modelyard.api._routing import Route
from modelyard.api._services import get_costs
from modelyard.api.schemas.costs import BudgetBody, BudgetPublic, CostFigurePublic
from modelyard.monitoring.costs import CostService
from modelyard.monitoring.entities import Budget, CostFigure

__all__ = ["router"]

router = APIRouter(tags=["costs"], route_class=Route)
_PROJECT = "/projects/{project}"

Costs = Annotated[CostService, Depends(get_costs)]


def _figure(found: CostFigure) -> CostFigurePublic:
    return CostFigurePublic.model_validate(found.as_dict())


def _budget(found: Budget) -> BudgetPublic:
    return BudgetPublic.model_validate(found.as_dict())


@router.get(f"{_PROJECT}/deployments/{{deployment}}/cost", response_model=list[CostFigurePublic])
def serving_cost(
    project: str,
    deployment: str,
    costs: Costs,
    since: Annotated[int | None, Query(description="From (ms; default: 30 days ago).")] = None,
    until: Annotated[int | None, Query(description="To (ms; default: now).")] = None,
    by_version: Annotated[bool, Query(description="One figure per version.")] = False,
) -> list[CostFigurePublic]:
    """What serving the deployment cost: its servers' CPU and memory, split by its share
    of their requests and priced with the price table (viewers)."""
    found = costs.serving_cost(
        deployment, project=project, since=since, until=until, by_version=by_version
    )
    return [_figure(f) for f in found]


@router.get(
    f"{_PROJECT}/deployments/{{deployment}}/cost/series", response_model=list[CostFigurePublic]
)
def serving_cost_series(
    project: str,
    deployment: str,
    costs: Costs,
    since: Annotated[int | None, Query(description="From (ms; default: 30 days ago).")] = None,
    until: Annotated[int | None, Query(description="To (ms; default: now).")] = None,
    unit: Annotated[str, Query(description="`hour` or `day` (UTC).")] = "day",
    by_version: Annotated[bool, Query(description="One figure per version.")] = False,
) -> list[CostFigurePublic]:
    """What serving the deployment cost per hour or day, oldest first; hours or days with
    no reports are left out (viewers; for dashboards)."""
    found = costs.serving_cost_series(
        deployment, project=project, since=since, until=until, unit=unit, by_version=by_version
    )
    return [_figure(f) for f in found]


@router.get(
    f"{_PROJECT}/models/{{model}}/versions/{{version}}/cost", response_model=CostFigurePublic
)
def training_cost(project: str, model: str, version: int, costs: Costs) -> CostFigurePublic:
    """What training the version cost: its run's cost, or the sum of its pipeline's step
    runs (viewers)."""
    return _figure(costs.training_cost(model, version, project=project))


@router.get(f"{_PROJECT}/budgets", response_model=list[BudgetPublic])
def list_budgets(project: str, costs: Costs) -> list[BudgetPublic]:
    """The project's budgets with what was spent this calendar month (viewers)."""
    return [_budget(b) for b in costs.list_budgets(project)]


@router.put(f"{_PROJECT}/budgets/{{scope}}", response_model=BudgetPublic)
def set_budget(project: str, scope: str, body: BudgetBody, costs: Costs) -> BudgetPublic:
    """Set the project's monthly budget for `all`, `serving` or `training` (admins)."""
    found = costs.set_budget(project, body.amount, scope=scope, thresholds=tuple(body.thresholds))
    return _budget(found)


@router.delete(f"{_PROJECT}/budgets/{{scope}}", status_code=204, response_class=Response)
def delete_budget(project: str, scope: str, costs: Costs) -> None:
    """Delete the project's budget for a scope and resolve its open alert (admins)."""
    costs.delete_budget(project, scope=scope)
