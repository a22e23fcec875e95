"""All governance services over one store, sharing one audit log, clock and password hasher."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher

from modelyard._util import now_ms
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import Actor
from modelyard.governance.mfa import MfaService
from modelyard.governance.roles import RoleService
from modelyard.governance.secret_box import SecretBox
from modelyard.governance.sessions import SessionService
from modelyard.governance.tokens import MAX_TOKEN_LIFETIME, TokenService
from modelyard.governance.users import UserService
from modelyard.store import Store

__all__ = ["Governance"]


class Governance:
    """Users, sessions, MFA, tokens, roles and the audit log of one metadata store.

    ``secret_box`` holds the server key that encrypts TOTP secrets
    (``SecretBox.from_settings(settings)``); MFA enrolment and codes need it.
    ``reauth_window_s`` is how long after a password sign-in a session may create tokens and
    enrol an authenticator without sending the password again (``server.reauth_window_s``).
    """

    def __init__(
        self,
        store: Store,
        *,
        secret_box: SecretBox | None = None,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], int] = now_ms,
        max_failures: int = 5,
        failure_window_s: float = 900.0,
        lockout_s: float = 900.0,
        token_max_lifetime: timedelta = MAX_TOKEN_LIFETIME,
        reauth_window_s: float = 600.0,
    ) -> None:
        self.store = store
        self.audit = AuditLog(store, clock=clock)
        self.mfa = MfaService(
            store,
            reauthenticate=self._reauthenticate,
            secret_box=secret_box,
            audit=self.audit,
            clock=clock,
        )
        self.users = UserService(
            store,
            hasher=hasher,
            audit=self.audit,
            mfa=self.mfa,
            clock=clock,
            max_failures=max_failures,
            failure_window_s=failure_window_s,
            lockout_s=lockout_s,
            reauth_window_s=reauth_window_s,
        )
        self.tokens = TokenService(
            store,
            mfa=self.mfa,
            reauthenticate=self.users.reauthenticate,
            audit=self.audit,
            clock=clock,
            max_lifetime=token_max_lifetime,
        )
        self.roles = RoleService(store, audit=self.audit, clock=clock)
        self.sessions = SessionService(store, users=self.users, audit=self.audit, clock=clock)

    def _reauthenticate(self, actor: Actor, password: str | None, doing: str) -> None:
        """The users' re-authentication, for the MFA service built before them."""
        self.users.reauthenticate(actor, password, doing)
