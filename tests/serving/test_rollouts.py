"""Rollouts: the reports of inference servers, the guard rails judged from them (a breach
rolls back to the champion within one evaluation, audited as the system actor, with its
event), too few requests judge nothing, stepping on a schedule (a fake clock), and the
unhealthy-version incident with its one event. Embedded, on SQLite and (when its URL is
set) PostgreSQL."""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard._util import now_ms
from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.registry.service import ModelService
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rollouts import (
    LATENCY_BUCKETS_MS,
    Rollout,
    ServingReport,
    Totals,
    UnhealthyVersion,
    VersionStats,
    judge,
)
from modelyard.serving.service import DeploymentService
from modelyard.store.tables import (
    audit_events,
    deployment_stats,
    events,
    monitor_values,
    monitors,
)
from modelyard.worker.worker import Worker


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lab(
    client: Client, tmp_path: Path, clock: Clock
) -> Iterator[tuple[DeploymentService, ModelService]]:
    """Project ``lab``: model ``churn`` version 1 (production, alias champion), 2 and 3
    (staging); deployment ``api`` all to ``churn@champion``; the service on ``clock``."""
    models = client.services.models
    client.services.projects.create("lab")
    for number in range(1, 4):
        folder = tmp_path / f"v{number}"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
        models.register("churn", folder, project="lab", flavor="sklearn")
    models.request_transition("churn", project="lab", to="production", version=1)
    for number in (2, 3):
        models.request_transition("churn", project="lab", to="staging", version=number)
    models.set_alias("churn", "champion", 1, project="lab")
    deployments = client.services.deployments
    deployments.clock = clock
    deployments.create("api", "churn@champion", project="lab")
    yield deployments, models


def _canary(weight: int = 10) -> TrafficPlan:
    return TrafficPlan((Route("churn", "champion", 100 - weight), Route("churn", "2", weight)))


def _ids(deployments: DeploymentService) -> tuple[str, str]:
    plan = deployments.get("api", project="lab").plan
    champion = plan.champion.version_id
    candidate = plan.routes[1].version_id if len(plan.routes) > 1 else None
    assert champion is not None and candidate is not None
    return champion, candidate


def _stats(version_id: str, requests: int, errors: int = 0, ms: float = 2.5) -> VersionStats:
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    buckets[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] = requests
    return VersionStats("api", version_id, requests, errors, tuple(buckets))


def _report(clock: Clock, *stats: VersionStats, server: str = "s1", **more) -> ServingReport:
    return ServingReport(server, clock.now - 5000, clock.now, tuple(stats), **more)


def _events(client: Client, kind: str) -> list[tuple[str, dict]]:
    with client.services.store.read() as conn:
        rows = conn.execute(
            select(events).where(events.c.kind == kind).order_by(events.c.created_at)
        ).all()
    return [(r.actor, json.loads(r.payload)) for r in rows]


GUARDS = Rollout(max_error_rate=0.05, max_p99_ms=50, window_s=60, min_requests=100)


def test_a_breach_rolls_back_within_one_report_audited_with_its_event(
    lab, client: Client, clock: Clock
) -> None:
    deployments, _ = lab
    deployments.set_traffic("api", _canary(), project="lab", rollout=GUARDS)
    champion, candidate = _ids(deployments)
    clock.now += 5000
    deployments.report(
        "lab", _report(clock, _stats(champion, 900), _stats(candidate, 100, errors=20))
    )
    found = deployments.get("api", project="lab")
    assert [(r.ref, r.weight) for r in found.plan.routes] == [("champion", 100)]
    assert found.rollout is None  # the rollout ended
    last = deployments.history("api", project="lab")[-1]
    assert last.action == "auto-rollback"
    assert last.changed_by == "system"
    assert "max_error_rate" in last.reason and "20 errors in 100 requests" in last.reason
    ((actor, event),) = _events(client, "deployment.rolled_back")
    assert actor == "system"
    assert event["automatic"] is True and event["guard"] == "max_error_rate"
    assert event["version_id"] == candidate and event["reason"] == last.reason
    with client.services.store.read() as conn:
        audited = conn.execute(
            select(audit_events.c.action, audit_events.c.actor).where(
                audit_events.c.action == "deployment.auto-rollback"
            )
        ).all()
    assert [tuple(a) for a in audited] == [("deployment.auto-rollback", "system")]


