"""Nested runs in the runs table, in Chromium: the table lists the top-level runs; a run
with children has a toggle that fetches their rows from the server and shows them under
it (with the mouse or the keyboard), a child's children the same way; they are selected
and compared like any row, and pressing the toggle again hides them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from ui_support import PROJECT, UiServer, Watched, critical_violations, pretty

from modelyard.sdk.client import Client

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer) -> dict[str, str]:
    """In ``demo``: ``sweep`` with children ``trial-0`` (whose child is ``grand-0``),
    ``trial-1`` and one named with markup; and ``solo``, with no children. Each logs
    param ``depth`` and metric ``auc``. Run ids by name."""
    ids: dict[str, str] = {}
    with Client(ui_server.settings) as client:
        with client.start_run(PROJECT, name="solo", capture=False) as solo:
            solo.log_param("depth", 1)
            solo.log_metric("auc", 0.5)
            ids["solo"] = solo.id
        with client.start_run(PROJECT, name="sweep", capture=False) as parent:
            parent.log_metric("auc", 0.6)
            ids["sweep"] = parent.id
            for i, name in enumerate(["trial-0", "trial-1", EVIL]):
                with client.start_run(PROJECT, name=name, parent=parent, capture=False) as run:
                    run.log_param("depth", i + 2)
                    run.log_metric("auc", 0.7 + i / 10)
                    ids[name] = run.id
                    if i == 0:
                        with client.start_run(
                            PROJECT, name="grand-0", parent=run, capture=False
                        ) as grand:
                            grand.log_param("depth", 9)
                            grand.log_metric("auc", 0.99)
                            ids["grand-0"] = grand.id
    return ids


def _table(page: Page, url: str) -> Locator:
    page.goto(f"{url}/projects/{PROJECT}/runs?columns=params.depth&columns=metrics.auc")
    return page.locator("#runs tbody tr")


def _names(rows: Locator) -> list[str]:
    return [t.strip() for t in rows.locator("td:nth-child(2) a").all_inner_texts()]


def test_the_table_lists_top_level_runs_with_a_toggle_for_children(
    ui_server: UiServer, seeded: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    page = signed_in("viewer")
    rows = _table(page, ui_server.url)
    expect(rows).to_have_count(2)
    assert _names(rows) == ["sweep", "solo"]
    toggle = page.get_by_role("button", name="3 children of sweep")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert toggle.get_attribute("aria-controls") == f"run-{seeded['sweep']}-c1"
    assert rows.nth(1).get_by_role("button").count() == 0  # solo has no children
    page.get_by_role("link", name="Every run, child runs too").click()
    page.wait_for_url("**all=1*")
    expect(page.locator("#runs tbody tr")).to_have_count(6)


def test_children_expand_with_the_mouse_and_are_compared_like_any_run(
    ui_server: UiServer, seeded: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    page = signed_in("viewer")
    rows = _table(page, ui_server.url)
    sweep = f"run-{seeded['sweep']}"
    page.get_by_role("button", name="3 children of sweep").click()
    expect(rows).to_have_count(5)
    # right under their parent, newest first as the table, with the table's columns
    assert _names(rows) == ["sweep", EVIL, "trial-1", "trial-0", "solo"]
    cells = [t.strip() for t in page.locator(f"#{sweep}-c2 td").all_inner_texts()]
    assert cells[1] == "↳ trial-1" and cells[2] == "finished"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[3]), cells
    assert cells[4].endswith(" s") and cells[5:] == ["3", "0.8"]
    assert page.locator(f"#{sweep}-c2 .status-finished").is_visible()
    toggle = page.get_by_role("button", name="3 children of sweep")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    controls = (toggle.get_attribute("aria-controls") or "").split()
    assert controls == [f"{sweep}-c1", f"{sweep}-c2", f"{sweep}-c3"]
    assert page.locator(f"#{sweep}-c1").get_attribute("data-depth") == "1"

    page.get_by_role("button", name="1 child of trial-0").click()
    expect(rows).to_have_count(6)
    assert _names(rows)[3:5] == ["trial-0", "grand-0"]
    grand = page.locator(f"#{sweep}-c3-c1")
    assert grand.get_attribute("data-depth") == "2"
    assert grand.locator("td.num").all_inner_texts() == ["9", "0.99"]

    page.get_by_label("select trial-1").check()
    page.get_by_label("select grand-0").check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(f"**/projects/{PROJECT}/compare?runs=*")
    assert set(re.findall(r"runs=(\w+)", page.url)) == {seeded["trial-1"], seeded["grand-0"]}
    assert page.locator("#param-diff thead th").all_inner_texts()[1:] in (
        ["trial-1", "grand-0"],
        ["grand-0", "trial-1"],
    )


def test_children_expand_and_collapse_with_the_keyboard(
    ui_server: UiServer, seeded: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    page = signed_in("viewer")
    rows = _table(page, ui_server.url)
    page.get_by_role("link", name="sweep", exact=True).focus()
    page.keyboard.press("Tab")  # the run's toggle comes next
    toggle = page.get_by_role("button", name="3 children of sweep")
    expect(toggle).to_be_focused()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(5)
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.get_by_role("button", name="1 child of trial-0").focus()
    page.keyboard.press("Space")
    expect(rows).to_have_count(6)
    assert "grand-0" in _names(rows)

    toggle.focus()
    page.keyboard.press("Space")  # collapses the children and theirs
    expect(rows).to_have_count(2)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert _names(rows) == ["sweep", "solo"]
    page.keyboard.press("Enter")  # again: fetched afresh, the grandchild collapsed
    expect(rows).to_have_count(5)
    expect(page.get_by_role("button", name="1 child of trial-0")).to_have_attribute(
        "aria-expanded", "false"
    )


def test_a_name_with_markup_in_the_children_renders_as_text(
    ui_server: UiServer, seeded: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    page = signed_in("viewer")
    _table(page, ui_server.url)
    page.get_by_role("button", name="3 children of sweep").click()
    expect(page.get_by_role("link", name=EVIL)).to_be_visible()
    expect(page.get_by_label(f"select {EVIL}")).to_be_visible()
    assert page.evaluate("window.__owned") is None
    assert page.locator("#runs b").count() == 0


def test_the_expanded_table_has_no_critical_accessibility_violation(
    ui_server: UiServer, seeded: dict[str, str], signed_in: Callable[[str], Page]
) -> None:
    from playwright.sync_api import expect

    page = signed_in("viewer")
    rows = _table(page, ui_server.url)
    page.get_by_role("button", name="3 children of sweep").click()
    page.get_by_role("button", name="1 child of trial-0").click()
    expect(rows).to_have_count(6)
    assert critical_violations(page) == [], pretty(critical_violations(page))


def test_a_toggle_of_a_run_deleted_meanwhile_says_so_in_the_table(
    ui_server: UiServer, seeded: dict[str, str], signed_in: Callable[[str], Page], watched: Watched
) -> None:
    from playwright.sync_api import expect

    watched.allow("status of 404")  # the children of a run deleted meanwhile
    with (
        Client(ui_server.settings) as client,
        client.start_run(PROJECT, name="doomed", capture=False) as doomed,
        client.start_run(PROJECT, name="doomed-child", parent=doomed, capture=False),
    ):
        pass
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/runs?filter=attributes.name+%3D+%27doomed%27")
    toggle = page.get_by_role("button", name="1 child of doomed")
    with Client(ui_server.settings) as client:
        client.delete_run(doomed.id)  # with its child: neither is listed again
    toggle.click()
    expect(page.locator(f"#run-{doomed.id}-c1")).to_have_text("No child runs now.")
    toggle.click()
    expect(page.locator(f"#run-{doomed.id}-c1")).to_have_count(0)
    with Client(ui_server.settings) as client:
        client.delete_run(doomed.id, permanent=True)
    toggle.click()
    alert = page.locator(f"#run-{doomed.id}-c1").get_by_role("alert")
    expect(alert).to_have_text("Could not load the child runs (HTTP 404).")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()  # hides the message as it would hide the rows
    expect(alert).to_have_count(0)
