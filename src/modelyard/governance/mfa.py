"""Multi-factor authentication: authenticator apps (TOTP, RFC 6238) and recovery codes.

Enrolment gives an ``otpauth://`` URI, its QR code (PNG) and ten single-use recovery
codes, all shown once. The enrolment counts only after :meth:`MfaService.confirm` with a
first valid code, which proves the authenticator holds the secret. A TOTP code is accepted
for the current 30-second step and one step either side; the newest accepted step is
stored and a code for that step or an older one is refused, so an observed code cannot be
replayed. Recovery codes are 80 random bits each, stored as keyed BLAKE2b digests, and
burn on use.

The TOTP secret must be readable by the server (it computes codes from it), so it is
stored encrypted with the server key (:class:`~modelyard.governance.secret_box.SecretBox`):
a copy of the metadata store alone does not give anyone's codes. A secret stored in plain
text by an earlier version is still read, and is encrypted by the next successful
verification of its owner's code, or at once for everyone by :meth:`MfaService.encrypt_secrets`
(which also moves secrets from a previous key to the current one).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pyotp
from sqlalchemy import Connection, delete, func, select, update

from modelyard._util import now_ms
from modelyard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelyard.governance._lookup import find_user, missing_user
from modelyard.governance.audit import AuditLog
from modelyard.governance.identity import (
    Actor,
    Reauthenticate,
    require_admin,
    require_self_or_admin,
)
from modelyard.governance.secret_box import SecretBox, SecretUnreadable
from modelyard.store import Store
from modelyard.store.tables import governance_settings, mfa_secrets, recovery_codes, users

__all__ = [
    "ISSUER",
    "RECOVERY_CODE_COUNT",
    "EncryptionReport",
    "Enrolment",
    "MfaEnrolmentRequired",
    "MfaRequired",
    "MfaService",
    "MfaStatus",
]

ISSUER = "Modelyard"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: 5 bits each, no 0/O/1/I
_RECOVERY_LENGTH = 16  # 80 bits
_RECOVERY_SHAPE = re.compile(f"^[{_RECOVERY_ALPHABET}]{{{_RECOVERY_LENGTH}}}$")
_TOTP_SHAPE = re.compile(r"^[0-9]{6}$")
_REQUIRED_KEY = "mfa_required"
_STEP_S = 30

Method = Literal["totp", "recovery"]


class MfaRequired(PermissionDenied):
    """The password was right; a one-time code is needed as well."""

    code = "mfa_required"


class MfaEnrolmentRequired(PermissionDenied):
    """The password was right, but MFA is required and the account has not enrolled."""

    code = "mfa_enrolment_required"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What a new enrolment shows once: never stored in this form, never printed by repr."""

    username: str
    uri: str = field(repr=False)
    qr_png: bytes = field(repr=False)
    recovery_codes: tuple[str, ...] = field(repr=False)
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class EncryptionReport:
    """What :meth:`MfaService.encrypt_secrets` did: secrets (re-)encrypted with the current
    key, secrets that already were, and the users whose secret no key decrypts."""

    encrypted: int
    already_current: int
    unreadable: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MfaStatus:
    username: str
    enrolled: bool
    confirmed: bool
    recovery_codes_left: int
    required: bool