def test_a_slow_candidate_breaches_the_p99_guard_relative_to_the_champion(
    lab, clock: Clock
) -> None:
    deployments, _ = lab
    rollout = Rollout(max_p99_ratio=1.5, min_requests=50)
    deployments.set_traffic("api", _canary(), project="lab", rollout=rollout)
    champion, candidate = _ids(deployments)
    clock.now += 5000
    deployments.report(
        "lab", _report(clock, _stats(champion, 500, ms=4), _stats(candidate, 60, ms=40))
    )
    last = deployments.history("api", project="lab")[-1]
    assert last.action == "auto-rollback"
    assert "max_p99_ratio" in last.reason and "p99 50 ms" in last.reason


def test_guards_that_hold_and_too_few_requests_do_not_roll_back(
    lab, client: Client, clock: Clock
) -> None:
    deployments, _ = lab
    deployments.set_traffic("api", _canary(), project="lab", rollout=GUARDS)
    champion, candidate = _ids(deployments)
    clock.now += 5000
    deployments.report(
        "lab", _report(clock, _stats(champion, 900), _stats(candidate, 100, errors=2))
    )
    clock.now += 5000  # a new window: 99 more requests, all failed, are too few alone
    deployments.evaluate()
    assert deployments.get("api", project="lab").revision == 2
    clock.now += 120_000  # the earlier report left the window
    deployments.report("lab", _report(clock, _stats(candidate, 99, errors=99)))
    assert deployments.evaluate() == []
    assert deployments.get("api", project="lab").revision == 2
    assert _events(client, "deployment.rolled_back") == []


def test_the_worker_evaluation_rolls_back_what_the_reports_show(lab, clock: Clock) -> None:
    deployments, _ = lab
    deployments.set_traffic("api", _canary(), project="lab", rollout=GUARDS)
    _, candidate = _ids(deployments)
    with deployments.store.write() as conn:  # stored, not yet judged
        conn.execute(
            deployment_stats.insert().values(
                deployment_id=deployments.get("api", project="lab").id,
                version_id=candidate,
                server="s1",
                window_start=clock.now - 1000,
                window_end=clock.now + 1,
                requests=200,
                errors=0,
                latency_ms=json.dumps(list(_stats(candidate, 200, ms=900).latency_ms)),
            )
        )
    (acted,) = deployments.acting_as(SYSTEM).evaluate()
    assert (acted.deployment, acted.action) == ("api", "auto-rollback")
    assert "max_p99_ms" in acted.reason and "p99 1000 ms" in acted.reason


def test_stepping_advances_on_schedule_and_completes_with_a_promote(
    lab, client: Client, clock: Clock
) -> None:
    deployments, models = lab
    rollout = Rollout(max_error_rate=0.05, min_requests=10, steps=(5, 25, 50, 100),
                      step_every_s=600)  # fmt: skip
    deployments.set_traffic("api", _canary(5), project="lab", rollout=rollout)
    champion, candidate = _ids(deployments)
    weights = []
    for _ in range(4):
        clock.now += 300_000  # half a step: nothing moves
        deployments.report("lab", _report(clock, _stats(champion, 50), _stats(candidate, 20)))
        assert deployments.acting_as(SYSTEM).evaluate() == []
        clock.now += 300_000
        deployments.report("lab", _report(clock, _stats(champion, 50), _stats(candidate, 20)))
        found = deployments.get("api", project="lab")
        weights.append([r.weight for r in found.plan.routes])
    assert weights == [[75, 25], [50, 50], [100], [100]]
    actions = [r.action for r in deployments.history("api", project="lab")]
    assert actions == ["create", "set_traffic", "step", "step", "promote"]
    assert models.get_version("churn", project="lab", alias="champion").version == 2
    found = deployments.get("api", project="lab")
    assert found.rollout is None and found.plan.routes[0].ref == "champion"
    assert [a for a, _ in _events(client, "deployment.promoted")] == ["system"]


def test_a_breach_at_a_step_rolls_back_and_stops_the_rollout(lab, clock: Clock) -> None:
    deployments, _ = lab
    rollout = Rollout(max_error_rate=0.05, min_requests=10, steps=(10, 50, 100), step_every_s=1)
    deployments.set_traffic("api", _canary(10), project="lab", rollout=rollout)
    _, candidate = _ids(deployments)
    clock.now += 1000
    deployments.report("lab", _report(clock, _stats(candidate, 20)))
    assert [r.weight for r in deployments.get("api", project="lab").plan.routes] == [50, 50]
    clock.now += 1000
    deployments.report("lab", _report(clock, _stats(candidate, 20, errors=10)))
    found = deployments.get("api", project="lab")
    assert [r.weight for r in found.plan.routes] == [100] and found.rollout is None
    clock.now += 10_000
    assert deployments.evaluate() == []


