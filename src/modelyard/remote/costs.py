"""Costs and budgets on a server: what ``client.costs`` is in remote mode.
``RemoteCosts`` has the methods of :class:`~modelyard.monitoring.contract.CostContract`,
with the same signatures, results and errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.monitoring.entities import Budget, CostFigure
from modelyard.remote._http import HttpSession, entity

__all__ = ["RemoteCosts"]


def _project(project: str) -> str:
    validate_name(project, "project")
    return f"/projects/{quote(project, safe='')}"


def _budget(data: dict[str, Any]) -> Budget:
    return entity(Budget, data, thresholds=tuple(data["thresholds"]))


class RemoteCosts:
    """Serving and training costs and budgets on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def serving_cost(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        by_version: bool = False,
    ) -> list[CostFigure]:
        """What serving ``deployment`` cost (one figure, or one per version)."""
        validate_name(deployment, "deployment")
        params: dict[str, Any] = {"by_version": str(by_version).lower()}
        params |= {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        path = f"{_project(project)}/deployments/{quote(deployment, safe='')}/cost"
        return [entity(CostFigure, f) for f in self.http.call("GET", path, params=params).json()]

    def serving_cost_series(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        unit: str = "day",
        by_version: bool = False,
    ) -> list[CostFigure]:
        """What serving ``deployment`` cost per hour or day, oldest first (dashboards)."""
        validate_name(deployment, "deployment")
        params: dict[str, Any] = {"unit": unit, "by_version": str(by_version).lower()}
        params |= {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        path = f"{_project(project)}/deployments/{quote(deployment, safe='')}/cost/series"
        return [entity(CostFigure, f) for f in self.http.call("GET", path, params=params).json()]

    def training_cost(self, model: str, version: int, *, project: str) -> CostFigure:
        """What training a model version cost: the sum of its pipeline runs."""
        validate_name(model, "model")
        path = f"{_project(project)}/models/{quote(model, safe='')}/versions/{int(version)}/cost"
        return entity(CostFigure, self.http.call("GET", path).json())

    def set_budget(
        self,
        project: str,
        amount: float,
        *,
        scope: str = "all",
        thresholds: tuple[float, ...] = (0.5, 0.8, 1.0),
    ) -> Budget:
        """Set the project's monthly budget for ``scope`` (admins)."""
        body = {"amount": amount, "thresholds": list(thresholds)}
        path = f"{_project(project)}/budgets/{quote(scope, safe='')}"
        return _budget(self.http.call("PUT", path, json_body=body).json())

    def list_budgets(self, project: str) -> list[Budget]:
        """A project's budgets with what was spent this month."""
        return [_budget(b) for b in self.http.call("GET", f"{_project(project)}/budgets").json()]

    def delete_budget(self, project: str, *, scope: str = "all") -> None:
        """Delete the project's budget for ``scope`` (admins)."""
        path = f"{_project(project)}/budgets/{quote(scope, safe='')}"
        self.http.call("DELETE", path)
