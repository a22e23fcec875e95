"""Monitors on a deployment: declare (one, or a YAML document), list, read, delete, run a
pass now, and a monitor's values per window (the dashboards' time series).

Every rule -- who may read or change, the kinds, windows and configurations -- is the
monitor service's; routes translate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from modelyard import limits
from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_monitors
from modelyard.api.schemas.monitors import (
    MonitorApply,
    MonitorCreate,
    MonitorPage,
    MonitorPublic,
    PassPublic,
    WindowValuePage,
    WindowValuePublic,
)
from modelyard.monitoring.entities import Monitor
from modelyard.monitoring.service import MonitorService

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}", tags=["monitors"], route_class=Route)

Monitors = Annotated[MonitorService, Depends(get_monitors)]
Millis = Annotated[int | None, Query(ge=0, le=2**63 - 1)]


def _public(found: Monitor) -> MonitorPublic:
    return MonitorPublic.model_validate(found.as_dict())


@router.get("/deployments/{deployment}/monitors", response_model=MonitorPage)
def list_monitors(
    project: str,
    deployment: str,
    monitors: Monitors,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> MonitorPage:
    """The deployment's monitors by name (viewers)."""
    found = monitors.list_monitors(deployment, project=project)
    items, next_cursor = page(found, limit, cursor, "monitors", project, deployment)
    return MonitorPage(items=[_public(m) for m in items], next_cursor=next_cursor)


@router.post("/deployments/{deployment}/monitors", status_code=201, response_model=MonitorPublic)
def create_monitor(
    project: str, deployment: str, body: MonitorCreate, monitors: Monitors
) -> MonitorPublic:
    """A new monitor (contributors); 422 naming the field when the kind, window, slide,
    severity or config is wrong, or the version has no training profile the kind needs."""
    made = monitors.create(
        deployment,
        body.name,
        body.kind,
        project=project,
        config=body.config,
        window=body.window,
        slide=body.slide,
        severity=body.severity,
    )
    return _public(made)


@router.post("/monitors/apply", response_model=list[MonitorPublic])
def apply_monitors(project: str, body: MonitorApply, monitors: Monitors) -> list[MonitorPublic]:
    """Create or update the monitors a YAML document declares, all or none (contributors)."""
    return [_public(m) for m in monitors.apply(body.spec, project=project)]


@router.get("/deployments/{deployment}/monitors/{name}", response_model=MonitorPublic)
def get_monitor(project: str, deployment: str, name: str, monitors: Monitors) -> MonitorPublic:
    """One monitor (viewers)."""
    return _public(monitors.get(deployment, name, project=project))


@router.delete(
    "/deployments/{deployment}/monitors/{name}", status_code=204, response_class=Response
)
def delete_monitor(project: str, deployment: str, name: str, monitors: Monitors) -> None:
    """Delete a monitor and its values (contributors; its alerts stay)."""
    monitors.delete(deployment, name, project=project)


@router.post("/deployments/{deployment}/passes", response_model=PassPublic)
def run_pass(project: str, deployment: str, monitors: Monitors) -> PassPublic:
    """Run a monitoring pass over the deployment now (contributors): the segments and
    labels that are new, judged by every enabled monitor."""
    return PassPublic.model_validate(monitors.run_pass(deployment, project=project).as_dict())


@router.get("/deployments/{deployment}/monitors/{name}/values", response_model=WindowValuePage)
def values(
    project: str,
    deployment: str,
    name: str,
    monitors: Monitors,
    since: Millis = None,
    until: Millis = None,
    version: Annotated[str | None, Query(max_length=300)] = None,
    newest: Annotated[
        int | None,
        Query(ge=1, le=limits.NUMBER, description="Only the newest this many windows."),
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> WindowValuePage:
    """The monitor's values per window from `since` to `until` (ms), oldest first, for
    `version` (`model/3`) or all versions together (viewers); only the `newest` windows
    of those when given."""
    found = monitors.values(
        deployment,
        name,
        project=project,
        since=since,
        until=until,
        version=version,
        newest=newest,
    )
    bound = ("monitor-values", project, deployment, name, since, until, version, newest)
    items, next_cursor = page(found, limit, cursor, *bound)
    return WindowValuePage(
        items=[WindowValuePublic.model_validate(v.as_dict()) for v in items],
        next_cursor=next_cursor,
    )
