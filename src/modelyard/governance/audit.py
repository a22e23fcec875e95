"""The audit log: append-only, hash-chained records of who did what to which object.

Every event stores its position (``seq``, 1, 2, 3, ... with no gaps), the digest of its
predecessor and its own digest: SHA-256 over the canonical JSON (sorted keys, no
whitespace, UTF-8) of all its fields, the predecessor's digest included. The first event's
predecessor is :data:`GENESIS`. Changing, removing, inserting or reordering stored events
breaks the chain at the first event touched, and :meth:`AuditLog.verify` names it.

Events are appended with :meth:`AuditLog.append` inside the caller's write transaction,
so an event exists exactly when the change it records was committed. Appends are
serialized so concurrent writers never fork the chain: SQLite's write transactions
already hold the database's write lock (``BEGIN IMMEDIATE``); on PostgreSQL the append
takes a transaction-level advisory lock before it reads the tail. ``seq`` is the primary
key, so even a writer that bypassed the lock could not store a second event at the same
position.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import Connection, Select, select, text

from modelyard._util import now_ms
from modelyard.governance.identity import Actor, require_admin
from modelyard.store import Store
from modelyard.store.tables import audit_events

__all__ = ["GENESIS", "AuditEvent", "AuditLog", "ChainReport", "event_digest"]

#: The predecessor digest of the first event.
GENESIS = "0" * 64

# Key of the PostgreSQL advisory lock that serializes appends (7723001 guards migrations).
_PG_APPEND_LOCK = 7723002
_EXPORT_CHUNK = 1000

# The fields the digest covers, in the order they are exported.
_FIELDS = (
    "seq",
    "time",
    "actor",
    "action",
    "object_type",
    "object_id",
    "summary",
    "client_addr",
    "prev_digest",
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    time: int
    actor: str
    action: str
    object_type: str
    object_id: str
    summary: str
    client_addr: str | None
    prev_digest: str
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """The export shape: the stored fields plus ``at`` (ISO 8601 UTC, not digested)."""
        data = asdict(self)
        data["at"] = datetime.fromtimestamp(self.time / 1000, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        return data


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :meth:`AuditLog.verify`.

    ``count`` is how many events were checked and found sound (all of them when ``ok``);
    ``head_seq``/``head_digest`` name the last sound event, to record as an anchor.
    ``bad_seq`` and ``reason`` name the first event that breaks the chain.
    """

    ok: bool
    count: int
    head_seq: int
    head_digest: str
    bad_seq: int | None = None
    reason: str | None = None


