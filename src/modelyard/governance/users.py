"""Users and service accounts, passwords, sign-in, throttling and lock-out.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher``: RFC 9106 low-memory
parameters by default) and re-hashed on sign-in when the parameters change. Sign-in
failures are counted per username, known or not, so the lock-out reveals nothing about
which accounts exist: ``max_failures`` failures within ``failure_window_s`` lock the
username for ``lockout_s``; a successful sign-in clears the count. Every failure is
recorded in the audit log in a transaction of its own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, func, or_, select, update

from modelyard import limits
from modelyard._util import new_id, now_ms
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from modelyard.governance._lookup import find_user, missing_user, normalize_username
from modelyard.governance._passwords import MAX_LENGTH, check_password
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import (
    Actor,
    Principal,
    ReauthRequired,
    require_admin,
    require_self_or_admin,
)
from modelyard.governance.mfa import MfaEnrolmentRequired, MfaRequired, MfaService
from modelyard.store import Store
from modelyard.store.tables import login_throttle, users

__all__ = ["User", "UserService"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DENIED = "invalid username or password"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str | None
    is_admin: bool
    is_service_account: bool
    disabled_at: int | None
    created_at: int
    last_login_at: int | None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def principal(self, token_id: str | None = None) -> Principal:
        return Principal(self.id, self.username, self.is_admin, token_id)


class UserService:
    """Accounts and password sign-in over one metadata store."""

    def __init__(
        self,
        store: Store,
        *,
        hasher: PasswordHasher | None = None,
        audit: AuditLog | None = None,
        mfa: MfaService | None = None,
        clock: Callable[[], int] = now_ms,
        max_failures: int = 5,
        failure_window_s: float = 900.0,
        lockout_s: float = 900.0,
        reauth_window_s: float = 600.0,
    ) -> None:
        if max_failures < 1:
            raise InvalidInput("max_failures must be at least 1", field="max_failures")
        self.store = store
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self.audit = audit if audit is not None else AuditLog(store, clock=clock)
        self.mfa = (
            mfa
            if mfa is not None
            else MfaService(
                store, audit=self.audit, clock=clock, reauthenticate=self.reauthenticate
            )
        )
        self._clock = clock
        self.max_failures = max_failures
        self.failure_window_ms = int(failure_window_s * 1000)
        self.lockout_ms = int(lockout_s * 1000)
        self.reauth_window_ms = int(reauth_window_s * 1000)

    # -- accounts -----------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        *,
        actor: Actor,
        admin: bool = False,
        email: str | None = None,
    ) -> User:
        """Create a user who signs in with a password (checked against the policy)."""
        require_admin(actor, "create users")
        name = normalize_username(username)
        check_password(password, name)
        return self._create(name, self.hasher.hash(password), actor, admin, email, False)

    def create_service_account(self, username: str, *, actor: Actor, admin: bool = False) -> User:
        """Create a non-login account for automation; it authenticates with tokens only."""
        require_admin(actor, "create service accounts")
        return self._create(normalize_username(username), None, actor, admin, None, True)

    def get_user(self, username: str) -> User:
        with self.store.read() as conn:
            return _user(find_user(conn, username))

    def get_user_by_id(self, user_id: str) -> User:
        with self.store.read() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise NotFound(f"user id {user_id!r} does not exist", field="user_id")
        return _user(row)

    def list_users(self, *, actor: Actor) -> list[User]:
        require_admin(actor, "list users")
        with self.store.read() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [_user(r) for r in rows]

    def count_users(self) -> int:
        """How many accounts exist (service accounts included)."""
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(users)).scalar_one())

    def disable_user(self, username: str, *, actor: Actor) -> User:
        """Disable an account: no sign-in, no token works; data and audit trail stay."""
        require_admin(actor, "disable users")
        with self.store.write() as conn:
            row = find_user(conn, username)
            if row.disabled_at is None:
                if row.is_admin:
                    self._keep_an_admin(conn, row, "disable")
                conn.execute(
                    update(users).where(users.c.id == row.id).values(disabled_at=self._clock())
                )
                self.audit.record(
                    conn, actor, "user.disabled", "user", row.username, "account disabled"
                )
            return _user(find_user(conn, username))

    def enable_user(self, username: str, *, actor: Actor) -> User:
        require_admin(actor, "enable users")
        with self.store.write() as conn:
            row = find_user(conn, username)
            if row.disabled_at is not None:
                conn.execute(update(users).where(users.c.id == row.id).values(disabled_at=None))
                self.audit.record(
                    conn, actor, "user.enabled", "user", row.username, "account enabled"
                )
            return _user(find_user(conn, username))

    def unlock_user(self, username: str, *, actor: Actor) -> None:
        """Clear a lock-out and the failure count before they expire."""
        require_admin(actor, "unlock users")
        with self.store.write() as conn:
            row = find_user(conn, username)
            cleared = conn.execute(
                delete(login_throttle).where(login_throttle.c.username == row.username)
            )
            if cleared.rowcount:
                self.audit.record(
                    conn, actor, "user.unlocked", "user", row.username, "sign-in lock-out cleared"
                )

    def set_admin(self, username: str, admin: bool, *, actor: Actor) -> User:
        """Grant or withdraw the global admin flag."""
        require_admin(actor, "change administrator rights")
        with self.store.write() as conn:
            row = find_user(conn, username)
            if bool(row.is_admin) != admin:
                if not admin:
                    self._keep_an_admin(conn, row, "withdraw administrator rights from")
                conn.execute(update(users).where(users.c.id == row.id).values(is_admin=admin))
                action = "user.admin_granted" if admin else "user.admin_revoked"
                summary = "administrator rights " + ("granted" if admin else "withdrawn")
                self.audit.record(conn, actor, action, "user", row.username, summary)
            return _user(find_user(conn, username))

    def change_password(
        self,
        username: str,
        new_password: str,
        *,
        actor: Actor,
        current_password: str | None = None,
    ) -> None:
        """Set a new password.

        ``current_password`` is the password of whoever makes the change: users changing
        their own must always give it; an administrator changing someone else's gives their
        own unless their session signed in recently (:meth:`reauthenticate`); the local
        operator needs none. A wrong one counts towards the lock-out like a failed sign-in.
        """
        with self.store.read() as conn:
            row = find_user(conn, username)
        require_self_or_admin(actor, row.id, hidden=missing_user(row.username))
        if row.is_service_account:
            raise InvalidInput(
                f"{row.username} is a service account and has no password", field="username"
            )
        if actor.principal is not None and actor.principal.user_id == row.id:
            if current_password is None or not self._password_again(
                row, current_password, "change the password", actor.client_addr
            ):
                raise PermissionDenied(
                    "the current password is not correct", field="current_password"
                )
        else:
            self.reauthenticate(actor, current_password, "change another user's password")
        check_password(new_password, row.username)
        new_hash = self.hasher.hash(new_password)
        with self.store.write() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(password_hash=new_hash, password_changed_at=self._clock())
            )
            self.audit.record(
                conn, actor, "user.password_changed", "user", row.username, "password changed"
            )

    # -- sign-in ------------------------------------------------------------------------

    def authenticate(
        self,
        username: str,
        password: str,
        *,
        totp_code: str | None = None,
        client_addr: str | None = None,
    ) -> User:
        """Check a password sign-in (and the one-time code when MFA applies).

        Raises PermissionDenied with one message for every wrong username or password;
        :class:`MfaRequired` when the password was right and a code is needed;
        :class:`MfaEnrolmentRequired` when MFA is required and the user has not enrolled.
        """
        key = _throttle_key(username)
        now = self._clock()
        with self.store.read() as conn:
            locked_until = conn.execute(
                select(login_throttle.c.locked_until).where(login_throttle.c.username == key)
            ).scalar()
            row = conn.execute(select(users).where(users.c.username == key)).first()
        self._refuse_while_locked(key, locked_until, now, "rejected", client_addr)
        verified = self._verify(row.password_hash if row is not None else None, password)
        if row is None or not verified:
            reason = "unknown user" if row is None else "wrong password"
            if row is not None and row.is_service_account:
                reason = "service accounts cannot sign in with a password"
            self._record_failure(key, reason, client_addr, count=True)
            raise PermissionDenied(_DENIED)
        stored = row.password_hash
        if row.disabled_at is not None:
            self._record_failure(key, "account disabled", client_addr, count=False)
            raise PermissionDenied("this account is disabled; ask an administrator")
        rehash = self.hasher.hash(password) if self.hasher.check_needs_rehash(stored) else None
        actor = Actor(row.username, client_addr=client_addr)
        with self.store.write() as conn:
            demand = self.mfa.demands(conn, row.id)
            method = None
            if demand == "code" and totp_code is not None:
                method = self.mfa.consume(conn, row, totp_code, actor)
            if demand is None or method is not None:
                self._succeed(conn, row, stored, rehash, method, actor)
        if demand == "enrolment":
            self._record_failure(key, "rejected: MFA enrolment required", client_addr, count=False)
            raise MfaEnrolmentRequired(
                "multi-factor authentication is required for every account: enrol an "
                f"authenticator app first (an administrator can run: modelyard mfa enrol "
                f"{row.username})"
            )
        if demand == "code" and totp_code is None:
            raise MfaRequired(
                "enter the 6-digit code from your authenticator app (or a recovery code)"
            )
        if demand == "code" and method is None:
            self._record_failure(key, "wrong one-time code", client_addr, count=True)
            raise PermissionDenied("the one-time code is not valid")
        return self.get_user_by_id(row.id)

    # -- re-authentication ----------------------------------------------------------------

    def reauthenticate(self, actor: Actor, password: str | None, doing: str) -> None:
        """Let ``actor`` ``doing`` (create tokens, enrol an authenticator) only with a
        recent password.

        The local operator passes; a browser session passes within ``reauth_window_s`` of
        its password sign-in; otherwise (a token, an older session) ``password`` must be the
        principal's current password. Without one: :class:`ReauthRequired` (audited as
        ``reauth.required``). A wrong one counts towards the lock-out like a failed sign-in
        (audited as ``login.failure``) and is refused with :class:`ReauthRequired` too.
        """
        p = actor.principal
        if p is None:
            return
        now = self._clock()
        if p.token_id is None and p.signed_in_at is not None:
            if now - p.signed_in_at < self.reauth_window_ms:
                return
            alone = f"a session that signed in {self.reauth_window_ms // 1000} s ago or more"
        else:
            alone = "an access token"
        with self.store.read() as conn:
            row = conn.execute(select(users).where(users.c.id == p.user_id)).first()
        if row is None or row.is_service_account:
            raise ReauthRequired(
                f"{p.username} is a service account and has no password: an administrator "
                f"must {doing} for it (modelyard tokens create --service-account)",
                field="password",
            )
        if password is None:
            with self.store.write() as conn:
                self.audit.record(
                    conn,
                    actor,
                    "reauth.required",
                    "user",
                    row.username,
                    f"refused to {doing} with {alone} and no password",
                )
            raise ReauthRequired(
                f"to {doing}, send your current password in the `password` field "
                f"({alone} is not enough)",
                field="password",
            )
        if not self._password_again(row, password, doing, actor.client_addr):
            raise ReauthRequired("the password is not correct", field="password")

    # -- internals ------------------------------------------------------------------------

    def _password_again(self, row: Any, password: str, doing: str, client_addr: str | None) -> bool:
        """Whether ``password`` is the current one of ``row`` (a ``users`` row), asked again
        before a sensitive change: refused while the username is locked out, and a wrong
        one counts towards the lock-out (a stolen token or session is no way to guess)."""
        key = _throttle_key(row.username)
        with self.store.read() as conn:
            locked_until = conn.execute(
                select(login_throttle.c.locked_until).where(login_throttle.c.username == key)
            ).scalar()
        self._refuse_while_locked(
            key, locked_until, self._clock(), "re-authentication rejected", client_addr
        )
        if self._verify(row.password_hash, password):
            return True
        self._record_failure(
            key, f"re-authentication to {doing}: wrong password", client_addr, count=True
        )
        return False

    def _refuse_while_locked(
        self, key: str, locked_until: int | None, now: int, doing: str, client_addr: str | None
    ) -> None:
        """Refuse (and record) a password check of a username locked out now."""
        if locked_until is not None and locked_until > now:
            minutes = -(-(locked_until - now) // 60_000)
            self._record_failure(key, f"{doing}: locked out", client_addr, count=False)
            raise PermissionDenied(
                f"too many failed sign-ins: try again in {minutes} minute(s) "
                "or ask an administrator to unlock the account"
            )

    def _create(
        self,
        name: str,
        password_hash: str | None,
        actor: Actor,
        admin: bool,
        email: str | None,
        service_account: bool,
    ) -> User:
        if email is not None:
            limits.check_text(email, "email", limits.EMAIL)
            if not _EMAIL.match(email):
                raise InvalidInput(f"not an email address: {email!r}", field="email")
        user = User(
            id=new_id(),
            username=name,
            email=email,
            is_admin=admin,
            is_service_account=service_account,
            disabled_at=None,
            created_at=self._clock(),
            last_login_at=None,
        )
        kind = "service account" if service_account else "user"
        try:
            with self.store.write() as conn:
                if conn.execute(select(users.c.id).where(users.c.username == name)).first():
                    raise AlreadyExists(f"user {name!r} already exists", field="username")
                conn.execute(
                    users.insert().values(
                        id=user.id,
                        username=name,
                        email=email,
                        password_hash=password_hash,
                        is_admin=admin,
                        is_service_account=service_account,
                        created_at=user.created_at,
                        password_changed_at=user.created_at if password_hash else None,
                    )
                )
                self.audit.record(
                    conn,
                    actor,
                    "user.created",
                    "user",
                    name,
                    f"{kind} created" + (" with administrator rights" if admin else ""),
                )
        except Conflict:  # another process created the same name a moment earlier
            raise AlreadyExists(f"user {name!r} already exists", field="username") from None
        return user

    def _keep_an_admin(self, conn: Connection, row: Any, doing: str) -> None:
        others = conn.execute(
            select(func.count())
            .select_from(users)
            .where(users.c.is_admin.is_(True), users.c.disabled_at.is_(None))
            .where(users.c.id != row.id)
        ).scalar_one()
        if others == 0:
            raise Conflict(f"cannot {doing} {row.username}: they are the last active administrator")

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """A hash to verify against for unknown users, so they take as long as known ones."""
        return self.hasher.hash("modelyard: no such user")

    def _verify(self, stored: str | None, password: object) -> bool:
        """argon2 verification (constant-time); always does the work, even with no hash."""
        if not isinstance(password, str) or len(password) > MAX_LENGTH:
            return False
        try:
            ok = self.hasher.verify(stored or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and stored is not None

    def _succeed(
        self,
        conn: Connection,
        row: Any,
        stored: str,
        rehash: str | None,
        method: str | None,
        actor: Actor,
    ) -> None:
        conn.execute(delete(login_throttle).where(login_throttle.c.username == row.username))
        conn.execute(update(users).where(users.c.id == row.id).values(last_login_at=self._clock()))
        if rehash is not None:  # only if the password did not change meanwhile
            conn.execute(
                update(users)
                .where(users.c.id == row.id, users.c.password_hash == stored)
                .values(password_hash=rehash)
            )
        how = {None: "a password", "totp": "a password and TOTP"}.get(
            method, "a password and a recovery code"
        )
        self.audit.record(
            conn, actor, "login.success", "user", row.username, f"signed in with {how}"
        )

    def _record_failure(
        self, key: str, reason: str, client_addr: str | None, *, count: bool
    ) -> None:
        """Record a failed sign-in (its own transaction); count it towards the lock-out."""
        now = self._clock()
        summary = f"sign-in failed: {reason}"
        with self.store.write() as conn:
            if count:
                conn.execute(
                    self.store.insert_stmt(login_throttle)
                    .values(username=key, failures=0, window_start=now, locked_until=None)
                    .on_conflict_do_nothing()
                )
                state = conn.execute(
                    select(login_throttle).where(login_throttle.c.username == key).with_for_update()
                ).one()
                failures, start = state.failures, state.window_start
                if now - start >= self.failure_window_ms:
                    failures, start = 0, now
                failures += 1
                locked_until = None
                if failures >= self.max_failures:
                    locked_until = now + self.lockout_ms
                    summary += (
                        f"; locked for {-(-self.lockout_ms // 60_000)} minute(s) after "
                        f"{failures} failures"
                    )
                    failures, start = 0, now
                conn.execute(
                    update(login_throttle)
                    .where(login_throttle.c.username == key)
                    .values(failures=failures, window_start=start, locked_until=locked_until)
                )
                conn.execute(  # forget usernames whose window and lock-out have passed
                    delete(login_throttle).where(
                        login_throttle.c.window_start < now - self.failure_window_ms,
                        or_(
                            login_throttle.c.locked_until.is_(None),
                            login_throttle.c.locked_until < now,
                        ),
                    )
                )
            self.audit.append(
                conn,
                actor=key,
                action="login.failure",
                object_type="user",
                object_id=key,
                summary=summary,
                client_addr=client_addr,
            )


def _throttle_key(username: object) -> str:
    """The lock-out key of a sign-in attempt: the username as typed, lower-cased, at most
    128 characters, control characters (PostgreSQL refuses NUL in text) replaced by ``?``,
    which no username contains."""
    if not isinstance(username, str):
        return ""
    return _CONTROL.sub("?", username).strip().lower()[:128]


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        email=row.email,
        is_admin=bool(row.is_admin),
        is_service_account=bool(row.is_service_account),
        disabled_at=row.disabled_at,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )
