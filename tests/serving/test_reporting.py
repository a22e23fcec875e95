"""The inference server's reports to the control plane: per deployment and version, the
requests it answered, the errors the version caused (a canary that fails is counted
against it though the champion answered) and a latency histogram, plus the versions it
found unhealthy and the CPU-seconds and memory-time the server used; a report that cannot
be sent is added to the next one."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_support import (
    PROJECT,
    Constant,
    DictPlans,
    Loaded,
    SklearnPool,
    deployment,
    pool_of,
    route,
)

from modelyard.errors import InvalidInput, StorageError
from modelyard.sdk.client import Client
from modelyard.serving._reporter import Reporter
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, Rollout, ServingReport, Totals

ROW = {"records": [{"x1": 0.5, "x2": -1.0}]}


class Failing:
    def predict(self, frame: Any) -> Any:
        raise ValueError("the canary chokes")


def _until(check: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def _totals(reports: list[ServingReport]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for report in reports:
        for s in report.stats:
            assert s.deployment == "c"
            out.setdefault(s.version_id, Totals()).add(s.requests, s.errors, s.latency_ms)
    return out


def test_the_server_reports_requests_errors_latencies_and_unhealthy_versions(serve, http) -> None:
    plan = deployment("c", [route("m", 1, 50), route("m", 2, 50)], shadows=[route("m", 3)])
    pool = pool_of(("m", 1, Constant(1)), ("m", 2, Failing()))
    pool.broken["m-v3"] = "its blob does not match its digest"
    plans = DictPlans(plan)
    s = serve(plans, pool, report_s=0.05)
    answers = [http.post(f"{s.url}/v1/deployments/c/predict", json=ROW) for _ in range(30)]
    assert {a.status_code for a in answers} == {200}  # the champion answered for the canary
    _until(lambda: _totals(plans.reports).get("m-v1", Totals()).requests >= 30)
    totals = _totals(plans.reports)
    champion, canary = totals["m-v1"], totals["m-v2"]
    assert canary.requests > 0 and canary.errors == canary.requests  # every canary try failed
    assert champion.errors == 0 and champion.requests == 30
    assert sum(champion.latency_ms) == champion.requests
    assert champion.p99_ms <= LATENCY_BUCKETS_MS[-1]
    _until(lambda: any(r.unhealthy for r in plans.reports))
    sick = next(r for r in plans.reports if r.unhealthy).unhealthy
    assert [(u.deployment, u.version_id) for u in sick] == [("c", "m-v3")]
    assert "digest" in sick[0].reason
    windows = [(r.window_start, r.window_end) for r in plans.reports]
    assert all(a <= b for a, b in windows)
    assert sum(r.cpu_s for r in plans.reports) > 0  # what the server process used
    assert all(r.memory_byte_s > 0 for r in plans.reports if r.window_end > r.window_start)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(windows))


class Plane:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.reports: list[ServingReport] = []

    def report(self, project: str, report: ServingReport) -> None:
        if self.fail is not None:
            raise self.fail
        self.reports.append(report)


def test_a_report_that_cannot_be_sent_is_added_to_the_next_and_a_refused_one_dropped() -> None:
    now = [1000]
    plane = Plane(StorageError("connection refused"))
    reporter = Reporter(
        plane,  # type: ignore[arg-type]
        "p",
        report_s=1,
        unhealthy=list,
        server="s1",
        clock=lambda: now[0],
    )
    reporter.answered("c", "v1", 0.002, False)
    reporter.answered("c", "v1", 0.2, True)
    now[0] = 2000
    assert asyncio.run(reporter.send()) is False
    plane.fail = None
    reporter.answered("c", "v1", 20.0, False)
    now[0] = 3000
    assert asyncio.run(reporter.send()) is True
    (report,) = plane.reports
    assert (report.server, report.window_start, report.window_end) == ("s1", 1000, 3000)
    (stats,) = report.stats
    assert (stats.requests, stats.errors) == (3, 1)
    assert stats.latency_ms[2] == 1 and stats.latency_ms[14] == 1 and stats.latency_ms[-1] == 1
    plane.fail = InvalidInput("no such version", field="stats[0].version_id")
    reporter.answered("c", "gone", 0.001, False)
    assert asyncio.run(reporter.send()) is False
    plane.fail = None
    assert asyncio.run(reporter.send()) is True  # nothing left to send
    assert len(plane.reports) == 1


def test_a_callers_mistake_is_no_error_of_the_version(serve, http) -> None:
    plans = DictPlans(deployment("c", [route("m", 1)]))
    s = serve(plans, pool_of(("m", 1, Constant(1))), report_s=0.05)
    bad = http.post(f"{s.url}/v1/deployments/c/predict", json={"records": [{"x1": "a"}]})
    assert bad.status_code == 422
    _until(lambda: _totals(plans.reports).get("m-v1", Totals()).requests == 1)
    assert _totals(plans.reports)["m-v1"].errors == 0


def test_end_to_end_a_failing_canary_is_rolled_back_by_the_control_plane(
    client: Client, tmp_path: Path, serve, http
) -> None:
    """The real control plane (embedded): the server's reports reach it, the canary's
    errors breach its guard, the plan goes back to the champion and the server follows.
    (``client`` comes first: the server, stopped first, sends its last report to an open
    store.)"""
    models = client.services.models
    client.services.projects.create(PROJECT)
    for number in (1, 2):
        folder = tmp_path / f"v{number}"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
        models.register("m", folder, project=PROJECT, flavor="sklearn")
        models.request_transition("m", project=PROJECT, to="staging", version=number)
    deployments = client.services.deployments
    deployments.create("c", "m/1", project=PROJECT)
    plan = TrafficPlan((Route("m", "1", 50), Route("m", "2", 50)))
    rollout = Rollout(max_error_rate=0.1, min_requests=3)
    deployments.set_traffic("c", plan, project=PROJECT, rollout=rollout)
    one, two = (models.get_version("m", project=PROJECT, version=n) for n in (1, 2))
    pool = SklearnPool({one.id: Loaded(one, Constant(1)), two.id: Loaded(two, Failing())})
    s = serve(deployments, pool, report_s=0.05)
    for _ in range(20):
        assert http.post(f"{s.url}/v1/deployments/c/predict", json=ROW).status_code == 200
    _until(lambda: deployments.get("c", project=PROJECT).rollout is None)
    last = deployments.history("c", project=PROJECT)[-1]
    assert (last.action, last.changed_by) == ("auto-rollback", "system")
    assert "max_error_rate" in last.reason and "m/2" in last.reason
    _until(lambda: len(s.app.plans.tables["c"].routes) == 1)  # the server follows the plan
