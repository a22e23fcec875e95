"""Who is asking (:class:`Principal`) and who is acting (:class:`Actor`).

A *principal* is an authenticated identity: what :meth:`UserService.authenticate` and
:meth:`TokenService.authenticate` produce. An *actor* is what every governance change is
attributed to in the audit log; it wraps a principal (whose rights the services check) or
stands for the local operator (the CLI), who is trusted because they already hold the
metadata store's credentials.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass

from modelyard.errors import NotFound, PermissionDenied

__all__ = [
    "SYSTEM",
    "Actor",
    "Principal",
    "ReauthRequired",
    "Reauthenticate",
    "require_admin",
    "require_self_or_admin",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user or service account.

    ``token_id`` names the token of a token-authenticated request; ``signed_in_at`` is when
    a browser session signed in with the password (ms since the epoch; None for tokens):
    within ``server.reauth_window_s`` of it the session counts as re-authenticated.
    """

    user_id: str
    username: str
    is_admin: bool
    token_id: str | None = None
    signed_in_at: int | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a change: a signed-in principal (rights checked) or a trusted operator."""

    name: str
    principal: Principal | None = None
    client_addr: str | None = None

    @classmethod
    def of(cls, principal: Principal, client_addr: str | None = None) -> Actor:
        """A signed-in principal; the services check its rights before every change."""
        return cls(principal.username, principal, client_addr)

    @classmethod
    def local(cls) -> Actor:
        """The operator of this machine (``local:<os user>``), as the CLI acts."""
        try:
            who = getpass.getuser()
        except (OSError, KeyError):
            who = "unknown"
        return cls(f"local:{who}")


class ReauthRequired(PermissionDenied):
    """The change needs the password again (a token alone, or an old session, cannot)."""

    code = "reauth_required"


#: ``reauthenticate(actor, password, doing)``: returns when ``actor`` may do a sensitive
#: change (create tokens, enrol an authenticator) now; raises :class:`ReauthRequired`
#: without a recent password, or PermissionDenied for a wrong one.
Reauthenticate = Callable[[Actor, str | None, str], None]


#: Changes made by Modelyard itself (bootstrap, maintenance).
SYSTEM = Actor("system")


def require_admin(actor: Actor, doing: str) -> None:
    """Deny a signed-in principal without the global admin flag; operators pass."""
    p = actor.principal
    if p is not None and not p.is_admin:
        raise PermissionDenied(f"user {p.username} must be an administrator to {doing}")


def require_self_or_admin(actor: Actor, user_id: str, *, hidden: NotFound) -> None:
    """Allow the account's own principal, a global admin, or an operator. Anyone else
    gets ``hidden``, the NotFound of the object asked for (another user's token, another
    account), so that it cannot be told from a missing one (no existence oracle)."""
    p = actor.principal
    if p is not None and not p.is_admin and p.user_id != user_id:
        raise hidden
