"""The deployment page's traffic is live, in Chromium: an open page reads it again (the
JSON route beside the page) and shows what the servers reported since, without a
reload: the charts take the new data (the same uPlot instances, a series for a version
that came, the user's zoom kept), the split by version and the "as of" line follow; a
failed read says why and breaks nothing; the plan editor's unsaved edits stay; a hidden
tab reads nothing until it is shown again.

The page's timer is driven with Playwright's clock (``page.clock.run_for``), so a test
waits for a read it caused, never for the wall clock."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from ui_support import PROJECT, UiServer, Watched

from modelyard.api.ui.pages_deploy import REFRESH_BY_SPAN, REFRESH_S
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, ServingReport, VersionStats

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: The page's refresh period, in ms of the page's clock.
REFRESH_MS = REFRESH_S * 1000
QUIET = "quiet-api"  # no traffic until a test sends some
LIVE = "live-api"
EDITED = "edited-api"
UPDATED = re.compile(r"^updated \d\d:\d\d:\d\d UTC$")
REQUESTS = '[data-chart="requests"]'
#: The requests chart's series labels.
LABELS = "el => el.uplot.series.slice(1).map(s => s.label)"
PLAN = TrafficPlan((Route("churn", "1", 90), Route("churn", "2", 10)))


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> UiServer:
    """Model ``churn`` in ``demo`` with versions 1 and 2 staging; three deployments with
    the plan churn/1 90%, churn/2 10%: ``quiet-api`` with no traffic, ``live-api`` and
    ``edited-api`` with ten minutes of version 1's reports."""
    with Client(ui_server.settings) as client:
        models = client.services.models
        for number in (1, 2):
            folder = tmp_path_factory.mktemp(f"churn{number}")
            (folder / "model").mkdir()
            (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
            models.register("churn", folder, project=PROJECT, flavor="sklearn")
            models.request_transition("churn", project=PROJECT, to="staging", version=number)
        for name in (QUIET, LIVE, EDITED):
            client.services.deployments.create(name, "churn/1", project=PROJECT)
            client.services.deployments.set_traffic(name, PLAN, project=PROJECT)
        for name in (LIVE, EDITED):
            for minutes in range(1, 11):
                _report(ui_server, name, version=1, requests=10, ago_ms=minutes * 60_000)
    return ui_server


def _report(
    server: UiServer, name: str, *, version: int, requests: int, errors: int = 0, ago_ms: int = 0
) -> None:
    """A server's report of ``requests`` answered by ``churn/<version>`` for deployment
    ``name``, its window ending ``ago_ms`` before now (a second ago at the least)."""
    with Client(server.settings) as client:
        found = client.services.deployments.get(name, project=PROJECT)
        version_id = next(r.version_id for r in found.plan.routes if r.ref == str(version))
        counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        counts[LATENCY_BUCKETS_MS.index(10)] = requests
        stats = VersionStats(name, version_id or "", requests, errors, tuple(counts))
        end = int(time.time() * 1000) - max(ago_ms, 1000)
        client.services.deployments.report(PROJECT, ServingReport("s1", end - 5000, end, (stats,)))


def _open(page: Page, server: UiServer, name: str) -> None:
    """The deployment's page, its timers on Playwright's clock, marked to tell a reload."""
    page.clock.install()
    page.goto(f"{server.url}/projects/{PROJECT}/deployments/{name}")
    page.evaluate("window.__loaded_once = true")


def _split(page: Page) -> list[list[str]]:
    return [row.locator("td").all_inner_texts() for row in page.locator("#split tbody tr").all()]


def _refresh(page: Page) -> None:
    """Let the page's refresh timer fire."""
    page.clock.run_for(REFRESH_MS)


def _requests_in_split(page: Page, version: str, requests: str) -> None:
    """Wait until the split's row of ``version`` says ``requests`` requests."""
    page.locator("#split tbody tr").filter(has_text=version).locator("td").nth(2).filter(
        has_text=re.compile(f"^{requests}$")
    ).wait_for()


def test_traffic_that_comes_draws_the_charts_and_the_split_without_a_reload(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    _open(page, seeded, QUIET)
    assert page.locator("#traffic-empty").is_visible()
    assert page.locator("[data-chart]").count() == 0  # none until there is traffic
    _report(seeded, QUIET, version=2, requests=120, errors=3)  # the canary answers first
    _refresh(page)
    page.locator(f'{REQUESTS}[data-drawn="1"]').wait_for()
    for kind in ("latency", "errors"):
        page.locator(f'[data-chart="{kind}"][data-drawn="1"]').wait_for()
    assert page.locator("#traffic-empty").is_hidden()
    assert _split(page) == [
        ["churn/2", "churn/2", "120", "100.0%", "3", "2.5%", "≤ 10 ms", "≤ 10 ms"]
    ]
    assert page.eval_on_selector(REQUESTS, LABELS) == ["all versions", "churn/2"]
    step_s = page.eval_on_selector(REQUESTS, "el => el.uplot.data[0][1] - el.uplot.data[0][0]")
    counted = "el => Math.round(el.uplot.data[1].reduce((a, v) => a + (v || 0), 0) * {step})"
    assert page.eval_on_selector(REQUESTS, counted.replace("{step}", str(step_s))) == 120
    page.eval_on_selector(REQUESTS, "el => { window.__first = el.uplot; }")

    _report(seeded, QUIET, version=1, requests=30)  # a series that comes before it
    _refresh(page)
    # the x series, all versions, churn/1 and churn/2 (three until the refresh is shown)
    page.wait_for_function(
        f"""() => {{
            const el = document.querySelector('{REQUESTS}');
            return el.uplot === window.__first && el.uplot.series.length === 4;
        }}"""
    )
    assert page.eval_on_selector(REQUESTS, LABELS) == ["all versions", "churn/1", "churn/2"]
    colours = "el => el.uplot.series.slice(1).map(s => s.stroke(el.uplot, 0))"
    assert len(set(page.eval_on_selector(REQUESTS, colours))) == 3, "a colour each"
    assert page.eval_on_selector(REQUESTS, counted.replace("{step}", str(step_s))) == 150
    _requests_in_split(page, "churn/1", "30")
    assert [row[:4] for row in _split(page)] == [
        ["churn/1", "churn/1", "30", "20.0%"],
        ["churn/2", "churn/2", "120", "80.0%"],
    ]
    assert re.match(r"^as of \S+ \d\d:\d\d:\d\d UTC, buckets of 6\.0 min$",
                    page.locator("#traffic-note").inner_text())  # fmt: skip
    assert UPDATED.match(page.locator("#traffic-status").inner_text())
    assert page.locator("#traffic-status").get_attribute("aria-live") == "polite"
    assert page.evaluate("window.__loaded_once") is True  # the same page: no reload


def test_a_zoomed_chart_keeps_its_zoom_through_a_refresh(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    _open(page, seeded, LIVE)
    page.locator(f'{REQUESTS}[data-drawn="1"]').wait_for()
    scale = "el => [el.uplot.scales.x.min, el.uplot.scales.x.max]"
    before = page.eval_on_selector(REQUESTS, scale)
    box = page.locator(f"{REQUESTS} .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    zoomed = page.eval_on_selector(REQUESTS, scale)
    assert before[0] < zoomed[0] < zoomed[1] < before[1], (before, zoomed)
    latency = '[data-chart="latency"]'
    last_x = "el => el.uplot.data[0][el.uplot.data[0].length - 1]"
    first_end = page.eval_on_selector(latency, last_x)

    # a burst two hours ago, inside the zoom (the span's 50% to 80%, 3 h to 1.2 h ago)
    _report(seeded, LIVE, version=2, requests=5000, ago_ms=2 * 3_600_000)
    _refresh(page)
    _requests_in_split(page, "churn/2", "5000")
    assert page.eval_on_selector(REQUESTS, scale) == zoomed  # the user's zoom stays
    shown = """el => {
        const u = el.uplot, [x, all] = [u.data[0], u.data[1]];
        const seen = all.filter((v, i) => x[i] >= u.scales.x.min && x[i] <= u.scales.x.max);
        return [Math.max(...seen), u.scales.y.max];
    }"""
    highest, y_max = page.eval_on_selector(REQUESTS, shown)
    assert highest < y_max < 2 * highest, (highest, y_max)  # y fits what the zoom shows
    assert page.eval_on_selector(REQUESTS, LABELS) == ["all versions", "churn/1", "churn/2"]
    # a chart nobody zoomed follows the span as it moves on
    assert page.eval_on_selector(latency, last_x) > first_end
    assert page.eval_on_selector(latency, scale)[1] == page.eval_on_selector(latency, last_x)
    page.locator(f"{REQUESTS} .u-over").dblclick()  # the reset shows the whole new span
    assert page.eval_on_selector(REQUESTS, scale)[1] > before[1]


def test_a_failed_refresh_says_why_and_the_next_one_recovers(
    seeded: UiServer, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    # the browser's own network log of the failures the test makes (not the page's)
    watched.allow("status of 503")
    watched.allow("HTTP 503")
    watched.allow("ERR_CONNECTION_REFUSED")
    page = signed_in("viewer")
    _open(page, seeded, LIVE)
    page.locator(f'{REQUESTS}[data-drawn="1"]').wait_for()
    shown = _split(page)
    status = page.locator("#traffic-status")
    page.route(
        "**/deployments/live-api/traffic?*",
        lambda route: route.fulfill(status=503, body="restarting", content_type="text/plain"),
    )
    _refresh(page)
    status.filter(has_text=re.compile(r"^update failed: 503\b")).wait_for()
    page.unroute("**/deployments/live-api/traffic?*")
    page.route("**/deployments/live-api/traffic?*", lambda route: route.abort("connectionrefused"))
    _refresh(page)
    status.filter(has_text="update failed: the server did not answer").wait_for()
    assert _split(page) == shown  # the page as it was
    assert page.locator(f'{REQUESTS}[data-drawn="1"]').is_visible()
    page.unroute("**/deployments/live-api/traffic?*")
    _report(seeded, LIVE, version=1, requests=7)
    _refresh(page)
    status.filter(has_text=UPDATED).wait_for()
    assert _split(page) != shown
    thrown = [e for e in watched.errors if "page error" in e or "Uncaught" in e]
    assert thrown == [], thrown
    assert page.evaluate("window.__loaded_once") is True


def test_the_editors_unsaved_edits_survive_a_refresh(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("contributor")
    _open(page, seeded, EDITED)
    page.get_by_label("Weight of churn/1").fill("60")
    page.get_by_label("Weight of churn/2").fill("40")
    page.get_by_label("Reason").fill("half-way")
    page.get_by_label("Remove churn/2").check()
    page.get_by_label("Remove churn/2").uncheck()
    page.get_by_label("New route's model").fill("churn")
    assert page.locator("#live-total").inner_text() == "100"

    _report(seeded, EDITED, version=2, requests=11)
    _refresh(page)
    _requests_in_split(page, "churn/2", "11")
    assert page.get_by_label("Weight of churn/1").input_value() == "60"
    assert page.get_by_label("Weight of churn/2").input_value() == "40"
    assert page.get_by_label("Reason").input_value() == "half-way"
    assert page.get_by_label("New route's model").input_value() == "churn"
    assert page.locator("#live-total").inner_text() == "100"
    page.get_by_label("New route's model").fill("")
    with page.expect_navigation():  # and the plan saves as edited
        page.get_by_role("button", name="Save plan").click()
    with Client(seeded.settings) as client:
        found = client.deployments.get(EDITED, project=PROJECT)
    assert [r.weight for r in found.plan.routes] == [60, 40]


def test_a_hidden_page_reads_nothing_until_it_is_shown(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.add_init_script(  # the page's reads counted, and those still under way
        """
        window.__reads = 0;
        window.__pending = 0;
        const fetched = window.fetch;
        window.fetch = (...args) => {
            window.__reads += 1;
            window.__pending += 1;
            return fetched(...args).finally(() => { window.__pending -= 1; });
        };
        window.__shown = (state) => {
            Object.defineProperty(document, "visibilityState", {
                configurable: true, get: () => state });
            document.dispatchEvent(new Event("visibilitychange"));
        };
        """
    )
    _open(page, seeded, LIVE)
    page.locator(f'{REQUESTS}[data-drawn="1"]').wait_for()
    page.evaluate("window.__shown('hidden'); window.__reads = 0;")
    page.clock.run_for(6 * REFRESH_MS)
    assert page.evaluate("window.__reads") == 0
    _report(seeded, LIVE, version=1, requests=13)
    page.wait_for_function("window.__pending === 0")
    page.locator("#traffic-status").evaluate("el => { el.textContent = ''; }")
    page.evaluate("window.__shown('visible')")
    assert page.evaluate("window.__reads") == 1  # read at once when shown again
    page.locator("#traffic-status").filter(has_text=UPDATED).wait_for()
    _refresh(page)
    page.wait_for_function("window.__reads === 2")  # and every few seconds again


def test_the_traffic_route_answers_the_pages_data_or_the_apis_errors(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    base = f"{seeded.url}/projects/{PROJECT}/deployments"
    answer = page.request.get(f"{base}/{LIVE}/traffic?hours=1")
    assert answer.status == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == {"requests", "until", "note", "charts", "split"}
    assert body["requests"] > 0 and "buckets of 1.0 min" in body["note"]
    assert len(body["charts"]["x"]) == 60
    assert body["split"][0][0] == "churn/1"
    bad = page.request.get(f"{base}/{LIVE}/traffic?hours=5")
    assert bad.status == 422 and bad.json()["error"]["field"] == "hours"
    missing = page.request.get(f"{base}/no-such/traffic")
    assert missing.status == 404 and missing.json()["error"]["code"] == "not_found"
    outsider = signed_in("outsider").request.get(f"{base}/{LIVE}/traffic")
    assert outsider.status in (403, 404) and "error" in outsider.json()


def test_a_longer_span_is_read_again_less_often(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    base = f"{seeded.url}/projects/{PROJECT}/deployments/{LIVE}"
    for hours, every in REFRESH_BY_SPAN.items():  # the page as served, before it refreshes
        html = page.request.get(f"{base}?hours={hours}").text()
        assert f'data-refresh-s="{every}"' in html, hours
        assert f"read again every {every} s" in html, hours
    assert REFRESH_BY_SPAN[6] == REFRESH_S and REFRESH_BY_SPAN[168] >= 60
