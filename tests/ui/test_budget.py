"""No page ships more than 300 KB of gzip-compressed script (issue 15), with no browser.

The pages are found in the app's routes (every GET route of the UI's routers that answers
HTML; the JSON a page reads again, its live traffic, is no page), so a page added later is
covered: each is fetched from the app without sign-in (``no_auth``) over a store with a
project and a run, and each ``<script src>`` it names is fetched from ``/static``
and compressed. A page whose path parameters name objects this store does not hold
answers its 404 page; every template is therefore also read on its own, with the
templates it extends or includes, so its scripts are counted all the same.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import meta
from starlette.routing import BaseRoute

from modelyard.api import create_app
from modelyard.api.auth import no_auth
from modelyard.api.ui import STATIC
from modelyard.api.ui._pages import TEMPLATES, UI_DIR
from modelyard.config import Settings
from modelyard.sdk.client import Client
from server_support import LiveServer

#: The most compressed script one page may ship (issue 15).
BUDGET = 300 * 1024
SCRIPT_SRC = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
PROJECT = "budget"
UI_PACKAGE = "modelyard.api.ui."
PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def gzipped(body: bytes) -> int:
    """Bytes after gzip at level 6, what a web server's compression typically sends."""
    return len(gzip.compress(body, compresslevel=6))


def script_sources(html: str) -> list[str]:
    return SCRIPT_SRC.findall(html)


def ui_pages(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    """The paths of the GET routes that answer a page of the UI (an endpoint in
    ``modelyard.api.ui`` answering HTML), in ``routes`` and the routers they include."""
    found: list[str] = []
    for route in routes:
        if isinstance(route, APIRoute):
            page = "GET" in route.methods and route.response_class is HTMLResponse
            if page and route.endpoint.__module__.startswith(UI_PACKAGE):
                found.append(prefix + route.path)
        elif (router := getattr(route, "original_router", None)) is not None:
            found += ui_pages(router.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
    return found


@pytest.fixture(scope="module")
def client(ui_settings: Settings) -> Iterator[tuple[FastAPI, httpx.Client, dict[str, str]]]:
    """The app without sign-in (on a loopback port) over a store with a project and a
    finished run, a client of it, and the values for the path parameters pages take."""
    with Client(ui_settings) as sdk:
        sdk.create_project(PROJECT)
        with sdk.start_run(PROJECT, name="budget-run", capture=False) as run:
            run.log_metric("loss", 0.5)
            run_id = run.id
    app = create_app(ui_settings, auth=no_auth)
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield app, http, {"project": PROJECT, "run_id": run_id}
    finally:
        server.stop()


def page_scripts_bytes(client: httpx.Client, sources: list[str]) -> int:
    total = 0
    for src in sources:
        assert src.startswith("/static/"), f"a script from outside /static: {src}"
        answer = client.get(src)
        assert answer.status_code == 200, f"{src}: {answer.status_code}"
        total += gzipped(answer.content)
    return total


def test_every_page_of_the_app_ships_at_most_300_kb_of_compressed_script(
    client: tuple[FastAPI, httpx.Client, dict[str, str]],
) -> None:
    app, http, known = client
    measured: dict[str, int] = {}
    for route in ui_pages(app.routes):
        path = PARAM.sub(lambda m: known.get(m[1], "missing"), route)
        answer = http.get(path, follow_redirects=True)
        assert answer.headers["content-type"].startswith("text/html"), path
        if not answer.text.lstrip().lower().startswith("<!doctype html>"):
            continue  # a fragment (rows a page fetches): the page counts its scripts
        sources = script_sources(answer.text)
        measured[route] = page_scripts_bytes(http, sources)
    over = {p: n for p, n in measured.items() if n > BUDGET}
    assert over == {}, f"pages over {BUDGET} compressed script bytes: {over}"
    # The discovery found the pages, and the pages their scripts.
    assert {"/", "/projects/{project}", "/projects/{project}/runs"} <= set(measured)
    assert all(n > 0 for n in measured.values()), measured


def _template_sources(name: str, seen: set[str] | None = None) -> list[str]:
    """The script sources of a template and of every template it extends or includes
    (those named by a constant; the others are rendered pages, covered above)."""
    seen = set() if seen is None else seen
    if name in seen:
        return []
    seen.add(name)
    assert TEMPLATES.loader is not None
    text, _, _ = TEMPLATES.loader.get_source(TEMPLATES, name)
    found = [s for s in script_sources(text) if "{" not in s]
    for other in meta.find_referenced_templates(TEMPLATES.parse(text)):
        if other is not None:
            found += _template_sources(other, seen)
    return found


def test_every_template_ships_at_most_300_kb_of_compressed_script() -> None:
    templates = sorted(p.name for p in (UI_DIR / "templates").glob("*.html"))
    sizes: dict[str, int] = {}
    for name in templates:
        total = 0
        for src in dict.fromkeys(_template_sources(name)):
            assert src.startswith("/static/"), f"{name}: a script from outside /static: {src}"
            file = STATIC / src.removeprefix("/static/")
            assert file.is_file(), f"{name}: {src} is not shipped"
            total += gzipped(file.read_bytes())
        sizes[name] = total
    over = {n: s for n, s in sizes.items() if s > BUDGET}
    assert over == {}, f"templates over {BUDGET} compressed script bytes: {over}"
    assert sizes["runs.html"] > 0, "base.html's app.js is counted on every page"


def test_a_script_over_the_budget_is_counted_as_over() -> None:
    """The measure itself: random bytes do not compress, so 400 KB of them are over."""
    assert gzipped(os.urandom(400 * 1024)) > BUDGET
    assert script_sources('<script src="/static/a.js"></script><script>1</script>') == [
        "/static/a.js"
    ]
