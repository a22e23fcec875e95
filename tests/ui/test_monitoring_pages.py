"""The monitoring pages in Chromium: the project's monitoring overview, a deployment's
dashboards (drift heatmap, performance, volume, SLOs, health, cost, loop runs), the
alert inbox and an alert, with acknowledge and resolve for contributors only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from ui_support import (
    PROJECT,
    UiServer,
    Watched,
    add_window,
    critical_violations,
    pretty,
    sign_in,
)

from modelyard._util import new_id, now_ms
from modelyard.monitoring._raise import raise_alert
from modelyard.sdk.client import Client
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, ServingReport, VersionStats
from modelyard.store.tables import alert_notes, loop_runs, projects
from monitoring_support import HOUR, insert_monitor

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"
DEPLOYMENT = "churn-api"
#: A deployment without monitors, loops or reports.
BARE = "bare-api"
FEATURES = ("tenure", "plan", "spend")
#: Windows of each monitor seeded: hours ending at the last whole hour.
WINDOWS = 6
ROLES = ("viewer", "contributor", "admin")


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """In ``demo``: model ``churn`` version 1 deployed as ``churn-api`` and as
    ``bare-api`` (nothing watches it); on ``churn-api`` a serving report, monitors
    ``input-drift`` (drift over three features), ``accuracy`` (performance), ``rows``
    (volume), ``p99`` (latency) and ``errors`` with six hourly windows as a pass writes
    them; two open alerts (one with a comment holding markup); a finished loop run."""
    folder = tmp_path_factory.mktemp("model") / "v1"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(b"model 1")
    with Client(ui_server.settings) as client:
        models = client.model_service
        version = models.register("churn", folder, project=PROJECT, flavor="sklearn")
        models.request_transition("churn", project=PROJECT, to="production", version=1)
        made = client.deployments.create(DEPLOYMENT, "churn/1", project=PROJECT)
        client.deployments.create(BARE, "churn/1", project=PROJECT)
        store = client.services.store
        last = now_ms() // HOUR * HOUR
        latency = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        latency[0] = 40
        stats = (VersionStats(DEPLOYMENT, version.id, 40, 0, tuple(latency)),)
        client.deployments.report(
            PROJECT, ServingReport("replica-1", last - 5000, last, stats, cpu_s=36.0)
        )
        with store.write() as conn:
            project_id = conn.execute(
                select(projects.c.id).where(projects.c.name == PROJECT)
            ).scalar_one()
            ids = {
                name: insert_monitor(conn, project_id, made.id, name, kind, config)
                for name, kind, config in (
                    ("input-drift", "drift", {}),
                    ("accuracy", "performance", {"min": 0.8}),
                    ("rows", "volume", {}),
                    ("p99", "latency", {"max_ms": 100}),
                    ("errors", "errors", {"max_rate": 0.01}),
                )
            }
            for i in range(WINDOWS):
                end = last - (WINDOWS - 1 - i) * HOUR
                drifted = i >= WINDOWS - 2
                features = {
                    f: {
                        "test": "ks",
                        "statistic": 0.1 * (j + 1),
                        "p_value": 0.001 if drifted and f == "tenure" else 0.5,
                        "threshold": 0.05,
                        "drifted": drifted and f == "tenure",
                    }
                    for j, f in enumerate(FEATURES)
                }
                add_window(
                    conn, ids["input-drift"], end, 1 / 3 if drifted else 0.0, features=features
                )
                add_window(conn, ids["accuracy"], end, 0.9 - i / 50, labelled=40 + i)
                add_window(conn, ids["rows"], end, 1.0, rows=100 + i, expected=110)
                add_window(conn, ids["p99"], end, 75.0)
                add_window(conn, ids["errors"], end, 0.002)
            opened = [
                raise_alert(
                    conn,
                    project=PROJECT,
                    subject_kind="deployment",
                    subject_id=made.id,
                    subject=DEPLOYMENT,
                    monitor=name,
                    severity=severity,
                    title=title,
                    details={"share": 1 / 3},
                    at=last - HOUR,
                    monitor_id=ids[name],
                ).alert_id
                for name, severity, title in (
                    ("input-drift", "critical", "input-drift: 1 of 3 features drifted"),
                    ("accuracy", "warning", "accuracy fell under 0.8"),
                )
            ]
            conn.execute(
                alert_notes.insert().values(
                    alert_id=opened[0], action="commented", by="admin", at=last, comment=EVIL
                )
            )
            steps = [
                _step(name, "done", last - 2 * HOUR + k * 60_000)
                for k, name in enumerate(("retrain", "register", "evaluate", "approve"))
            ] + [
                _step("canary", "done", last - HOUR),
                _step("compare", "done", last - HOUR + 60_000),
                _step("promote", "done", last - HOUR + 120_000),
                _step("rollback", "skipped", None),
            ]
            conn.execute(
                loop_runs.insert().values(
                    id=new_id(),
                    project_id=project_id,
                    deployment_id=made.id,
                    trigger=json.dumps({"kind": "alert", "monitor": "accuracy"}),
                    state="promoted",
                    steps=json.dumps(steps),
                    champion_version_id=version.id,
                    candidate_version_id=None,
                    decision="promoted: candidate within tolerance",
                    created_by="worker",
                    created_at=last - 2 * HOUR,
                    updated_at=last - HOUR,
                    ended_at=last - HOUR + 120_000,
                )
            )
    return {"drift": opened[0], "accuracy": opened[1]}


def _step(name: str, status: str, at: int | None) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "started_at": at,
        "ended_at": None if at is None else at + 30_000,
        "attempts": 1 if at else 0,
        "detail": {},
    }


def _pages(seeded: dict[str, Any]) -> list[str]:
    base = f"/projects/{PROJECT}"
    return [
        f"{base}/monitoring",
        f"{base}/monitoring/{DEPLOYMENT}",
        f"{base}/alerts",
        f"{base}/alerts?status=open",
        f"{base}/alerts/{seeded['drift']}",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_each_page_loads_for_each_role_without_errors_or_critical_violations(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page], role: str
) -> None:
    page = signed_in(role)
    for path in _pages(seeded):
        answer = page.goto(f"{ui_server.url}{path}")
        assert answer is not None and answer.status == 200, path
        page.wait_for_load_state("networkidle")
        found = critical_violations(page)
        assert found == [], f"{path}: {pretty(found)}"


def test_an_outsider_is_refused(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 403")
    watched.allow("status of 404")
    page = signed_in("outsider")
    for path in _pages(seeded):
        answer = page.goto(f"{ui_server.url}{path}")
        assert answer is not None and answer.status in (403, 404), path
        assert DEPLOYMENT not in page.locator("main").inner_text() or answer.status == 404


def test_the_overview_shows_health_and_open_alerts_per_deployment(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/monitoring")
    row = page.locator("#mon-deployments tbody tr", has_text=DEPLOYMENT)
    assert row.locator("td").nth(2).inner_text().strip() == "2"
    assert row.locator(".health").count() == 1
    assert page.locator("#alerts tbody tr").count() >= 1
    row.get_by_role("link", name=DEPLOYMENT).click()
    page.wait_for_url(f"**/monitoring/{DEPLOYMENT}")


def test_the_deployment_page_draws_every_dashboard(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/monitoring/{DEPLOYMENT}")
    heatmap = page.locator("[data-chart=heatmap] svg")
    labels = heatmap.locator("text.mon-feature").all_text_contents()
    assert sorted(labels) == sorted(FEATURES)
    assert heatmap.locator("rect").count() == len(FEATURES) * WINDOWS
    assert heatmap.locator("rect.mon-l4").count() == 2  # tenure drifted in the last two
    for kind in ("performance", "volume", "health"):
        chart = page.locator(f"[data-chart={kind}]")
        chart.and_(page.locator("[data-drawn='1']")).wait_for()
        assert chart.locator("canvas").count() == 1, kind
    slos = page.locator("#slos").inner_text()
    assert "≤ 100 ms" in slos and "75 ms" in slos and "0 of 6" in slos
    components = page.locator("#health-components tbody tr").all_inner_texts()
    assert [c.split("\t")[0] for c in components] == [
        "drift",
        "performance",
        "slo",
        "quality",
        "labels",
    ]
    assert "100*(1 - drifted share of features)" in components[0]
    assert all(c.split("\t")[3].strip() for c in components)  # each has its formula
    timeline = page.locator("ol.mon-timeline li .mon-step-name").all_inner_texts()
    assert timeline[:3] == ["retrained", "registered", "evaluated"]
    assert "promoted" in timeline and "compared" in timeline
    assert page.locator("#cost-month").inner_text() == "0.0004 USD"  # 36 CPU-s at 0.04/h
    assert "churn/1" in page.locator("#cost-versions").inner_text()
    page.locator("[data-chart=cost][data-drawn='1'] canvas").wait_for()
    # today's cost alone: a day around it from zero, not uPlot's years for a lone point
    x_min, x_max, y_min = page.locator("[data-chart=cost]").evaluate(
        "el => [el.uplot.scales.x.min, el.uplot.scales.x.max, el.uplot.scales.y.min]"
    )
    assert (x_max - x_min, y_min) == (86_400, 0)
    ticks = page.locator("[data-chart=cost]").evaluate("el => el.uplot.axes[1]._values")
    assert len(set(ticks)) == len(ticks) > 1, ticks  # a fraction of a cent, each its own


def test_alert_text_renders_as_text(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/alerts/{seeded['drift']}")
    assert page.locator("#alert-history td.mon-comment", has_text=EVIL).count() == 1
    assert page.evaluate("window.__owned") is None
    assert page.locator("main b", has_text="bold").count() == 0


def test_a_viewer_sees_no_actions_and_the_api_refuses_them_anyway(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 403")  # the call the page would never offer
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/alerts/{seeded['drift']}")
    assert page.get_by_role("heading", name="input-drift: 1 of 3 features drifted").is_visible()
    for name in ("Acknowledge", "Resolve", "Add note"):
        assert page.get_by_role("button", name=name).count() == 0
    status = page.evaluate(
        """path => window.modelyard.api("POST", path, {comment: "mine"})
                 .then(() => 200, err => err.status)""",
        f"/projects/{PROJECT}/alerts/{seeded['drift']}/acknowledge",
    )
    assert status == 403
    page.reload()
    assert page.locator("#alert-status").inner_text() == "open"


def test_a_contributor_acknowledges_then_resolves_an_alert_with_a_comment(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("contributor")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/alerts/{seeded['accuracy']}")
    page.get_by_label("Comment (why, who is on it)").fill("on it: <i>looking</i>")
    page.get_by_role("button", name="Acknowledge").click()
    page.locator("#alert-status", has_text="acknowledged").wait_for()
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    history = page.locator("#alert-history tbody tr").last.inner_text()
    assert "acknowledged" in history and "contributor" in history
    assert "on it: <i>looking</i>" in history
    page.goto(f"{ui_server.url}/projects/{PROJECT}/alerts?status=acknowledged")
    row = page.locator("#alerts tbody tr", has_text="accuracy fell under 0.8")
    assert row.locator(".status").inner_text() == "acknowledged"
    page.goto(f"{ui_server.url}/projects/{PROJECT}/alerts?status=open")
    assert page.locator("#alerts tbody tr", has_text="accuracy fell under 0.8").count() == 0
    page.goto(f"{ui_server.url}/projects/{PROJECT}/alerts/{seeded['accuracy']}")
    page.get_by_label("Comment (what was done)").fill("retrained")
    page.get_by_role("button", name="Resolve").click()
    page.locator("#alert-status", has_text="resolved").wait_for()
    assert page.get_by_role("button", name="Resolve").count() == 0
    assert page.get_by_role("button", name="Add note").count() == 1


def test_unknown_deployment_and_alert_are_the_friendly_404(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 404")
    page = signed_in("viewer")
    for path in ("monitoring/no-such-api", "alerts/0123456789abcdef0123456789abcdef"):
        answer = page.goto(f"{ui_server.url}/projects/{PROJECT}/{path}")
        assert answer is not None and answer.status == 404
        assert page.get_by_role("heading", level=1).inner_text() == "Not found"


def test_a_bad_status_filter_is_said(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 422")
    page = signed_in("viewer")
    answer = page.goto(f"{ui_server.url}/projects/{PROJECT}/alerts?status=gone")
    assert answer is not None and answer.status == 422
    assert "status must be one of" in page.locator("main").inner_text()


def test_a_deployment_nothing_watches_says_so(
    ui_server: UiServer, seeded: dict[str, Any], signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/monitoring/{BARE}")
    main = page.locator("main").inner_text()
    for said in ("No monitors on this deployment yet", "No drift monitor", "No loop runs"):
        assert said in main
    assert page.locator("[data-chart]").count() == 0
    assert critical_violations(page) == []
    page.goto(f"{ui_server.url}/projects/{PROJECT}/monitoring")
    row = page.locator("#mon-deployments tbody tr", has_text=BARE)
    assert row.locator("td").nth(1).inner_text() == "not judged"


def test_chart_times_are_utc_whatever_the_browsers_zone(
    ui_server: UiServer, seeded: dict[str, Any], browser: Browser
) -> None:
    """The x axes of the monitoring and the deployment page's charts in a browser at
    UTC+5:30 read as in one at UTC: the pages print every time in UTC."""
    charts = {
        f"monitoring/{DEPLOYMENT}": "[data-chart=performance]",
        f"deployments/{DEPLOYMENT}": "[data-chart=requests]",
    }
    labels: dict[str, list[Any]] = {}
    for zone in ("UTC", "Asia/Kolkata"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=zone)
        try:
            page = context.new_page()
            sign_in(page, ui_server.url, ui_server.users["viewer"])
            for path, chart in charts.items():
                page.goto(f"{ui_server.url}/projects/{PROJECT}/{path}")
                drawn = page.locator(f"{chart}[data-drawn='1']").first
                drawn.wait_for()
                labels[f"{zone} {path}"] = drawn.evaluate("el => el.uplot.axes[0]._values")
        finally:
            context.close()
    for path in charts:
        utc, kolkata = labels[f"UTC {path}"], labels[f"Asia/Kolkata {path}"]
        assert utc and utc == kolkata, (path, utc, kolkata)