def test_a_plan_set_without_a_rollout_ends_it(lab, clock: Clock) -> None:
    deployments, _ = lab
    deployments.set_traffic("api", _canary(), project="lab", rollout=GUARDS)
    assert deployments.get("api", project="lab").rollout == GUARDS
    deployments.set_traffic("api", _canary(20), project="lab")
    assert deployments.get("api", project="lab").rollout is None


@pytest.mark.parametrize(
    ("rollout", "field"),
    [
        (Rollout(), "rollout"),
        (Rollout(max_error_rate=2), "rollout.max_error_rate"),
        (Rollout(max_p99_ms=float("nan")), "rollout.max_p99_ms"),
        (Rollout(max_p99_ms=5, window_s=0), "rollout.window_s"),
        (Rollout(max_p99_ms=5, steps=(50, 25)), "rollout.steps"),
        (Rollout(max_p99_ms=5, steps=(5, 101)), "rollout.steps[1]"),
    ],
)
def test_a_bad_rollout_is_refused_naming_its_field(lab, rollout: Rollout, field: str) -> None:
    deployments, _ = lab
    with pytest.raises(InvalidInput) as caught:
        deployments.set_traffic("api", _canary(), project="lab", rollout=rollout)
    assert caught.value.field == field


def test_steps_need_one_candidate(lab) -> None:
    deployments, _ = lab
    plan = TrafficPlan((Route("churn", "champion", 100),))
    with pytest.raises(InvalidInput) as caught:
        deployments.set_traffic(
            "api", plan, project="lab", rollout=Rollout(max_p99_ms=5, steps=(10, 100))
        )
    assert caught.value.field == "rollout.steps"


def test_a_report_is_checked_and_needs_a_contributor(lab, client: Client, clock: Clock) -> None:
    deployments, _ = lab
    deployments.set_traffic("api", _canary(), project="lab")
    champion, _ = _ids(deployments)
    bad = {
        "stats[0].version_id": _report(clock, _stats("f" * 32, 1)),
        "stats[0].errors": _report(
            clock, VersionStats("api", champion, 1, 2, _stats("", 1).latency_ms)
        ),
        "stats[0].latency_ms": _report(clock, VersionStats("api", champion, 1, 0, (1,))),
        "window_end": ServingReport("s1", clock.now, clock.now - 1),
        "server": ServingReport("x" * 300, 0, 1),
        "unhealthy[0].version_id": _report(clock, unhealthy=(UnhealthyVersion("api", "x", "r"),)),
    }
    for field, report in bad.items():
        with pytest.raises(InvalidInput) as caught:
            deployments.report("lab", report)
        assert caught.value.field == field
    for entry, field in (
        (VersionStats("api", "a\x00b", 0, 0, (0,) * 23), "stats[0].version_id"),
        (VersionStats("no such/name", champion, 0, 0, (0,) * 23), "stats[0].deployment"),
    ):
        with pytest.raises(InvalidInput) as caught:
            deployments.report("lab", _report(clock, entry))
        assert caught.value.field == field
    with pytest.raises(NotFound) as missing:
        deployments.report("lab", _report(clock, VersionStats("gone", champion, 0, 0, (0,) * 23)))
    assert missing.value.field == "stats[0].deployment"
    governance = Governance(client.services.store)
    account = governance.users.create_service_account("inference", actor=SYSTEM)
    governance.roles.grant("lab", "inference", "predictor", actor=SYSTEM)
    with pytest.raises((PermissionDenied, NotFound)):  # a predictor sees no more than plans
        deployments.acting_as(Actor.of(account.principal())).report(
            "lab", _report(clock, _stats(champion, 1))
        )
    deployments.report("lab", _report(clock, _stats(champion, 1)))
    deployments.report("lab", _report(clock, _stats(champion, 1)))  # a retry replaces itself
    with client.services.store.read() as conn:
        assert len(conn.execute(select(deployment_stats)).all()) == 1


