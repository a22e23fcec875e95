"""The web UI's pages are denied by default: without credentials every page but the
sign-in form answers a redirect to sign-in (and back), never the page, and the JSON a page
reads again (a deployment's live traffic) a 401 in the API's error shape; a page that does
not exist is the UI's 404 page, while the API keeps its JSON errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from modelyard.api import API_PREFIX, create_app
from modelyard.api.auth import governance_auth
from modelyard.api.ui import ROUTERS
from modelyard.config import Settings


@pytest.fixture
def app(embedded_settings: Settings) -> FastAPI:
    return create_app(embedded_settings, auth=governance_auth)


@pytest.fixture
def anonymous(app: FastAPI, live_server: Callable[..., Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server(app).url) as client:
        yield client


def _gets(html: bool) -> list[str]:
    """Every GET route of the UI (its routers) answering HTML (its pages), or not (the
    JSON pages read again), path parameters filled in."""
    paths = [
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and (route.response_class is HTMLResponse) == html
    ]
    return [re.sub(r"\{[^}]+\}", "x1", path) for path in paths]


def test_every_page_without_credentials_redirects_to_sign_in_and_back(
    anonymous: httpx.Client,
) -> None:
    pages = _gets(html=True)
    assert "/" in pages and "/projects/x1/runs" in pages
    for path in pages:
        answer = anonymous.get(path)
        if path == "/signin":
            assert answer.status_code == 200, path
            continue
        assert answer.status_code == 303, (path, answer.status_code)
        assert answer.headers["location"].startswith("/signin?next="), path


def test_the_json_a_page_reads_again_without_credentials_is_a_401_in_the_apis_shape(
    anonymous: httpx.Client,
) -> None:
    parts = _gets(html=False)
    assert "/projects/x1/deployments/x1/traffic" in parts
    for path in parts:
        answer = anonymous.get(path)
        assert answer.status_code == 401, (path, answer.status_code)
        assert answer.json()["error"]["code"] == "unauthenticated", path


def test_a_missing_page_is_the_ui_404_and_the_api_keeps_json(anonymous: httpx.Client) -> None:
    page = anonymous.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    api = anonymous.get(f"{API_PREFIX}/no/such/route")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_sign_in_goes_back_only_to_this_server(anonymous: httpx.Client) -> None:
    for elsewhere in ("https://evil.example/", "//evil.example/x"):
        form = anonymous.get("/signin", params={"next": elsewhere})
        assert 'data-next="/"' in form.text
    form = anonymous.get("/signin", params={"next": "/projects/p/runs?filter=x"})
    assert 'data-next="/projects/p/runs?filter=x"' in form.text
