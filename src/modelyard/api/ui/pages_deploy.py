"""A project's deployments, and one deployment: its traffic plan with an editor, promote
and rollback (contributors: the API checks again), what its servers answered over the
last hours (request rate, latency, errors, split by version), the plan's history and a
sample of recent predictions.

The traffic is live: while the page is shown, ``static/deploy.js`` reads it again every
:data:`REFRESH_S` seconds from the JSON route beside the page (``.../traffic``), which
answers the same charts' data and split as the page renders."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from modelyard.api._services import get_services
from modelyard.api.ui._pages import (
    EnrolFirst,
    SignInFirst,
    Viewer,
    _fmt_time,
    _fmt_value,
    page,
    render,
    viewer,
)
from modelyard.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from modelyard.serving.entities import Deployment, Route
from modelyard.serving.traffic import Traffic, VersionTraffic

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: The spans of traffic a page may show (hours), and the one it shows first.
SPANS = (1, 6, 24, 168)
DEFAULT_SPAN = 6
#: Seconds between two reads of the traffic by an open page (``static/deploy.js``), and
#: by span (hours): a longer span's buckets are hours long, and reading a week of reports
#: costs seconds of the server's CPU, so it is read again less often.
REFRESH_S = 5
REFRESH_BY_SPAN = {1: REFRESH_S, 6: REFRESH_S, 24: 30, 168: 120}
#: Buckets in a traffic chart.
BUCKETS = 60
#: Predictions in the sample, and the windows looked back through (ms) for them: the
#: shortest that holds enough (a busy deployment's log is read for minutes only).
SAMPLE_ROWS = 20
SAMPLE_WINDOWS = (5 * 60_000, 3_600_000, 86_400_000)
#: A logged value is cut to this many characters in the sample.
CELL = 200
#: Plan actions that restored an earlier plan.
ROLLBACKS = ("rollback", "auto-rollback")


@router.get("/projects/{project}/deployments", response_class=HTMLResponse)
@page
def deployments(request: Request, project: str) -> Response:
    """The project's deployments: plan (strategy, routes and weights), revision, updated."""
    who = viewer(request)
    services = get_services(request)
    services.projects.acting_as(who.actor).get(project)
    found = services.deployments.acting_as(who.actor).list_deployments(project)
    return render(request, "deploy_list.html", who, project=project, deployments=found)


@router.get("/projects/{project}/deployments/{name}", response_class=HTMLResponse)
@page
def deployment(
    request: Request, project: str, name: str, hours: str = str(DEFAULT_SPAN)
) -> Response:
    """One deployment: the plan and its editor, promote and rollback, traffic of the last
    ``hours`` (one of :data:`SPANS`), the plan's history, a sample of predictions."""
    span = _span(hours)
    who = viewer(request)
    services = get_services(request)
    service = services.deployments.acting_as(who.actor)
    found = service.get(name, project=project)
    history = service.history(name, project=project)
    return render(
        request,
        "deploy_one.html",
        who,
        project=project,
        deployment=found,
        routes=_routes(request, who.actor, found),
        history=list(reversed(history)),
        rollbacks=ROLLBACKS,
        traffic=_live(found, _traffic(request, who, found, span)),
        spans=SPANS,
        hours=span,
        refresh_s=REFRESH_BY_SPAN[span],
        sample=_sample(request, who.actor, project, name),
        can_change=who.can(project, "contributor"),
    )


@router.get("/projects/{project}/deployments/{name}/traffic", response_class=JSONResponse)
def deployment_traffic(
    request: Request, project: str, name: str, hours: str = str(DEFAULT_SPAN)
) -> Response:
    """The deployment page's traffic as JSON, for its live refresh: what the page renders
    (:func:`_live`), read now. Errors are the API's JSON errors (401 when the session
    ended, 404, 422 for ``hours``), never a page."""
    try:
        who = viewer(request)
    except SignInFirst:
        raise Unauthenticated("sign in again to see the deployment's traffic") from None
    except EnrolFirst:
        raise PermissionDenied("set up two-factor authentication first") from None
    span = _span(hours)
    found = get_services(request).deployments.acting_as(who.actor).get(name, project=project)
    body = _live(found, _traffic(request, who, found, span))
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _span(hours: str) -> int:
    """``hours`` as one of :data:`SPANS` (InvalidInput naming the field otherwise)."""
    if hours not in {str(h) for h in SPANS}:
        raise InvalidInput(
            f"hours must be one of {', '.join(map(str, SPANS))}; got {hours[:20]!r}",
            field="hours",
        )
    return int(hours)


def _traffic(request: Request, who: Viewer, found: Deployment, span: int) -> Traffic:
    """The deployment's traffic of the last ``span`` hours until now, in :data:`BUCKETS`."""
    service = get_services(request).deployments.acting_as(who.actor)
    until = int(time.time() * 1000)
    step = math.ceil(span * 3_600_000 / BUCKETS)
    return service.traffic(found.name, project=found.project, since=until - BUCKETS * step,
                           until=until, step_ms=step)  # fmt: skip


