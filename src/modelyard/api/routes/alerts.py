"""Alerts of a project (list, read with history, acknowledge, resolve, comment) and the
health of a deployment (now, and per window for dashboards).

Every rule -- who may read or change, the filters and their bounds, what a resolved
alert refuses, the health formula -- is the alert service's; routes translate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from modelyard import limits
from modelyard.api._routing import Route
from modelyard.api._services import get_alerts
from modelyard.api.schemas._types import ShortText
from modelyard.api.schemas.alerts import (
    AlertList,
    AlertPublic,
    CommentBody,
    HealthList,
    HealthPublic,
    NoteBody,
)
from modelyard.monitoring.alerts import AlertService
from modelyard.monitoring.entities import Alert, Health

__all__ = ["router"]

router = APIRouter(tags=["alerts"], route_class=Route)
_ALERTS = "/projects/{project}/alerts"
_HEALTH = "/projects/{project}/deployments/{deployment}/health"

Alerts = Annotated[AlertService, Depends(get_alerts)]
Millis = Annotated[int | None, Query(ge=0, le=limits.INTEGER, description="ms since the epoch.")]


def _alert(found: Alert) -> AlertPublic:
    return AlertPublic.model_validate(found.as_dict())


def _health(found: Health) -> HealthPublic:
    return HealthPublic.model_validate(found.as_dict())


@router.get(_ALERTS, response_model=AlertList)
def list_alerts(
    project: str,
    alerts: Alerts,
    status: Annotated[
        ShortText | None, Query(description="open, acknowledged or resolved.")
    ] = None,
    severity: Annotated[ShortText | None, Query(description="info, warning or critical.")] = None,
    deployment: Annotated[
        ShortText | None, Query(description="Alerts on the deployment or opened by its monitors.")
    ] = None,
    limit: Annotated[int, Query(description=f"At most {limits.ALERTS_PAGE}.")] = 100,
) -> AlertList:
    """Alerts of a project, newest first (viewers)."""
    found = alerts.list_alerts(
        project, status=status, severity=severity, deployment=deployment, limit=limit
    )
    return AlertList(items=[_alert(a) for a in found])


@router.get(f"{_ALERTS}/{{alert_id}}", response_model=AlertPublic)
def get_alert(project: str, alert_id: str, alerts: Alerts) -> AlertPublic:
    """One alert with its history (viewers)."""
    return _alert(alerts.get(alert_id, project=project))


@router.post(f"{_ALERTS}/{{alert_id}}/acknowledge", response_model=AlertPublic)
def acknowledge(project: str, alert_id: str, body: NoteBody, alerts: Alerts) -> AlertPublic:
    """Someone is on it; the alert stays unresolved (contributors; 409 when it is
    acknowledged or resolved already)."""
    return _alert(alerts.acknowledge(alert_id, project=project, comment=body.comment))


@router.post(f"{_ALERTS}/{{alert_id}}/resolve", response_model=AlertPublic)
def resolve(project: str, alert_id: str, body: NoteBody, alerts: Alerts) -> AlertPublic:
    """Resolve the alert (contributors; 409 when it is resolved already)."""
    return _alert(alerts.resolve(alert_id, project=project, comment=body.comment))


@router.post(f"{_ALERTS}/{{alert_id}}/comments", response_model=AlertPublic)
def comment(project: str, alert_id: str, body: CommentBody, alerts: Alerts) -> AlertPublic:
    """Add a comment to the alert's history (contributors)."""
    return _alert(alerts.comment(alert_id, body.comment, project=project))


@router.get(_HEALTH, response_model=HealthPublic)
def health(
    project: str,
    deployment: str,
    alerts: Alerts,
    version: Annotated[
        ShortText | None, Query(description="One version as served there: `model/3`.")
    ] = None,
) -> HealthPublic:
    """The deployment's health now (or one version's), with its components and formula
    (viewers)."""
    return _health(alerts.health(deployment, project=project, version=version))


@router.get(f"{_HEALTH}/history", response_model=HealthList)
def health_history(
    project: str,
    deployment: str,
    alerts: Alerts,
    since: Millis = None,
    until: Millis = None,
) -> HealthList:
    """The deployment's health at the end of each window judged, oldest first (viewers)."""
    found = alerts.health_history(deployment, project=project, since=since, until=until)
    return HealthList(items=[_health(h) for h in found])
