"""The deployments pages in Chromium: the list, one deployment's plan with its editor
(weights and shadows through the API's gates, with the revision it was read at),
promote and rollback by role, the traffic charts from the servers' reports, the plan's
history and a sample of the prediction log; escaping, axe and the 404 page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from ui_support import PROJECT, UiServer, Watched, critical_violations, pretty

from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, Rollout, ServingReport, VersionStats

if TYPE_CHECKING:
    from playwright.sync_api import Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"
CANARY = "churn-api"
MINUTE = 60_000
PAGE_ROLES = ("viewer", "contributor", "approver", "admin")


def _canary(weight: int) -> TrafficPlan:
    return TrafficPlan((Route("churn", "1", 100 - weight), Route("churn", "2", weight)))


def _stats(deployment: str, version_id: str, requests: int, errors: int, ms: float) -> VersionStats:
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    counts[LATENCY_BUCKETS_MS.index(ms)] = requests
    return VersionStats(deployment, version_id, requests, errors, tuple(counts))


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> UiServer:
    """Model ``churn`` in ``demo``: versions 1 and 2 staging (they may serve), 3 only
    registered (it may not); deployment ``churn-api`` (described with markup) as a
    canary 90/10 with a second revision whose reason is markup; the servers' reports of
    the last half hour for both versions, and a prediction log whose inputs are markup
    with a label."""
    import pyarrow as pa

    with Client(ui_server.settings) as client:
        models = client.services.models
        for number in (1, 2, 3):
            folder = tmp_path_factory.mktemp(f"churn{number}")
            (folder / "model").mkdir()
            (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
            models.register("churn", folder, project=PROJECT, flavor="sklearn")
            if number < 3:
                models.request_transition("churn", project=PROJECT, to="staging", version=number)
        deployments = client.services.deployments
        deployments.create(CANARY, "churn/1", project=PROJECT, description=EVIL)
        found = deployments.set_traffic(CANARY, _canary(10), project=PROJECT, reason=EVIL)
        one, two = (r.version_id or "" for r in found.plan.routes)
        now = int(time.time() * 1000)
        for minutes in range(1, 30):
            end = now - minutes * MINUTE
            stats = (_stats(CANARY, one, 90, 1, 10), _stats(CANARY, two, 10, 2, 30))
            deployments.report(PROJECT, ServingReport("s1", end - 5000, end, stats))
        rows = 5
        log = pa.table(
            {
                "prediction_id": [f"{i:032x}-0" for i in range(rows)],
                "version_id": [one] * (rows - 1) + [two],
                "time": [now - 60_000 + i for i in range(rows)],
                "input.note": [EVIL] * rows,
                "output": [0.25 * i for i in range(rows)],
            }
        )
        client.services.predictions.write_segment(PROJECT, CANARY, log)
        client.services.predictions.add_labels(PROJECT, CANARY, {f"{0:032x}-0": EVIL})
    return ui_server


def _open(page: Page, server: UiServer, name: str = CANARY) -> None:
    page.goto(f"{server.url}/projects/{PROJECT}/deployments/{name}")


def _weight(page: Page, route: str) -> str:
    row = page.locator(
        "#plan tbody tr", has=page.locator("code", has_text=re.compile(f"^{route}$"))
    )
    return row.locator("td").nth(4).inner_text()


@pytest.mark.parametrize("role", PAGE_ROLES)
def test_the_pages_load_for_each_role_with_charts_and_no_critical_violation(
    seeded: UiServer, signed_in: Callable[[str], Page], role: str
) -> None:
    page = signed_in(role)
    page.goto(f"{seeded.url}/projects/{PROJECT}/deployments")
    row = page.locator("#deployments tbody tr", has_text=CANARY)
    assert "canary" in row.inner_text()
    assert critical_violations(page) == [], pretty(critical_violations(page))
    row.get_by_role("link", name=CANARY).click()
    page.wait_for_url(f"**/deployments/{CANARY}")
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Deployment {CANARY}")
    for kind in ("requests", "latency", "errors"):
        page.locator(f'[data-chart="{kind}"][data-drawn="1"]').wait_for()
    split = page.locator("#split tbody tr")
    assert split.count() == 2
    assert "churn/2" in split.nth(1).inner_text() and "10.0%" in split.nth(1).inner_text()
    assert page.locator("#history tbody tr").count() >= 2
    assert page.locator("#sample tbody tr").count() == 5
    assert critical_violations(page) == [], pretty(critical_violations(page))


def test_user_text_renders_as_text(seeded: UiServer, signed_in: Callable[[str], Page]) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.url}/projects/{PROJECT}/deployments")
    assert page.get_by_text(EVIL).first.is_visible()  # the description
    _open(page, seeded)
    assert page.locator("#history").get_by_text(EVIL).first.is_visible()  # the reason
    assert page.locator("#sample").get_by_text(EVIL).count() == 6  # inputs and a label
    assert page.evaluate("window.__owned") is None
    assert page.locator("b", has_text="bold").count() == 0


def test_a_viewer_sees_no_editor_and_no_action(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    _open(page, seeded)
    assert page.locator("#plan tbody tr").count() == 2
    assert page.locator("#plan-editor").count() == 0
    assert page.get_by_role("button", name=re.compile("Promote|Roll back|Restore")).count() == 0


def test_a_contributor_shifts_the_canary_weight(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("contributor")
    _open(page, seeded)
    revision = int(page.locator("#revision").inner_text())
    assert _weight(page, "churn/2") == "10%"
    page.get_by_label("Weight of churn/1").fill("70")
    page.get_by_label("Weight of churn/2").fill("30")
    assert page.locator("#live-total").inner_text() == "100"
    page.get_by_label("Reason").fill("more canary")
    with page.expect_navigation():
        page.get_by_role("button", name="Save plan").click()
    assert _weight(page, "churn/2") == "30%" and _weight(page, "churn/1") == "70%"
    assert page.locator("#revision").inner_text() == str(revision + 1)
    latest = page.locator("#history tbody tr").first
    assert "more canary" in latest.inner_text() and "contributor" in latest.inner_text()
    with Client(seeded.settings) as client:
        found = client.deployments.get(CANARY, project=PROJECT)
    assert [r.weight for r in found.plan.routes] == [70, 30]


def test_a_refused_change_shows_the_apis_message_beside_the_form(
    seeded: UiServer, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 409")  # the refusals the browser reports
    page = signed_in("contributor")
    _open(page, seeded)
    revision = page.locator("#revision").inner_text()
    page.get_by_label("New route's model").fill("churn")
    page.get_by_label("New route's version or alias").fill("3")
    page.get_by_label("Weight of the new route").fill("100")
    page.get_by_label("Kind of the new route").select_option("shadow")
    page.get_by_role("button", name="Save plan").click()
    error = page.locator("#plan-error")
    error.filter(has_text="may take traffic").wait_for()
    assert "churn/3" in error.inner_text()
    page.get_by_label("New route's model").fill("")  # the plan as it was, but changed meanwhile
    with Client(seeded.settings) as client:
        current = client.deployments.get(CANARY, project=PROJECT)
        client.deployments.set_traffic(
            CANARY, current.plan, project=PROJECT, expected_revision=current.revision
        )
    page.get_by_role("button", name="Save plan").click()
    error.filter(has_text=f"not {revision}").wait_for()
    assert page.locator("#revision").inner_text() == revision  # the page stayed


def test_a_contributor_promotes_and_rolls_back(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    with Client(seeded.settings) as client:
        client.deployments.create("churn-flow", "churn/1", project=PROJECT)
        guards = Rollout(max_error_rate=0.5)
        client.deployments.set_traffic("churn-flow", _canary(20), project=PROJECT, rollout=guards)
    page = signed_in("contributor")
    _open(page, seeded, "churn-flow")
    assert page.get_by_text("Saving ends the rollout").is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Roll back to the champion").click()
    assert page.locator("#plan tbody tr").count() == 1
    latest = page.locator("#history tbody tr").first
    assert latest.locator(".badge.rollback").inner_text() == "rollback"
    with page.expect_navigation():
        page.get_by_role("button", name="Restore revision 2").click()
    assert _weight(page, "churn/2") == "20%"
    with page.expect_navigation():
        page.get_by_role("button", name="Promote churn/2").click()
    assert page.locator("#plan code").all_inner_texts() == ["churn@champion"]
    assert "churn version 2" in page.locator("#plan").inner_text()
    assert page.locator("#history tbody tr").first.locator("td").nth(1).inner_text() == "promote"


def test_unknown_deployments_and_outsiders_get_the_friendly_404(
    seeded: UiServer, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 404")  # the pages themselves
    for role, path in (
        ("viewer", f"/projects/{PROJECT}/deployments/no-such"),
        ("outsider", f"/projects/{PROJECT}/deployments/{CANARY}"),
        ("outsider", f"/projects/{PROJECT}/deployments"),
    ):
        page = signed_in(role)
        answer = page.goto(seeded.url + path)
        assert answer is not None and answer.status == 404, (role, path)
        assert page.get_by_role("heading", name="Not found").is_visible()
        assert page.get_by_role("link", name="Back to your projects").is_visible()
        page.close()


def test_a_span_outside_the_choices_is_refused_by_name(
    seeded: UiServer, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 422")  # the page itself
    page = signed_in("viewer")
    base = f"{seeded.url}/projects/{PROJECT}/deployments/{CANARY}"
    page.goto(base)
    page.get_by_role("link", name="last 24 h").click()
    page.wait_for_url("**?hours=24")
    assert page.locator('[data-chart="requests"][data-drawn="1"]').count() == 1
    for bad in ("5", "six"):
        answer = page.goto(f"{base}?hours={bad}")
        assert answer is not None and answer.status == 422
        assert page.get_by_text("hours must be one of 1, 6, 24, 168").is_visible()
