"""Retirement: versions archived and retired by hand (status change requests judged by the
model's policy) and by retirement policies (keep the last K, archive without an alias
after N days, retire unused for N days; a dry run shows the moves), a version's last load,
and garbage collection of a retired version's files after the retention period, never
while an alias points at it. Both SDK modes unless marked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from lifecycle_support import frame, users_of
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from modelyard import limits
from modelyard.config import Settings
from modelyard.errors import Conflict, InvalidInput, PermissionDenied
from modelyard.gc import collect_garbage
from modelyard.governance import SYSTEM, Governance
from modelyard.registry import _retirement
from modelyard.registry.retirement import DAY_MS, RetirementPolicy
from modelyard.registry.service import ModelService
from modelyard.sdk.client import Client
from modelyard.store import open_store
from modelyard.store.tables import events, model_aliases, model_versions
from modelyard.worker.worker import Worker

LOCAL = pytest.mark.local_only("moves the registry's clock")


def _log(client: Client, count: int, name: str = "churn", project: str = "lab") -> None:
    for seed in range(count):
        x, y = frame(seed)
        with client.start_run(project=project):
            model = LogisticRegression().fit(x, y)
            client.models.log(model, name, input_example=x[:3])


class _Clock:
    """The registry's clock, moved by hand (milliseconds)."""

    def __init__(self, service: ModelService) -> None:
        self.now = service.clock()
        service.clock = self

    def __call__(self) -> int:
        return self.now

    def days(self, count: float) -> None:
        self.now += int(count * DAY_MS)


@pytest.fixture
def clock(client: Client) -> Iterator[_Clock]:
    service = client.services.models
    before = service.clock
    yield _Clock(service)
    service.clock = before


def _statuses(client: Client, name: str = "churn") -> list[str]:
    return [v.status for v in client.models.list_versions(name, project="lab")]


def test_a_retirement_policy_reads_from_yaml_and_names_a_bad_rule() -> None:
    text = "keep_last: 3\narchive_unaliased_after_days: 30\nretire_unused_after_days: 90.5\n"
    policy = RetirementPolicy.from_yaml(text)
    assert policy == RetirementPolicy(3, 30, 90.5)
    assert RetirementPolicy.from_yaml(policy.to_yaml()) == policy
    assert RetirementPolicy.parse({}) == RetirementPolicy()
    bad = {
        "keep: 3\n": "keep",
        "keep_last: 0\n": "keep_last",
        "keep_last: yes\n": "keep_last",
        "keep_last: 2.5\n": "keep_last",
        "archive_unaliased_after_days: -1\n": "archive_unaliased_after_days",
        "retire_unused_after_days: .nan\n": "retire_unused_after_days",
        "- 1\n": "policy",
        "keep_last: [\n": "policy",
    }
    for source, field in bad.items():
        with pytest.raises(InvalidInput) as exc:
            RetirementPolicy.from_yaml(source)
        assert exc.value.field == field, source


def test_archive_and_retire_by_hand_are_requests_judged_by_the_policy(
    client: Client, settings: Settings, embedded_settings: Settings
) -> None:
    _log(client, 3)
    client.models.set_alias("churn", "champion", 3, project="lab")
    archived = client.models.archive("churn/1", reason="superseded", project="lab")
    assert (archived.state, archived.to_status, archived.comment) == (
        "applied",
        "archived",
        "superseded",
    )
    with pytest.raises(Conflict) as aliased:
        client.models.retire("churn@champion", project="lab")
    assert aliased.value.field == "version" and "champion" in aliased.value.message
    client.models.request("churn/2", to="staging", project="lab")
    with pytest.raises(InvalidInput) as illegal:
        client.models.retire("churn/2", project="lab")
    assert "cannot move from staging to retired" in illegal.value.message
    client.models.set_policy({"retired": {"approvals": 1}}, project="lab")
    with users_of(client, settings, embedded_settings.store_url) as users:
        carl = users("carl", "contributor")
        asked = carl.retire("churn", project="lab", version=1, reason="unused since May")
        assert (asked.state, asked.requested_by) == ("open", "carl")
        assert _statuses(client) == ["archived", "staging", "registered"]
        users("ava", "approver").approve(asked.id, comment="ok")
    assert _statuses(client) == ["retired", "staging", "registered"]
    with pytest.raises(Conflict) as retired:
        client.models.load("churn/1", project="lab")
    assert "is retired" in retired.value.message


