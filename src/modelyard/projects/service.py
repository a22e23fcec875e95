"""The project service: create, read, ensure and list projects.

A project's creator, when signed in, becomes its admin in the same transaction; the
creation is an audit event. A signed-in principal reads only the projects it has a role
in: any other is answered as a missing one (no existence oracle), except to someone who
would create or write in it under its name (:meth:`ProjectService.ensure`), who is told
PermissionDenied.

A project has settings (:data:`PROJECT_SETTINGS`), each off until a project admin turns it
on, and each capped by the installation's setting of the same name: a project may only
allow what the installation allows. They are kept as rows of ``governance_settings``
keyed by the project's id (a project made again under its name starts with none).
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from sqlalchemy import Connection, select

from modelyard import limits
from modelyard._util import new_id, now_ms, validate_name
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelyard.governance.access import Access
from modelyard.governance.identity import Actor
from modelyard.governance.roles import Role, missing_project
from modelyard.projects.entities import Project
from modelyard.store import Store
from modelyard.store.tables import governance_settings, memberships, projects

__all__ = ["PROJECT", "PROJECT_SETTINGS", "ProjectService", "get_or_create", "project_setting"]

#: Object type of projects in the audit log.
PROJECT = "project"

#: The settings a project has, each capped by the installation's setting of the same name.
PROJECT_SETTINGS = {
    "registry.allow_code_formats": "whether models of this project may be registered and "
    "loaded in formats that run code when loaded (pickle, packaged source, torch.export)",
}


def _setting_key(project_id: str, key: str) -> str:
    return f"{project_id}:{key}"


def _check_setting(key: str) -> str:
    if key not in PROJECT_SETTINGS:
        raise InvalidInput(
            f"{key!r} is not a project setting; they are {', '.join(sorted(PROJECT_SETTINGS))}",
            field="key",
        )
    return key


def project_setting(conn: Connection, project: str, key: str) -> bool:
    """The project's own value of the setting ``key`` (off when never set or when the
    project does not exist), read in the caller's transaction; the caller applies the
    installation's ceiling."""
    found = conn.execute(
        select(governance_settings.c.value)
        .join(projects, governance_settings.c.key == projects.c.id + ":" + _check_setting(key))
        .where(projects.c.name == project)
    ).scalar()
    return found == "true"


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

    def __init__(
        self, store: Store, access: Access, *, installation: dict[str, bool] | None = None
    ) -> None:
        """``installation``: the installation's value of each of :data:`PROJECT_SETTINGS`
        (the ceiling of the projects'; off when not given)."""
        self.store = store
        self.access = access
        self.installation = dict(installation or {})

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

    def settings(self, name: str) -> dict[str, bool]:
        """The project's settings, each as the project set it (off unless turned on)."""
        with self.store.read() as conn:
            self._settable(conn, name, Role.VIEWER)
            return {key: project_setting(conn, name, key) for key in sorted(PROJECT_SETTINGS)}

    def set_setting(self, name: str, key: str, value: bool) -> dict[str, bool]:
        """Turn a project setting on or off (a project admin); on only where the
        installation's setting of the same name is on. Returns the project's settings."""
        _check_setting(key)
        if not isinstance(value, bool):
            raise InvalidInput(f"{key} is true or false; got {value!r}", field="value")
        if value and not self.installation.get(key, False):
            raise InvalidInput(
                f"project {name!r} cannot allow {key}: the installation's setting {key} is "
                "off, and a project allows only what the installation allows (turn it on with "
                f"MODELYARD_{key.upper().replace('.', '_')}=true first)",
                field="value",
            )
        with self.store.write() as conn:
            project_id = self._settable(conn, name, Role.ADMIN)
            conn.execute(
                self.store.upsert_stmt(governance_settings, ["key"], ["value", "updated_at"]),
                {
                    "key": _setting_key(project_id, key),
                    "value": "true" if value else "false",
                    "updated_at": now_ms(),
                },
            )
            self.access.record(
                conn, "project.setting_changed", PROJECT, name, f"{key} = {str(value).lower()}"
            )
        return self.settings(name)

    def _settable(self, conn: Connection, name: str, needed: Role) -> str:
        """The project's id, after the actor's ``needed`` role on it."""
        validate_name(name, "project")
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == name)).scalar()
        if project_id is None:
            raise missing_project(name)
        self.access.require(conn, name, needed, hidden=missing_project(name))
        return str(project_id)


def _project(row: Any) -> Project:
    return Project(id=row.id, name=row.name, description=row.description, created_at=row.created_at)
