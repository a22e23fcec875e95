"""All governance services over one store, sharing one audit log, clock and password hasher."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher

from modelyard._util import now_ms
from modelyard.governance.audit import AuditLog
from modelyard.governance.mfa import MfaService
from modelyard.governance.roles import RoleService
from modelyard.governance.secret_box import SecretBox
from modelyard.governance.sessions import SessionService
from modelyard.governance.tokens import TokenService
from modelyard.governance.users import UserService
from modelyard.store import Store

__all__ = ["Governance"]


class Governance:
    """Users, sessions, MFA, tokens, roles and the audit log of one metadata store.

    ``secret_box`` holds the server key that encrypts TOTP secrets
    (``SecretBox.from_settings(settings)``); MFA enrolment and codes need it.
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
        token_max_lifetime: timedelta = timedelta(days=365),
    ) -> None:
        self.store = store
        self.audit = AuditLog(store, clock=clock)
        self.mfa = MfaService(store, secret_box=secret_box, audit=self.audit, clock=clock)
        self.users = UserService(
            store,
            hasher=hasher,
            audit=self.audit,
            mfa=self.mfa,
            clock=clock,
            max_failures=max_failures,
            failure_window_s=failure_window_s,
            lockout_s=lockout_s,
        )
        self.tokens = TokenService(
            store, audit=self.audit, clock=clock, max_lifetime=token_max_lifetime
        )
        self.roles = RoleService(store, audit=self.audit, clock=clock)
        self.sessions = SessionService(store, users=self.users, audit=self.audit, clock=clock)
