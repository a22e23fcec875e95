"""A project's datasets (versions, schema, profile, validation reports, lineage, drift
between two versions) and pipelines (runs with their DAG and why each step ran or was
cached; schedules and their fires)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelyard.api._services import get_services
from modelyard.api.ui._data_views import (
    BOX_H,
    BOX_W,
    drift_score,
    layout_dag,
    sort_lineage,
)
from modelyard.api.ui._pages import Viewer, page, render, viewer
from modelyard.api.ui.pages_core import PAGE_ROWS
from modelyard.datasets.entities import DatasetReport, DatasetVersion
from modelyard.datasets.reports import PROFILE, VALIDATION
from modelyard.datasets.service import DatasetService
from modelyard.errors import InvalidInput, ModelyardError, NotFound
from modelyard.lineage.edges import DATASET_VERSION, RUN
from modelyard.pipelines.execute import PIPELINE_TAG, STEP_TAG
from modelyard.tracking.entities import Run

if TYPE_CHECKING:
    from modelyard.data import ValidationReport
    from modelyard.services import Services

__all__ = ["router"]

T = TypeVar("T")

router = APIRouter(include_in_schema=False)

#: Fires shown per schedule.
RECENT_FIRES = 5
#: The pipeline runs of a project: runs of a pipeline that are not one of its steps.
PIPELINE_RUNS = f"tags.{PIPELINE_TAG} is not null and tags.{STEP_TAG} is null"


# -- datasets ---------------------------------------------------------------------------


@router.get("/projects/{project}/datasets", response_class=HTMLResponse)
@page
def datasets(request: Request, project: str) -> Response:
    """The datasets of a project, each with its newest version's rows and when it came."""
    who = viewer(request)
    service = get_services(request).datasets.acting_as(who.actor)
    found = service.list_datasets(project)
    latest = {d.name: service.get(d.name, project=project, version=d.latest_version) for d in found}
    return render(
        request, "data_datasets.html", who, project=project, datasets=found, latest=latest
    )


@router.get("/projects/{project}/datasets/{name}", response_class=HTMLResponse)
@page
def dataset(
    request: Request, project: str, name: str, version: str = "", a: str = "", b: str = ""
) -> Response:
    """A dataset's versions and, for the chosen one (``version``, default the newest):
    its schema, profile, validation reports and lineage; with ``a`` and ``b``, the
    drift of version ``b`` against version ``a``."""
    who = viewer(request)
    services = get_services(request)
    service = services.datasets.acting_as(who.actor)
    versions = service.list_versions(name, project=project)
    chosen = service.get(name, project=project, version=_number(version, "version"))
    reports = service.get_reports(chosen)
    profile_report = next((r for r in reports if r.kind == PROFILE), None)
    profile = service.get_profile(chosen) if profile_report is not None else None
    context: dict[str, Any] = {
        "project": project,
        "name": name,
        "versions": list(reversed(versions)),
        "chosen": chosen,
        "description": next((v.description for v in versions if v.description), ""),
        "profile": profile,
        "profile_report": profile_report,
        "validations": _validations(reports),
        "others": [r for r in reports if r.kind not in (PROFILE, VALIDATION)],
        "report_url": lambda r: _report_url(chosen, r),
        "lineage": _lineage(services, who, chosen),
    }
    context.update(_drift(service, versions, chosen, a, b))
    return render(request, "data_dataset.html", who, **context)


def _number(text: str, field: str) -> int | None:
    """A version number from the query (None when not given)."""
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"{field} must be a version number; got {text!r}", field=field)
    return int(text)


def _report_url(version: DatasetVersion, report: DatasetReport) -> str | None:
    """The API's sandboxed HTML rendering of a report, when it has one."""
    if report.html_digest is None:
        return None
    from urllib.parse import quote

    return (
        f"/api/v1/projects/{quote(version.project, safe='')}/datasets/"
        f"{quote(version.dataset, safe='')}/versions/{version.version}/reports/"
        f"{quote(report.id, safe='')}/html"
    )


def _validations(
    reports: list[DatasetReport],
) -> list[tuple[DatasetReport, ValidationReport | None]]:
    """Each validation report with its ValidationReport (None when it cannot be read)."""
    from modelyard.data import ValidationReport

    found: list[tuple[DatasetReport, ValidationReport | None]] = []
    for report in reports:
        if report.kind != VALIDATION:
            continue
        try:
            found.append((report, ValidationReport.from_dict(report.data)))
        except (ModelyardError, KeyError, TypeError, ValueError):
            found.append((report, None))
    return found


