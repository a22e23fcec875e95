"""Monitoring: a project's deployments with their health and open alerts, one
deployment's dashboards (drift heatmap, performance, volume, SLOs, health, cost, loop
runs), and the alert inbox with each alert's page (acknowledge, resolve, comment).

Every figure comes from the monitoring services as the viewer (they check the role);
acknowledging, resolving and commenting are calls to the alerts API from the page,
offered to contributors only (the API checks again)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from modelyard.api._services import get_services
from modelyard.api.ui._health import shown_health
from modelyard.api.ui._pages import page, render, viewer
from modelyard.api.ui.pages_core import _month_start_ms
from modelyard.errors import InvalidInput
from modelyard.monitoring._health import DAY_MS, FORMULA, LOOKBACK_MS
from modelyard.monitoring.entities import ALERT_STATUSES, Alert, WindowValue

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: Alerts on a page of the inbox (newest first).
INBOX_ROWS = 100
#: Windows of a monitor drawn on a deployment's page (the newest).
WINDOWS = 168
#: Windows (columns) of the drift heatmap (the newest).
HEATMAP_WINDOWS = 48
#: The span of the health history drawn.
WEEK_MS = 7 * DAY_MS
#: Loop runs shown as timelines (the newest).
LOOP_RUNS = 10
#: Kinds of monitor that hold service-level objectives.
SLO_KINDS = ("latency", "errors")
#: How a loop run's steps read on its timeline.
STEP_LABELS = {
    "retrain": "retrained",
    "register": "registered",
    "evaluate": "evaluated",
    "approve": "approved",
    "canary": "canary",
    "compare": "compared",
    "promote": "promoted",
    "rollback": "rolled back",
}
#: The role that may acknowledge, resolve and comment on alerts.
ACTS = "contributor"

_COMPONENT = re.compile(r"(\w+) \(([\d.]+)\) = (.*?)(?=; \w+ \([\d.]+\) = |$)")
#: Each health component's formula, as the health score states it.
COMPONENT_FORMULAS = {m.group(1): m.group(3) for m in _COMPONENT.finditer(FORMULA)}


@router.get("/projects/{project}/monitoring", response_class=HTMLResponse)
@page
def monitoring(request: Request, project: str) -> Response:
    """The project's deployments with their health score and open alerts, and the
    alert inbox's unresolved alerts."""
    who = viewer(request)
    services = get_services(request)
    services.projects.acting_as(who.actor).get(project)
    deployments = services.deployments.acting_as(who.actor).list_deployments(project)
    alerts = services.alerts.acting_as(who.actor)
    rows = [
        {
            "name": d.name,
            "health": shown_health(services, who.actor, project, d.name),
            "open": len(
                alerts.list_alerts(project, status="open", deployment=d.name, limit=INBOX_ROWS)
            ),
        }
        for d in deployments
    ]
    inbox = alerts.list_alerts(project, status="open", limit=INBOX_ROWS) + alerts.list_alerts(
        project, status="acknowledged", limit=INBOX_ROWS
    )
    inbox.sort(key=lambda a: (a.opened_at, a.id), reverse=True)
    return render(
        request,
        "mon_overview.html",
        who,
        project=project,
        deployments=rows,
        alerts=inbox[:INBOX_ROWS],
    )


