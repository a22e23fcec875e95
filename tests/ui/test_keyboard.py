"""Every page of the UI with the keyboard alone, in Chromium: tabbing from the top reaches
every interactive element in document order, each with a visible focus indicator, and
goes on to the end (no trap); nothing answers a click that the keyboard cannot reach;
and a chart zooms, pans and resets with keys, its legend's series toggled with Enter."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from sqlalchemy import select
from ui_support import (
    PROJECT,
    ROLES,
    UiServer,
    Watched,
    add_window,
    pretty,
    sign_in,
)

from modelyard._util import now_ms
from modelyard.config import Settings
from modelyard.governance import Actor
from modelyard.monitoring._raise import raise_alert
from modelyard.pipelines import pipeline, step
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, ServingReport, VersionStats
from modelyard.store.tables import projects
from monitoring_support import HOUR, insert_monitor

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

MINUTE = 60_000
DEPLOYMENT = "churn-api"

#: Records the elements that get a mouse handler (before any page script runs).
RECORD_MOUSE_HANDLERS = """
(() => {
  const add = EventTarget.prototype.addEventListener;
  const MOUSE = ["click", "dblclick", "mousedown", "mouseup", "pointerdown", "pointerup"];
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    if (MOUSE.includes(type) && this instanceof Element) this.__kbMouse = true;
    return add.call(this, type, listener, options);
  };
})();
"""

#: Marks the elements the keyboard should reach, in document order, and returns them with
#: how each looks unfocused; and lists what answers the mouse but not the keyboard.
SURVEY = """
() => {
  const INTERACTIVE = "a[href], button, input, select, textarea, summary, iframe, [tabindex]";
  const reachable = (el) =>
    !el.matches(":disabled") && el.type !== "hidden" && el.getAttribute("tabindex") !== "-1"
    && el.checkVisibility({ visibilityProperty: true })
    && !(el.tagName === "SUMMARY" && el.parentElement.querySelector("summary") !== el);
  const radios = new Set();
  const stops = [...document.querySelectorAll(INTERACTIVE)].filter(reachable).filter((el) => {
    if (el.type !== "radio" || !el.name) return true;
    const group = `${el.form ? [...document.forms].indexOf(el.form) : "-"}/${el.name}`;
    const checked = el.form
      ? [...el.form.elements].some((o) => o.type === "radio" && o.name === el.name && o.checked)
      : false;
    if (radios.has(group) || (checked && !el.checked)) return false;
    radios.add(group);
    return true;
  });
  const look = (el) => {
    const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(" | ");
  };
  const name = (el) =>
    `<${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}> `
    + (el.getAttribute("aria-label") || el.textContent || el.name || el.type || "")
      .trim().slice(0, 60);
  stops.forEach((el, i) => { el.__kbIndex = i; });
  // a chart's plot area answers a drag and a double-click; its keys do the same
  const keyed = (el) => {
    const control = el.closest(INTERACTIVE);
    if (!control || !reachable(control)) return false;
    return !control.hasAttribute("data-chart") || el === control || el.closest(".u-wrap");
  };
  const mouseOnly = [...document.body.querySelectorAll("*")].filter((el) => {
    if (keyed(el) || el.closest("label") || !el.checkVisibility()) return false;
    const pointer = getComputedStyle(el).cursor === "pointer"
      && !(el.parentElement && getComputedStyle(el.parentElement).cursor === "pointer");
    // a handler on what holds controls the keyboard reaches is theirs (delegated)
    const delegates = [...el.querySelectorAll(INTERACTIVE)].some(reachable);
    return ((el.__kbMouse || el.hasAttribute("onclick")) && !delegates) || pointer;
  }).map(name);
  const positive = stops.filter((el) => el.tabIndex > 0).map(name);
  window.__kbName = name;
  window.__kbLook = look;
  // a date or time input is a stop per field (day, month, year, its picker); a frame is
  // the stops of its page
  const inner = (el) => el.tagName === "IFRAME"
    || (el.tagName === "INPUT" && /^(date|datetime-local|month|week|time)$/.test(el.type));
  return {
    stops: stops.map((el) => ({
      name: name(el), look: look(el), inner: inner(el), frame: el.tagName === "IFRAME",
    })),
    mouseOnly,
    positive,
  };
}
"""

#: Where the focus is now: the index of the stop it is on (null: not one of them; -1: the
#: page itself) and how the focused element looks.
FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return { index: -1 };
  return { index: el.__kbIndex ?? null, name: window.__kbName(el), look: window.__kbLook(el) };
}
"""


