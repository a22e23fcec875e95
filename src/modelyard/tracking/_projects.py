"""Project rules shared by the embedded service and its remote twin."""

from __future__ import annotations

from typing import Protocol

from modelyard.errors import AlreadyExists, NotFound
from modelyard.tracking.entities import Project

__all__ = ["get_or_create_project"]


class _Projects(Protocol):
    def get_project(self, name: str) -> Project: ...
    def create_project(self, name: str, description: str = "") -> Project: ...


def get_or_create_project(projects: _Projects, name: str) -> Project:
    """Get a project, creating it when missing (safe when several writers race)."""
    try:
        return projects.get_project(name)
    except NotFound:
        pass
    try:
        return projects.create_project(name)
    except AlreadyExists:
        return projects.get_project(name)
