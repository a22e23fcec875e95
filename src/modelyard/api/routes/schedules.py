"""Schedules: create, list, read, enable, disable, delete, and the history of their fires.

Every rule -- names, triggers, parameters, who may read or change -- is the schedule
service's; routes translate. The server never imports the pipeline a request names: it
checks the reference against what its administrator allows (``worker.pipeline_packages``
for ``MODULE:PIPELINE``, files under ``worker.pipeline_dir`` for ``FILE.py:PIPELINE``, a
relative path taken from that folder and stored absolute) and the parameters as JSON
values; a worker imports the pipeline when it fires, and records what stops it as the
fire's error.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_schedules
from modelyard.api.schemas._types import ShortText
from modelyard.api.schemas.schedules import (
    FireList,
    FirePublic,
    ScheduleCreate,
    SchedulePage,
    SchedulePublic,
)
from modelyard.schedules.entities import Schedule
from modelyard.schedules.service import MAX_FIRES, ScheduleService

__all__ = ["router"]

router = APIRouter(tags=["schedules"], route_class=Route)
_IN_PROJECT = "/projects/{project}/schedules"

Schedules = Annotated[ScheduleService, Depends(get_schedules)]


@router.get("/schedules", response_model=SchedulePage)
def list_all_schedules(
    schedules: Schedules,
    project: Annotated[ShortText | None, Query(description="Only this project.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> SchedulePage:
    """Schedules by project and name: those of ``project``, or of every project the
    caller may read."""
    found = schedules.list_schedules(project)
    return _page(found, limit, cursor, project)


@router.post(_IN_PROJECT, status_code=201, response_model=SchedulePublic)
def create_schedule(project: str, body: ScheduleCreate, schedules: Schedules) -> SchedulePublic:
    """Create a schedule (409 ``already_exists`` when the name is taken in the project).
    The pipeline reference must name code the administrator allows (422 otherwise);
    nothing is imported here: a worker loads the pipeline and binds the parameters when
    it fires."""
    made = schedules.create(
        body.name,
        project=project,
        pipeline=body.pipeline,
        params=body.params,
        cron=body.cron,
        timezone=body.timezone,
        dataset=body.dataset,
        enabled=body.enabled,
    )
    return _public(made)


@router.get(_IN_PROJECT, response_model=SchedulePage)
def list_schedules(
    project: str, schedules: Schedules, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> SchedulePage:
    """The schedules of a project, by name."""
    return _page(schedules.list_schedules(project), limit, cursor, project)


@router.get(_IN_PROJECT + "/{name}", response_model=SchedulePublic)
def get_schedule(project: str, name: str, schedules: Schedules) -> SchedulePublic:
    return _public(schedules.get(name, project=project))


@router.post(_IN_PROJECT + "/{name}/enable", response_model=SchedulePublic)
def enable_schedule(project: str, name: str, schedules: Schedules) -> SchedulePublic:
    """Enable a schedule; it starts from now (nothing missed while disabled runs)."""
    return _public(schedules.enable(name, project=project))


@router.post(_IN_PROJECT + "/{name}/disable", response_model=SchedulePublic)
def disable_schedule(project: str, name: str, schedules: Schedules) -> SchedulePublic:
    """Disable a schedule (a fire already running finishes)."""
    return _public(schedules.disable(name, project=project))


@router.post(_IN_PROJECT + "/{name}/run", status_code=202, response_model=SchedulePublic)
def run_schedule_now(project: str, name: str, schedules: Schedules) -> SchedulePublic:
    """Ask for a run now: the next worker to poll runs the pipeline once with its params
    (trigger ``manual:USER@TIME``), even when the schedule is disabled. A request still
    waiting for a worker is kept, not doubled."""
    return _public(schedules.run_now(name, project=project))


@router.delete(_IN_PROJECT + "/{name}", status_code=204, response_class=Response)
def delete_schedule(project: str, name: str, schedules: Schedules) -> None:
    """Delete a schedule and the record of its fires (its runs stay)."""
    schedules.delete(name, project=project)


@router.get(_IN_PROJECT + "/{name}/fires", response_model=FireList)
def list_fires(
    project: str,
    name: str,
    schedules: Schedules,
    limit: Annotated[
        int, Query(ge=1, le=MAX_FIRES, description=f"How many, at most {MAX_FIRES}.")
    ] = 50,
) -> FireList:
    """The fires of a schedule, newest first: trigger, run, status, attempts, error."""
    found = schedules.fires(name, project=project, limit=limit)
    return FireList(items=[FirePublic.model_validate(f) for f in found])


def _public(schedule: Schedule) -> SchedulePublic:
    return SchedulePublic.model_validate(schedule)


def _page(
    found: list[Schedule], limit: int, cursor: str | None, project: str | None
) -> SchedulePage:
    items, next_cursor = page(found, limit, cursor, "schedules", project)
    return SchedulePage(items=[_public(s) for s in items], next_cursor=next_cursor)
