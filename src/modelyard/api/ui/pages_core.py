"""Sign-in, the projects, a project's home, its runs and one run."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelyard.api._services import get_services
from modelyard.api.ui._health import shown_health
from modelyard.api.ui._pages import SignInFirst, page, render, viewer
from modelyard.api.ui.pages_run import run_details
from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.tracking.entities import Run

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: Rows on a page of the runs table.
PAGE_ROWS = 50
#: Params and metrics shown as columns when the viewer has not chosen any.
DEFAULT_COLUMNS = 6
RECENT = 10
#: The filter of the runs table without one: the runs that have no parent.
TOP_LEVEL = "attributes.parent_id is null"
#: The id of a row of the runs table: ``run-<id>``, then ``-c<n>`` per level of nesting.
_ROW_KEY = re.compile(r"run-[0-9a-f]{32}((?:-c[0-9]{1,3}){0,64})")


@router.get("/signin", response_class=HTMLResponse)
def signin(request: Request, next: str = "/") -> Response:
    """The sign-in form (password, then the one-time code when MFA asks for it). It posts
    to the API's ``/auth/login`` and goes back to ``next``."""
    if not next.startswith("/") or next.startswith("//"):
        next = "/"  # only back to a page of this server
    try:
        viewer(request)
    except SignInFirst:
        return render(request, "signin.html", None, next=next, ask_code=False)
    except ModelyardError:
        pass
    return RedirectResponse(next, status_code=303)


@router.get("/", response_class=HTMLResponse)
@page
def projects(request: Request) -> Response:
    """The projects the viewer may see."""
    who = viewer(request)
    found = get_services(request).projects.acting_as(who.actor).list_projects()
    return render(request, "projects.html", who, projects=found)


@router.get("/projects/{project}", response_class=HTMLResponse)
@page
def project_home(request: Request, project: str) -> Response:
    """A project at a glance: recent runs, models and their champions, deployments and
    their health, open alerts, cost this month."""
    who = viewer(request)
    services = get_services(request)
    services.projects.acting_as(who.actor).get(project)
    runs = services.tracking.acting_as(who.actor).search_runs(project, max_results=RECENT).runs
    models = services.models.acting_as(who.actor).list_models(project)
    deployments = services.deployments.acting_as(who.actor).list_deployments(project)
    health = {d.name: shown_health(services, who.actor, project, d.name) for d in deployments}
    open_alerts = services.alerts.acting_as(who.actor).list_alerts(
        project, status="open", limit=RECENT
    )
    costs = services.costs.acting_as(who.actor)
    month_start = _month_start_ms()
    cost = {
        d.name: costs.serving_cost(d.name, project=project, since=month_start)[0]
        for d in deployments
    }
    return render(
        request,
        "project.html",
        who,
        project=project,
        runs=runs,
        models=models,
        deployments=deployments,
        health=health,
        alerts=open_alerts,
        cost=cost,
    )


@router.get("/projects/{project}/runs", response_class=HTMLResponse)
@page
def runs(
    request: Request,
    project: str,
    filter: str = "",
    order: str = "",
    columns: list[str] = Query(default=[]),
    page_token: str | None = None,
    every: bool = Query(default=False, alias="all"),
) -> Response:
    """The runs table: the SDK's filter language, sorting by any column, a page of
    :data:`PAGE_ROWS` at a time (the next page by token), chosen param and metric
    columns, select to compare or delete. A filter with an error shows its message
    beside the box, with no rows.

    Without a filter the table lists the top-level runs (``all``: every run); a run
    with children gets a toggle that fetches their rows (:func:`run_children`). A
    filter searches every run, children too. A column that is no param or metric is
    left out."""
    who = viewer(request)
    tracking = get_services(request).tracking.acting_as(who.actor)
    started = time.perf_counter()
    error: InvalidInput | None = None
    try:
        found = tracking.search_runs(
            project,
            filter=filter or (None if every else TOP_LEVEL),
            order_by=[order] if order else None,
            max_results=PAGE_ROWS,
            page_token=page_token,
        )
        rows, next_token = found.runs, found.next_page_token
    except InvalidInput as exc:
        if exc.field not in ("filter", "order_by", "page_token"):
            raise
        error, rows, next_token = exc, [], None
    counts = tracking.child_counts(project, [r.id for r in rows])
    keys = _keys(rows)
    chosen = _columns(columns) or keys[:DEFAULT_COLUMNS]
    base = {"filter": filter, "order": order, "columns": chosen, "all": "1" if every else ""}
    path = request.url.path
    return render(
        request,
        "runs.html",
        who,
        project=project,
        rows=rows,
        counts=counts,
        keys=keys,
        chosen=chosen,
        filter=filter,
        order=order,
        every=every,
        error=error,
        next_url=_url(path, {**base, "page_token": next_token}) if next_token else None,
        first_url=_url(path, base) if page_token else None,
        sort_url=lambda column: _url(path, {**base, "order": _flip(order, column)}),
        every_url=_url(path, {**base, "all": "1"}),
        top_url=_url(path, {**base, "all": ""}),
        children_url=_children_url(project, chosen),
        took_ms=(time.perf_counter() - started) * 1000,
        can_delete=who.can(project, "contributor"),
    )