@router.get("/projects/{project}/monitoring/{deployment}", response_class=HTMLResponse)
@page
def deployment_monitoring(request: Request, project: str, deployment: str) -> Response:
    """One deployment's monitoring: drift per feature over time, performance, volume
    against expected, SLOs, health with its components and history, serving cost, loop
    runs."""
    who = viewer(request)
    services = get_services(request)
    found = services.deployments.acting_as(who.actor).get(deployment, project=project)
    monitors = services.monitors.acting_as(who.actor)
    alerts = services.alerts.acting_as(who.actor)
    costs = services.costs.acting_as(who.actor)
    declared = monitors.list_monitors(found.name, project=project)
    values = {
        m.name: monitors.values(found.name, m.name, project=project, newest=WINDOWS)
        for m in declared
    }
    by_kind: dict[str, list[Any]] = {}
    for m in declared:
        by_kind.setdefault(m.kind, []).append(m)
    health = shown_health(services, who.actor, project, found.name)
    history = alerts.health_history(found.name, project=project)
    if not history and health.as_of is not None:  # the week up to the health shown
        history = alerts.health_history(
            found.name, project=project, since=health.as_of - WEEK_MS, until=health.as_of
        )
    month = _month_start_ms()
    cost = costs.serving_cost(found.name, project=project, since=month)[0]
    cost_versions = costs.serving_cost(found.name, project=project, since=month, by_version=True)
    cost_series = costs.serving_cost_series(found.name, project=project, unit="day")
    charts = {
        "performance": [
            _series(m.name, values[m.name], ("labelled",)) for m in by_kind.get("performance", [])
        ],
        "volume": [_volume(m.name, values[m.name]) for m in by_kind.get("volume", [])],
        "health": {
            "x": [h.at // 1000 for h in history],
            "score": [h.score for h in history],
        },
        "cost": {
            "x": [f.start // 1000 for f in cost_series],
            "cost": [f.cost for f in cost_series],
            "currency": cost.currency,
        },
    }
    return render(
        request,
        "mon_deployment.html",
        who,
        project=project,
        deployment=found.name,
        monitors=declared,
        heatmaps=[_heatmap(m.name, values[m.name]) for m in by_kind.get("drift", [])],
        slos=[_slo(m, values[m.name]) for kind in SLO_KINDS for m in by_kind.get(kind, [])],
        health=health,
        lookback_days=LOOKBACK_MS // DAY_MS,
        formulas=COMPONENT_FORMULAS,
        cost=cost,
        cost_versions=cost_versions,
        step_labels=STEP_LABELS,
        charts=charts,
        loops=services.loops.acting_as(who.actor).list_runs(
            found.name, project=project, limit=LOOP_RUNS
        ),
    )


@router.get("/projects/{project}/alerts", response_class=HTMLResponse)
@page
def inbox(request: Request, project: str, status: str = "") -> Response:
    """The alert inbox, newest first: all alerts, or those of one status."""
    who = viewer(request)
    if status and status not in ALERT_STATUSES:
        raise InvalidInput(f"status must be one of {list(ALERT_STATUSES)}", field="status")
    found = (
        get_services(request)
        .alerts.acting_as(who.actor)
        .list_alerts(project, status=status or None, limit=INBOX_ROWS)
    )
    return render(
        request,
        "mon_alerts.html",
        who,
        project=project,
        alerts=found,
        chosen=status,
        statuses=ALERT_STATUSES,
    )


@router.get("/projects/{project}/alerts/{alert_id}", response_class=HTMLResponse)
@page
def alert(request: Request, project: str, alert_id: str) -> Response:
    """One alert: what was found, its history, and (contributors) acknowledge, resolve
    and comment."""
    who = viewer(request)
    found: Alert = get_services(request).alerts.acting_as(who.actor).get(alert_id, project=project)
    return render(
        request, "mon_alert.html", who, project=project, alert=found, can_act=who.can(project, ACTS)
    )


def _series(name: str, values: list[WindowValue], extra: tuple[str, ...]) -> dict[str, Any]:
    """A monitor's value per window (at each window's end, seconds) and the named
    numbers of its details, for a uPlot chart."""
    return {
        "name": name,
        "x": [v.window_end // 1000 for v in values],
        "value": [v.value for v in values],
        **{key: [v.details.get(key) for v in values] for key in extra},
    }


def _volume(name: str, values: list[WindowValue]) -> dict[str, Any]:
    """Rows logged and rows expected per window."""
    return {
        "name": name,
        "x": [v.window_end // 1000 for v in values],
        "rows": [v.details.get("rows", v.rows) for v in values],
        "expected": [v.details.get("expected") for v in values],
    }


def _slo(monitor: Any, values: list[WindowValue]) -> dict[str, Any]:
    """A latency or errors monitor's objective, its latest measured value, and how many
    of the windows shown breached."""
    target = monitor.config.get("max_ms" if monitor.kind == "latency" else "max_rate")
    judged = [v for v in values if v.value is not None]
    latest = judged[-1] if judged else None
    return {
        "name": monitor.name,
        "kind": monitor.kind,
        "target": target,
        "quantile": monitor.config.get("quantile", 0.99) if monitor.kind == "latency" else None,
        "measured": latest.value if latest else None,
        "at": latest.window_end if latest else None,
        "breached": sum(1 for v in judged if v.status == "breached"),
        "windows": len(judged),
    }


def _level(detail: dict[str, Any]) -> int:
    """A heatmap cell's colour step, 0 (far from drifting) to 4 (drifted): from the test's
    p-value when it has one, else its statistic against the threshold."""
    if detail.get("drifted"):
        return 4
    p, statistic, threshold = (
        detail.get("p_value"),
        detail.get("statistic"),
        detail.get("threshold"),
    )
    if p is not None:
        closeness = 1 - float(p)
    elif statistic is not None and threshold:
        closeness = min(1.0, float(statistic) / float(threshold))
    else:
        return -1
    return min(3, int(closeness * 4))


def _heatmap(name: str, values: list[WindowValue]) -> dict[str, Any]:
    """A drift monitor's findings as a grid: one row per feature, one column per
    window (the newest :data:`HEATMAP_WINDOWS`), each cell the feature's test in that
    window."""
    windows = values[-HEATMAP_WINDOWS:]
    features = sorted({f for v in windows for f in v.details.get("features", {})})
    cells = [
        [
            {**detail, "level": _level(detail)} if detail is not None else None
            for detail in (v.details.get("features", {}).get(f) for v in windows)
        ]
        for f in features
    ]
    return {"name": name, "windows": windows, "features": features, "cells": cells}
