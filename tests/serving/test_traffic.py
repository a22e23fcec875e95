"""A deployment's traffic read back from the servers' reports: buckets per version,
every server added up, latency quantiles from the histogram, rights and bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.errors import InvalidInput, NotFound
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, ServingReport, VersionStats

MINUTE = 60_000


def _stats(version_id: str, requests: int, errors: int, ms: float) -> VersionStats:
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    counts[LATENCY_BUCKETS_MS.index(ms)] = requests
    return VersionStats("api", version_id, requests, errors, tuple(counts))


def test_traffic_adds_up_servers_per_bucket_and_version(client: Client, tmp_path: Path) -> None:
    services = client.services
    services.projects.create("lab")
    for number in (1, 2):
        folder = tmp_path / f"v{number}" / "model"
        folder.mkdir(parents=True)
        (folder / "model.skops").write_bytes(f"model {number}".encode())
        services.models.register("churn", folder.parent, project="lab", flavor="sklearn")
        services.models.request_transition("churn", project="lab", to="staging", version=number)
    plan = TrafficPlan((Route("churn", "1", 90), Route("churn", "2", 10)))
    deployments = services.deployments
    found = deployments.create("api", plan, project="lab")
    one, two = (r.version_id or "" for r in found.plan.routes)
    now = deployments.clock()
    since = now - now % MINUTE - 10 * MINUTE
    for server, end, stats in (
        ("s1", since + 1000, [_stats(one, 90, 0, 5), _stats(two, 10, 1, 20)]),
        ("s2", since + 2000, [_stats(one, 90, 9, 10)]),
        ("s1", since + 3 * MINUTE + 5, [_stats(two, 4, 0, 50)]),
        ("s1", since - 1, [_stats(one, 1000, 0, 1)]),  # before the span
    ):
        deployments.report("lab", ServingReport(server, end - 500, end, tuple(stats)))
    got = deployments.traffic("api", project="lab", since=since, until=since + 5 * MINUTE,
                              step_ms=MINUTE)  # fmt: skip
    assert got.starts == [since + i * MINUTE for i in range(5)]
    assert got.total.requests == [190, 0, 0, 4, 0]
    assert got.total.errors == [10, 0, 0, 0, 0]
    assert got.total.p50_ms[:2] == [10, None]
    assert got.total.p95_ms[0] == 20
    assert [(v.label, v.total_requests, v.total_errors) for v in got.versions] == [
        ("churn/1", 180, 9),
        ("churn/2", 14, 1),
    ]
    assert got.versions[1].requests == [10, 0, 0, 4, 0]
    assert got.versions[1].total_p95_ms == 50
    with pytest.raises(InvalidInput):
        deployments.traffic("api", project="lab", since=since, until=since, step_ms=MINUTE)
    with pytest.raises(InvalidInput):
        deployments.traffic("api", project="lab", since=0, until=10**12, step_ms=1)
    with pytest.raises(NotFound):
        deployments.traffic("nope", project="lab", since=since, until=now, step_ms=MINUTE)


def test_a_predictor_cannot_read_traffic(client: Client) -> None:
    client.services.projects.create("lab")
    governance = Governance(client.services.store)
    account = governance.users.create_service_account("bot", actor=SYSTEM)
    governance.roles.grant("lab", account.username, "predictor", actor=SYSTEM)
    bot = client.services.deployments.acting_as(Actor.of(account.principal()))
    with pytest.raises(NotFound):  # as the history: no telling it from a missing one
        bot.traffic("api", project="lab", since=0, until=MINUTE, step_ms=MINUTE)
