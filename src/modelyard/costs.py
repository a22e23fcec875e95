"""Costs and budgets, as sugar.

>>> import modelyard as my                                                   # doctest: +SKIP
>>> my.costs.serving_cost("churn-api", project="churn", by_version=True)     # doctest: +SKIP
>>> my.costs.training_cost("churn-rf", 3, project="churn")                   # doctest: +SKIP
>>> my.costs.set_budget(100.0, scope="serving", project="churn")             # doctest: +SKIP

These functions are thin sugar over ``Client.costs``
(:class:`~modelyard.monitoring.contract.CostContract`): each uses the active run's client,
or a Client built from the settings (``settings=`` or the environment); the project is
the active run's, else ``default``, unless given. Importing this module is light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.sdk.client import DEFAULT_PROJECT, client_for

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.monitoring.entities import Budget, CostFigure

__all__ = [
    "delete_budget",
    "list_budgets",
    "serving_cost",
    "serving_cost_series",
    "set_budget",
    "training_cost",
]


def _project(project: str | None) -> str:
    if project is not None:
        return project
    from modelyard.sdk.run import active_run

    run = active_run()
    return str(run.project) if run is not None else DEFAULT_PROJECT


def serving_cost(
    deployment: str,
    *,
    project: str | None = None,
    since: int | None = None,
    until: int | None = None,
    by_version: bool = False,
    settings: Settings | None = None,
) -> list[CostFigure]:
    """What serving ``deployment`` cost from ``since`` to ``until`` (ms; by default the
    last 30 days): one figure, or one per version."""
    with client_for(settings) as client:
        return client.costs.serving_cost(
            deployment, project=_project(project), since=since, until=until, by_version=by_version
        )


def serving_cost_series(
    deployment: str,
    *,
    project: str | None = None,
    since: int | None = None,
    until: int | None = None,
    unit: str = "day",
    by_version: bool = False,
    settings: Settings | None = None,
) -> list[CostFigure]:
    """What serving ``deployment`` cost per hour or day (``unit``), oldest first."""
    with client_for(settings) as client:
        return client.costs.serving_cost_series(
            deployment,
            project=_project(project),
            since=since,
            until=until,
            unit=unit,
            by_version=by_version,
        )


def training_cost(
    model: str, version: int, *, project: str | None = None, settings: Settings | None = None
) -> CostFigure:
    """What training ``model`` version ``version`` cost."""
    with client_for(settings) as client:
        return client.costs.training_cost(model, version, project=_project(project))


def set_budget(
    amount: float,
    *,
    scope: str = "all",
    thresholds: tuple[float, ...] = (0.5, 0.8, 1.0),
    project: str | None = None,
    settings: Settings | None = None,
) -> Budget:
    """Set the project's monthly budget for ``scope`` (all, serving or training)."""
    with client_for(settings) as client:
        return client.costs.set_budget(
            _project(project), amount, scope=scope, thresholds=thresholds
        )


def list_budgets(project: str | None = None, *, settings: Settings | None = None) -> list[Budget]:
    """The project's budgets with what was spent this calendar month (UTC)."""
    with client_for(settings) as client:
        return client.costs.list_budgets(_project(project))


def delete_budget(
    *, scope: str = "all", project: str | None = None, settings: Settings | None = None
) -> None:
    """Delete the project's budget for ``scope``."""
    with client_for(settings) as client:
        client.costs.delete_budget(_project(project), scope=scope)