#: Takes the focus away and makes the next Tab start from the top of the page (a blur
#: alone would start it from the element that had the focus).
START_AT_THE_TOP = """
() => {
  const top = document.createElement("span");
  top.tabIndex = -1;
  document.body.prepend(top);
  top.focus();
  top.remove();
}
"""

#: Whether this frame holds the focus on an element that shows it (a frame's page is its
#: own: the ring is the one its element has, by the browser or the frame's styles).
FOCUS_IN_FRAME = """
() => {
  const el = document.activeElement;
  if (!document.hasFocus() || !el || el === document.body) return false;
  const s = getComputedStyle(el);
  return s.outlineStyle !== "none" || s.boxShadow !== "none";
}
"""


@step
def kb_numbers(n: int) -> list[int]:
    return list(range(n))


@step
def kb_total(values: list[int]) -> int:
    return sum(values)


@pipeline
def kb_pipeline(n: int = 4) -> None:
    kb_total(kb_numbers(n))


@dataclass(frozen=True)
class Seeded:
    """The server, the ids the pages are addressed by, and each role's signed-in cookies."""

    server: UiServer
    ids: dict[str, str]
    sessions: dict[str, Any]


def _seed(server: UiServer) -> dict[str, str]:
    """In ``demo``: a run with a child (the two to compare), a metric of 200 steps,
    params and artifacts (an HTML report among them); model ``churn`` with two versions,
    a policy and an open request; deployment ``churn-api`` (a canary) with the servers'
    reports, a monitor with values and an alert; dataset ``sales`` with two versions; a
    pipeline run twice and a schedule."""
    ids: dict[str, str] = {}
    with Client(server.settings) as client:
        data = client.datasets
        data.register("sales", pa.table({"amount": [1.0, 2.0, 3.0]}), project=PROJECT)
        with client.start_run(PROJECT, name="kb-parent", capture=False) as parent:
            for step_ in range(200):
                parent.log_metric("loss", 1.0 / (step_ + 1), step=step_)
            parent.log_params({"lr": 0.1, "depth": 3})
            parent.log_text("hello", "notes.txt")
            parent.log_dict({"auc": 0.9}, "metrics.json")
            parent.log_text("<html><body><a href='#x'>a link</a></body></html>", "report.html")
            data.load("sales", project=PROJECT)
            data.register("sales", pa.table({"amount": [4.0, 5.0, 9.0]}), project=PROJECT)
            with client.start_run(PROJECT, name="kb-child", parent=parent, capture=False) as child:
                child.log_metric("loss", 0.5)
            ids["run"] = parent.id
            ids["child"] = child.id
        services = client.services
        models = services.models
        for number in (1, 2):
            folder = server.settings.home / f"kb-churn{number}"
            (folder / "model").mkdir(parents=True)
            (folder / "model" / "model.skops").write_bytes(f"model {number}".encode())
            models.register("churn", folder, project=PROJECT, flavor="sklearn")
            models.request_transition("churn", project=PROJECT, to="staging", version=number)
        client.models.set_alias("churn", "champion", 1, project=PROJECT, reason="first")
        client.models.set_policy({"production": {"approvals": 1}}, project=PROJECT)
        contributor = Actor.of(services.governance.users.get_user("contributor").principal())
        models.acting_as(contributor).request_transition(
            "churn", project=PROJECT, to="production", version=1, comment="ship it"
        )
        deployments = services.deployments
        made = deployments.create(DEPLOYMENT, "churn/1", project=PROJECT)
        plan = TrafficPlan((Route("churn", "1", 90), Route("churn", "2", 10)))
        found = deployments.set_traffic(DEPLOYMENT, plan, project=PROJECT, reason="canary")
        one, two = (r.version_id or "" for r in found.plan.routes)
        now = int(time.time() * 1000)
        for minutes in range(1, 20):
            end = now - minutes * MINUTE
            counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
            counts[0] = 10
            stats = tuple(VersionStats(DEPLOYMENT, v, 10, 0, tuple(counts)) for v in (one, two))
            deployments.report(PROJECT, ServingReport("s1", end - 5000, end, stats, cpu_s=1.0))
        ids["alert"] = _monitor_with_an_alert(client, made.id)
        ids["pipeline"] = kb_pipeline.run(client=client, project=PROJECT).run_id
        kb_pipeline.run(client=client, project=PROJECT)
        services.schedules.create(
            "nightly",
            project=PROJECT,
            pipeline=f"{Path(__file__).name}:kb_pipeline",
            cron="0 3 * * *",
        )
    return ids


