"""Sign-in, the projects, a project's home, the runs table and a run, in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from ui_support import PASSWORD, PROJECT, UiServer, Watched, critical_violations, pretty

from modelyard.sdk.client import Client

if TYPE_CHECKING:
    from playwright.sync_api import Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer) -> UiServer:
    """Runs in ``demo``: a parent with three children (one named with markup); params
    ``depth``, ``lr`` and ``note``, metric ``auc``, tag ``owner``."""
    with (
        Client(ui_server.settings) as client,
        client.start_run(PROJECT, name="sweep", capture=False) as parent,
    ):
        for i in range(3):
            name = EVIL if i == 1 else f"trial-{i}"
            with client.start_run(PROJECT, name=name, parent=parent, capture=False) as run:
                run.log_params({"depth": i + 2, "lr": 0.1 * (i + 1), "note": EVIL})
                run.log_metric("auc", 0.7 + i / 10)
                run.set_tag("owner", EVIL)
    return ui_server


def test_each_role_signs_in_and_sees_its_projects(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    for role in ("admin", "viewer", "contributor", "approver"):
        page = signed_in(role)
        assert page.get_by_role("link", name=PROJECT, exact=True).is_visible()
        page.close()
    outsider = signed_in("outsider")
    assert outsider.get_by_text("No projects you can see yet").is_visible()


def test_a_wrong_password_says_so_beside_the_form(
    seeded: UiServer, new_page: Callable[[], Page], watched: Watched
) -> None:
    watched.allow("status of 401")  # the sign-in the browser reports as refused
    page = new_page()
    page.goto(f"{seeded.url}/signin")
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("not-the-password")
    with page.expect_response("**/api/v1/auth/login") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    assert page.get_by_role("alert").inner_text().strip() != ""
    assert page.url == f"{seeded.url}/signin"


def test_a_page_without_a_session_goes_to_sign_in_and_back(
    seeded: UiServer, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    page.goto(f"{seeded.url}/projects/{PROJECT}/runs?filter=metrics.auc%20%3E%200.75")
    assert page.url.startswith(f"{seeded.url}/signin?next=")
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{seeded.url}/projects/{PROJECT}/runs?filter=*")
    assert page.get_by_label("Filter").input_value() == "metrics.auc > 0.75"


def test_a_session_that_ended_returns_to_sign_in(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{seeded.url}/signin")
    page.goto(f"{seeded.url}/projects/{PROJECT}")
    assert page.url == f"{seeded.url}/signin?next=%2Fprojects%2F{PROJECT}"


def test_the_runs_table_filters_sorts_and_shows_errors_beside_the_box(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.url}/projects/{PROJECT}/runs")
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 1  # the top-level runs: the parent, its children behind it
    page.goto(f"{seeded.url}/projects/{PROJECT}/runs?all=1")
    assert rows.count() == 4  # every run: the parent and its three children
    page.get_by_label("Filter").fill("metrics.auc > 0.75")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**filter=*")
    assert rows.count() == 2
    page.get_by_role("link", name="auc").click()  # descending first
    assert page.locator("#runs tbody tr td:nth-child(2) a").first.inner_text() == "trial-2"
    page.get_by_label("Filter").fill("metrics.auc >>> 1")
    page.get_by_role("button", name="Search").click()
    error = page.locator("#filter-error")
    assert error.is_visible() and "filter" in error.inner_text().lower()
    assert page.get_by_label("Filter").get_attribute("aria-invalid") == "true"


def test_user_text_renders_as_text(seeded: UiServer, signed_in: Callable[[str], Page]) -> None:
    page = signed_in("viewer")
    page.goto(f"{seeded.url}/projects/{PROJECT}/runs?all=1&columns=params.note")
    assert page.get_by_role("link", name=EVIL).is_visible()
    page.get_by_role("link", name=EVIL).click()
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Run {EVIL}")
    assert page.evaluate("window.__owned") is None
    assert page.locator("b", has_text="bold").count() == 0


def test_compare_and_delete_are_offered_by_role(
    seeded: UiServer, signed_in: Callable[[str], Page]
) -> None:
    viewer = signed_in("viewer")
    viewer.goto(f"{seeded.url}/projects/{PROJECT}/runs")
    assert viewer.get_by_role("button", name="Compare selected").is_visible()
    assert viewer.get_by_role("button", name="Delete selected").count() == 0
    contributor = signed_in("contributor")
    contributor.goto(f"{seeded.url}/projects/{PROJECT}/runs")
    assert contributor.get_by_role("button", name="Delete selected").is_visible()


def test_unknown_pages_and_objects_are_friendly_404s(
    seeded: UiServer, signed_in: Callable[[str], Page], watched: Watched
) -> None:
    watched.allow("status of 404")  # the pages themselves
    page = signed_in("viewer")
    for path in ("/no/such/page", "/projects/nope", f"/projects/{PROJECT}/runs/0123456789ab"):
        answer = page.goto(seeded.url + path)
        assert answer is not None and answer.status == 404, path
        assert page.get_by_role("heading", name="Not found").is_visible()
        assert page.get_by_role("link", name="Back to your projects").is_visible()


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_core_pages_have_no_critical_accessibility_violation(
    seeded: UiServer, signed_in: Callable[[str], Page], role: str
) -> None:
    page = signed_in(role)
    with Client(seeded.settings) as client:
        run_id = client.search_runs(PROJECT, output="list").runs[0].id
    home = f"/projects/{PROJECT}"
    for path in ("/", home, f"{home}/runs", f"{home}/runs/{run_id}"):
        page.goto(seeded.url + path)
        assert critical_violations(page) == [], pretty((path, critical_violations(page)))


def test_the_pages_work_with_the_keyboard(seeded: UiServer, new_page: Callable[[], Page]) -> None:
    page = new_page()
    page.goto(f"{seeded.url}/signin")
    page.wait_for_function("document.activeElement.id === 'username'")  # autofocus
    page.keyboard.type("viewer")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{seeded.url}/")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # then the page's first link: the project
    assert page.evaluate("document.activeElement.textContent") == PROJECT
    page.keyboard.press("Enter")
    page.wait_for_url(f"{seeded.url}/projects/{PROJECT}")