def test_an_unhealthy_version_is_one_event_per_incident(lab, client: Client, clock: Clock) -> None:
    deployments, _ = lab
    deployments.set_traffic("api", _canary(), project="lab")
    _, candidate = _ids(deployments)
    sick = (UnhealthyVersion("api", candidate, "digest mismatch"),)
    for server in ("s1", "s2", "s1"):  # three reports, two servers: one incident
        clock.now += 5000
        deployments.report("lab", _report(clock, server=server, unhealthy=sick))
    clock.now += 120_000  # no report named it for longer than the gap: a new incident
    deployments.report("lab", _report(clock, unhealthy=sick))
    found = _events(client, "deployment.version_unhealthy")
    assert len(found) == 2
    assert found[0][1] == {
        "deployment": "api",
        "deployment_id": deployments.get("api", project="lab").id,
        "version_id": candidate,
        "model": "churn",
        "version": 2,
        "server": "s1",
        "reason": "digest mismatch",
    }
    with client.services.store.read() as conn:
        audited = conn.execute(
            select(audit_events.c.action).where(
                audit_events.c.action == "deployment.version_unhealthy"
            )
        ).all()
    assert len(audited) == 2


def test_p99_of_a_histogram() -> None:
    totals = Totals()
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    counts[2], counts[10] = 98, 2  # 98 at <= 2 ms, 2 at <= 50 ms
    totals.add(100, 0, counts)
    assert totals.p99_ms == 50
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    counts[-1] = 1
    totals.add(1, 0, counts)
    assert totals.p99_ms == 50
    assert judge(Rollout(max_p99_ms=10, min_requests=5), Totals(), [("v", "m/2", totals)])[0]


def test_the_worker_judges_the_rollouts_each_pass(lab, settings: Settings) -> None:
    deployments, _ = lab
    deployments.clock = now_ms
    deployments.set_traffic("api", _canary(), project="lab", rollout=GUARDS)
    _, candidate = _ids(deployments)
    with deployments.store.write() as conn:  # stored, not yet judged
        conn.execute(
            deployment_stats.insert().values(
                deployment_id=deployments.get("api", project="lab").id,
                version_id=candidate,
                server="s1",
                window_start=now_ms() - 1000,
                window_end=now_ms() + 1000,
                requests=100,
                errors=50,
                latency_ms=json.dumps(list(_stats(candidate, 100).latency_ms)),
            )
        )
    lines: list[str] = []
    with Worker(settings, isolation="inline", log=lines.append) as worker:
        (acted,) = worker.run_once().rollouts
        assert worker.run_once().rollouts == []  # the rollout ended
    assert (acted.deployment, acted.action) == ("api", "auto-rollback")
    assert "rollout lab/api: auto-rollback (revision 3): guard breached: max_error_rate" in lines[0]


def _watch(client: Client, name: str = "accuracy", metric: str = "accuracy") -> str:
    """A ``performance`` monitor of ``api`` on ``metric``; its id."""
    found = client.services.monitors.create(
        "api", name, "performance", project="lab", config={"metric": metric, "min": 0.0}
    )
    return found.id


def _live(client: Client, monitor_id: str, version_id: str, end: int, value: float, rows: int):
    """One hour's value of the monitor for a version, as the monitoring pass writes it."""
    with client.services.store.write() as conn:
        conn.execute(
            monitor_values.insert().values(
                monitor_id=monitor_id,
                version_id=version_id,
                window_start=end - 3_600_000,
                window_end=end,
                value=value,
                threshold=None,
                status="ok",
                rows=rows,
                details="{}",
                computed_at=end,
            )
        )


def test_the_live_guard_rolls_back_a_candidate_worse_than_the_champion_live(
    lab, client: Client, clock: Clock
) -> None:
    deployments, _ = lab
    accuracy = _watch(client)
    rollout = Rollout(live_monitor="accuracy", max_live_drop=0.05)
    deployments.set_traffic("api", _canary(), project="lab", rollout=rollout)
    champion, candidate = _ids(deployments)
    assert deployments.get("api", project="lab").rollout == rollout
    before = clock.now - 1000  # a window that ended before the rollout began: not counted
    _live(client, accuracy, candidate, before, 0.10, 500)
    clock.now += 7_200_000
    _live(client, accuracy, champion, clock.now - 3_600_000, 0.90, 300)
    assert deployments.evaluate() == []  # the candidate not judged yet
    _live(client, accuracy, candidate, clock.now - 3_600_000, 0.88, 10)
    _live(client, accuracy, candidate, clock.now, 0.80, 30)  # weighted: 0.82
    [acted] = deployments.acting_as(SYSTEM).evaluate()
    assert acted.action == "auto-rollback"
    assert "max_live_drop: churn/2: live accuracy 0.82 over 2 windows (40 rows)" in acted.reason
    assert "under the champion's 0.9 by 0.08, more than max_live_drop 0.05" in acted.reason
    found = deployments.get("api", project="lab")
    assert [(r.ref, r.weight) for r in found.plan.routes] == [("champion", 100)]
    assert found.rollout is None
    [(actor, event)] = _events(client, "deployment.rolled_back")
    assert (actor, event["guard"], event["version_id"]) == ("system", "max_live_drop", candidate)


