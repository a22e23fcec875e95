"""The datasets and pipelines pages, in Chromium: a dataset with two versions of different
distributions (profiled, validated, read by a run that trained a model), a pipeline run
twice (the second time every step cached) and a schedule with a finished and a failed
fire."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from ui_support import PROJECT, UiServer, Watched, critical_violations, pretty

from modelyard.config import Settings
from modelyard.data import expect
from modelyard.pipelines import pipeline, step
from modelyard.sdk.client import Client

if TYPE_CHECKING:
    from playwright.sync_api import Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"
DATASET = "sales"


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def total(values: list[int]) -> int:
    return sum(values)


@step
def largest(values: list[int]) -> int:
    return max(values)


@step
def report(summed: int, top: int) -> dict[str, int]:
    return {"total": summed, "largest": top}


@pipeline
def diamond(n: int = 5) -> None:
    values = numbers(n)
    report(total(values), largest(values))


@dataclass
class Seeded:
    server: UiServer
    first: str  # the pipeline run where every step ran
    second: str  # the one where every step was cached
    model: str


@pytest.fixture(scope="module")
def ui_settings(ui_settings: Settings) -> Settings:
    """The UI's settings, with this folder as the one schedules may name pipeline files in."""
    worker = ui_settings.worker.model_copy(update={"pipeline_dir": Path(__file__).parent})
    return ui_settings.model_copy(update={"worker": worker})


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer) -> Seeded:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    old = pd.DataFrame(
        {"amount": rng.normal(10, 0.3, 300), "region": rng.choice(["n", "s"], 300), EVIL: 1.0}
    )
    new = old.assign(amount=rng.normal(14, 1, 300))  # the amounts drifted; region did not
    rules = [expect.not_null("amount"), expect.in_range("amount", 0, 12, severity="warning")]
    with Client(ui_server.settings) as client:
        data = client.datasets
        data.register(DATASET, old, project=PROJECT, description=EVIL, expectations=rules)
        with client.start_run(PROJECT, name="train-on-sales", capture=False):
            frame = data.register(DATASET, new, project=PROJECT, expectations=rules)
            loaded = data.load(DATASET, version=frame.version, project=PROJECT)
            fit = LogisticRegression().fit(loaded[["amount"]], loaded["region"] == "n")
            model = client.models.log(fit, "sales-model", project=PROJECT)
        first = diamond.run(client=client, project=PROJECT).run_id
        second = diamond.run(client=client, project=PROJECT).run_id
        schedules = client.services.schedules
        schedules.create(
            "nightly", project=PROJECT, pipeline=f"{Path(__file__).name}:diamond", cron="0 3 * * *"
        )
        now = datetime.now(UTC)
        for days, status, error in ((1, "finished", None), (2, "failed", EVIL)):
            (due,) = schedules.due(now=now + timedelta(days=days))
            fire = schedules.claim(due, worker="w1", lease_s=60, now=now + timedelta(days=days))
            assert fire is not None
            schedules.finish(fire.id, worker="w1", status=status, run_id=second, error=error)
    return Seeded(ui_server, first, second, model.id)


def _pages(seeded: Seeded) -> list[str]:
    home = f"/projects/{PROJECT}"
    return [
        f"{home}/datasets",
        f"{home}/datasets/{DATASET}",
        f"{home}/datasets/{DATASET}?version=1&a=1&b=2",
        f"{home}/pipelines",
        f"{home}/pipelines/{seeded.first}",
        f"{home}/pipelines/{seeded.second}",
    ]


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_the_pages_load_without_errors_or_critical_violations(
    seeded: Seeded, signed_in: Callable[[str], Page], role: str
) -> None:
    page = signed_in(role)
    for path in _pages(seeded):
        answer = page.goto(seeded.server.url + path)
        assert answer is not None and answer.status == 200, path
        assert critical_violations(page) == [], pretty((path, critical_violations(page)))