def _monitor_with_an_alert(client: Client, deployment_id: str) -> str:
    """A performance monitor on the deployment with six hourly values, and an open alert."""
    last = now_ms() // HOUR * HOUR
    with client.services.store.write() as conn:
        project_id = conn.execute(
            select(projects.c.id).where(projects.c.name == PROJECT)
        ).scalar_one()
        monitor = insert_monitor(
            conn, project_id, deployment_id, "accuracy", "performance", {"min": 0.8}
        )
        for i in range(6):
            add_window(conn, monitor, last - (5 - i) * HOUR, 0.9 - i / 50, labelled=40 + i)
        return raise_alert(
            conn,
            project=PROJECT,
            subject_kind="deployment",
            subject_id=deployment_id,
            subject=DEPLOYMENT,
            monitor="accuracy",
            severity="warning",
            title="accuracy fell under 0.8",
            details={},
            at=last - HOUR,
            monitor_id=monitor,
        ).alert_id


@pytest.fixture(scope="module")
def ui_settings(ui_settings: Settings) -> Settings:
    """The UI's settings, with this folder as the one schedules may name pipeline files in."""
    worker = ui_settings.worker.model_copy(update={"pipeline_dir": Path(__file__).parent})
    return ui_settings.model_copy(update={"worker": worker})


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer, browser: Browser) -> Seeded:
    """The seeded store, and each role's session (signed in once through the form)."""
    ids = _seed(ui_server)
    sessions: dict[str, Any] = {}
    for role in ROLES:
        context = browser.new_context()
        sign_in(context.new_page(), ui_server.url, ui_server.users[role])
        sessions[role] = context.storage_state()
        context.close()
    return Seeded(ui_server, ids, sessions)


@pytest.fixture
def as_role(seeded: Seeded, browser: Browser, watched: Watched) -> Iterator[Callable[[str], Page]]:
    """``as_role(role)``: a watched page with that role's session, which records the
    elements that get a mouse handler."""
    contexts = []

    def make(role: str) -> Page:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, storage_state=seeded.sessions[role]
        )
        context.set_default_timeout(10_000)
        context.add_init_script(RECORD_MOUSE_HANDLERS)
        contexts.append(context)
        return watched.watch(context.new_page())

    yield make
    for context in contexts:
        context.close()


#: Each page, and the role that can act there (or, where nobody acts, one that reads it).
PAGES = [
    ("projects", "viewer", "/"),
    ("project home", "viewer", "/projects/demo"),
    ("runs", "contributor", "/projects/demo/runs"),
    ("run", "viewer", "/projects/demo/runs/{run}"),
    ("compare", "viewer", "/projects/demo/compare?runs={run}&runs={child}"),
    ("models", "viewer", "/projects/demo/models"),
    ("model", "approver", "/projects/demo/models/churn"),
    ("version", "approver", "/projects/demo/models/churn/versions/1"),
    ("deployments", "contributor", "/projects/demo/deployments"),
    ("deployment", "contributor", f"/projects/demo/deployments/{DEPLOYMENT}"),
    ("monitoring", "viewer", "/projects/demo/monitoring"),
    ("monitoring of a deployment", "viewer", f"/projects/demo/monitoring/{DEPLOYMENT}"),
    ("alerts", "contributor", "/projects/demo/alerts"),
    ("alert", "contributor", "/projects/demo/alerts/{alert}"),
    ("datasets", "viewer", "/projects/demo/datasets"),
    ("dataset", "viewer", "/projects/demo/datasets/sales"),
    ("pipelines", "contributor", "/projects/demo/pipelines"),
    ("pipeline run", "contributor", "/projects/demo/pipelines/{pipeline}"),
    ("audit", "admin", "/projects/demo/audit"),
    ("account", "viewer", "/account"),
    ("mfa", "viewer", "/account/mfa"),
    ("users", "admin", "/admin/users"),
    ("members", "admin", "/projects/demo/members"),
]


