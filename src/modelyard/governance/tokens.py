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
from modelyard.governance._lookup import find_user
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import Actor, Principal, require_admin, require_self_or_admin
from modelyard.store import Store
from modelyard.store.tables import access_tokens, users

__all__ = ["NewToken", "Token", "TokenService"]

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


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is the whole token string, shown this once."""

    token: Token
    secret: str = field(repr=False)


class TokenService:
    """Creates, authenticates, lists and revokes access tokens."""

    def __init__(
        self,
        store: Store,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], int] = now_ms,
        max_lifetime: timedelta = timedelta(days=365),
        touch_interval_s: float = 60.0,
    ) -> None:
        self.store = store
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
    ) -> NewToken:
        """A new token for ``username`` (a user, or a service account: admins only).

        ``expires_in`` must be positive and at most ``max_lifetime``; None never expires.
        """
        validate_key(name, "token name")
        if expires_in is not None and not timedelta(0) < expires_in <= self.max_lifetime:
            raise InvalidInput(
                f"a token must expire after more than 0 and at most {self.max_lifetime.days} days",
                field="expires_in",
            )
        now = self._clock()
        token_id = secrets.token_hex(8)
        key = base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()
        with self.store.write() as conn:
            user = find_user(conn, username)
            if user.is_service_account:
                require_admin(actor, "create service-account tokens")
            else:
                require_self_or_admin(actor, user.id, "create tokens")
            if user.disabled_at is not None:
                raise InvalidInput(f"{user.username} is disabled", field="username")
            kind = "sat" if user.is_service_account else "pat"
            secret = f"my_{kind}_{token_id}_{key}"
            expires_at = now + int(expires_in.total_seconds() * 1000) if expires_in else None
            conn.execute(
                access_tokens.insert().values(
                    id=token_id,
                    user_id=user.id,
                    name=name,
                    secret_hash=_digest(secret),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            until = f"expires {_iso(expires_at)}" if expires_at is not None else "never expires"
            self.audit.record(
                conn,
                actor,
                "token.created",
                "token",
                token_id,
                f"token {name!r} for {user.username} ({until})",
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
        )
        return NewToken(token, secret)

    def authenticate(
        self, secret: str, *, client_addr: str | None = None, audit: bool = True
    ) -> Principal:
        """The principal a token string stands for, or PermissionDenied (audited when the
        token's id names a stored token, unless ``audit`` is false)."""
        match = _TOKEN.match(secret) if isinstance(secret, str) else None
        token_id = match.group(2) if match else ""
        with self.store.read() as conn:
            row = conn.execute(
                select(
                    access_tokens,
                    users.c.username,
                    users.c.is_admin,
                    users.c.disabled_at,
                )
                .join(users, users.c.id == access_tokens.c.user_id)
                .where(access_tokens.c.id == token_id)
            ).first()
        stored = row.secret_hash if row is not None else _DUMMY_DIGEST
        matches = match is not None and hmac.compare_digest(stored, _digest(secret))
        now = self._clock()
        if row is None:
            raise PermissionDenied(_DENIED)
        refusal = _refusal(row, matches, now)
        if refusal is not None and not audit:
            raise PermissionDenied(_DENIED)
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
            raise PermissionDenied(_DENIED)
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
                require_self_or_admin(actor, user.id, "list tokens")
                query = query.where(access_tokens.c.user_id == user.id)
            rows = conn.execute(
                query.order_by(access_tokens.c.created_at, access_tokens.c.id)
            ).all()
        now = self._clock()
        return [_token(r, now) for r in rows]

    def revoke(self, token_id: str, *, actor: Actor) -> Token:
        """Revoke a token (its owner or an admin); revoking twice changes nothing."""
        now = self._clock()
        with self.store.write() as conn:
            row = self._get(conn, token_id)
            require_self_or_admin(actor, row.user_id, "revoke tokens")
            if row.revoked_at is None:
                conn.execute(
                    update(access_tokens).where(access_tokens.c.id == row.id).values(revoked_at=now)
                )
                self.audit.record(
                    conn,
                    actor,
                    "token.revoked",
                    "token",
                    row.id,
                    f"token {row.name!r} of {row.username} revoked",
                )
            return _token(self._get(conn, token_id), now)

    def _get(self, conn: Any, token_id: str) -> Any:
        row = conn.execute(
            select(access_tokens, users.c.username, users.c.is_service_account)
            .join(users, users.c.id == access_tokens.c.user_id)
            .where(access_tokens.c.id == token_id)
        ).first()
        if row is None:
            raise NotFound(f"token {token_id!r} does not exist", field="token_id")
        return row


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
    )
