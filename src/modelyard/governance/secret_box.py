"""Secrets the server must read back (TOTP secrets), encrypted at rest with the server key.

A sealed value is ``fernet:<token>``: cryptography's Fernet (AES-128-CBC and HMAC-SHA256)
under the server key. The key is the setting ``server.secret_key`` when it is set (the key
file is then not read); otherwise the key in ``<home>/secret.key``, created with mode 0600
the first time a secret is sealed or opened. ``server.previous_secret_keys`` still open
values sealed under earlier keys, so a key can be rotated while
``modelyard mfa encrypt-secrets`` re-seals everything under the current one. A value
without the prefix was stored before encryption existed and is read as it is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from modelyard.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = ["KEY_FILE", "PREFIX", "SecretBox", "SecretUnreadable"]

PREFIX = "fernet:"
KEY_FILE = "secret.key"
_SETTING = "server.secret_key"
_PREVIOUS = "server.previous_secret_keys"


class SecretUnreadable(Conflict):
    """A stored secret that no configured key decrypts (the key was lost or changed)."""

    code = "secret_unreadable"


class SecretBox:
    """Seals and opens small secrets with the current key; opens with earlier keys too.

    ``key`` is a Fernet key; without one, ``key_file`` holds it (read, or created, on
    first need). ``previous`` are earlier keys, used only to open.
    """

    def __init__(
        self,
        key: str | bytes | None = None,
        *,
        previous: Sequence[str | bytes] = (),
        key_file: Path | None = None,
    ) -> None:
        if key is None and key_file is None:
            raise InvalidInput("a server key or a key file is needed", field="key")
        self._current = _fernet(key, _SETTING) if key is not None else None
        self._previous = [_fernet(k, _PREVIOUS) for k in previous]
        self._key_file = key_file
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The box of an installation: ``server.secret_key``, else ``<home>/secret.key``."""
        conf = settings.server
        return cls(
            conf.secret_key.get_secret_value() if conf.secret_key is not None else None,
            previous=[k.get_secret_value() for k in conf.previous_secret_keys],
            key_file=Path(settings.home) / KEY_FILE,
        )

    def seal(self, plain: str) -> str:
        """``plain`` encrypted under the current key, as ``fernet:<token>``."""
        return PREFIX + self._key().encrypt(plain.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        """The plain value of a sealed one (or of a legacy value stored without the prefix).

        Raises :class:`SecretUnreadable` when neither the current key nor a previous one
        decrypts it.
        """
        if not stored.startswith(PREFIX):
            return stored
        token = stored.removeprefix(PREFIX).encode("ascii")
        try:
            return MultiFernet([self._key(), *self._previous]).decrypt(token).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with the configured server key "
                "(server.secret_key, or the key file when it is unset) or any of "
                "server.previous_secret_keys"
            ) from None

    def is_current(self, stored: str) -> bool:
        """Whether ``stored`` is sealed under the current key (nothing to re-seal)."""
        if not stored.startswith(PREFIX):
            return False
        try:
            self._key().decrypt(stored.removeprefix(PREFIX).encode("ascii"))
        except InvalidToken:
            return False
        return True

    def _key(self) -> Fernet:
        with self._lock:
            if self._current is None:
                assert self._key_file is not None
                key = _read_or_create(self._key_file)
                self._current = _fernet(key, f"the key file {self._key_file}", field=_SETTING)
            return self._current


def _fernet(key: str | bytes, where: str, *, field: str | None = None) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"{where} is not a Fernet key (32 bytes in URL-safe base64)", field=field or where
        ) from None


def _read_or_create(path: Path) -> bytes:
    """The key in ``path``; a new one when there is none (another process's if it won).

    The new key is written whole to a temporary file and hard-linked into place, which
    fails if the file appeared meanwhile: a racing process then reads the winner's key
    instead of replacing it (``os.replace`` would let the last writer win after the first
    had already sealed with its own key).
    """
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: read its key
            os.link(temp, path)
    finally:
        temp.unlink()
    return path.read_bytes().strip()