def _tab_through(page: Page) -> dict[str, Any]:
    """Tab from the top of the page to its end; what the keyboard reached, whether it got
    to the end (past the last stop, where a trap never lets it), what it should have
    reached, and the stops without a visible focus indicator."""
    page.evaluate(START_AT_THE_TOP)
    survey: dict[str, Any] = page.evaluate(SURVEY)  # each stop's look, unfocused
    stops = survey["stops"]
    reached: list[Any] = []
    unmarked: list[str] = []
    ended = False
    for _ in range(2 * len(stops) + 20):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        index = now["index"]
        if index == -1:
            ended = True
            break
        if reached and index == reached[-1] and index is not None and stops[index]["inner"]:
            continue  # the next field of a date input, the next stop in a frame
        reached.append(index if index is not None else now["name"])
        if index is None:
            continue
        if stops[index]["frame"]:  # the focus is on the frame's page, which shows it there
            frames = page.main_frame.child_frames
            marked = any(frame.evaluate(FOCUS_IN_FRAME) for frame in frames)
        else:
            marked = now["look"] != stops[index]["look"]
        if not marked:
            unmarked.append(now["name"])
    return {"survey": survey, "reached": reached, "ended": ended, "unmarked": unmarked}


@pytest.mark.parametrize(("what", "role", "path"), PAGES, ids=[p[0] for p in PAGES])
def test_tabbing_reaches_every_control_in_order_with_a_visible_focus(
    seeded: Seeded, as_role: Callable[[str], Page], what: str, role: str, path: str
) -> None:
    page = as_role(role)
    answer = page.goto(seeded.server.url + path.format(**seeded.ids))
    assert answer is not None and answer.status == 200, what
    page.wait_for_load_state("networkidle")
    for chart in page.locator("[data-chart]").all():
        chart.and_(page.locator("[data-drawn='1']")).wait_for(state="attached")
    found = _tab_through(page)
    stops = found["survey"]["stops"]
    assert len(stops) > 3, pretty(stops)  # the skip link, the header's links and the page's
    assert found["reached"] == list(range(len(stops))), pretty(
        {"expected": [s["name"] for s in stops], "reached": found["reached"]}
    )
    assert found["ended"]  # no trap: the focus left the last stop
    assert found["unmarked"] == [], pretty(found["unmarked"])
    assert found["survey"]["mouseOnly"] == [], pretty(found["survey"]["mouseOnly"])
    assert found["survey"]["positive"] == [], pretty(found["survey"]["positive"])


def test_the_check_finds_a_trap_a_mouse_only_control_and_a_focus_without_a_mark(
    seeded: Seeded, as_role: Callable[[str], Page]
) -> None:
    page = as_role("viewer")
    page.goto(seeded.server.url + "/")
    page.evaluate(
        """() => {
          const main = document.querySelector("main");
          const row = document.createElement("div");
          row.textContent = "a clickable row";
          row.addEventListener("click", () => {});
          const plain = document.createElement("button");
          plain.textContent = "unmarked";
          plain.style.outline = "none";
          const trap = document.createElement("input");
          trap.setAttribute("aria-label", "trap");
          trap.addEventListener("keydown", (ev) => { if (ev.key === "Tab") ev.preventDefault(); });
          main.append(row, plain, trap);
        }"""
    )
    found = _tab_through(page)
    stops = [s["name"] for s in found["survey"]["stops"]]
    trap = stops.index("<input> trap")
    assert trap == len(stops) - 1
    assert found["reached"][: trap + 1] == list(range(trap + 1))
    assert found["reached"][trap:] == [trap] * (len(found["reached"]) - trap)
    assert len(found["reached"]) > trap + 1 and not found["ended"]  # it never let go
    assert found["unmarked"] == ["<button> unmarked"]
    assert found["survey"]["mouseOnly"] == ["<div> a clickable row"]


def test_a_chart_zooms_pans_and_resets_with_the_keyboard(
    seeded: Seeded, as_role: Callable[[str], Page]
) -> None:
    page = as_role("viewer")
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/runs/{seeded.ids['run']}")
    chart = page.locator('[data-chart="metric"][data-key="loss"][data-keys="1"]')
    assert chart.get_attribute("tabindex") == "0"
    assert re.search(r"^loss\. Keys: \+ and - zoom", chart.get_attribute("aria-label") or "")

    def x_range() -> list[float]:
        found: list[float] = chart.evaluate("el => [el.uplot.scales.x.min, el.uplot.scales.x.max]")
        return found

    full = x_range()
    assert full == [0, 199]  # the 200 steps logged
    chart.focus()
    page.keyboard.press("+")
    zoomed = x_range()
    assert zoomed == [49.75, 149.25]  # half the range, around the centre
    page.keyboard.press("ArrowRight")
    moved = x_range()
    assert moved[0] > zoomed[0] and moved[1] - moved[0] == zoomed[1] - zoomed[0]
    page.keyboard.press("-")
    assert x_range()[1] - x_range()[0] == full[1] - full[0]  # out again, within the data
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert x_range()[1] - x_range()[0] < (full[1] - full[0]) / 2
    page.keyboard.press("0")
    assert x_range() == full
    page.keyboard.press("+")
    page.keyboard.press("Escape")
    assert x_range() == full


