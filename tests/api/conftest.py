"""Fixtures for the API over real HTTP: a live server per test, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sign_in_support import PASSWORD

from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store


@pytest.fixture
def api(served: str, admin_token: str) -> Iterator[httpx.Client]:
    """An HTTP client for ``/api/v1`` of a live server over the test's store, signed in
    as a global administrator."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=served + "/api/v1", timeout=30, headers=headers) as client:
        yield client


@pytest.fixture
def run_id(api: httpx.Client) -> str:
    answer = api.post("/runs", json={"project": "p", "name": "r"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@pytest.fixture
def server_with(
    embedded_settings: Settings, live_server: Callable[..., Any]
) -> Iterator[Callable[..., httpx.Client]]:
    """``server_with(max_body_bytes=...)``: a live server with other ``server`` settings,
    and an HTTP client for its ``/api/v1``."""
    from modelyard.api import create_app
    from modelyard.api.auth import no_auth

    clients: list[httpx.Client] = []

    def start(**server: Any) -> httpx.Client:
        conf = embedded_settings.server.model_copy(update=server)
        settings = embedded_settings.model_copy(update={"server": conf})
        app = create_app(settings, auth=no_auth)
        url = live_server(app).url
        clients.append(httpx.Client(base_url=url + "/api/v1", timeout=30))
        return clients[-1]

    yield start
    for client in clients:
        client.close()


@pytest.fixture
def governance(embedded_settings: Settings) -> Iterator[Governance]:
    """The governance services over the test's store, with the user ``dana`` (PASSWORD)."""
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    gov = Governance(store)
    gov.users.create_user("dana", PASSWORD, actor=SYSTEM)
    yield gov
    store.dispose()
