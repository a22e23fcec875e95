"""The project service over HTTP: what ``Client.projects`` is in remote mode.

``RemoteProjects`` has the methods of :class:`~modelyard.projects.service.ProjectService`
(create, get, ensure, list, settings) with the same signatures, results and errors, over the
server's ``/api/projects`` routes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelyard.projects.entities import Project
from modelyard.projects.service import get_or_create
from modelyard.remote._http import HttpSession, entity

__all__ = ["RemoteProjects"]


class RemoteProjects:
    """Projects on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def create(self, name: str, description: str = "") -> Project:
        body = {"name": name, "description": description}
        answer = self.http.call("POST", "/projects", json_body=body, idempotent=False)
        return _project(answer.json())

    def get(self, name: str) -> Project:
        return _project(self.http.call("GET", f"/projects/{quote(name, safe='')}").json())

    def ensure(self, name: str) -> Project:
        """Get a project, creating it when missing (safe when several clients race)."""
        return get_or_create(self, name)

    def list_projects(self) -> list[Project]:
        return [_project(item) for item in self.http.all_pages("/projects")]

    def settings(self, name: str) -> dict[str, bool]:
        answer = self.http.call("GET", f"/projects/{quote(name, safe='')}/settings")
        return dict(answer.json()["settings"])

    def set_setting(self, name: str, key: str, value: bool) -> dict[str, bool]:
        path = f"/projects/{quote(name, safe='')}/settings/{quote(key, safe='')}"
        answer = self.http.call("PUT", path, json_body={"value": value})
        return dict(answer.json()["settings"])


def _project(data: dict[str, Any]) -> Project:
    return entity(Project, data)
