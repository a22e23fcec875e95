"""Alerts and health scores, as sugar.

>>> import modelyard as my                                                   # doctest: +SKIP
>>> my.alerts.list_alerts("churn", status="open")                           # doctest: +SKIP
>>> my.alerts.acknowledge(alert_id, project="churn", comment="on it")       # doctest: +SKIP
>>> my.alerts.health("churn-api", project="churn").score                    # doctest: +SKIP

These functions are thin sugar over ``Client.alerts``
(:class:`~modelyard.monitoring.contract.AlertContract`): each uses the active run's
client, or a Client built from the settings (``settings=`` or the environment); the
project is the active run's, else ``default``, unless given. Importing this module is
light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.sdk.client import DEFAULT_PROJECT, client_for

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.monitoring.entities import Alert, Health

__all__ = [
    "acknowledge",
    "comment",
    "get",
    "health",
    "health_history",
    "list_alerts",
    "resolve",
]


def _project(project: str | None) -> str:
    if project is not None:
        return project
    from modelyard.sdk.run import active_run

    run = active_run()
    return str(run.project) if run is not None else DEFAULT_PROJECT


def list_alerts(
    project: str | None = None,
    *,
    status: str | None = None,
    severity: str | None = None,
    deployment: str | None = None,
    limit: int = 100,
    settings: Settings | None = None,
) -> list[Alert]:
    """Alerts of a project, newest first (filtered by status, severity, deployment)."""
    with client_for(settings) as client:
        return client.alerts.list_alerts(
            _project(project),
            status=status,
            severity=severity,
            deployment=deployment,
            limit=limit,
        )


def get(alert_id: str, *, project: str | None = None, settings: Settings | None = None) -> Alert:
    """One alert with its history."""
    with client_for(settings) as client:
        return client.alerts.get(alert_id, project=_project(project))


def acknowledge(
    alert_id: str,
    *,
    project: str | None = None,
    comment: str = "",
    settings: Settings | None = None,
) -> Alert:
    """Someone is on it (the alert stays unresolved)."""
    with client_for(settings) as client:
        return client.alerts.acknowledge(alert_id, project=_project(project), comment=comment)


def resolve(
    alert_id: str,
    *,
    project: str | None = None,
    comment: str = "",
    settings: Settings | None = None,
) -> Alert:
    """Resolve the alert (``alert.resolved`` names who)."""
    with client_for(settings) as client:
        return client.alerts.resolve(alert_id, project=_project(project), comment=comment)


def comment(
    alert_id: str, text: str, *, project: str | None = None, settings: Settings | None = None
) -> Alert:
    """Add a comment to the alert's history."""
    with client_for(settings) as client:
        return client.alerts.comment(alert_id, text, project=_project(project))


def health(
    deployment: str,
    *,
    project: str | None = None,
    version: str | None = None,
    settings: Settings | None = None,
) -> Health:
    """The health of a deployment (or of one of its versions, ``model/3``) now."""
    with client_for(settings) as client:
        return client.alerts.health(deployment, project=_project(project), version=version)


def health_history(
    deployment: str,
    *,
    project: str | None = None,
    since: int | None = None,
    until: int | None = None,
    settings: Settings | None = None,
) -> list[Health]:
    """The deployment's health per window (ms since the epoch), oldest first."""
    with client_for(settings) as client:
        return client.alerts.health_history(
            deployment, project=_project(project), since=since, until=until
        )