def event_digest(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an event's fields (``digest`` excluded)."""
    canonical = json.dumps(
        {name: fields[name] for name in _FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AuditLog:
    """Appends, verifies and exports the hash-chained audit log of one store."""

    def __init__(self, store: Store, *, clock: Callable[[], int] = now_ms) -> None:
        self.store = store
        self._clock = clock

    def append(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        summary: str,
        client_addr: str | None = None,
    ) -> AuditEvent:
        """Append one event inside the caller's write transaction (``Store.write()``)."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_APPEND_LOCK})
        tail = conn.execute(
            select(audit_events.c.seq, audit_events.c.digest)
            .order_by(audit_events.c.seq.desc())
            .limit(1)
        ).first()
        fields: dict[str, Any] = {
            "seq": tail.seq + 1 if tail is not None else 1,
            "time": self._clock(),
            "actor": actor[:255],
            "action": action[:64],
            "object_type": object_type[:64],
            "object_id": object_id[:255],
            "summary": summary,
            "client_addr": client_addr[:64] if client_addr is not None else None,
            "prev_digest": tail.digest if tail is not None else GENESIS,
        }
        digest = event_digest(fields)
        conn.execute(audit_events.insert().values(**fields, digest=digest))
        return AuditEvent(**fields, digest=digest)

    def record(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: str,
        summary: str,
    ) -> AuditEvent:
        """:meth:`append` for a change made by ``actor`` (its name and client address)."""
        return self.append(
            conn,
            actor=actor.name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            summary=summary,
            client_addr=actor.client_addr,
        )

    def verify(self, *, actor: Actor, anchor: tuple[int, str] | None = None) -> ChainReport:
        """Walk the chain from the first event; report the first one that breaks it.

        The chain alone cannot notice the newest events being cut off. ``anchor`` is a
        ``(seq, digest)`` pair recorded from an earlier report (``head_seq``,
        ``head_digest``); the event at that seq must still be there with that digest.
        """
        require_admin(actor, "verify the audit log")
        expected_seq, prev, count = 1, GENESIS, 0
        anchor_seen = anchor is None
        for event in self._events(None):
            reason = _break(event, expected_seq, prev)
            if reason is None and anchor is not None and event.seq == anchor[0]:
                anchor_seen = True
                if event.digest != anchor[1]:
                    reason = f"event {event.seq} does not match the anchor digest {anchor[1]}"
            if reason is not None:
                return ChainReport(False, count, expected_seq - 1, prev, event.seq, reason)
            expected_seq, prev, count = event.seq + 1, event.digest, count + 1
        if not anchor_seen and anchor is not None:
            return ChainReport(
                False,
                count,
                expected_seq - 1,
                prev,
                anchor[0],
                f"event {anchor[0]} (the anchor) is missing: the newest events were removed",
            )
        return ChainReport(True, count, expected_seq - 1, prev)

    def export(self, *, actor: Actor, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Events (oldest first) as dicts; ``since`` keeps those at or after it (naive = UTC)."""
        require_admin(actor, "export the audit log")
        since_ms = None
        if since is not None:
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            since_ms = int(since.timestamp() * 1000)
        return (event.to_dict() for event in self._events(since_ms))

    def list_events(
        self,
        *,
        actor: Actor,
        after: int = 0,
        limit: int = 100,
        since_ms: int | None = None,
        until_ms: int | None = None,
        who: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
    ) -> list[AuditEvent]:
        """Up to ``limit`` events after seq ``after``, in seq order, that match every
        filter given (as :meth:`search`'s): one page of the log for an administrator."""
        require_admin(actor, "read the audit log")
        query = _filtered(
            select(audit_events).where(audit_events.c.seq > after),
            who=who,
            action=action,
            object_type=object_type,
            since_ms=since_ms,
            until_ms=until_ms,
        )
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(audit_events.c.seq).limit(limit)).all()
        return [AuditEvent(**row._asdict()) for row in rows]

    def search(
        self,
        *,
        actor: Actor,
        who: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[AuditEvent]:
        """Up to ``limit`` events, newest first, before seq ``before`` (from the newest when
        None), that match every filter given: the acting name ``who``, the ``action``
        (``user`` matches ``user.created`` and every other ``user.`` action), the
        ``object_type``, and the time range [``since_ms``, ``until_ms``). For an
        administrator reading the log."""
        require_admin(actor, "read the audit log")
        c = audit_events.c
        query = _filtered(
            select(audit_events),
            who=who,
            action=action,
            object_type=object_type,
            since_ms=since_ms,
            until_ms=until_ms,
        )
        if before is not None:
            query = query.where(c.seq < before)
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(c.seq.desc()).limit(limit)).all()
        return [AuditEvent(**row._asdict()) for row in rows]

    def write_jsonl(self, out: TextIO, *, actor: Actor, since: datetime | None = None) -> int:
        """Write :meth:`export` as JSON Lines to ``out``; returns how many events."""
        count = 0
        for data in self.export(actor=actor, since=since):
            out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
        return count

    def _events(self, since_ms: int | None) -> Iterator[AuditEvent]:
        """All events in seq order, read in chunks (short transactions, bounded memory)."""
        after = 0
        while True:
            query = (
                select(audit_events)
                .where(audit_events.c.seq > after)
                .order_by(audit_events.c.seq)
                .limit(_EXPORT_CHUNK)
            )
            if since_ms is not None:
                query = query.where(audit_events.c.time >= since_ms)
            with self.store.read() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield AuditEvent(**row._asdict())
            if len(rows) < _EXPORT_CHUNK:
                return
            after = rows[-1].seq


def _filtered(
    query: Select[Any],
    *,
    who: str | None,
    action: str | None,
    object_type: str | None,
    since_ms: int | None,
    until_ms: int | None,
) -> Select[Any]:
    """``query`` of the events that match every filter given: the acting name ``who``,
    the ``action`` (``user`` matches ``user.created`` and every other ``user.`` action),
    the ``object_type``, and the time range [``since_ms``, ``until_ms``)."""
    c = audit_events.c
    if who:
        query = query.where(c.actor == who)
    if action:
        query = query.where(
            (c.action == action) | c.action.startswith(f"{action}.", autoescape=True)
        )
    if object_type:
        query = query.where(c.object_type == object_type)
    if since_ms is not None:
        query = query.where(c.time >= since_ms)
    if until_ms is not None:
        query = query.where(c.time < until_ms)
    return query


def _break(event: AuditEvent, expected_seq: int, prev: str) -> str | None:
    """Why ``event`` cannot follow the verified chain so far, or None if it can."""
    if event.seq != expected_seq:
        if expected_seq == 1:
            return f"the chain starts at event {event.seq}: events before it were removed"
        return (
            f"event {expected_seq} is missing: the chain jumps from event {expected_seq - 1} "
            f"to event {event.seq}"
        )
    if event.prev_digest != prev:
        before = f"event {event.seq - 1}" if event.seq > 1 else "the start of the chain"
        return (
            f"event {event.seq} does not link to {before}: events were inserted, removed "
            "or reordered before it"
        )
    fields = asdict(event)
    if event_digest(fields) != event.digest:
        return f"event {event.seq} was altered: its fields no longer match its digest"
    return None
