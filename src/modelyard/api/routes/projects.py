"""Projects: create, get, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_tracking
from modelyard.api.schemas.projects import ProjectCreate, ProjectPage, ProjectPublic
from modelyard.tracking.service import TrackingService

__all__ = ["router"]

router = APIRouter(prefix="/projects", tags=["projects"], route_class=Route)
Tracking = Annotated[TrackingService, Depends(get_tracking)]


@router.post("", status_code=201, response_model=ProjectPublic)
def create_project(body: ProjectCreate, tracking: Tracking) -> ProjectPublic:
    """Create a project (409 ``already_exists`` when the name is taken)."""
    return ProjectPublic.model_validate(tracking.create_project(body.name, body.description))


@router.get("", response_model=ProjectPage)
def list_projects(
    tracking: Tracking, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> ProjectPage:
    """Projects by name, one page at a time."""
    items, next_cursor = page(tracking.list_projects(), limit, cursor, "projects")
    return ProjectPage(
        items=[ProjectPublic.model_validate(p) for p in items], next_cursor=next_cursor
    )


@router.get("/{name}", response_model=ProjectPublic)
def get_project(name: str, tracking: Tracking) -> ProjectPublic:
    return ProjectPublic.model_validate(tracking.get_project(name))
