"""Helpers the governance tests share (a module of their own, so tests can import them)."""

from __future__ import annotations

import pyotp
from argon2 import PasswordHasher, profiles

from modelyard.governance import Actor, Governance

PASSWORD = "correct-kettle-violin-42"
OPERATOR = Actor("tester")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class FakeClock:
    """Milliseconds since the epoch; moves only when told."""

    def __init__(self, ms: int = START_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)

    def totp(self, secret: str, steps: int = 0) -> str:
        """The code an authenticator shows now (``steps`` 30-second steps away)."""
        return pyotp.TOTP(secret).at(self.ms // 1000 + steps * 30)


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(profiles.CHEAPEST)


def actions(gov: Governance) -> list[str]:
    """The actions recorded so far, oldest first."""
    return [e["action"] for e in gov.audit.export(actor=OPERATOR)]


def append_events(url: str, count: int, actor: str) -> int:
    """Append ``count`` events from a process of its own (a concurrent writer)."""
    from modelyard.governance import AuditLog
    from modelyard.store import Store

    store = Store(url)
    log = AuditLog(store)
    try:
        for i in range(count):
            with store.write() as conn:
                log.append(
                    conn,
                    actor=actor,
                    action="test.append",
                    object_type="test",
                    object_id=str(i),
                    summary=f"{actor} #{i}",
                )
    finally:
        store.dispose()
    return count
