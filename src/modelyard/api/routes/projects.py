"""Projects: create, get, list, and their settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_projects
from modelyard.api.schemas.projects import (
    ProjectCreate,
    ProjectPage,
    ProjectPublic,
    ProjectSettings,
    ProjectSettingUpdate,
)
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


@router.get("/{name}/settings", response_model=ProjectSettings)
def get_project_settings(name: str, service: Projects) -> ProjectSettings:
    """The project's settings (a viewer reads them)."""
    return ProjectSettings(settings=service.settings(name))


@router.put("/{name}/settings/{key}", response_model=ProjectSettings)
def set_project_setting(
    name: str, key: str, body: ProjectSettingUpdate, service: Projects
) -> ProjectSettings:
    """Turn a project setting on or off (a project admin; 422 when the installation's
    setting of the same name is off and ``value`` is true)."""
    return ProjectSettings(settings=service.set_setting(name, key, body.value))
