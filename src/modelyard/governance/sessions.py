"""Browser sessions: sign in with a password (and a one-time code), get a cookie.

A session cookie reads ``<id>.<secret>``: a public 32-hex-digit id and a secret of 256
random bits. The store keeps only a BLAKE2b digest of the secret, and the digest of the
session's CSRF token, which the browser must echo in the ``X-CSRF-Token`` header of every
state-changing request (the cookie alone proves nothing a forged cross-site request could
not carry). Every sign-in creates a new session (a session id never survives a sign-in, so
it cannot be fixed in advance); signing out revokes it.

A session ends at the first of: its absolute lifetime, ``idle_s`` without a request,
revocation, or its account being disabled. ``last_used_at`` is written at most once per
``touch_interval_s``. Expired and revoked sessions are pruned at each sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update

from modelyard._util import new_id, now_ms
from modelyard.errors import PermissionDenied, Unauthenticated
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import Actor, Principal
from modelyard.governance.mfa import MfaEnrolmentRequired
from modelyard.governance.users import User, UserService
from modelyard.store import Store
from modelyard.store.tables import sessions, users

__all__ = ["NewSession", "Session", "SessionService"]

_COOKIE = re.compile(r"^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")
_DENIED = "the session has expired or was signed out; sign in again"
_DUMMY_DIGEST = "0" * 64


@dataclass(frozen=True, slots=True)
class Session:
    """A live session, as a request authenticated by its cookie sees it."""

    id: str
    user_id: str
    expires_at: int
    csrf_hash: str


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just created: ``cookie`` and ``csrf_token`` are shown this once."""

    id: str
    cookie: str
    csrf_token: str
    expires_at: int
    user: User


class SessionService:
    """Creates, checks and revokes the sessions of one store."""

    def __init__(
        self,
        store: Store,
        *,
        users: UserService,
        audit: AuditLog,
        clock: Callable[[], int] = now_ms,
        lifetime_s: float = 12 * 3600.0,
        idle_s: float = 2 * 3600.0,
        touch_interval_s: float = 60.0,
    ) -> None:
        self.store = store
        self.users = users
        self.audit = audit
        self._clock = clock
        self.lifetime_ms = int(lifetime_s * 1000)
        self.idle_ms = int(idle_s * 1000)
        self.touch_interval_ms = int(touch_interval_s * 1000)

    def sign_in(
        self,
        username: str,
        password: str,
        *,
        totp_code: str | None = None,
        client_addr: str | None = None,
    ) -> NewSession:
        """Check the password (and one-time code) and open a new session.

        Failures are those of :meth:`UserService.authenticate` (throttled, audited).
        """
        user = self.users.authenticate(
            username, password, totp_code=totp_code, client_addr=client_addr
        )
        session_id = new_id()
        secret = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now + self.lifetime_ms
        with self.store.write() as conn:
            conn.execute(
                delete(sessions).where(
                    or_(
                        sessions.c.expires_at <= now,
                        sessions.c.last_used_at <= now - self.idle_ms,
                        sessions.c.revoked_at.is_not(None),
                    )
                )
            )
            conn.execute(
                sessions.insert().values(
                    id=session_id,
                    user_id=user.id,
                    secret_hash=_digest(secret),
                    csrf_hash=_digest(csrf_token),
                    created_at=now,
                    expires_at=expires_at,
                    last_used_at=now,
                    revoked_at=None,
                    client_addr=client_addr,
                )
            )
            self.audit.record(
                conn,
                Actor(user.username, client_addr=client_addr),
                "session.created",
                "user",
                user.username,
                f"session {session_id[:8]} opened",
            )
        return NewSession(session_id, f"{session_id}.{secret}", csrf_token, expires_at, user)

    def authenticate(
        self, cookie: str, *, for_enrolment: bool = False
    ) -> tuple[Principal, Session]:
        """The principal and session a cookie stands for, or :class:`Unauthenticated`.

        The principal's ``signed_in_at`` is the session's password sign-in. With MFA
        required for everyone (switched on after this sign-in) and no confirmed
        authenticator, the session serves enrolment only: :class:`MfaEnrolmentRequired`
        unless ``for_enrolment``.
        """
        match = _COOKIE.match(cookie) if isinstance(cookie, str) else None
        session_id = match.group(1) if match else ""
        with self.store.read() as conn:
            row = conn.execute(
                select(
                    sessions,
                    users.c.username,
                    users.c.is_admin,
                    users.c.is_service_account,
                    users.c.disabled_at,
                )
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id == session_id)
            ).first()
            pending = row is not None and self.users.mfa.enrolment_pending(
                conn, row.user_id, bool(row.is_service_account)
            )
        stored = row.secret_hash if row is not None else _DUMMY_DIGEST
        given = _digest(match.group(2)) if match else _DUMMY_DIGEST[::-1]
        now = self._clock()
        if (
            not hmac.compare_digest(stored, given)
            or row is None
            or row.revoked_at is not None
            or row.expires_at <= now
            or row.last_used_at <= now - self.idle_ms
            or row.disabled_at is not None
        ):
            raise Unauthenticated(_DENIED)
        if pending and not for_enrolment:
            raise MfaEnrolmentRequired(
                "multi-factor authentication is now required for every account: enrol an "
                "authenticator (POST /api/v1/auth/mfa/enrol, then /auth/mfa/confirm) before "
                "anything else"
            )
        if now - row.last_used_at >= self.touch_interval_ms:
            with self.store.write() as conn:
                conn.execute(
                    update(sessions)
                    .where(sessions.c.id == row.id, sessions.c.last_used_at < now)
                    .values(last_used_at=now)
                )
        principal = Principal(
            row.user_id, row.username, bool(row.is_admin), signed_in_at=row.created_at
        )
        return principal, Session(row.id, row.user_id, row.expires_at, row.csrf_hash)

    @staticmethod
    def check_csrf(session: Session, token: str | None) -> None:
        """Refuse a state-changing request whose CSRF header does not match its session."""
        given = _digest(token) if isinstance(token, str) and token else _DUMMY_DIGEST[::-1]
        if not hmac.compare_digest(session.csrf_hash, given):
            raise PermissionDenied(
                "missing or wrong X-CSRF-Token header: send the csrf_token of your sign-in"
            )

    def sign_out(self, session_id: str, *, actor: Actor) -> None:
        """Revoke one session (signing out twice is harmless)."""
        with self.store.write() as conn:
            done = conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            ).rowcount
            if done:
                self.audit.record(conn, actor, "session.revoked", "user", actor.name, "signed out")


def _digest(secret: str) -> str:
    return hashlib.blake2b(
        secret.encode("utf-8", "surrogatepass"), digest_size=32, person=b"my-session"
    ).hexdigest()
