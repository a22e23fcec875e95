"""The project service: create, read, ensure and list projects.

A project's creator, when signed in, becomes its admin in the same transaction; the
creation is an audit event. A signed-in principal reads only the projects it has a role
in: any other is answered as a missing one (no existence oracle), except to someone who
would create or write in it under its name (:meth:`ProjectService.ensure`), who is told
PermissionDenied.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from sqlalchemy import select

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import AlreadyExists, Conflict, NotFound
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.projects.entities import Project
from modelyard.store import Store
from modelyard.store.tables import memberships, projects

__all__ = ["PROJECT", "ProjectService", "get_or_create"]

#: Object type of projects in the audit log.
PROJECT = "project"


class _Projects(Protocol):
    def get(self, name: str) -> Project: ...
    def create(self, name: str, description: str = "") -> Project: ...


def get_or_create(projects: _Projects, name: str) -> Project:
    """Get a project, creating it when missing (safe when several writers race): the rule
    the embedded service and its remote twin share."""
    try:
        return projects.get(name)
    except NotFound:
        pass
    try:
        return projects.create(name)
    except AlreadyExists:
        return projects.get(name)


class ProjectService:
    """Rules and queries for projects over one metadata store."""

    def __init__(self, store: Store, access: Access) -> None:
        self.store = store
        self.access = access

    def acting_as(self, actor: Actor) -> ProjectService:
        """This service acting for ``actor`` (the server makes one per request)."""
        view = copy.copy(self)
        view.access = self.access.acting_as(actor)
        return view

    def create(self, name: str, description: str = "") -> Project:
        """Create a project; a signed-in creator becomes its admin."""
        validate_name(name, "project")
        limits.check_text(description, "description", limits.DESCRIPTION)
        project = Project(id=new_id(), name=name, description=description, created_at=now_ms())
        principal = self.access.principal
        try:
            with self.store.write() as conn:
                conn.execute(
                    projects.insert().values(
                        id=project.id,
                        name=name,
                        description=description,
                        created_at=project.created_at,
                    )
                )
                if principal is not None:
                    conn.execute(
                        memberships.insert().values(
                            project_id=project.id,
                            user_id=principal.user_id,
                            role=Role.ADMIN.value,
                            granted_at=project.created_at,
                            granted_by=self.access.actor.name,
                        )
                    )
                self.access.record(conn, "project.created", PROJECT, name, "project created")
        except Conflict:
            raise AlreadyExists(f"project {name!r} already exists", field="project") from None
        return project

    def get(self, name: str) -> Project:
        """One project by name (NotFound when missing or when the actor has no role in it)."""
        with self.store.read() as conn:
            row = conn.execute(select(projects).where(projects.c.name == name)).first()
            if row is None:
                raise missing_project(name)
            self.access.require(conn, name, Role.VIEWER, hidden=missing_project(name))
        return _project(row)

    def ensure(self, name: str) -> Project:
        """Get a project, creating it when missing (safe when several processes race), to
        write in it. One the principal has no role in is PermissionDenied (it cannot be
        hidden from someone who would create it under its name)."""
        try:
            return get_or_create(self, name)
        except NotFound:
            with self.store.read() as conn:
                self.access.require(conn, name, Role.CONTRIBUTOR)
            raise

    def list_projects(self) -> list[Project]:
        """Every project; for a signed-in principal, the projects they are a member of."""
        stmt = select(projects).order_by(projects.c.name)
        readable = self.access.member_projects()
        if readable is not None:
            stmt = stmt.where(projects.c.id.in_(readable))
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
        return [_project(r) for r in rows]


def _project(row: Any) -> Project:
    return Project(id=row.id, name=row.name, description=row.description, created_at=row.created_at)
