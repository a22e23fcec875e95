"""Costs and budgets: the inference server's usage is measured (a busy loop raises its
CPU-seconds), a server's usage is split between the deployments and versions it answered
by their share of requests and priced with the price table, a version's training cost
sums its pipeline's step runs, budgets open an alert per threshold passed once (a second
check opens nothing) and the next month clears it; bad input is InvalidInput naming the
field. Embedded, on SQLite and (when its URL is set) PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.config import CostSettings
from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.monitoring.costs import CostService
from modelyard.sdk.client import Client
from modelyard.serving._reporter import Reporter
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, ServingReport, VersionStats
from modelyard.serving.service import DeploymentService
from modelyard.store.tables import alerts, audit_events, server_usage, step_runs
from modelyard.tracking.cost import compute_cost
from modelyard.tracking.system import ResourceUsage
from modelyard.worker.worker import Worker

GIB = 1024**3
HOUR_MS = 3_600_000
#: 2027-01-15 12:00 UTC
NOON = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000 + 12 * HOUR_MS


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> int:
        return self.now


class Plane:
    def __init__(self) -> None:
        self.reports: list[ServingReport] = []

    def report(self, project: str, report: ServingReport) -> None:
        self.reports.append(report)


def _stats(deployment: str, version_id: str, requests: int) -> VersionStats:
    latency = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    latency[0] = requests
    return VersionStats(deployment, version_id, requests, 0, tuple(latency))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lab(client: Client, tmp_path: Path, clock: Clock) -> Iterator[tuple[DeploymentService, dict]]:
    """Project ``lab``: model ``churn`` versions 1 and 2; deployments ``api`` (all to
    version 1) and ``batch`` (all to version 2); the deployments and costs on ``clock``."""
    models = client.services.models
    client.services.projects.create("lab")
    for number in (1, 2):
        folder = tmp_path / f"v{number}"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
        models.register("churn", folder, project="lab", flavor="sklearn")
        models.request_transition("churn", project="lab", to="staging", version=number)
    deployments = client.services.deployments
    deployments.clock = clock
    client.services.costs.clock = clock
    deployments.create("api", "churn/1", project="lab")
    deployments.create("batch", "churn/2", project="lab")
    ids = {n: models.get_version("churn", project="lab", version=n).id for n in (1, 2)}
    yield deployments, ids


def test_the_reporter_measures_the_cpu_and_memory_the_server_uses() -> None:
    plane = Plane()
    begun = time.monotonic()
    reporter = Reporter(plane, "p", report_s=1, unhealthy=list, server="s1")  # type: ignore[arg-type]
    cpu_begun = time.process_time()
    reporter.answered("c", "v1", 0.001, False)
    while time.process_time() - cpu_begun < 0.2:  # a busy loop: CPU the process uses
        pass
    assert asyncio.run(reporter.send()) is True
    cpu_used, elapsed = time.process_time() - cpu_begun, time.monotonic() - begun
    (report,) = plane.reports
    assert 0.2 <= report.cpu_s <= cpu_used + 0.1  # and the Reporter's start
    rss = reporter.usage._process.memory_info().rss
    assert 0.5 * rss * elapsed < report.memory_byte_s < 2 * rss * elapsed
    assert report.usage_start == report.window_start


def test_an_idle_window_is_not_sent_and_its_usage_goes_into_the_next_report() -> None:
    now = [1000]
    plane = Plane()
    reporter = Reporter(  # type: ignore[arg-type]
        plane, "p", report_s=1, unhealthy=list, server="s1", clock=lambda: now[0]
    )
    cpu_begun = time.process_time()
    while time.process_time() - cpu_begun < 0.15:
        pass
    now[0] = 2000
    assert asyncio.run(reporter.send()) is True
    assert plane.reports == []
    reporter.answered("c", "v1", 0.001, False)
    now[0] = 3000
    assert asyncio.run(reporter.send()) is True
    (report,) = plane.reports
    assert (report.usage_start, report.window_start, report.window_end) == (1000, 2000, 3000)
    assert report.cpu_s >= 0.15


def test_a_report_stores_the_usage_and_a_retried_one_replaces_itself(client, lab, clock) -> None:
    deployments, ids = lab
    report = ServingReport(
        "s1", NOON - 5000, NOON, (_stats("api", ids[1], 10),), cpu_s=2.0, memory_byte_s=1e9,
        usage_start=NOON - 9000,
    )  # fmt: skip
    deployments.report("lab", report)
    deployments.report("lab", report)
    with client.services.store.read() as conn:
        rows = conn.execute(select(server_usage)).all()
    assert [(r.server, r.window_start, r.window_end, r.cpu_s) for r in rows] == [
        ("s1", NOON - 9000, NOON, 2.0)
    ]
    old = ServingReport.from_dict(
        {"server": "s1", "window_start": NOON, "window_end": NOON + 1, "stats": []}
    )  # a server older than usage: zeros
    assert (old.cpu_s, old.memory_byte_s, old.usage_start) == (0.0, 0.0, None)
    for bad, field in (({"cpu_s": -1.0}, "cpu_s"), ({"memory_byte_s": float("nan")},
                       "memory_byte_s"), ({"usage_start": NOON}, "usage_start")):  # fmt: skip
        wrong = ServingReport("s1", NOON - 5000, NOON, (), **bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput) as caught:
            deployments.report("lab", wrong)
        assert caught.value.field == field


def _price(cpu_s: float, memory_byte_s: float, prices: CostSettings) -> float:
    return cpu_s / 3600 * prices.cpu_hour + memory_byte_s / GIB / 3600 * prices.gb_hour


def test_a_servers_usage_is_split_by_request_share_and_priced(client, lab, clock) -> None:
    deployments, ids = lab
    costs = client.services.costs
    prices = client.settings.cost
    # one server: 30 requests to api (version 1), 10 to batch (version 2); 4 CPU-hours
    # and 8 GiB-hours
    deployments.report(
        "lab",
        ServingReport(
            "s1", NOON - HOUR_MS, NOON - 1000,
            (_stats("api", ids[1], 30), _stats("batch", ids[2], 10)),
            cpu_s=4 * 3600.0, memory_byte_s=8.0 * GIB * 3600,
        ),
    )  # fmt: skip
    # another server answered api only: all of its usage is api's
    deployments.report(
        "lab",
        ServingReport("s2", NOON - HOUR_MS, NOON - 1000, (_stats("api", ids[1], 60),),
                      cpu_s=3600.0, memory_byte_s=0.0),
    )  # fmt: skip
    (api,) = costs.serving_cost("api", project="lab")
    assert api.predictions == 90
    assert api.cpu_s == pytest.approx(3 * 3600 + 3600)
    assert api.gib_hours == pytest.approx(6.0)
    expected = compute_cost(
        ResourceUsage(wall_time_s=3600, cpu_time_s=4 * 3600.0, peak_rss_bytes=6 * GIB), prices
    )
    assert api.cost == pytest.approx(expected)
    assert api.cost == pytest.approx(_price(4 * 3600, 6 * GIB * 3600, prices))
    assert api.per_1000 == pytest.approx(api.cost / 90 * 1000)
    assert api.currency == prices.currency
    (batch,) = costs.serving_cost("batch", project="lab")
    assert (batch.predictions, batch.cpu_s, batch.gib_hours) == (10, 3600.0, pytest.approx(2.0))
    by_version = costs.serving_cost("api", project="lab", by_version=True)
    assert [(f.subject, f.predictions) for f in by_version] == [("churn/1", 90)]
    # a period the reports do not end in costs nothing
    (none,) = costs.serving_cost("api", project="lab", since=NOON, until=NOON + HOUR_MS)
    assert (none.cost, none.predictions, none.per_1000) == (0.0, 0, None)


def test_two_versions_of_one_deployment_split_its_cost(client, lab, clock) -> None:
    deployments, ids = lab
    deployments.report(
        "lab",
        ServingReport(
            "s1", NOON - 5000, NOON - 1000,
            (_stats("api", ids[1], 75), _stats("api", ids[2], 25)),
            cpu_s=100.0, memory_byte_s=GIB * 3600.0,
        ),
    )  # fmt: skip
    one, two = client.services.costs.serving_cost("api", project="lab", by_version=True)
    assert (one.subject, one.cpu_s, one.predictions) == ("churn/1", 75.0, 75)
    assert (two.subject, two.cpu_s, two.predictions) == ("churn/2", 25.0, 25)
    assert one.gib_hours == pytest.approx(0.75) and two.gib_hours == pytest.approx(0.25)
    assert one.details == {"deployment": "api", "version_id": ids[1]}


def test_serving_cost_refuses_bad_periods_and_unknown_deployments(client, lab) -> None:
    costs = client.services.costs
    for kwargs, field in (
        ({"since": -1}, "since"),
        ({"until": "today"}, "until"),
        ({"since": NOON, "until": NOON}, "since"),
    ):
        with pytest.raises(InvalidInput) as caught:
            costs.serving_cost("api", project="lab", **kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field
    with pytest.raises(NotFound) as missing:
        costs.serving_cost("nope", project="lab")
    assert missing.value.field == "deployment"


def _pipeline_run(client: Client, steps: list[tuple[str, float | None, bool]]) -> list[str]:
    """A pipeline run with step runs (name, cost, cached) as the executor records them:
    child runs of the pipeline run, each in the step index; the pipeline run has a cost
    of its own (its sampler watched the same process)."""
    tracking = client.services.tracking
    parent = tracking.create_run("lab", name="train-pipe")
    ids = []
    project_id = client.services.projects.get("lab").id
    for name, cost, cached in steps:
        run = tracking.create_run("lab", name=f"train-pipe/{name}", parent_id=parent.id)
        tracking.end_run(run.id, "finished", cost=cost, cpu_time_s=cost and cost * 10)
        with client.services.store.write() as conn:
            conn.execute(
                step_runs.insert().values(
                    run_id=run.id, pipeline_run_id=parent.id, project_id=project_id,
                    pipeline="train-pipe", step=name, cache_key="k" * 64, key_parts="{}",
                    cached=cached, source_run_id=None, outputs=None, created_at=1,
                )
            )  # fmt: skip
        ids.append(run.id)
    tracking.end_run(parent.id, "finished", cost=100.0)
    return ids


def _version_of_run(client: Client, tmp_path: Path, run_id: str | None, name: str) -> int:
    folder = tmp_path / name
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(name.encode())
    return client.services.models.register(
        "trained", folder, project="lab", flavor="sklearn", run_id=run_id
    ).version


def test_training_cost_sums_the_pipelines_step_runs(client, lab, tmp_path) -> None:
    _, train, _ = _pipeline_run(
        client, [("prepare", 0.25, False), ("train", 1.5, False), ("features", None, True)]
    )
    version = _version_of_run(client, tmp_path, train, "a")
    figure = client.services.costs.training_cost("trained", version, project="lab")
    assert figure.cost == pytest.approx(1.75)  # not the pipeline run's own 100
    assert figure.cpu_s == pytest.approx(17.5)
    assert figure.subject == f"trained/{version}"
    assert [(r["name"], r["cached"]) for r in figure.details["runs"]] == [
        ("train-pipe/prepare", False), ("train-pipe/train", False), ("train-pipe/features", True)
    ]  # fmt: skip
    lone = client.services.tracking.create_run("lab", name="notebook")
    client.services.tracking.end_run(lone.id, "finished", cost=0.5)
    other = _version_of_run(client, tmp_path, lone.id, "b")
    assert client.services.costs.training_cost("trained", other, project="lab").cost == 0.5
    bare = _version_of_run(client, tmp_path, None, "c")
    assert client.services.costs.training_cost("trained", bare, project="lab").cost == 0.0
    with pytest.raises(NotFound) as missing:
        client.services.costs.training_cost("trained", 99, project="lab")
    assert missing.value.field == "version"
    with pytest.raises(InvalidInput) as bad:
        client.services.costs.training_cost("trained", 0, project="lab")
    assert bad.value.field == "version"


def _alerts(client: Client) -> list[tuple[str, str, str, float]]:
    with client.services.store.read() as conn:
        rows = conn.execute(select(alerts).order_by(alerts.c.opened_at, alerts.c.id)).all()
    return [(r.monitor, r.severity, r.status, json.loads(r.details)["threshold"]) for r in rows]


def test_budgets_open_an_alert_per_threshold_passed_once_and_the_next_month_clears(
    client, lab, clock
) -> None:
    deployments, ids = lab
    costs = client.services.costs
    prices = client.settings.cost
    budget = costs.set_budget("lab", 1.0, scope="serving", thresholds=(0.5, 0.8, 1.0))
    assert (budget.scope, budget.amount, budget.thresholds, budget.spent) == (
        "serving",
        1.0,
        (0.5, 0.8, 1.0),
        0.0,
    )
    assert costs.check_budgets() == []
    cpu_for = 3600 / prices.cpu_hour  # CPU-seconds that cost 1.0

    def spend(share: float, server: str) -> None:
        deployments.report(
            "lab",
            ServingReport(server, clock.now - 2000, clock.now - 1000,
                          (_stats("api", ids[1], 1),), cpu_s=share * cpu_for),
        )  # fmt: skip

    spend(0.6, "s1")
    (opened,) = costs.check_budgets()
    assert (opened.action, opened.threshold, opened.spent) == ("opened", 0.5, pytest.approx(0.6))
    assert costs.check_budgets() == []  # a second check opens nothing new
    assert _alerts(client) == [("budget:serving", "warning", "open", 0.5)]
    assert costs.list_budgets("lab")[0].spent == pytest.approx(0.6)
    clock.now += 10_000
    spend(0.5, "s2")
    (higher,) = costs.check_budgets()
    assert (higher.threshold, higher.spent) == (1.0, pytest.approx(1.1))
    assert costs.check_budgets() == []
    assert _alerts(client) == [
        ("budget:serving", "warning", "resolved", 0.5),
        ("budget:serving", "critical", "open", 1.0),
    ]
    clock.now += 31 * 86_400_000  # the next month: nothing spent yet
    (cleared,) = costs.check_budgets()
    assert cleared.action == "cleared"
    assert [a[2] for a in _alerts(client)] == ["resolved", "resolved"]
    assert costs.check_budgets() == []


def test_training_spending_counts_leaf_runs_of_this_month(client, lab, clock) -> None:
    costs = client.services.costs
    costs.clock = _now
    _pipeline_run(client, [("prepare", 0.25, False), ("train", 1.5, False)])
    (budget,) = [costs.set_budget("lab", 10.0, scope="training")]
    assert budget.spent == pytest.approx(1.75)  # the pipeline run's own 100 is its steps'
    (everything,) = [b for b in costs.list_budgets("lab") if b.scope == "training"]
    assert everything.spent == pytest.approx(1.75)


def _now() -> int:
    return int(time.time() * 1000)


def test_budgets_refuse_bad_input_naming_the_field(client, lab) -> None:
    costs = client.services.costs
    for kwargs, field in (
        ({"amount": -5.0}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": float("inf")}, "amount"),
        ({"amount": 5.0, "scope": "gpus"}, "scope"),
        ({"amount": 5.0, "thresholds": (0.0, 0.5)}, "thresholds"),
        ({"amount": 5.0, "thresholds": (0.5, 11.0)}, "thresholds"),
        ({"amount": 5.0, "thresholds": (0.8, 0.5)}, "thresholds"),
        ({"amount": 5.0, "thresholds": ()}, "thresholds"),
        ({"amount": 5.0, "thresholds": "0.5"}, "thresholds"),
    ):
        with pytest.raises(InvalidInput) as caught:
            costs.set_budget("lab", **kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field, kwargs
    with pytest.raises(NotFound) as missing:
        costs.delete_budget("lab", scope="training")
    assert missing.value.field == "scope"


def test_budgets_need_admin_to_change_and_viewer_to_read(client, lab) -> None:
    governance = Governance(client.services.store)
    costs = client.services.costs
    costs.set_budget("lab", 5.0)
    for name, role in (("vera", "viewer"), ("carl", "contributor")):
        account = governance.users.create_service_account(name, actor=SYSTEM)
        governance.roles.grant("lab", name, role, actor=SYSTEM)
        theirs = costs.acting_as(Actor.of(account.principal()))
        assert [b.scope for b in theirs.list_budgets("lab")] == ["all"]
        with pytest.raises(PermissionDenied):
            theirs.set_budget("lab", 50.0)
        with pytest.raises(PermissionDenied):
            theirs.delete_budget("lab")
    costs.set_budget("lab", 6.0, thresholds=(1.0,))
    (budget,) = costs.list_budgets("lab")
    assert (budget.amount, budget.thresholds) == (6.0, (1.0,))
    costs.delete_budget("lab")
    assert costs.list_budgets("lab") == []
    with client.services.store.read() as conn:
        actions = (
            conn.execute(
                select(audit_events.c.action).where(audit_events.c.action.like("budget.%"))
            )
            .scalars()
            .all()
        )
    assert actions == ["budget.set", "budget.set", "budget.deleted"]


def test_the_service_is_built_once_with_the_price_table(client) -> None:
    assert isinstance(client.services.costs, CostService)
    assert client.services.costs.prices is client.settings.cost


def test_the_worker_checks_the_budgets_when_due(client, settings) -> None:
    client.services.projects.create("lab")
    client.services.costs.set_budget("lab", 1.0, scope="training", thresholds=(0.5, 1.0))
    tracking = client.services.tracking
    run = tracking.create_run("lab", name="fit")
    tracking.end_run(run.id, "finished", cost=0.7)
    lines: list[str] = []
    with Worker(settings, isolation="inline", log=lines.append) as worker:
        (check,) = worker.run_once().budgets
        assert worker.run_once().budgets == []  # not due again for BUDGET_CHECK_S
    assert (check.project, check.scope, check.action, check.threshold) == (
        "lab",
        "training",
        "opened",
        0.5,
    )
    assert "budget lab/training: opened (passed 50%: 0.7 of 1)" in lines[0]
    assert _alerts(client) == [("budget:training", "warning", "open", 0.5)]