def test_a_series_is_hidden_and_shown_from_the_legend_with_the_keyboard(
    seeded: Seeded, as_role: Callable[[str], Page]
) -> None:
    page = as_role("viewer")
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/runs/{seeded.ids['run']}")
    chart = page.locator('[data-chart="metric"][data-key="loss"][data-keys="1"]')
    toggle = chart.get_by_role("button", name="kb-parent")
    assert toggle.get_attribute("aria-pressed") == "true"
    toggle.focus()
    page.keyboard.press("Enter")
    chart.locator('[role=button][aria-pressed="false"]').wait_for()
    assert chart.evaluate("el => el.uplot.series[1].show") is False
    page.keyboard.press("Space")
    chart.locator('[role=button][aria-pressed="true"]').wait_for()
    assert chart.evaluate("el => el.uplot.series[1].show") is True


#: Pages whose disclosures hold controls, the role, and how many disclosures there are.
DISCLOSED = [
    ("runs", "contributor", "/projects/demo/runs"),
    ("dataset", "viewer", "/projects/demo/datasets/sales"),
    ("model", "approver", "/projects/demo/models/churn"),
]


@pytest.mark.parametrize(("what", "role", "path"), DISCLOSED, ids=[p[0] for p in DISCLOSED])
def test_what_a_disclosure_opens_is_reached_in_order_too(
    seeded: Seeded, as_role: Callable[[str], Page], what: str, role: str, path: str
) -> None:
    page = as_role(role)
    page.goto(seeded.server.url + path)
    summaries = page.locator("details > summary").all()
    assert summaries, what
    for summary in summaries:  # opened with Enter, as a keyboard opens them
        summary.focus()
        page.keyboard.press("Enter")
        summary.locator("xpath=..").and_(page.locator("details[open]")).wait_for()
    page.wait_for_load_state("networkidle")
    found = _tab_through(page)
    stops = found["survey"]["stops"]
    assert found["reached"] == list(range(len(stops))), pretty(
        {"expected": [s["name"] for s in stops], "reached": found["reached"]}
    )
    assert found["ended"]
    assert found["unmarked"] == [], pretty(found["unmarked"])
    assert found["survey"]["mouseOnly"] == [], pretty(found["survey"]["mouseOnly"])


def test_mfa_enrolment_is_reached_in_order_once_set_up_with_the_keyboard(
    seeded: Seeded, as_role: Callable[[str], Page]
) -> None:
    page = as_role("approver")
    page.goto(seeded.server.url + "/account/mfa")
    page.get_by_role("button", name="Set up an authenticator app").focus()
    page.keyboard.press("Enter")
    page.locator("#mfa-qr").wait_for()
    found = _tab_through(page)
    stops = [s["name"] for s in found["survey"]["stops"]]
    assert "<button> Confirm" in stops, pretty(stops)
    assert found["reached"] == list(range(len(stops))), pretty(
        {"expected": stops, "reached": found["reached"]}
    )
    assert found["ended"]
    assert found["unmarked"] == [], pretty(found["unmarked"])
    assert found["survey"]["mouseOnly"] == [], pretty(found["survey"]["mouseOnly"])


def test_a_series_a_live_chart_adds_gets_its_toggle(
    seeded: Seeded, as_role: Callable[[str], Page]
) -> None:
    page = as_role("viewer")
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/deployments/{DEPLOYMENT}")
    chart = page.locator('[data-chart="requests"][data-keys="1"]')
    toggles = chart.locator(".u-legend th[role=button]")
    before = toggles.count()
    assert before >= 2  # all versions, and each
    chart.evaluate(
        """el => {
          const u = el.uplot;
          u.addSeries({ label: "late", stroke: "#000" }, u.series.length);
          u.setData(u.data.concat([u.data[1]]));
        }"""
    )
    late = chart.get_by_role("button", name="late")
    late.wait_for()
    assert toggles.count() == before + 1
    assert late.get_attribute("aria-pressed") == "true"