def _live(found: Deployment, traffic: Traffic) -> dict[str, Any]:
    """What the page shows of ``traffic`` and refreshes as it goes: whether anything was
    answered, the line saying as of when and in which buckets, the charts' data and the
    split by version's cells (text, as rendered)."""
    minutes = round(traffic.step_ms / 60_000, 1)
    return {
        "requests": traffic.total.total_requests,
        "until": traffic.until,
        "note": f"as of {_fmt_time(traffic.until)} UTC, buckets of {minutes} min",
        "charts": _charts(traffic),
        "split": [_split_cells(s) for s in _split(found, traffic)],
    }


def _routes(request: Request, actor: Any, found: Deployment) -> list[dict[str, Any]]:
    """The plan's routes (live, then shadows) with the status of the version each names."""
    models = get_services(request).models.acting_as(actor)
    out = []
    for shadow, group in ((False, found.plan.routes), (True, found.plan.shadows)):
        for i, route in enumerate(group):
            status = None
            if route.version is not None:
                try:
                    status = models.get_version(
                        route.model, project=found.project, version=route.version
                    ).status
                except NotFound:
                    status = None
            out.append(
                {
                    "route": route,
                    "written": _written(route),
                    "shadow": shadow,
                    "champion": not shadow and i == 0,
                    "status": status,
                }
            )
    return out


def _written(route: Route) -> str:
    return f"{route.model}/{route.ref}" if route.ref.isdigit() else f"{route.model}@{route.ref}"


def _split(found: Deployment, traffic: Traffic) -> list[dict[str, Any]]:
    """Each version's share of the span's requests, errors and latency, with the routes
    that name it now."""
    named: dict[str, list[str]] = {}
    for route in (*found.plan.routes, *found.plan.shadows):
        if route.version_id is not None:
            named.setdefault(route.version_id, []).append(_written(route))
    total = traffic.total.total_requests
    return [
        {
            "version": v,
            "routes": named.get(v.version_id, []),
            "share": v.total_requests / total if total else None,
            "error_rate": v.total_errors / v.total_requests if v.total_requests else None,
        }
        for v in traffic.versions
    ]


def _split_cells(share: dict[str, Any]) -> list[str]:
    """One row of the split by version as text: version, routes now, requests, share,
    errors, error rate, p50 and p95 (a latency is a histogram bucket's upper bound)."""
    version: VersionTraffic = share["version"]

    def percent(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{round(value * 100, digits)}%"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"≤ {_fmt_value(value)} ms"

    return [
        version.label,
        ", ".join(share["routes"]) or "-",
        str(version.total_requests),
        percent(share["share"], 1),
        str(version.total_errors),
        percent(share["error_rate"], 2),
        ms(version.total_p50_ms),
        ms(version.total_p95_ms),
    ]


def _charts(traffic: Traffic) -> dict[str, Any]:
    """The charts' data for ``static/deploy.js``: x in seconds, then named series."""
    step_s = traffic.step_ms / 1000
    everything: list[tuple[str, VersionTraffic]] = [("all versions", traffic.total)]
    everything += [(v.label, v) for v in traffic.versions]

    def rate(v: VersionTraffic) -> list[float]:
        return [round(r / step_s, 4) for r in v.requests]

    def errors(v: VersionTraffic) -> list[float | None]:
        pairs = zip(v.errors, v.requests, strict=True)
        return [round(100 * e / r, 3) if r else None for e, r in pairs]

    latency = [
        {"label": "p50 (all)", "values": traffic.total.p50_ms},
        {"label": "p95 (all)", "values": traffic.total.p95_ms},
    ]
    if len(traffic.versions) > 1:
        latency += [{"label": f"p95 {v.label}", "values": v.p95_ms} for v in traffic.versions]
    return {
        "x": [s / 1000 for s in traffic.starts],
        "requests": [{"label": label, "values": rate(v)} for label, v in everything],
        "latency": latency,
        "errors": [{"label": label, "values": errors(v)} for label, v in everything],
    }


def _sample(request: Request, actor: Any, project: str, name: str) -> dict[str, Any]:
    """The newest :data:`SAMPLE_ROWS` predictions of the log (newest first): their time,
    version, inputs, outputs and label as text."""
    predictions = get_services(request).predictions.acting_as(actor)
    now = int(time.time() * 1000)
    frame = None
    for window in SAMPLE_WINDOWS:
        frame = predictions.load(project, name, since=now - window)
        if len(frame) >= SAMPLE_ROWS:
            break
    if frame is None or frame.empty:
        return {"inputs": [], "outputs": [], "rows": []}
    frame = frame.sort_values("time", ascending=False).head(SAMPLE_ROWS)
    inputs = [c for c in frame.columns if c.startswith("input")]
    outputs = [c for c in frame.columns if c.startswith("output")]
    rows = [
        {
            "id": row["prediction_id"],
            "time": int(row["time"].timestamp() * 1000),
            "version": f"{row['model']}/{row['version']}" if row["model"] else row["version_id"],
            "shadow": bool(row["shadow"]),
            "inputs": [_cell(row[c]) for c in inputs],
            "outputs": [_cell(row[c]) for c in outputs],
            "label": _cell(row["label"]) if "label" in frame.columns else "-",
        }
        for _, row in frame.iterrows()
    ]
    return {"inputs": inputs, "outputs": outputs, "rows": rows}


def _cell(value: Any) -> str:
    """A logged value as text (JSON where it is one), cut to :data:`CELL` characters."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"
