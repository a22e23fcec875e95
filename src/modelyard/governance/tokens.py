"""Access tokens: personal access tokens and service-account tokens.

A token reads ``my_pat_<id>_<secret>`` (``my_sat_`` for a service account): a public
16-hex-digit id, and a secret of 256 random bits in lower-case base32. It is shown once,
when created. The store keeps only a BLAKE2b digest of the whole token string
(personalized for this use). A slow password hash (argon2) would protect nothing more here: it
exists to make guessing low-entropy passwords expensive, while 256 random bits cannot be
guessed at any speed; and it would cost tens of milliseconds and megabytes of memory on
every API request. Verification looks the token up by its id and compares digests in
constant time.

Expired, revoked, unknown and malformed tokens, and tokens of disabled accounts, all fail
with the same message. A refused token whose id names a stored token (a wrong secret, or
a revoked or expired token, or one of a disabled account) is audited as ``token.denied``
with the reason, under the owner's name and the caller's address; unknown and malformed
ones name nothing to audit. ``last_used_at`` is written at most once per ``touch_interval_s``,
so a busy client does not turn every request into a write.

A token cannot outlive or outrank what created it. Creating a token needs the password again
(a recent password session, or the password sent with the request), never a token alone. A
token minted by a request that a token authenticated records that token as its parent,
expires no later than it (a later expiry, or none, is capped to the parent's), and dies with
it: revoking a token revokes its descendants in the same transaction, and authentication
refuses a token any of whose ancestors is revoked, expired or of a disabled account. With
MFA required for everyone, the tokens of an account that has not enrolled serve enrolment
only (``for_enrolment``); anything else is :class:`MfaEnrolmentRequired`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select, update

from modelyard._util import now_ms, validate_key
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.governance._lookup import find_user, missing_user
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import (
    Actor,
    Principal,
    Reauthenticate,
    require_admin,
    require_self_or_admin,
)
from modelyard.governance.mfa import MfaEnrolmentRequired, MfaService
from modelyard.store import Store
from modelyard.store.tables import access_tokens, users

__all__ = ["MAX_TOKEN_LIFETIME", "NewToken", "Token", "TokenService"]

#: The longest a token may be made to live (the API's ``expires_in_days`` says the same).
MAX_TOKEN_LIFETIME = timedelta(days=365)

_TOKEN = re.compile(r"^my_(pat|sat)_([0-9a-f]{16})_([a-z2-7]{52})$")
_DENIED = "invalid, expired or revoked token"
_DUMMY_DIGEST = "0" * 64

TokenState = Literal["active", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class Token:
    """A token's record (never its secret)."""

    id: str
    username: str
    name: str
    service_account: bool
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None
    state: TokenState
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is the whole token string, shown this once."""

    token: Token
    secret: str = field(repr=False)


class TokenService:
    """Creates, authenticates, lists and revokes access tokens.

    ``mfa`` tells whether an account must still enrol; ``reauthenticate``
    (:meth:`UserService.reauthenticate`) asks a signed-in creator for the password again.
    """

    def __init__(
        self,
        store: Store,
        *,
        mfa: MfaService,
        reauthenticate: Reauthenticate,
        audit: AuditLog | None = None,
        clock: Callable[[], int] = now_ms,
        max_lifetime: timedelta = MAX_TOKEN_LIFETIME,
        touch_interval_s: float = 60.0,
    ) -> None:
        self.store = store
        self.mfa = mfa
        self.reauthenticate = reauthenticate
        self.audit = audit if audit is not None else AuditLog(store, clock=clock)
        self._clock = clock
        self.max_lifetime = max_lifetime
        self.touch_interval_ms = int(touch_interval_s * 1000)

    def create(
        self,
        username: str,
        name: str,
        *,
        actor: Actor,
        expires_in: timedelta | None = None,
        password: str | None = None,
    ) -> NewToken:
        """A new token for ``username`` (a user, or a service account: admins only).

        ``expires_in`` must be positive and at most ``max_lifetime``; None never expires.
        A signed-in ``actor`` needs the password again (``password``, unless its session
        signed in recently). When ``actor`` came with a token, the new token is its child:
        it expires no later than that token and is revoked with it.
        """
        validate_key(name, "token name")
        if expires_in is not None and not timedelta(0) < expires_in <= self.max_lifetime:
            raise InvalidInput(
                f"a token must expire after more than 0 and at most {self.max_lifetime.days} days",
                field="expires_in",
            )
        with self.store.read() as conn:
            _authorize_create(actor, find_user(conn, username))
        self.reauthenticate(actor, password, "create tokens")
        now = self._clock()
        token_id = secrets.token_hex(8)
        key = base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()
        parent_id = actor.principal.token_id if actor.principal is not None else None
        with self.store.write() as conn:
            user = find_user(conn, username)
            if user.disabled_at is not None:
                raise InvalidInput(f"{user.username} is disabled", field="username")
            kind = "sat" if user.is_service_account else "pat"
            secret = f"my_{kind}_{token_id}_{key}"
            expires_at = now + int(expires_in.total_seconds() * 1000) if expires_in else None
            capped = ""
            if parent_id is not None:
                parent_expiry = self._live_parent_expiry(conn, parent_id, now)
                if parent_expiry is not None and (expires_at is None or expires_at > parent_expiry):
                    expires_at, capped = parent_expiry, ", capped to its parent's expiry"
            conn.execute(
                access_tokens.insert().values(
                    id=token_id,
                    user_id=user.id,
                    name=name,
                    secret_hash=_digest(secret),
                    created_at=now,
                    expires_at=expires_at,
                    parent_id=parent_id,
                )
            )
            until = f"expires {_iso(expires_at)}" if expires_at is not None else "never expires"
            minted = f"; minted by token {parent_id}" if parent_id is not None else ""
            self.audit.record(
                conn,
                actor,
                "token.created",
                "token",
                token_id,
                f"token {name!r} for {user.username} ({until}{capped}){minted}",
            )
        token = Token(
            id=token_id,
            username=user.username,
            name=name,
            service_account=bool(user.is_service_account),
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
            last_used_at=None,
            state="active",
            parent_id=parent_id,
        )
        return NewToken(token, secret)

    def authenticate(
        self,
        secret: str,
        *,
        client_addr: str | None = None,
        audit: bool = True,
        for_enrolment: bool = False,
    ) -> Principal:
        """The principal a token string stands for, or PermissionDenied (audited when the
        token's id names a stored token, unless ``audit`` is false).

        With MFA required for everyone, a token of an account that has not enrolled is
        :class:`MfaEnrolmentRequired` (audited) unless ``for_enrolment``: the request is one
        such an account may make (enrol, confirm, who am I, sign out).
        """
        match = _TOKEN.match(secret) if isinstance(secret, str) else None
        token_id = match.group(2) if match else ""
        now = self._clock()
        with self.store.read() as conn:
            row = conn.execute(_with_owner(access_tokens.c.id == token_id)).first()
            stored = row.secret_hash if row is not None else _DUMMY_DIGEST
            matches = match is not None and hmac.compare_digest(stored, _digest(secret))
            if row is None:
                raise PermissionDenied(_DENIED)
            refusal = _refusal(row, matches, now)
            if refusal is None and row.parent_id is not None:
                refusal = _ancestor_refusal(conn, row.parent_id, now)
            pending = (
                refusal is None
                and not for_enrolment
                and self.mfa.enrolment_pending(conn, row.user_id, bool(row.is_service_account))
            )
        error = PermissionDenied(_DENIED)
        if pending:
            refusal = "MFA enrolment required: the token serves enrolment only"
            error = MfaEnrolmentRequired(
                "multi-factor authentication is required for every account: enrol an "
                "authenticator first (POST /api/v1/auth/mfa/enrol with your password, then "
                "/auth/mfa/confirm); until then your tokens serve enrolment only"
            )
        if refusal is not None and not audit:
            raise error
        if refusal is not None:
            with self.store.write() as conn:
                self.audit.append(
                    conn,
                    actor=row.username,
                    action="token.denied",
                    object_type="token",
                    object_id=row.id,
                    summary=f"token {row.name!r} refused: {refusal}",
                    client_addr=client_addr,
                )
            raise error
        if row.last_used_at is None or now - row.last_used_at >= self.touch_interval_ms:
            with self.store.write() as conn:
                conn.execute(
                    update(access_tokens)
                    .where(access_tokens.c.id == row.id)
                    .where(
                        or_(
                            access_tokens.c.last_used_at.is_(None),
                            access_tokens.c.last_used_at <= now - self.touch_interval_ms,
                        )
                    )
                    .values(last_used_at=now)
                )
        return Principal(row.user_id, row.username, bool(row.is_admin), row.id)

    def list_tokens(self, username: str | None = None, *, actor: Actor) -> list[Token]:
        """Tokens of one user (theirs, or an admin's view) or of everyone (admins only)."""
        query = select(access_tokens, users.c.username, users.c.is_service_account).join(
            users, users.c.id == access_tokens.c.user_id
        )
        with self.store.read() as conn:
            if username is None:
                require_admin(actor, "list every token")
            else:
                user = find_user(conn, username)
                require_self_or_admin(actor, user.id, hidden=missing_user(user.username))
                query = query.where(access_tokens.c.user_id == user.id)
            rows = conn.execute(
                query.order_by(access_tokens.c.created_at, access_tokens.c.id)
            ).all()
        now = self._clock()
        return [_token(r, now) for r in rows]

    def revoke(self, token_id: str, *, actor: Actor) -> Token:
        """Revoke a token (its owner or an admin) and, in the same transaction, every token
        minted from it, their children included; revoking twice changes nothing."""
        now = self._clock()
        with self.store.write() as conn:
            row = self._get(conn, token_id)
            require_self_or_admin(actor, row.user_id, hidden=_missing_token(token_id))
            self._revoke_row(conn, row, actor, now, f"token {row.name!r} of {row.username} revoked")
            parents = [row.id]
            while parents:
                children = conn.execute(
                    _with_owner(access_tokens.c.parent_id.in_(parents)).order_by(
                        access_tokens.c.created_at, access_tokens.c.id
                    )
                ).all()
                for child in children:
                    self._revoke_row(
                        conn,
                        child,
                        actor,
                        now,
                        f"token {child.name!r} of {child.username} revoked with its parent "
                        f"token {child.parent_id}",
                    )
                parents = [child.id for child in children]
            return _token(self._get(conn, token_id), now)

    def _revoke_row(self, conn: Any, row: Any, actor: Actor, now: int, summary: str) -> None:
        if row.revoked_at is None:
            conn.execute(
                update(access_tokens).where(access_tokens.c.id == row.id).values(revoked_at=now)
            )
            self.audit.record(conn, actor, "token.revoked", "token", row.id, summary)

    def _live_parent_expiry(self, conn: Any, parent_id: str, now: int) -> int | None:
        """The expiry of the minting token, locked until this transaction ends (so a
        concurrent revocation of it sees the child); PermissionDenied when it no longer
        stands (revoked or expired meanwhile)."""
        parent = conn.execute(
            _with_owner(access_tokens.c.id == parent_id).with_for_update(of=access_tokens)
        ).first()
        refusal = _refusal(parent, True, now) if parent is not None else "it no longer exists"
        if refusal is not None:
            raise PermissionDenied(f"the token of this request cannot mint tokens: {refusal}")
        expires_at: int | None = parent.expires_at
        return expires_at

    def _get(self, conn: Any, token_id: str) -> Any:
        row = conn.execute(_with_owner(access_tokens.c.id == token_id)).first()
        if row is None:
            raise _missing_token(token_id)
        return row


def _authorize_create(actor: Actor, user: Any) -> None:
    require_self_or_admin(actor, user.id, hidden=missing_user(user.username))
    if user.is_service_account:
        require_admin(actor, "create service-account tokens")


def _missing_token(token_id: str) -> NotFound:
    """The answer for a token that does not exist, or one of another user's that a user
    who is not an administrator asks for: the same."""
    return NotFound(f"token {token_id!r} does not exist", field="token_id")


def _with_owner(where: Any) -> Any:
    """Tokens matching ``where``, each with its owner's name and flags."""
    return (
        select(
            access_tokens,
            users.c.username,
            users.c.is_admin,
            users.c.is_service_account,
            users.c.disabled_at,
        )
        .join(users, users.c.id == access_tokens.c.user_id)
        .where(where)
    )


def _ancestor_refusal(conn: Any, parent_id: str | None, now: int) -> str | None:
    """Why a token's ancestry refuses it (a revoked or expired ancestor, or one of a
    disabled account), or None when every ancestor stands."""
    seen: set[str] = set()
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent = conn.execute(_with_owner(access_tokens.c.id == parent_id)).first()
        if parent is None:
            return f"its parent token {parent_id} no longer exists"
        refusal = _refusal(parent, True, now)
        if refusal is not None:
            return f"its ancestor token {parent.id} is refused ({refusal})"
        parent_id = parent.parent_id
    return None


def _refusal(row: Any, matches: bool, now: int) -> str | None:
    """Why the stored token ``row`` is refused (``matches``: the secret was right), or
    None when it stands."""
    if not matches:
        return "wrong secret"
    if row.revoked_at is not None:
        return f"revoked at {_iso(row.revoked_at)}"
    if row.expires_at is not None and row.expires_at <= now:
        return f"expired at {_iso(row.expires_at)}"
    if row.disabled_at is not None:
        return "the account is disabled"
    return None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _digest(secret: str) -> str:
    """BLAKE2b-256 of the whole token string, personalized for this use."""
    return hashlib.blake2b(secret.encode(), digest_size=32, person=b"modelyard-token").hexdigest()


def _token(row: Any, now: int) -> Token:
    state: TokenState = "active"
    if row.revoked_at is not None:
        state = "revoked"
    elif row.expires_at is not None and row.expires_at <= now:
        state = "expired"
    return Token(
        id=row.id,
        username=row.username,
        name=row.name,
        service_account=bool(row.is_service_account),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        state=state,
        parent_id=row.parent_id,
    )
