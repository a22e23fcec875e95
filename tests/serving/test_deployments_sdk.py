"""``client.deployments`` and ``my.deployments`` in both SDK modes: embedded, and through a
live server (the ``remote`` marker), with the same results and the same typed errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard as my
from modelyard.config import Settings
from modelyard.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, Rollout, ServingReport, VersionStats


@pytest.fixture
def client(settings_in_mode: Settings, tmp_path: Path) -> Iterator[Client]:
    """Model ``churn`` of project ``lab``: version 1 (production, champion), 2 (staging),
    3 (registered)."""
    with Client(settings_in_mode) as client:
        models = client.model_service
        client.projects.create("lab")
        for number in (1, 2, 3):
            folder = tmp_path / f"v{number}"
            (folder / "model").mkdir(parents=True)
            (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
            models.register("churn", folder, project="lab", flavor="sklearn")
        models.request_transition("churn", project="lab", to="production", version=1)
        models.request_transition("churn", project="lab", to="staging", version=2)
        models.set_alias("churn", "champion", 1, project="lab")
        yield client


def test_the_whole_cycle(client: Client) -> None:
    deployments = client.deployments
    made = deployments.create("api", "churn@champion", project="lab", sample_rate=0.5)
    assert (made.revision, made.sample_rate, made.plan.champion.version) == (1, 0.5, 1)
    canary = TrafficPlan((Route("churn", "champion", 90), Route("churn", "2", 10)))
    changed = deployments.set_traffic(
        "api", canary, project="lab", reason="canary", expected_revision=1
    )
    assert [(r.ref, r.weight, r.version) for r in changed.plan.routes] == [
        ("champion", 90, 1),
        ("2", 10, 2),
    ]
    assert changed.plan.champion.version_id is not None
    assert deployments.get("api", project="lab") == changed
    assert deployments.list_deployments("lab") == [changed]
    with pytest.raises(Conflict):
        deployments.set_traffic("api", canary, project="lab", expected_revision=1)
    promoted = deployments.promote("api", project="lab", reason="held")
    assert [(r.ref, r.weight, r.version) for r in promoted.plan.routes] == [("champion", 100, 2)]
    assert client.model_service.get_version("churn", project="lab", alias="champion").version == 2
    back = deployments.rollback("api", project="lab", to_revision=2)
    assert [(r.ref, r.weight) for r in back.plan.routes] == [("champion", 90), ("2", 10)]
    history = deployments.history("api", project="lab")
    assert [(h.revision, h.action, h.reason) for h in history] == [
        (1, "create", ""),
        (2, "set_traffic", "canary"),
        (3, "promote", "held"),
        (4, "rollback", ""),
    ]
    assert history[1].plan == canary
    deployments.delete("api", project="lab")
    with pytest.raises(NotFound):
        deployments.get("api", project="lab")


def test_refusals_keep_their_type_and_field(client: Client) -> None:
    deployments = client.deployments
    with pytest.raises(PolicyViolation, match="registered"):
        deployments.create("api", "churn/3", project="lab")
    with pytest.raises(InvalidInput) as info:
        deployments.create("api", "churn/9", project="lab")
    assert info.value.field == "plan.routes[0].ref"
    deployments.create("api", "churn/1", project="lab")
    bad = TrafficPlan((Route("churn", "1", 50), Route("churn", "2", 40)))
    with pytest.raises(InvalidInput) as info:
        deployments.set_traffic("api", bad, project="lab")
    assert info.value.field == "plan.routes"
    sticky = TrafficPlan((Route("churn", "1", 100),), sticky_key="X Id")
    with pytest.raises(InvalidInput) as info:
        deployments.set_traffic("api", sticky, project="lab")
    assert info.value.field == "plan.sticky_key"
    with pytest.raises(NotFound) as info:
        deployments.rollback("api", project="lab", to_revision=5)
    assert info.value.field == "to_revision"


def test_the_sugar(client: Client) -> None:
    settings = client.settings
    made = my.deployments.create("api", "churn/2", project="lab", settings=settings)
    assert my.deployments.get("api", project="lab", settings=settings) == made
    assert my.deployments.list_deployments("lab", settings=settings) == [made]
    plan = TrafficPlan((Route("churn", "champion", 80), Route("churn", "2", 20)))
    my.deployments.set_traffic("api", plan, project="lab", settings=settings)
    assert my.deployments.promote("api", project="lab", settings=settings).revision == 3
    assert my.deployments.rollback("api", project="lab", settings=settings).revision == 4
    assert len(my.deployments.history("api", project="lab", settings=settings)) == 4
    my.deployments.delete("api", project="lab", settings=settings)
    assert my.deployments.list_deployments("lab", settings=settings) == []


def test_a_rollout_and_a_report_that_breaches_it(client: Client) -> None:
    deployments = client.deployments
    deployments.create("api", "churn@champion", project="lab")
    canary = TrafficPlan((Route("churn", "champion", 90), Route("churn", "2", 10)))
    rollout = Rollout(max_error_rate=0.05, min_requests=10, steps=(10, 50, 100))
    changed = deployments.set_traffic("api", canary, project="lab", rollout=rollout)
    assert changed.rollout == rollout and changed.rollout_since == changed.updated_at
    assert deployments.get("api", project="lab") == changed
    candidate = changed.plan.routes[1].version_id
    assert candidate is not None
    end = int(time.time() * 1000) + 1
    counts = (10,) + (0,) * len(LATENCY_BUCKETS_MS)
    bad = ServingReport("s1", end - 5000, end, (VersionStats("api", "f" * 32, 10, 0, counts),))
    with pytest.raises(InvalidInput):
        deployments.report("lab", bad)
    breach = ServingReport("s1", end - 5000, end, (VersionStats("api", candidate, 10, 5, counts),))
    deployments.report("lab", breach)
    after = deployments.get("api", project="lab")
    assert [(r.ref, r.weight) for r in after.plan.routes] == [("champion", 100)]
    assert after.rollout is None
    assert deployments.history("api", project="lab")[-1].action == "auto-rollback"


def test_my_deployments_takes_a_rollout(client: Client) -> None:
    client.deployments.create("api", "churn@champion", project="lab")
    canary = TrafficPlan((Route("churn", "champion", 90), Route("churn", "2", 10)))
    guards = Rollout(max_p99_ms=50)
    changed = my.deployments.set_traffic(
        "api", canary, project="lab", rollout=guards, settings=client.settings
    )
    assert changed.rollout == guards
