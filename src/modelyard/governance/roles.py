"""Project roles: who may do what in which project.

Roles are ordered, each including every right of the ones before it::

    predictor ⊂ viewer ⊂ contributor ⊂ approver ⊂ admin

- **predictor** may only predict: it reads the project's deployments (to be answered by
  an inference server) and nothing else; the project is not among those it may read
  (listings of projects, runs, datasets and schedules leave it out).
- **viewer** reads everything in the project (runs, datasets, models, deployments).
- **contributor** also writes: logs runs, registers datasets and model versions,
  proposes lifecycle transitions.
- **approver** also approves (or rejects) lifecycle transitions; their approvals count
  towards a policy's required approvers.
- **admin** also manages the project: grants and revokes roles, changes its settings,
  deletes things.

Access is denied by default: no membership, no access. A user with the global admin flag
passes every check in every project. A user with no role at all in a project cannot tell
its objects from missing ones: the services pass :meth:`RoleService.check` the NotFound
they raise for a missing object (``hidden``), and that is the answer (no existence
oracle); a role too low for the act is PermissionDenied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, delete, select

from modelyard._util import now_ms
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.governance._lookup import find_user
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import Actor, Principal
from modelyard.store import Store
from modelyard.store.tables import memberships, projects, users

__all__ = ["Member", "Role", "RoleService", "missing_project"]


class Role(StrEnum):
    """A project role; compare with :meth:`includes`, never with ``<`` (that is by name)."""

    PREDICTOR = "predictor"
    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: Role) -> bool:
        """Whether this role carries every right of ``other``."""
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: object) -> Role:
        try:
            return cls(str(value).lower())
        except ValueError:
            names = ", ".join(r.value for r in cls)
            message = f"unknown role {value!r}; use one of {names}"
            raise InvalidInput(message, field="role") from None


@dataclass(frozen=True, slots=True)
class Member:
    project: str
    username: str
    role: Role
    granted_at: int
    granted_by: str


class RoleService:
    """Project memberships and the checks the interfaces run before every action."""

    def __init__(
        self, store: Store, *, audit: AuditLog | None = None, clock: Callable[[], int] = now_ms
    ) -> None:
        self.store = store
        self.audit = audit if audit is not None else AuditLog(store, clock=clock)
        self._clock = clock

    # -- checks ---------------------------------------------------------------------

    def role_of(self, principal: Principal, project: str) -> Role | None:
        """The principal's effective role in ``project`` (``admin`` for global admins)."""
        with self.store.read() as conn:
            return self._effective(conn, principal, project)

    def require(self, principal: Principal, project: str, needed: Role | str) -> Role:
        """Return the principal's role if it includes ``needed``; else PermissionDenied."""
        needed = Role.parse(needed)
        with self.store.read() as conn:
            return self._check(conn, principal, project, needed)

    def check(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        needed: Role,
        *,
        hidden: NotFound | None = None,
        purpose: str = "",
    ) -> Role:
        """:meth:`require` inside the caller's transaction (services check before they
        change anything). ``hidden``: what to raise instead when the principal has no
        role in the project at all -- the NotFound of the object asked for, so that it
        cannot be told from a missing one. ``purpose`` ends the refusal's message."""
        role = self._effective(conn, principal, project)
        if hidden is not None and (role is None or (role is Role.PREDICTOR and needed != role)):
            raise hidden  # a predictor cannot tell the project's other objects from missing ones
        return _judge(principal, project, needed, role, purpose)

    def can_view(self, conn: Connection, principal: Principal, project: str) -> bool:
        """Whether the principal may read ``project`` (viewer or above, or a global admin;
        a predictor may not)."""
        role = self._effective(conn, principal, project)
        return role is not None and role.includes(Role.VIEWER)

    def projects_of(self, principal: Principal) -> dict[str, Role]:
        """The projects the principal is a member of, with its role in each."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(projects.c.name, memberships.c.role)
                .join(memberships, memberships.c.project_id == projects.c.id)
                .where(memberships.c.user_id == principal.user_id)
                .order_by(projects.c.name)
            ).all()
        return {r.name: Role(r.role) for r in rows}

    # -- memberships -------------------------------------------------------------------

    def grant(self, project: str, username: str, role: Role | str, *, actor: Actor) -> Member:
        """Give ``username`` ``role`` on ``project`` (replacing any role they had)."""
        role = Role.parse(role)
        now = self._clock()
        with self.store.write() as conn:
            if actor.principal is not None:
                self._check_manager(conn, actor.principal, project)
            project_id = self._project_id(conn, project)
            user = find_user(conn, username)
            before = self._membership(conn, user.id, project)
            if before == role:
                return self._member(conn, project_id, user.id, project)
            conn.execute(
                self.store.upsert_stmt(
                    memberships, ["project_id", "user_id"], ["role", "granted_at", "granted_by"]
                ),
                {
                    "project_id": project_id,
                    "user_id": user.id,
                    "role": role.value,
                    "granted_at": now,
                    "granted_by": actor.name,
                },
            )
            change = f"{before.value} -> {role.value}" if before else role.value
            self.audit.record(
                conn,
                actor,
                "role.granted",
                "project",
                project,
                f"{user.username} granted {change}",
            )
            return self._member(conn, project_id, user.id, project)

    def revoke(self, project: str, username: str, *, actor: Actor) -> None:
        """Remove ``username`` from ``project``."""
        with self.store.write() as conn:
            if actor.principal is not None:
                self._check_manager(conn, actor.principal, project)
            project_id = self._project_id(conn, project)
            user = find_user(conn, username)
            before = self._membership(conn, user.id, project)
            if before is None:
                raise NotFound(f"{user.username} is not a member of project {project}")
            conn.execute(
                delete(memberships).where(
                    memberships.c.project_id == project_id, memberships.c.user_id == user.id
                )
            )
            self.audit.record(
                conn,
                actor,
                "role.revoked",
                "project",
                project,
                f"{user.username} lost {before.value}",
            )

    def list_members(self, project: str, *, actor: Actor) -> list[Member]:
        """Members of ``project`` (anyone who can view the project may list them)."""
        with self.store.read() as conn:
            if actor.principal is not None:
                hidden = _missing_project(project)
                self.check(conn, actor.principal, project, Role.VIEWER, hidden=hidden)
            project_id = self._project_id(conn, project)
            rows = conn.execute(
                select(memberships, users.c.username)
                .join(users, users.c.id == memberships.c.user_id)
                .where(memberships.c.project_id == project_id)
                .order_by(users.c.username)
            ).all()
        return [Member(project, r.username, Role(r.role), r.granted_at, r.granted_by) for r in rows]

    # -- internals -----------------------------------------------------------------------

    def _effective(self, conn: Connection, principal: Principal, project: str) -> Role | None:
        if principal.is_admin:
            return Role.ADMIN
        return self._membership(conn, principal.user_id, project)

    def _check(
        self,
        conn: Connection,
        principal: Principal,
        project: str,
        needed: Role,
        purpose: str = "",
    ) -> Role:
        return _judge(
            principal, project, needed, self._effective(conn, principal, project), purpose
        )

    def _check_manager(self, conn: Connection, principal: Principal, project: str) -> None:
        """Managing members needs the admin role; no role at all is a missing project."""
        hidden = _missing_project(project)
        purpose = " to manage its members"
        self.check(conn, principal, project, Role.ADMIN, hidden=hidden, purpose=purpose)

    def _project_id(self, conn: Connection, project: str) -> str:
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            raise _missing_project(project)
        return str(project_id)

    def _membership(self, conn: Connection, user_id: str, project: str) -> Role | None:
        value = conn.execute(
            select(memberships.c.role)
            .join(projects, projects.c.id == memberships.c.project_id)
            .where(memberships.c.user_id == user_id, projects.c.name == project)
        ).scalar()
        return Role(value) if value is not None else None

    def _member(self, conn: Connection, project_id: str, user_id: str, project: str) -> Member:
        r = conn.execute(
            select(memberships, users.c.username)
            .join(users, users.c.id == memberships.c.user_id)
            .where(memberships.c.project_id == project_id, memberships.c.user_id == user_id)
        ).one()
        return Member(project, r.username, Role(r.role), r.granted_at, r.granted_by)


def missing_project(project: str, hint: str = "") -> NotFound:
    """The answer for a project that does not exist, or one the principal has no role in
    (the services raise the same, so that neither can be told from the other)."""
    return NotFound(f"project {project!r} does not exist{hint}", field="project")


def _missing_project(project: str) -> NotFound:
    return missing_project(project, " (create it with `modelyard projects create`)")


def _judge(
    principal: Principal, project: str, needed: Role, role: Role | None, purpose: str = ""
) -> Role:
    """``role`` (the principal's in ``project``) if it includes ``needed``."""
    if role is None or not role.includes(needed):
        has = f"has {role.value}" if role is not None else "has no role there"
        raise PermissionDenied(
            f"user {principal.username} needs role {needed.value} on project {project}"
            f"{purpose} ({has})"
        )
    return role
