"""Deployments, as sugar: a name plus a traffic plan over model versions.

>>> import modelyard as my                                                   # doctest: +SKIP
>>> my.deployments.create("churn-api", "churn-rf@champion", project="churn")  # doctest: +SKIP
>>> my.deployments.set_traffic("churn-api", plan, project="churn")           # doctest: +SKIP
>>> my.deployments.promote("churn-api", project="churn")                     # doctest: +SKIP

These functions are thin sugar over ``Client.deployments``
(:class:`~modelyard.serving.contract.DeploymentContract`): each uses the active run's
client, or a Client built from the settings (``settings=`` or the environment); the
project is the active run's, else ``default``, unless given. Importing this module is
light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.sdk.client import DEFAULT_PROJECT, client_for

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.serving.entities import Deployment, PlanRevision, TrafficPlan
    from modelyard.serving.rollouts import Rollout

__all__ = [
    "create",
    "delete",
    "get",
    "history",
    "list_deployments",
    "promote",
    "rollback",
    "set_traffic",
]


def _project(project: str | None) -> str:
    if project is not None:
        return project
    from modelyard.sdk.run import active_run

    run = active_run()
    return str(run.project) if run is not None else DEFAULT_PROJECT


def create(
    name: str,
    plan: TrafficPlan | str,
    *,
    project: str | None = None,
    description: str = "",
    sample_rate: float = 1.0,
    settings: Settings | None = None,
) -> Deployment:
    """A new deployment: ``plan`` is a plan or one route (``model@alias``, ``model/3``)."""
    with client_for(settings) as client:
        return client.deployments.create(
            name,
            plan,
            project=_project(project),
            description=description,
            sample_rate=sample_rate,
        )


def get(name: str, *, project: str | None = None, settings: Settings | None = None) -> Deployment:
    """The deployment, its routes resolved to versions now."""
    with client_for(settings) as client:
        return client.deployments.get(name, project=_project(project))


def list_deployments(
    project: str | None = None, *, settings: Settings | None = None
) -> list[Deployment]:
    """Every deployment of a project, by name."""
    with client_for(settings) as client:
        return client.deployments.list_deployments(_project(project))


def set_traffic(
    name: str,
    plan: TrafficPlan,
    *,
    project: str | None = None,
    reason: str = "",
    expected_revision: int | None = None,
    rollout: Rollout | None = None,
    settings: Settings | None = None,
) -> Deployment:
    """A new revision of the plan (Conflict when ``expected_revision`` is not current);
    ``rollout``: its candidates' guard rails and stepping schedule."""
    with client_for(settings) as client:
        return client.deployments.set_traffic(
            name,
            plan,
            project=_project(project),
            reason=reason,
            expected_revision=expected_revision,
            rollout=rollout,
        )


def promote(
    name: str,
    *,
    project: str | None = None,
    model: str | None = None,
    ref: str | None = None,
    alias: str = "champion",
    reason: str = "",
    settings: Settings | None = None,
) -> Deployment:
    """Move ``alias`` to a route's version and send all traffic to the alias, in one step."""
    with client_for(settings) as client:
        return client.deployments.promote(
            name, project=_project(project), model=model, ref=ref, alias=alias, reason=reason
        )


def rollback(
    name: str,
    *,
    project: str | None = None,
    to_revision: int | None = None,
    reason: str = "",
    settings: Settings | None = None,
) -> Deployment:
    """A new revision equal to an earlier one (default: all traffic to the champion route)."""
    with client_for(settings) as client:
        return client.deployments.rollback(
            name, project=_project(project), to_revision=to_revision, reason=reason
        )


def delete(name: str, *, project: str | None = None, settings: Settings | None = None) -> None:
    """Remove a deployment (the audit log keeps every change)."""
    with client_for(settings) as client:
        client.deployments.delete(name, project=_project(project))


def history(
    name: str, *, project: str | None = None, settings: Settings | None = None
) -> list[PlanRevision]:
    """Every revision of the plan, oldest first, as written."""
    with client_for(settings) as client:
        return client.deployments.history(name, project=_project(project))