class MfaService:
    """TOTP enrolment and verification, recovery codes, and the "required for all" switch.

    ``secret_box`` encrypts the TOTP secrets (``SecretBox.from_settings(settings)`` for an
    installation's key); without one, everything that reads or writes a secret refuses.
    ``reauthenticate`` (:meth:`UserService.reauthenticate`) asks a signed-in enroller for
    the password again.
    """

    def __init__(
        self,
        store: Store,
        *,
        reauthenticate: Reauthenticate,
        secret_box: SecretBox | None = None,
        audit: AuditLog | None = None,
        clock: Callable[[], int] = now_ms,
        valid_window: int = 1,
    ) -> None:
        self.store = store
        self.reauthenticate = reauthenticate
        self.secret_box = secret_box
        self.audit = audit if audit is not None else AuditLog(store, clock=clock)
        self._clock = clock
        self.valid_window = valid_window

    # -- enrolment --------------------------------------------------------------------

    def enrol(self, username: str, *, actor: Actor, password: str | None = None) -> Enrolment:
        """Start (or restart) an enrolment; refused while a confirmed one exists.

        Whoever holds the enrolment holds the second factor, so a signed-in ``actor`` needs
        the password again (``password``, or a session signed in recently): a token alone
        cannot enrol.
        """
        with self.store.read() as conn:
            user = find_user(conn, username)
        require_self_or_admin(actor, user.id, hidden=missing_user(user.username))
        if user.is_service_account:
            raise InvalidInput(
                f"{user.username} is a service account: it signs in with tokens only",
                field="username",
            )
        self.reauthenticate(actor, password, "enrol an authenticator")
        secret = pyotp.random_base32()
        sealed = self._box().seal(secret)
        codes = tuple(_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT))
        now = self._clock()
        with self.store.write() as conn:
            user = find_user(conn, username)
            current = conn.execute(
                select(mfa_secrets.c.confirmed_at).where(mfa_secrets.c.user_id == user.id)
            ).first()
            if current is not None and current.confirmed_at is not None:
                raise Conflict(
                    f"{user.username} already has a confirmed authenticator; an administrator "
                    "must reset it before a new one is enrolled"
                )
            conn.execute(delete(mfa_secrets).where(mfa_secrets.c.user_id == user.id))
            conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user.id))
            conn.execute(
                mfa_secrets.insert().values(
                    user_id=user.id, secret=sealed, created_at=now, confirmed_at=None
                )
            )
            conn.execute(
                recovery_codes.insert(),
                [{"user_id": user.id, "code_hash": _code_hash(user.id, c)} for c in codes],
            )
            self.audit.record(
                conn,
                actor,
                "mfa.enrolled",
                "user",
                user.username,
                f"authenticator enrolment started with {len(codes)} recovery codes",
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
        return Enrolment(
            username=user.username,
            uri=uri,
            qr_png=_qr_png(uri),
            recovery_codes=tuple(_format_recovery_code(c) for c in codes),
            secret=secret,
        )

    def confirm(self, username: str, code: str, *, actor: Actor) -> None:
        """Complete an enrolment with a first valid code from the authenticator."""
        with self.store.write() as conn:
            user = find_user(conn, username)
            require_self_or_admin(actor, user.id, hidden=missing_user(user.username))
            row = conn.execute(select(mfa_secrets).where(mfa_secrets.c.user_id == user.id)).first()
            if row is None:
                raise NotFound(f"{user.username} has no authenticator enrolment to confirm")
            if row.confirmed_at is not None:
                raise Conflict(f"{user.username}'s authenticator is already confirmed")
            step = self._match_totp(self._reveal(row.secret, user.username), code)
            if step is not None:
                conn.execute(
                    update(mfa_secrets)
                    .where(mfa_secrets.c.user_id == user.id)
                    .values(confirmed_at=self._clock(), last_step=step, **self._resealed(row))
                )
                self.audit.record(
                    conn, actor, "mfa.confirmed", "user", user.username, "authenticator confirmed"
                )
        if step is None:
            raise PermissionDenied(
                "the code does not match: check the authenticator app's clock and try the "
                "current code"
            )

    def reset(self, username: str, *, actor: Actor) -> None:
        """Remove a user's authenticator and recovery codes (a lost device); admins only."""
        with self.store.write() as conn:
            require_admin(actor, "reset multi-factor authentication")
            user = find_user(conn, username)
            removed = conn.execute(delete(mfa_secrets).where(mfa_secrets.c.user_id == user.id))
            conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user.id))
            if removed.rowcount == 0:
                raise NotFound(f"{user.username} has no authenticator enrolled")
            self.audit.record(
                conn, actor, "mfa.reset", "user", user.username, "authenticator and codes removed"
            )

    # -- verification -----------------------------------------------------------------

    def verify(self, username: str, code: str, *, client_addr: str | None = None) -> Method:
        """Check a TOTP or recovery code of a confirmed enrolment (a recovery code burns).

        Returns which kind of code it was; PermissionDenied when it is not valid.
        """
        with self.store.write() as conn:
            user = find_user(conn, username)
            actor = Actor(user.username, client_addr=client_addr)
            method = self.consume(conn, user, code, actor)
        if method is None:
            with self.store.write() as conn:
                self.audit.record(
                    conn, actor, "mfa.failure", "user", user.username, "invalid one-time code"
                )
            raise PermissionDenied("the one-time code is not valid")
        return method

    def consume(self, conn: Connection, user: Any, code: str, actor: Actor) -> Method | None:
        """Accept ``code`` for ``user`` (a ``users`` row) inside the caller's transaction.

        A TOTP code moves the replay mark forward; a recovery code is burned (and the use
        recorded). Returns None, having changed nothing, when the code is not valid.
        """
        row = conn.execute(select(mfa_secrets).where(mfa_secrets.c.user_id == user.id)).first()
        if row is None or row.confirmed_at is None or not isinstance(code, str):
            return None
        code = code.strip()
        if _TOTP_SHAPE.match(code):
            step = self._match_totp(self._reveal(row.secret, user.username), code)
            if step is None:
                return None
            moved = conn.execute(
                update(mfa_secrets)
                .where(mfa_secrets.c.user_id == user.id)
                .where((mfa_secrets.c.last_step.is_(None)) | (mfa_secrets.c.last_step < step))
                .values(last_step=step, **self._resealed(row))
            )
            return "totp" if moved.rowcount == 1 else None
        return self._burn_recovery_code(conn, user, code, actor)

    def demands(self, conn: Connection, user_id: str) -> Literal["code", "enrolment"] | None:
        """What signing in requires beyond the password: a code, an enrolment, or nothing."""
        confirmed = conn.execute(
            select(mfa_secrets.c.confirmed_at).where(mfa_secrets.c.user_id == user_id)
        ).scalar()
        if confirmed is not None:
            return "code"
        return "enrolment" if self._required(conn) else None

    def enrolment_pending(self, conn: Connection, user_id: str, service_account: bool) -> bool:
        """Whether MFA is required for everyone and this user (not a service account) has no
        confirmed authenticator yet: then their tokens and sessions serve enrolment only."""
        if service_account or not self._required(conn):
            return False
        confirmed = conn.execute(
            select(mfa_secrets.c.confirmed_at).where(mfa_secrets.c.user_id == user_id)
        ).scalar()
        return confirmed is None

    def encrypt_secrets(self, *, actor: Actor) -> EncryptionReport:
        """Encrypt every TOTP secret with the current server key; admins only.

        Covers secrets stored in plain text by earlier versions and secrets under a
        previous key (rotation). A secret that no key decrypts is left as it is and its
        user listed in the report (an administrator resets their MFA). One audit event.
        """
        box = self._box()
        with self.store.write() as conn:
            require_admin(actor, "encrypt multi-factor secrets")
            rows = conn.execute(
                select(mfa_secrets.c.user_id, mfa_secrets.c.secret, users.c.username)
                .join(users, users.c.id == mfa_secrets.c.user_id)
                .order_by(users.c.username)
            ).all()
            encrypted, unreadable = 0, []
            for row in rows:
                if box.is_current(row.secret):
                    continue
                try:
                    plain = box.open(row.secret)
                except SecretUnreadable:
                    unreadable.append(row.username)
                    continue
                conn.execute(
                    update(mfa_secrets)
                    .where(mfa_secrets.c.user_id == row.user_id)
                    .where(mfa_secrets.c.secret == row.secret)
                    .values(secret=box.seal(plain))
                )
                encrypted += 1
            report = EncryptionReport(
                encrypted=encrypted,
                already_current=len(rows) - encrypted - len(unreadable),
                unreadable=tuple(unreadable),
            )
            self.audit.record(
                conn,
                actor,
                "mfa.secrets_encrypted",
                "setting",
                "server.secret_key",
                f"{report.encrypted} TOTP secrets encrypted with the current server key, "
                f"{report.already_current} already were, {len(report.unreadable)} unreadable",
            )
        return report

    # -- status and the instance-wide switch --------------------------------------------

    def status(self, username: str, *, actor: Actor) -> MfaStatus:
        with self.store.read() as conn:
            user = find_user(conn, username)
            require_self_or_admin(actor, user.id, hidden=missing_user(user.username))
            row = conn.execute(
                select(mfa_secrets.c.confirmed_at).where(mfa_secrets.c.user_id == user.id)
            ).first()
            left = conn.execute(
                select(func.count())
                .select_from(recovery_codes)
                .where(recovery_codes.c.user_id == user.id, recovery_codes.c.used_at.is_(None))
            ).scalar_one()
            required = self._required(conn)
        return MfaStatus(
            username=user.username,
            enrolled=row is not None,
            confirmed=row is not None and row.confirmed_at is not None,
            recovery_codes_left=left if row is not None else 0,
            required=required,
        )

    def is_required(self) -> bool:
        """Whether every account must use MFA to sign in with a password."""
        with self.store.read() as conn:
            return self._required(conn)

    def set_required(self, required: bool, *, actor: Actor) -> None:
        """Require MFA for everyone (or stop requiring it); admins only."""
        value = "true" if required else "false"
        with self.store.write() as conn:
            require_admin(actor, "change the multi-factor requirement")
            conn.execute(
                self.store.upsert_stmt(governance_settings, ["key"], ["value", "updated_at"]),
                {"key": _REQUIRED_KEY, "value": value, "updated_at": self._clock()},
            )
            self.audit.record(
                conn,
                actor,
                "mfa.required_changed",
                "setting",
                _REQUIRED_KEY,
                f"multi-factor authentication required for everyone: {'on' if required else 'off'}",
            )

    # -- internals ----------------------------------------------------------------------

    def _box(self) -> SecretBox:
        if self.secret_box is None:
            raise InvalidInput(
                "MfaService has no secret_box to encrypt TOTP secrets with: build it with "
                "secret_box=SecretBox.from_settings(settings)",
                field="secret_box",
            )
        return self.secret_box

    def _reveal(self, stored: str, username: str) -> str:
        """The plain TOTP secret of ``username``; a clear error when no key decrypts it."""
        try:
            return self._box().open(stored)
        except SecretUnreadable:
            raise SecretUnreadable(
                f"the TOTP secret of user {username} cannot be decrypted with the configured "
                "server key (server.secret_key, or <home>/secret.key when it is unset; "
                "server.previous_secret_keys lists the earlier keys that still work). If the "
                f"old key is lost, an administrator resets the MFA (modelyard mfa reset "
                f"{username}) and {username} enrols again; recovery codes still sign in"
            ) from None

    def _resealed(self, row: Any) -> dict[str, str]:
        """``{"secret": ...}`` re-encrypted with the current key, or nothing when it is."""
        box = self._box()
        if box.is_current(row.secret):
            return {}
        return {"secret": box.seal(box.open(row.secret))}

    def _required(self, conn: Connection) -> bool:
        value = conn.execute(
            select(governance_settings.c.value).where(governance_settings.c.key == _REQUIRED_KEY)
        ).scalar()
        return value == "true"

    def _match_totp(self, secret: str, code: object) -> int | None:
        """The newest time step within the window whose code equals ``code``."""
        if not isinstance(code, str) or not _TOTP_SHAPE.match(code.strip()):
            return None
        code = code.strip()
        totp = pyotp.TOTP(secret)
        now_step = self._clock() // 1000 // _STEP_S
        found = None
        for step in range(now_step - self.valid_window, now_step + self.valid_window + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                found = step
        return found

    def _burn_recovery_code(
        self, conn: Connection, user: Any, code: str, actor: Actor
    ) -> Method | None:
        normal = re.sub(r"[\s-]", "", code).upper()
        if not _RECOVERY_SHAPE.match(normal):
            return None
        wanted = _code_hash(user.id, normal)
        unused = conn.execute(
            select(recovery_codes.c.id, recovery_codes.c.code_hash).where(
                recovery_codes.c.user_id == user.id, recovery_codes.c.used_at.is_(None)
            )
        ).all()
        match = None
        for row in unused:  # compare with every code, constant time each
            if hmac.compare_digest(row.code_hash, wanted):
                match = row.id
        if match is None:
            return None
        burned = conn.execute(
            update(recovery_codes)
            .where(recovery_codes.c.id == match, recovery_codes.c.used_at.is_(None))
            .values(used_at=self._clock())
        )
        if burned.rowcount != 1:
            return None
        self.audit.record(
            conn,
            actor,
            "mfa.recovery_code_used",
            "user",
            user.username,
            f"recovery code used; {len(unused) - 1} left",
        )
        return "recovery"


def _new_recovery_code() -> str:
    return "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))


def _format_recovery_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _code_hash(user_id: str, code: str) -> str:
    """Keyed BLAKE2b of a normalized recovery code, salted with the owner's id.

    A fast hash is enough: the code carries 80 random bits, far beyond offline guessing.
    """
    return hashlib.blake2b(
        code.encode(), digest_size=32, salt=bytes.fromhex(user_id), person=b"modelyard-rcv"
    ).hexdigest()


def _qr_png(data: str) -> bytes:
    """A QR code of ``data`` as PNG bytes (pure-Python PNG writer, no Pillow needed)."""
    import qrcode
    from qrcode.image.pure import PyPNGImage

    qr = qrcode.QRCode(box_size=8, border=4, image_factory=PyPNGImage)
    qr.add_data(data)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf)
    return buf.getvalue()
