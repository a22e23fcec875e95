"""Who is acting, may they, record it: the one access helper every service holds.

A service is built with an :class:`Access` (``self.access = access``) and, for each
request, acts for another actor through :meth:`Access.acting_as`. Before it reads or
writes it asks :meth:`Access.require` inside its own transaction (a signed-in principal's
project role; the local operator passes), and it records each change with
:meth:`Access.record` in the same transaction, so the audit event exists exactly when the
change was committed.
"""

from __future__ import annotations

import copy
import getpass
from typing import Any

from sqlalchemy import Connection, Select, select

from modelyard.errors import NotFound
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import Actor, Principal
from modelyard.governance.roles import Role, RoleService
from modelyard.store import Store
from modelyard.store.tables import memberships

__all__ = ["Access"]


class Access:
    """The actor a service acts for, its project-role checks and its audit log.

    ``actor``: the local operator unless given. ``audit``: the log to append to (one is
    opened over ``store`` when not given; the governance services' can be shared)."""

    def __init__(
        self, store: Store, actor: Actor | None = None, *, audit: AuditLog | None = None
    ) -> None:
        self.store = store
        self.actor = actor if actor is not None else Actor.local()
        self.audit = audit if audit is not None else AuditLog(store)
        self.roles = RoleService(store, audit=self.audit)

    def acting_as(self, actor: Actor) -> Access:
        """The same checks and log, acting for ``actor`` (the server makes one per request
        for the signed-in principal)."""
        view = copy.copy(self)
        view.actor = actor
        return view

    @property
    def principal(self) -> Principal | None:
        """The signed-in principal whose rights are checked; None for the local operator."""
        return self.actor.principal

    # -- may they --------------------------------------------------------------------------

    def require(
        self, conn: Connection, project: str, needed: Role, hidden: NotFound | None = None
    ) -> None:
        """Deny a signed-in principal without ``needed`` on ``project``; operators pass.
        ``hidden``: the answer to a principal with no role there at all (see
        :meth:`RoleService.check`)."""
        principal = self.actor.principal
        if principal is not None:
            self.roles.check(conn, principal, project, needed, hidden=hidden)

    def can_view(self, conn: Connection, project: str) -> bool:
        """Whether the actor may read ``project`` (viewer or above; operators may)."""
        principal = self.actor.principal
        return principal is None or self.roles.can_view(conn, principal, project)

    def member_projects(self) -> Select[Any] | None:
        """The ids of the projects the actor may read (viewer or above: a predictor reads
        only deployments), as a subquery for ``in_``; None when it may read every project
        (the operator, a global admin)."""
        principal = self.actor.principal
        if principal is None or principal.is_admin:
            return None
        return select(memberships.c.project_id).where(
            memberships.c.user_id == principal.user_id, memberships.c.role != Role.PREDICTOR
        )

    # -- who and record it -----------------------------------------------------------------

    def who(self, user: str | None = None) -> str:
        """The name a new object is credited to: the signed-in principal's, else ``user``
        when given, else the OS user's (else the actor's name)."""
        principal = self.actor.principal
        if principal is not None:
            return principal.username
        if user:
            return user
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return self.actor.name

    def record(self, conn: Connection, action: str, kind: str, obj: str, summary: str) -> None:
        """Append an audit event for the actor inside the caller's write transaction."""
        self.audit.record(conn, self.actor, action, kind, obj, summary)
