"""The audit chain: same-transaction appends, verification against tampering, concurrent
writers, export."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from governance_support import OPERATOR, PASSWORD, FakeClock, actions, append_events
from sqlalchemy import Connection, delete, insert, select, update

from modelyard.errors import PermissionDenied
from modelyard.governance import Actor, AuditLog, Governance
from modelyard.governance.audit import GENESIS, event_digest
from modelyard.store import Store
from modelyard.store.tables import audit_events
from service_support import project_service


def _append(log: AuditLog, store: Store, n: int, actor: str = "tester") -> None:
    for i in range(n):
        with store.write() as conn:
            log.append(
                conn,
                actor=actor,
                action="thing.changed",
                object_type="thing",
                object_id=str(i),
                summary=f"change {i} by {actor} — ünïcode too",
            )


def _rows(store: Store) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()
    return [r._asdict() for r in rows]


def test_an_event_exists_only_if_its_change_committed(gov: Governance, store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as conn:
        gov.audit.append(conn, actor="x", action="a.b", object_type="t", object_id="1", summary="s")
        raise RuntimeError("the change failed after the event was written")
    assert _rows(store) == []
    gov.users.create_user("alice", PASSWORD, actor=OPERATOR)
    with pytest.raises(Exception, match="too weak"):
        gov.users.create_user("bob", "weak", actor=OPERATOR)
    assert actions(gov) == ["user.created"]


def test_the_digest_recipe(gov: Governance, store: Store, clock: FakeClock) -> None:
    _append(gov.audit, store, 2)
    first, second = _rows(store)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["prev_digest"] == GENESIS and second["prev_digest"] == first["digest"]
    fields = {k: v for k, v in second.items() if k != "digest"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == second["digest"]
    assert event_digest(fields) == second["digest"] and second["time"] == clock.ms


def test_an_intact_chain_verifies(gov: Governance, store: Store) -> None:
    empty = gov.audit.verify(actor=OPERATOR)
    assert (empty.ok, empty.count, empty.head_seq, empty.head_digest) == (True, 0, 0, GENESIS)
    _append(gov.audit, store, 5)
    report = gov.audit.verify(actor=OPERATOR)
    assert (report.ok, report.count, report.head_seq) == (True, 5, 5)
    assert report.head_digest == _rows(store)[-1]["digest"]
    assert report.bad_seq is None and report.reason is None


def _edit(conn: Connection) -> None:
    conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(summary="nothing"))


def _edit_and_rehash(conn: Connection) -> None:
    row = conn.execute(select(audit_events).where(audit_events.c.seq == 3)).one()._asdict()
    row["actor"] = "someone-else"
    conn.execute(
        update(audit_events)
        .where(audit_events.c.seq == 3)
        .values(actor=row["actor"], digest=event_digest(row))
    )


def _delete_middle(conn: Connection) -> None:
    conn.execute(delete(audit_events).where(audit_events.c.seq == 3))


def _delete_first(conn: Connection) -> None:
    conn.execute(delete(audit_events).where(audit_events.c.seq == 1))


def _delete_and_renumber(conn: Connection) -> None:
    conn.execute(delete(audit_events).where(audit_events.c.seq == 3))
    for seq in (4, 5):
        conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(seq=seq - 1))


def _insert_forged(conn: Connection) -> None:
    """Make room at 3 and forge a well-formed event there, linked to event 2."""
    for seq in (5, 4, 3):
        conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(seq=seq + 1))
    prev = conn.execute(select(audit_events.c.digest).where(audit_events.c.seq == 2)).scalar()
    forged = {
        "seq": 3,
        "time": 1,
        "actor": "mallory",
        "action": "user.created",
        "object_type": "user",
        "object_id": "mallory",
        "summary": "user created with administrator rights",
        "client_addr": None,
        "prev_digest": prev,
    }
    conn.execute(insert(audit_events).values(**forged, digest=event_digest(forged)))


def _append_forged(conn: Connection) -> None:
    conn.execute(
        insert(audit_events).values(
            seq=6,
            time=1,
            actor="mallory",
            action="x",
            object_type="x",
            object_id="x",
            summary="x",
            client_addr=None,
            prev_digest="f" * 64,
            digest="e" * 64,
        )
    )


def _swap(conn: Connection) -> None:
    """Reorder events 2 and 3."""
    table = audit_events
    conn.execute(update(table).where(table.c.seq == 2).values(seq=-2))
    conn.execute(update(table).where(table.c.seq == 3).values(seq=2))
    conn.execute(update(table).where(table.c.seq == -2).values(seq=3))


def _swap_times(conn: Connection) -> None:
    table = audit_events
    conn.execute(update(table).where(table.c.seq == 4).values(time=table.c.time - 5000))


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "sound", "reason"),
    [
        (_edit, 3, 2, "event 3 was altered: its fields no longer match its digest"),
        (_edit_and_rehash, 4, 3, "event 4 does not link to event 3"),
        (_delete_middle, 4, 2, "event 3 is missing: the chain jumps from event 2 to event 4"),
        (_delete_first, 2, 0, "the chain starts at event 2: events before it were removed"),
        (_delete_and_renumber, 3, 2, "event 3 does not link to event 2"),
        (_insert_forged, 4, 3, "event 4 does not link to event 3"),
        (_append_forged, 6, 5, "event 6 does not link to event 5"),
        (_swap, 2, 1, "event 2 does not link to event 1"),
        (_swap_times, 4, 3, "event 4 was altered"),
    ],
)
def test_tampering_is_found_at_the_first_bad_event(
    gov: Governance,
    store: Store,
    tamper: Callable[[Connection], None],
    bad_seq: int,
    sound: int,
    reason: str,
) -> None:
    _append(gov.audit, store, 5)
    with store.engine.begin() as conn:
        tamper(conn)
    report = gov.audit.verify(actor=OPERATOR)
    assert not report.ok
    assert report.bad_seq == bad_seq
    assert report.reason is not None and report.reason.startswith(reason)
    assert report.count == report.head_seq == sound


def test_an_anchor_catches_removed_newest_events(gov: Governance, store: Store) -> None:
    _append(gov.audit, store, 5)
    head = gov.audit.verify(actor=OPERATOR)
    anchor = (head.head_seq, head.head_digest)
    _append(gov.audit, store, 1)
    assert gov.audit.verify(actor=OPERATOR, anchor=anchor).ok
    with store.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq >= 5))
    assert gov.audit.verify(actor=OPERATOR).ok  # the chain alone cannot tell
    report = gov.audit.verify(actor=OPERATOR, anchor=anchor)
    assert (report.ok, report.bad_seq) == (False, 5)
    assert "the newest events were removed" in (report.reason or "")
    wrong = gov.audit.verify(actor=OPERATOR, anchor=(2, "0" * 64))
    assert (wrong.ok, wrong.bad_seq) == (False, 2)


def test_concurrent_threads_keep_one_chain(store: Store) -> None:
    log = AuditLog(store)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            _append(log, store, 15, actor=name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = log.verify(actor=OPERATOR)
    assert (report.ok, report.count) == (True, 90)
    assert [r["seq"] for r in _rows(store)] == list(range(1, 91))


def test_concurrent_processes_keep_one_chain(store_url: str, store: Store) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        done = pool.starmap(append_events, [(store_url, 20, f"p{i}") for i in range(4)])
    assert done == [20] * 4
    report = AuditLog(store).verify(actor=OPERATOR)
    assert (report.ok, report.count) == (True, 80)
    by_actor: dict[str, list[str]] = {}
    for row in _rows(store):
        by_actor.setdefault(row["actor"], []).append(row["object_id"])
    assert by_actor == {f"p{i}": [str(n) for n in range(20)] for i in range(4)}


def test_export_since_and_json_lines(gov: Governance, store: Store, clock: FakeClock) -> None:
    _append(gov.audit, store, 2)
    clock.advance(86_400)
    _append(gov.audit, store, 3)
    cut = datetime.fromtimestamp(clock.ms / 1000, tz=UTC)
    assert [e["seq"] for e in gov.audit.export(actor=OPERATOR, since=cut)] == [3, 4, 5]
    assert len(list(gov.audit.export(actor=OPERATOR, since=cut.replace(tzinfo=None)))) == 3
    later = cut.astimezone(timezone(timedelta(hours=2))) + timedelta(milliseconds=1)
    assert list(gov.audit.export(actor=OPERATOR, since=later)) == []
    buf = io.StringIO()
    assert gov.audit.write_jsonl(buf, actor=OPERATOR) == 5
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["at"] == "2026-01-01T00:00:00.000+00:00"
    assert "ünïcode" in lines[0]["summary"]
    for event in lines:  # an export can be checked offline with the documented recipe
        assert event_digest(event) == event["digest"]


def test_export_reads_in_chunks(gov: Governance, store: Store) -> None:
    with store.write() as conn:
        for _ in range(2100):
            gov.audit.append(
                conn, actor="a", action="b", object_type="c", object_id="d", summary=""
            )
    assert sum(1 for _ in gov.audit.export(actor=OPERATOR)) == 2100
    assert gov.audit.verify(actor=OPERATOR).count == 2100


def test_search_is_newest_first_with_filters(
    gov: Governance, store: Store, clock: FakeClock
) -> None:
    _append(gov.audit, store, 3, actor="ann")
    clock.advance(60)
    with store.write() as conn:
        for action, kind in [
            ("user.created", "user"),
            ("user_x.odd", "user"),
            ("run.ended", "run"),
        ]:
            gov.audit.append(
                conn, actor="bob", action=action, object_type=kind, object_id="1", summary=""
            )
    seqs = [e.seq for e in gov.audit.search(actor=OPERATOR)]
    assert seqs == [6, 5, 4, 3, 2, 1]
    assert [e.seq for e in gov.audit.search(actor=OPERATOR, before=4, limit=2)] == [3, 2]
    assert [e.seq for e in gov.audit.search(actor=OPERATOR, who="ann")] == [3, 2, 1]
    assert [e.seq for e in gov.audit.search(actor=OPERATOR, action="user")] == [4]
    assert [e.seq for e in gov.audit.search(actor=OPERATOR, action="user_%")] == []
    assert [e.seq for e in gov.audit.search(actor=OPERATOR, object_type="user")] == [5, 4]
    assert [e.seq for e in gov.audit.search(actor=OPERATOR, since_ms=clock.ms)] == [6, 5, 4]
    assert [e.seq for e in gov.audit.search(actor=OPERATOR, until_ms=clock.ms)] == [3, 2, 1]
    alice = gov.users.create_user("alice", PASSWORD, actor=OPERATOR)
    with pytest.raises(PermissionDenied, match="must be an administrator to read"):
        gov.audit.search(actor=Actor.of(alice.principal()))


def test_only_administrators_read_the_log(gov: Governance) -> None:
    alice = gov.users.create_user("alice", PASSWORD, actor=OPERATOR)
    as_alice = Actor.of(alice.principal())
    with pytest.raises(PermissionDenied, match="must be an administrator to verify"):
        gov.audit.verify(actor=as_alice)
    with pytest.raises(PermissionDenied, match="must be an administrator to export"):
        gov.audit.export(actor=as_alice)


def test_every_governance_change_is_recorded(
    gov: Governance, store: Store, clock: FakeClock
) -> None:

    project_service(store).create("churn")
    gov.users.create_user("root", PASSWORD, actor=OPERATOR, admin=True)
    gov.users.create_user("alice", PASSWORD, actor=OPERATOR)
    gov.users.create_service_account("bot", actor=OPERATOR)
    gov.users.change_password("alice", "a-newer-passphrase", actor=OPERATOR)
    gov.roles.grant("churn", "alice", "viewer", actor=OPERATOR)
    gov.roles.revoke("churn", "alice", actor=OPERATOR)
    token = gov.tokens.create("bot", "ci", actor=OPERATOR).token
    gov.tokens.revoke(token.id, actor=OPERATOR)
    enrolment = gov.mfa.enrol("alice", actor=OPERATOR)
    gov.mfa.confirm("alice", clock.totp(enrolment.secret), actor=OPERATOR)
    gov.mfa.set_required(True, actor=OPERATOR)
    with pytest.raises(PermissionDenied):
        gov.users.authenticate("alice", "wrong-password-here")
    gov.users.authenticate("alice", "a-newer-passphrase", totp_code=enrolment.recovery_codes[0])
    gov.users.disable_user("alice", actor=OPERATOR)
    gov.users.enable_user("alice", actor=OPERATOR)
    gov.mfa.reset("alice", actor=OPERATOR)
    assert actions(gov) == [
        "project.created",
        "user.created",
        "user.created",
        "user.created",
        "user.password_changed",
        "role.granted",
        "role.revoked",
        "token.created",
        "token.revoked",
        "mfa.enrolled",
        "mfa.confirmed",
        "mfa.required_changed",
        "login.failure",
        "mfa.recovery_code_used",
        "login.success",
        "user.disabled",
        "user.enabled",
        "mfa.reset",
    ]
    assert gov.audit.verify(actor=OPERATOR).ok