def test_the_live_guard_holds_within_its_drop_and_steps_wait_for_it(
    lab, client: Client, clock: Clock
) -> None:
    deployments, _ = lab
    rmse = _watch(client, "rmse", "rmse")  # an error: worse is higher
    rollout = Rollout(live_monitor="rmse", max_live_drop=0.5, min_requests=10, steps=(10, 50),
                      step_every_s=1)  # fmt: skip
    deployments.set_traffic("api", _canary(10), project="lab", rollout=rollout)
    champion, candidate = _ids(deployments)
    clock.now += 5000
    deployments.report("lab", _report(clock, _stats(champion, 50), _stats(candidate, 20)))
    weights = [r.weight for r in deployments.get("api", project="lab").plan.routes]
    assert weights == [90, 10]  # enough requests, but no live value: the step waits
    _live(client, rmse, champion, clock.now, 2.0, 100)
    _live(client, rmse, candidate, clock.now, 2.4, 100)  # 0.4 worse: within 0.5
    clock.now += 1000
    [acted] = deployments.evaluate()
    assert acted.action == "step"
    assert [r.weight for r in deployments.get("api", project="lab").plan.routes] == [50, 50]
    _live(client, rmse, candidate, clock.now, 3.0, 300)  # weighted 2.85: 0.85 worse
    clock.now += 1000
    [acted] = deployments.evaluate()
    assert acted.action == "auto-rollback" and "over the champion's 2 by 0.85" in acted.reason


@pytest.mark.parametrize(
    ("rollout", "field", "words"),
    [
        (Rollout(live_monitor="accuracy"), "rollout.max_live_drop", "max_live_drop is missing"),
        (Rollout(max_live_drop=0.1), "rollout.live_monitor", "live_monitor is missing"),
        (Rollout(live_monitor="accuracy", max_live_drop=-1), "rollout.max_live_drop", "from 0"),
        (Rollout(live_monitor="nope", max_live_drop=0.1), "rollout.live_monitor", "no monitor"),
        (Rollout(live_monitor="rows", max_live_drop=0.1), "rollout.live_monitor", "a volume"),
        (Rollout(live_monitor="bias", max_live_drop=0.1), "rollout.live_monitor", "direction"),
        (Rollout(live_monitor="a b", max_live_drop=0.1), "rollout.live_monitor", "characters"),
    ],
)
def test_a_bad_live_guard_is_refused_naming_its_field(
    lab, client: Client, rollout: Rollout, field: str, words: str
) -> None:
    deployments, _ = lab
    _watch(client)
    client.services.monitors.create("api", "rows", "volume", project="lab", config={})
    with client.services.store.write() as conn:  # a regression metric with no direction
        conn.execute(
            monitors.insert().values(
                id="b" * 32, project_id=conn.execute(select(monitors.c.project_id)).scalar(),
                deployment_id=conn.execute(select(monitors.c.deployment_id)).scalar(),
                name="bias", kind="performance", config='{"metric": "mean_error"}',
                window="hour", slide=None, severity="warning", enabled=True,
                created_by="test", created_at=0, updated_at=0,
            )
        )  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        deployments.set_traffic("api", _canary(), project="lab", rollout=rollout)
    assert caught.value.field == field and words in caught.value.message, caught.value.message
    assert deployments.get("api", project="lab").revision == 1  # nothing written


def test_a_live_guard_whose_monitor_is_gone_judges_nothing_live(
    lab, client: Client, clock: Clock
) -> None:
    deployments, _ = lab
    _watch(client)
    rollout = Rollout(live_monitor="accuracy", max_live_drop=0.05, steps=(10, 50), step_every_s=1)
    deployments.set_traffic("api", _canary(10), project="lab", rollout=rollout)
    client.services.monitors.delete("api", "accuracy", project="lab")
    clock.now += 5000
    assert deployments.evaluate() == []  # no breach, and the steps wait
    assert deployments.get("api", project="lab").rollout == rollout