def _lineage(services: Services, who: Viewer, version: DatasetVersion) -> dict[str, Any]:
    """The runs that made and read a version, the versions it came from or went into,
    and the model versions trained by the runs that read it, as objects to link to."""
    lineage = services.lineage.acting_as(who.actor)
    tracking = services.tracking.acting_as(who.actor)
    models = services.models.acting_as(who.actor)
    datasets = services.datasets.acting_as(who.actor)
    found = sort_lineage(
        version.id,
        lineage.edges(DATASET_VERSION, version.id),
        lambda run_id: lineage.edges(RUN, run_id, "down"),
    )

    def runs(ids: list[str]) -> list[Run]:
        return [r for r in (_quietly(tracking.get_run, i) for i in ids) if r is not None]

    def versions(pairs: list[tuple[str, str]]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for kind, object_id in pairs:
            item: Any = (
                _quietly(datasets.get_by_id, object_id)
                if kind == DATASET_VERSION
                else _quietly(models.get_version_by_id, object_id)
            )
            if item is not None:
                out.append((kind, item))
        return out

    return {
        "made_by": runs(found.made_by),
        "read_by": runs(found.read_by),
        "derived_from": versions(found.derived_from),
        "went_into": versions(found.went_into),
        "models": [m for m in (_quietly(models.get_version_by_id, i) for i in found.models) if m],
    }


def _quietly(get: Callable[[str], T], object_id: str) -> T | None:
    """``get(object_id)``, or None for an object that is gone (or hidden from the viewer)."""
    try:
        return get(object_id)
    except NotFound:
        return None


def _drift(
    service: DatasetService, versions: list[DatasetVersion], chosen: DatasetVersion, a: str, b: str
) -> dict[str, Any]:
    """The drift form's choices (default: the version before the chosen one against
    it) and, when both are given, the drift result or the error that stopped it."""
    before = [v.version for v in versions if v.version < chosen.version]
    picked_a = _number(a, "a") or (before[-1] if before else chosen.version)
    picked_b = _number(b, "b") or chosen.version
    result: dict[str, Any] = {"drift_a": picked_a, "drift_b": picked_b, "drift": None}
    if not (a and b):
        return result
    by_number = {v.version: v for v in versions}
    missing = [n for n in (picked_a, picked_b) if n not in by_number]
    if missing:
        result["drift_error"] = f"dataset {chosen.dataset!r} has no version {missing[0]}"
        return result
    from modelyard.data import drift

    reference = service.get_profile(by_number[picked_a])
    current = service.get_profile(by_number[picked_b])
    if reference is None or current is None:
        result["drift_error"] = "both versions need a stored profile to compare them"
        return result
    try:
        report = drift(reference, current)
    except ModelyardError as exc:
        result["drift_error"] = exc.message
        return result
    result["drift"] = report
    result["drift_rows"] = [(f, drift_score(f)) for f in report.features]
    return result


# -- pipelines --------------------------------------------------------------------------


@router.get("/projects/{project}/pipelines", response_class=HTMLResponse)
@page
def pipelines(request: Request, project: str, page_token: str | None = None) -> Response:
    """The pipeline runs of a project, newest first, with how many steps ran and how
    many were cached; its schedules with their next and last fires, and (for a
    contributor) buttons to enable or disable one and to ask for a run now."""
    who = viewer(request)
    services = get_services(request)
    tracking = services.tracking.acting_as(who.actor)
    found = tracking.search_runs(
        project,
        filter=PIPELINE_RUNS,
        order_by=["attributes.start_time DESC"],
        max_results=PAGE_ROWS,
        page_token=page_token,
    )
    counts = {}
    for run in found.runs:
        records = services.steps.of_pipeline_run(run.id)
        cached = sum(1 for r in records if r.cached)
        counts[run.id] = (cached, len(records) - cached)
    schedules = services.schedules.acting_as(who.actor)
    listed = schedules.list_schedules(project)
    fires = {s.name: schedules.fires(s.name, project=project, limit=RECENT_FIRES) for s in listed}
    return render(
        request,
        "data_pipelines.html",
        who,
        project=project,
        runs=found.runs,
        counts=counts,
        next_token=found.next_page_token,
        schedules=listed,
        fires=fires,
        can_act=who.can(project, "contributor"),
    )


@router.get("/projects/{project}/pipelines/{run_id}", response_class=HTMLResponse)
@page
def pipeline_run(request: Request, project: str, run_id: str) -> Response:
    """A pipeline run: its DAG (steps coloured by status, cached ones marked) and each
    step's status, whether it ran or was cached and why, and its duration."""
    from modelyard.pipelines.explanations import explain_in

    who = viewer(request)
    services = get_services(request)
    tracking = services.tracking.acting_as(who.actor)
    found = tracking.get_run(run_id)
    if PIPELINE_TAG not in found.tags or STEP_TAG in found.tags:
        raise NotFound(f"run {found.id} is not a pipeline run", field="run")
    if found.project != project:
        return RedirectResponse(f"/projects/{found.project}/pipelines/{found.id}", status_code=303)
    records = services.steps.of_pipeline_run(found.id)
    explanations = explain_in(tracking, services.steps, found.id) if records else []
    steps = {
        r.id: r
        for r in tracking.search_runs(
            project, filter=f"attributes.parent_id = '{found.id}'", max_results=1000
        ).runs
    }
    outcomes = {e.step: e.outcome for e in explanations}
    return render(
        request,
        "data_pipeline.html",
        who,
        project=project,
        run=found,
        dag=layout_dag(records, outcomes),
        box=(BOX_W, BOX_H),
        explanations=explanations,
        records={r.step: r for r in records},
        steps=steps,
    )