@router.get("/projects/{project}/runs/{run_id}/children", response_class=HTMLResponse)
@page
def run_children(
    request: Request,
    project: str,
    run_id: str,
    columns: list[str] = Query(default=[]),
    key: str = "",
) -> Response:
    """The ``<tr>`` rows of a run's children (the first :data:`PAGE_ROWS`, newest first),
    for the runs table's toggle to put under the run's row: the same row macro as the
    table, with the ``columns`` it shows. (Not in the table's order: sorted by a metric,
    the search reads the metric's index until it has a page, a scan of the project's
    runs for the few that are one run's children.) ``key`` is the id of the run's row; the
    children's rows are ``<key>-c1``, ``<key>-c2``... (and ``<key>-more``, a link to
    all of them when there are more). A run that does not exist, or not in ``project``,
    is the 404 page."""
    who = viewer(request)
    tracking = get_services(request).tracking.acting_as(who.actor)
    parent = tracking.get_run(run_id)
    if parent.project != project:
        raise NotFound(f"run {run_id!r} does not exist in project {project!r}", field="run_id")
    key = key or f"run-{parent.id}"
    row = _ROW_KEY.fullmatch(key)
    if row is None:
        raise InvalidInput(f"key {key!r} is not the id of a row of the runs table", field="key")
    children = f"attributes.parent_id = '{parent.id}'"
    found = tracking.search_runs(project, filter=children, max_results=PAGE_ROWS)
    counts = tracking.child_counts(project, [parent.id, *(r.id for r in found.runs)])
    chosen = _columns(columns)
    return render(
        request,
        "runs_children.html",
        who,
        project=project,
        parent=parent,
        rows=found.runs,
        counts=counts,
        chosen=chosen,
        key=key,
        depth=row[1].count("-c") + 1,  # the suffixes' count: a run's id may start "c"
        total=counts.get(parent.id, 0),
        more_url=_url(f"/projects/{quote(project, safe='')}/runs", {"filter": children})
        if found.next_page_token
        else None,
        children_url=_children_url(project, chosen),
    )


@router.get("/projects/{project}/runs/{run_id}", response_class=HTMLResponse)
@page
def run(
    request: Request, project: str, run_id: str, overlay: list[str] = Query(default=[])
) -> Response:
    """One run: its attributes, params, tags and latest metrics, its children, and its
    details (:func:`~modelyard.api.ui.pages_run.run_details`: metric charts with the
    ``overlay`` runs, system metrics, artifacts, source, resources, lineage)."""
    who = viewer(request)
    tracking = get_services(request).tracking.acting_as(who.actor)
    found = tracking.get_run(run_id)
    if found.project != project:
        return RedirectResponse(f"/projects/{found.project}/runs/{found.id}", status_code=303)
    children = tracking.search_runs(
        project, filter=f"attributes.parent_id = '{found.id}'", max_results=PAGE_ROWS
    ).runs
    return render(
        request,
        "run.html",
        who,
        project=project,
        run=found,
        children=children,
        **run_details(request, who, found, overlay),
    )


def _columns(columns: list[str]) -> list[str]:
    """The param and metric columns asked for (anything else is no column)."""
    kinds = ("params", "metrics")
    return [c for c in columns if c.partition(".")[0] in kinds and c.partition(".")[2]]


def _children_url(project: str, chosen: list[str]) -> Callable[[Run, str], str]:
    """The address of a run's children's rows (:func:`run_children`) from the row of
    ``run`` whose id is ``key``, with the table's columns."""

    def url(run: Run, key: str) -> str:
        path = f"/projects/{quote(project, safe='')}/runs/{run.id}/children"
        return _url(path, {"columns": chosen, "key": key})

    return url


def _keys(rows: list[Run]) -> list[str]:
    """The param and metric columns found on this page: params first, by name."""
    params = sorted({k for r in rows for k in r.params})
    metrics = sorted({k for r in rows for k in r.metrics})
    return [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics]


def _flip(order: str, column: str) -> str:
    """The order a column's header asks for: descending first, ascending when it is
    already descending by that column."""
    return f"{column} ASC" if order == f"{column} DESC" else f"{column} DESC"


def _url(path: str, query: Mapping[str, object]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        if isinstance(value, list):
            pairs += [(key, str(v)) for v in value]
        elif value:
            pairs.append((key, str(value)))
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _month_start_ms() -> int:
    """The first millisecond of this month (UTC)."""
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(start.timestamp() * 1000)