def test_admins_set_retirement_policies_and_viewers_read_the_dry_run(
    client: Client, settings: Settings, embedded_settings: Settings
) -> None:
    _log(client, 3)
    _log(client, 1, name="other")
    assert client.models.retirement_policy(project="lab").scope == "none"
    client.models.set_retirement_policy({"keep_last": 1}, project="lab")
    client.models.set_retirement_policy("keep_last: 5\n", "other", project="lab")
    own = client.models.retirement_policy("other", project="lab")
    assert (own.scope, own.source, own.policy.keep_last) == ("model", "keep_last: 5\n", 5)
    assert client.models.retirement_policy("churn", project="lab").scope == "project"
    with pytest.raises(InvalidInput) as bad:
        client.models.set_retirement_policy("keep_last: -2\n", project="lab")
    assert bad.value.field == "keep_last"
    with users_of(client, settings, embedded_settings.store_url) as users:
        vic = users("vic", "viewer")
        plan = vic.run_retirement(project="lab", dry_run=True)
        assert [(m.name, m.version, m.to_status, m.rule, m.outcome) for m in plan] == [
            ("churn", 1, "archived", "keep_last: 1", "planned"),
            ("churn", 2, "archived", "keep_last: 1", "planned"),
        ]
        assert _statuses(client) == ["registered"] * 3  # a dry run changes nothing
        with pytest.raises(PermissionDenied):
            vic.run_retirement(project="lab")
        with pytest.raises(PermissionDenied):
            users("cid", "contributor").set_retirement_policy({"keep_last": 9}, project="lab")
    done = client.models.run_retirement(project="lab")
    assert [(m.version, m.outcome) for m in done] == [(1, "applied"), (2, "applied")]
    assert all(m.request_id for m in done)
    assert _statuses(client) == ["archived", "archived", "registered"]
    assert client.models.run_retirement(project="lab") == []


@LOCAL
def test_the_policy_rules_aliases_and_production(client: Client, clock: _Clock) -> None:
    _log(client, 4)
    client.models.set_alias("churn", "champion", 1, project="lab")
    client.models.request("churn/2", to="production", project="lab")
    client.models.set_retirement_policy(
        {"archive_unaliased_after_days": 5, "retire_unused_after_days": 10}, project="lab"
    )
    assert client.models.run_retirement(project="lab", dry_run=True) == []
    clock.days(4)
    client.models.load("churn/3", project="lab")  # used on day 4
    clock.days(3)
    planned = client.models.run_retirement(project="lab", dry_run=True)
    assert [(m.version, m.from_status, m.to_status, m.rule) for m in planned] == [
        (2, "production", "archived", "archive_unaliased_after_days: 5"),
        (3, "registered", "archived", "archive_unaliased_after_days: 5"),
        (4, "registered", "archived", "archive_unaliased_after_days: 5"),
    ]
    clock.days(4)  # day 11: 3 was last loaded 7 days ago, 4 was never loaded
    planned = client.models.run_retirement(project="lab", dry_run=True)
    assert [(m.version, m.to_status) for m in planned] == [
        (2, "archived"),  # production is archived first
        (3, "archived"),
        (4, "retired"),
    ]
    assert planned[2].detail.startswith("never loaded, registered ")
    client.models.run_retirement(project="lab")
    assert _statuses(client) == ["registered", "archived", "archived", "retired"]
    clock.days(4)
    assert [(m.version, m.to_status) for m in client.models.run_retirement(project="lab")] == [
        (2, "retired"),
        (3, "retired"),
    ]
    assert _statuses(client) == ["registered", "retired", "retired", "retired"]


@LOCAL
def test_a_policy_move_is_requested_and_audited_by_the_system_with_its_rule(
    client: Client, settings: Settings
) -> None:
    _log(client, 2)
    client.models.set_retirement_policy({"keep_last": 1}, project="lab")
    client.models.set_policy({"archived": {"approvals": 1}}, project="lab")
    moved = client.models.run_retirement(project="lab")
    assert [(m.version, m.outcome) for m in moved] == [(1, "requested")]
    request = client.models.requests("churn", 1, project="lab")[0]
    assert (request.requested_by, request.state) == ("system", "open")
    assert request.comment.startswith("retirement policy: keep_last: 1")
    assert client.models.run_retirement(project="lab", dry_run=True) == []  # open: left alone
    store = open_store(settings.store_url)
    try:
        events = Governance(store).audit.list_events(actor=SYSTEM, limit=1000)
    finally:
        store.dispose()
    asked = [e for e in events if e.action == "model.transition_requested"]
    assert [e.actor for e in asked] == ["system"]
    assert "retirement policy: keep_last: 1" in asked[0].summary


@LOCAL
def test_a_load_is_noted_at_most_once_an_hour(
    client: Client, clock: _Clock, settings: Settings
) -> None:
    _log(client, 1)

    def last_load() -> int | None:
        with client.services.store.read() as conn:
            return conn.execute(select(model_versions.c.last_loaded_at)).scalar()

    assert last_load() is None
    client.models.load("churn/1", project="lab")
    first = clock.now
    assert last_load() == first
    clock.now += 59 * 60 * 1000
    client.models.load("churn/1", project="lab")
    assert last_load() == first  # within the hour: read, not written
    clock.now += 2 * 60 * 1000
    client.models.load("churn/1", project="lab")
    assert last_load() == clock.now


