"""Projects: create, get, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_projects
from modelyard.api.schemas.projects import ProjectCreate, ProjectPage, ProjectPublic
from modelyard.projects import ProjectService

__all__ = ["router"]

router = APIRouter(prefix="/projects", tags=["projects"], route_class=Route)
Projects = Annotated[ProjectService, Depends(get_projects)]


@router.post("", status_code=201, response_model=ProjectPublic)
def create_project(body: ProjectCreate, service: Projects) -> ProjectPublic:
    """Create a project (409 ``already_exists`` when the name is taken)."""
    return ProjectPublic.model_validate(service.create(body.name, body.description))


@router.get("", response_model=ProjectPage)
def list_projects(
    service: Projects, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> ProjectPage:
    """Projects by name, one page at a time."""
    items, next_cursor = page(service.list_projects(), limit, cursor, "projects")
    return ProjectPage(
        items=[ProjectPublic.model_validate(p) for p in items], next_cursor=next_cursor
    )


@router.get("/{name}", response_model=ProjectPublic)
def get_project(name: str, service: Projects) -> ProjectPublic:
    return ProjectPublic.model_validate(service.get(name))
