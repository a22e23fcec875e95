"""The runs table's child rows without a browser: ``GET /projects/{p}/runs/{id}/children``
answers the ``<tr>`` rows of a run's children to a viewer of its project, and the 404
page to anyone else, for an unknown run, or for a run of another project; a parent with
more children than a page links to all of them; and the table learns which of its runs
have children in one grouped query, not one per run."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sign_in_support import PASSWORD
from sqlalchemy import event
from sqlalchemy.engine import Engine

from modelyard.api import create_app
from modelyard.api.auth import governance_auth
from modelyard.api.ui.pages_core import PAGE_ROWS
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.sdk.client import Client


@pytest.fixture
def runs(embedded_settings: Settings, governance: Governance) -> dict[str, str]:
    """Project ``p`` (``vic`` views it) with ``sweep`` and its children ``a`` and ``b``
    (``a`` with a child of its own), ``big`` with a page and one of children, and 20
    parents of one child each; project ``q`` (``olga`` views it) with ``other``."""
    ids: dict[str, str] = {}
    with Client(embedded_settings) as client:
        client.create_project("p")
        client.create_project("q")
        with client.start_run("q", name="other", capture=False) as other:
            ids["other"] = other.id
        with client.start_run("p", name="big", capture=False) as big:
            ids["big"] = big.id
            for i in range(PAGE_ROWS + 1):
                with client.start_run("p", name=f"big-{i}", parent=big, capture=False):
                    pass
        for i in range(20):
            with (
                client.start_run("p", name=f"parent-{i}", capture=False) as parent,
                client.start_run("p", name=f"only-{i}", parent=parent, capture=False),
            ):
                pass
        with client.start_run("p", name="sweep", capture=False) as sweep:
            ids["sweep"] = sweep.id
            with client.start_run("p", name="a", parent=sweep, capture=False) as a:
                a.log_param("depth", 3)
                a.log_metric("auc", 0.75)
                ids["a"] = a.id
                with client.start_run("p", name="a-child", parent=a, capture=False):
                    pass
            with client.start_run("p", name="<b>b</b>", parent=sweep, capture=False) as b:
                ids["b"] = b.id
    for name, project in (("vic", "p"), ("olga", "q")):
        governance.users.create_user(name, PASSWORD, actor=SYSTEM)
        governance.roles.grant(project, name, "viewer", actor=SYSTEM)
    return ids


@pytest.fixture
def signed_in(
    embedded_settings: Settings, runs: dict[str, str], live_server: Callable[..., Any]
) -> Iterator[Callable[[str], httpx.Client]]:
    """``signed_in(user)``: a client of a live server with sign-in, with that user's
    session cookie."""
    url = live_server(create_app(embedded_settings, auth=governance_auth)).url
    clients: list[httpx.Client] = []

    def make(user: str) -> httpx.Client:
        client = httpx.Client(base_url=url, timeout=30)
        clients.append(client)
        login = {"username": user, "password": PASSWORD}
        assert client.post("/api/v1/auth/login", json=login).status_code == 200
        return client

    yield make
    for client in clients:
        client.close()


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="([^"]+)"', html)


def test_a_viewer_gets_the_childrens_rows_with_the_tables_columns(
    signed_in: Callable[[str], httpx.Client], runs: dict[str, str]
) -> None:
    vic = signed_in("vic")
    query = {"columns": ["params.depth", "metrics.auc"], "key": f"run-{runs['sweep']}"}
    answer = vic.get(f"/projects/p/runs/{runs['sweep']}/children", params=query)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    key = f"run-{runs['sweep']}"
    assert _row_ids(answer.text) == [f"{key}-c1", f"{key}-c2"]  # newest first
    assert "&lt;b&gt;b&lt;/b&gt;" in answer.text and "<b>b</b>" not in answer.text
    assert '<td class="num">3</td>' in answer.text and '<td class="num">0.75</td>' in answer.text
    assert answer.text.count('data-depth="1"') == 2
    # a's toggle fetches its own child at the next depth, with the same columns
    toggle = re.search(r'data-children="([^"]+)"', answer.text)
    assert toggle is not None
    url = toggle[1].replace("&amp;", "&")
    assert url.startswith(f"/projects/p/runs/{runs['a']}/children?")
    grand = vic.get(url)
    assert grand.status_code == 200
    assert _row_ids(grand.text) == [f"{key}-c2-c1"]
    assert 'data-depth="2"' in grand.text and grand.text.count('<td class="num">') == 2


@pytest.mark.parametrize(("suffix", "depth"), [("", 1), ("-c2", 2), ("-c1-c12", 3)])
def test_a_rows_depth_counts_the_keys_suffixes_not_a_c_in_the_run_id(
    signed_in: Callable[[str], httpx.Client], runs: dict[str, str], suffix: str, depth: int
) -> None:
    key = f"run-c1{'c' * 30}{suffix}"  # the row of a run whose id starts "c1"
    answer = signed_in("vic").get(f"/projects/p/runs/{runs['sweep']}/children", params={"key": key})
    assert answer.status_code == 200
    assert _row_ids(answer.text) == [f"{key}-c1", f"{key}-c2"]
    assert answer.text.count(f'data-depth="{depth}"') == 2


def test_more_children_than_a_page_link_to_all_of_them(
    signed_in: Callable[[str], httpx.Client], runs: dict[str, str]
) -> None:
    answer = signed_in("vic").get(f"/projects/p/runs/{runs['big']}/children")
    assert answer.status_code == 200
    key = f"run-{runs['big']}"
    assert _row_ids(answer.text) == [f"{key}-c{i}" for i in range(1, PAGE_ROWS + 1)] + [
        f"{key}-more"
    ]
    link = quote(f"attributes.parent_id = '{runs['big']}'", safe="").replace("%20", "+")
    assert f'href="/projects/p/runs?filter={link}"' in answer.text.replace("&#39;", "'")
    assert f"All {PAGE_ROWS + 1} children of big" in answer.text


def test_anyone_else_gets_the_404_page(
    signed_in: Callable[[str], httpx.Client], runs: dict[str, str]
) -> None:
    olga, vic = signed_in("olga"), signed_in("vic")
    for client, path in (
        (olga, f"/projects/p/runs/{runs['sweep']}/children"),  # not her project
        (olga, f"/projects/q/runs/{runs['sweep']}/children"),  # a run of another project
        (vic, f"/projects/p/runs/{runs['other']}/children"),
        (vic, "/projects/p/runs/0123456789abcdef0123456789abcdef/children"),  # unknown
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "<!doctype html>" in answer.text.lower() and "Not found" in answer.text
    odd = vic.get(f"/projects/p/runs/{runs['sweep']}/children", params={"key": "x<y"})
    assert odd.status_code == 422 and "key" in odd.text
    gone = httpx.get(f"{vic.base_url}/projects/p/runs/{runs['sweep']}/children")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/signin?next=")


def test_the_table_counts_children_in_one_query_and_lists_top_level_runs(
    signed_in: Callable[[str], httpx.Client], runs: dict[str, str]
) -> None:
    vic = signed_in("vic")
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        answer = vic.get("/projects/p/runs")
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert answer.status_code == 200
    # the top-level runs only: 22 parents, each with a toggle
    assert len(re.findall(r'<tr id="run-[0-9a-f]{32}"', answer.text)) == 22
    assert answer.text.count('class="nest-toggle"') == 22
    assert f"{PAGE_ROWS + 1} children<span" in answer.text
    counts = [s for s in statements if "GROUP BY runs.parent_id" in s]
    assert len(counts) == 1, counts
    assert not [s for s in statements if "runs.parent_id = " in s]  # no query per run
    every = vic.get("/projects/p/runs", params={"all": "1"})
    assert len(re.findall(r'<tr id="run-', every.text)) == PAGE_ROWS  # a page of every run
    odd = vic.get("/projects/p/runs", params={"columns": ["nodot", "params."]})
    assert odd.status_code == 200  # columns that are no param or metric are left out
    children = vic.get(f"/projects/p/runs/{runs['a']}/children", params={"columns": "nodot"})
    assert children.status_code == 200 and '<td class="num">' not in children.text