def test_an_outsider_gets_not_found(
    seeded: Seeded, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 404")
    page = signed_in("outsider")
    for path in _pages(seeded)[::2]:
        answer = page.goto(seeded.server.url + path)
        assert answer is not None and answer.status == 404, path


def test_the_datasets_table_and_a_version(seeded: Seeded, signed_in: Callable[[str], Page]) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/datasets")
    row = page.locator("#datasets tbody tr")
    assert row.count() == 1
    assert row.locator("td").nth(2).inner_text() == "2" and "300" in row.inner_text()
    row.get_by_role("link", name=DATASET).click()
    assert page.locator("#versions tbody tr").count() == 2
    assert page.get_by_role("heading", level=1).inner_text() == f"Dataset {DATASET} version 2"
    schema = page.locator("#schema tbody th").all_inner_texts()
    assert schema == ["amount", "region", EVIL]
    assert page.locator("#profile tbody tr").count() == 3
    validation = page.locator("article.validation").first
    assert "1 of 2 expectations passed" in validation.inner_text()
    assert validation.locator(".status-failed").count() >= 1
    lineage = page.locator("#lineage")
    assert lineage.get_by_role("link", name="train-on-sales").count() == 2  # made it, read it
    assert lineage.get_by_role("link", name="sales-model v1").is_visible()
    page.locator("#versions").get_by_role("link", name="1", exact=True).click()
    page.wait_for_url("**version=1")
    assert "1 of 2" not in page.locator("article.validation").first.inner_text()
    assert page.locator("#lineage").get_by_role("link").count() == 0


def test_the_profile_report_opens_sandboxed(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/datasets/{DATASET}")
    frame = page.locator("details.report iframe")
    assert frame.get_attribute("sandbox") == ""
    with page.expect_response("**/reports/*/html") as answer:
        page.get_by_text("The full profile report").click()
    assert answer.value.status == 200


def test_the_drift_form_shows_each_column_with_a_bar(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/datasets/{DATASET}")
    assert page.get_by_label("Reference").input_value() == "1"
    assert page.get_by_label("Current").input_value() == "2"
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**b=2*")
    rows = page.locator("#drift tbody tr")
    assert rows.count() == 3
    assert page.locator('#drift tr[data-column="amount"]').get_attribute("data-drifted") == "yes"
    assert page.locator('#drift tr[data-column="region"]').get_attribute("data-drifted") == "no"
    assert page.locator("#drift svg.drift-bar").count() >= 2
    assert page.locator("#drift").get_attribute("data-drawn") == "1"
    assert "drifted" in page.locator("#drift-verdict").inner_text()


def test_the_pipelines_page_lists_runs_and_schedules(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/pipelines")
    runs = page.locator("#pipeline-runs tbody tr")
    assert runs.count() == 2  # the pipeline runs, none of their steps
    cells = [runs.nth(i).locator("td").all_inner_texts() for i in range(2)]
    assert [(c[5], c[6]) for c in cells] == [("0", "4"), ("4", "0")]  # newest first
    schedule = page.locator("#schedules tbody tr")
    assert schedule.count() == 1 and "0 3 * * *" in schedule.inner_text()
    fires = schedule.locator("ul.fires li")
    assert fires.count() == 2
    assert fires.locator(".status-failed").count() == 1
    assert fires.locator(".status-finished").count() == 1
    assert page.evaluate("window.__owned") is None
    assert page.locator("#schedules b", has_text="bold").count() == 0


def test_a_contributor_disables_enables_and_runs_a_schedule_now(
    seeded: Seeded, signed_in: Callable[[str], Page]
) -> None:
    url = f"{seeded.server.url}/projects/{PROJECT}/pipelines"
    viewer = signed_in("viewer")
    viewer.goto(url)
    assert viewer.locator("#schedules button").count() == 0
    page = signed_in("contributor")
    page.goto(url)
    row = page.locator("#schedules tbody tr")
    with page.expect_response("**/schedules/nightly/disable") as answer:
        page.get_by_role("button", name="Disable nightly").click()
    assert answer.value.status == 200
    page.get_by_role("button", name="Enable nightly").wait_for()
    assert row.locator("td").nth(2).inner_text().startswith("no")
    page.get_by_role("button", name="Enable nightly").click()
    page.get_by_role("button", name="Disable nightly").wait_for()
    page.get_by_role("button", name="Run nightly now").click()
    page.locator("#schedules .requested").wait_for()
    assert "by contributor" in row.locator(".requested").inner_text()
    with Client(seeded.server.settings) as client:
        assert client.services.schedules.get("nightly", project=PROJECT).enabled


@pytest.mark.parametrize(("which", "outcome"), [("first", "ran"), ("second", "cached")])
def test_the_dag_shows_each_step_and_whether_it_ran(
    seeded: Seeded, signed_in: Callable[[str], Page], which: str, outcome: str
) -> None:
    page = signed_in("viewer")
    run_id = getattr(seeded, which)
    page.goto(f"{seeded.server.url}/projects/{PROJECT}/pipelines/{run_id}")
    nodes = page.locator("svg#dag g.node")
    steps = ["numbers", "total", "largest", "report"]
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.dataset.step)")) == sorted(steps)
    assert set(nodes.evaluate_all("ns => ns.map(n => n.dataset.outcome)")) == {outcome}
    edges = page.locator("svg#dag path.edge").evaluate_all(
        "es => es.map(e => e.dataset.source + '>' + e.dataset.target)"
    )
    assert sorted(edges) == [
        "largest>report",
        "numbers>largest",
        "numbers>total",
        "total>report",
    ]
    table = page.locator("#steps tbody tr")
    assert table.count() == 4
    why = page.locator('#steps tr[data-step="total"]').inner_text()
    assert outcome in why
    assert ("same key as run" in why) == (outcome == "cached")
    assert ("no earlier run" in why) == (outcome == "ran")
    page.locator('#steps tr[data-step="total"]').get_by_role("link").last.click()
    page.wait_for_url("**/runs/*")
    assert "total" in page.get_by_role("heading", level=1).inner_text()


def test_user_text_renders_as_text(seeded: Seeded, signed_in: Callable[[str], Page]) -> None:
    page = signed_in("viewer")
    url = f"{seeded.server.url}/projects/{PROJECT}/datasets"
    page.goto(url)
    assert EVIL in page.locator("#datasets").inner_text()
    page.goto(f"{url}/{DATASET}?a=1&b=2")
    assert page.locator("p.description").inner_text() == EVIL
    assert page.locator("#drift tbody th").filter(has_text="<script>").count() == 1
    assert page.evaluate("window.__owned") is None
    assert page.locator("main b", has_text="bold").count() == 0


def test_unknown_objects_are_friendly_404s(
    seeded: Seeded, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 404")
    page = signed_in("viewer")
    home = f"/projects/{PROJECT}"
    dataset_run = f"{home}/pipelines/{seeded.model}"  # an id that is no run
    step_run = page.goto(f"{seeded.server.url}{home}/pipelines/{seeded.first}")
    assert step_run is not None
    step_id = page.locator('#steps tr[data-step="numbers"] a').last.get_attribute("href")
    assert step_id is not None
    for path in (
        f"{home}/datasets/nope",
        f"{home}/datasets/{DATASET}?version=9",
        "/projects/nope/datasets",
        f"{home}/pipelines/0123456789ab",
        dataset_run,
        f"{home}/pipelines/{step_id.rsplit('/', 1)[1]}",  # a step's run is no pipeline run
    ):
        answer = page.goto(seeded.server.url + path)
        assert answer is not None and answer.status == 404, path
        assert page.get_by_role("heading", name="Not found").is_visible(), path
        assert page.get_by_role("link", name="Back to your projects").is_visible()


def test_a_version_that_is_no_number_is_said(
    seeded: Seeded, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 422")
    page = signed_in("viewer")
    answer = page.goto(f"{seeded.server.url}/projects/{PROJECT}/datasets/{DATASET}?version=x")
    assert answer is not None and answer.status == 422
    assert "version number" in page.locator("main").inner_text()