@LOCAL
def test_gc_keeps_a_retired_version_inside_retention_and_with_an_alias(
    client: Client, clock: _Clock
) -> None:
    _log(client, 2)
    first, second = client.models.list_versions("churn", project="lab")
    members = set(client.blobs.tree_member_digests(first.tree_digest))
    members -= set(client.blobs.tree_member_digests(second.tree_digest))

    def stored() -> set[str]:
        return set(client.blobs.iter_digests())

    def collect() -> None:
        collect_garbage(client.services.blob_references(), client.blobs, min_age_s=0)

    client.models.retire("churn/1", reason="replaced", project="lab")
    client.models.retire("churn/2", reason="replaced", project="lab")
    with pytest.raises(Conflict, match="is retired"):  # no new alias points at it
        client.models.set_alias("churn", "kept", 2, project="lab")
    # One that did anyway (a store written before that rule) still keeps the files.
    with client.store.write() as conn:
        model_id = conn.execute(
            select(model_versions.c.model_id).where(model_versions.c.id == second.id)
        ).scalar()
        conn.execute(
            model_aliases.insert().values(
                model_id=model_id, alias="kept", version_id=second.id, updated_at=0
            )
        )
    assert client.services.models.retired_retention_days == 30
    clock.days(29)
    collect()
    assert {first.tree_digest, second.tree_digest, *members} <= stored()
    clock.days(2)
    collect()
    assert first.tree_digest not in stored() and not members & stored()
    assert second.tree_digest in stored()  # an alias points at it
    client.models.delete_alias("churn", "kept", project="lab")
    collect()
    assert second.tree_digest not in stored()


@LOCAL
def test_the_worker_applies_the_policies_on_its_interval(
    client: Client, settings: Settings
) -> None:
    _log(client, 2)
    client.models.set_retirement_policy({"keep_last": 1}, project="lab")
    off = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"retirement_interval_s": 0})}
    )
    with Worker(off, isolation="inline", log=lambda line: None) as idle:
        assert idle.run_once().retired == []
    assert _statuses(client) == ["registered", "registered"]
    lines: list[str] = []
    with Worker(settings, isolation="inline", log=lines.append) as worker:
        done = worker.run_once()
        assert [(m.version, m.to_status, m.outcome) for m in done.retired] == [
            (1, "archived", "applied")
        ]
        _log(client, 3)  # a version 3: version 2 is no longer among the newest 1
        assert worker.run_once().retired == []  # not due again for an hour
    assert lines[0].endswith(
        "retirement lab/churn/1: registered -> archived (keep_last: 1): applied"
    )
    assert _statuses(client) == ["archived", "registered", "registered"]
    request = client.models.requests("churn", 1, project="lab")[0]
    assert (request.requested_by, request.comment) == (
        "system",
        "retirement policy: keep_last: 1 (not among the newest 1 versions)",
    )


@LOCAL
def test_a_version_loaded_or_aliased_after_the_plan_is_skipped(
    client: Client, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(client, 3)
    client.models.set_retirement_policy({"retire_unused_after_days": 10}, project="lab")
    clock.days(11)
    planned = _retirement.plan

    def then_used(*args: Any) -> Any:
        found = planned(*args)
        client.models.load("churn/1", project="lab")
        client.models.set_alias("churn", "champion", 2, project="lab")
        return found

    monkeypatch.setattr(_retirement, "plan", then_used)
    moves = client.models.run_retirement(project="lab")
    assert [(m.version, m.outcome) for m in moves] == [
        (1, "skipped"),
        (2, "skipped"),
        (3, "applied"),
    ]
    assert "was loaded since the retirement policy judged it unused" in moves[0].detail
    assert "has the alias(es) champion" in moves[1].detail
    assert _statuses(client) == ["registered", "registered", "retired"]
    assert [r.version for r in client.models.requests("churn", project="lab")] == [3]


@LOCAL
def test_a_policy_retirement_writes_its_event_as_the_system(client: Client, clock: _Clock) -> None:
    _log(client, 2)
    client.models.set_retirement_policy({"retire_unused_after_days": 1}, "churn", project="lab")
    clock.days(2)
    client.models.load("churn/2", project="lab")
    client.models.run_retirement(project="lab")
    with client.store.read() as conn:
        rows = conn.execute(
            select(events.c.payload).where(events.c.kind == "model.version_retired")
        ).scalars()
        retired = [json.loads(payload) for payload in rows]
    assert [(e["version"], e["retired_by"]) for e in retired] == [(1, "system")]


@LOCAL
def test_a_reason_over_the_limit_is_refused_naming_it(client: Client) -> None:
    _log(client, 1)
    for move in (client.models.archive, client.models.retire):
        with pytest.raises(InvalidInput) as exc:
            move("churn/1", reason="x" * (limits.DESCRIPTION + 1), project="lab")
        assert exc.value.field == "reason"
    assert _statuses(client) == ["registered"]
    assert client.models.requests("churn", project="lab") == []
