"""Browser tests of the web UI: a live server with sign-in (the API's governance auth) on
a store seeded with a project ``demo`` and one user per role, and Debian's Chromium
driven by Playwright (``apt-get install chromium``; ``pip install playwright``, never
``playwright install``). Every page a test opens is watched: a console error or a
failed request fails the test at its end.

``signed_in(role)`` gives a page signed in through the sign-in form as the user of that
role (``admin`` is a global admin; ``viewer``, ``contributor``, ``approver`` are project
roles in ``demo``; ``outsider`` is a member of nothing). ``ui_support`` has the helpers
the tests import.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ui_support import PASSWORD, PROJECT, ROLES, UiServer, Watched, sign_in

from modelyard.config import Settings, load_settings
from server_support import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: Chromium's flags for a container (see the project's recipes).
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def ui_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("ui") / "home"
    return load_settings(
        home=home,
        store={"url": f"sqlite:///{home / 'modelyard.db'}"},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
    )


@pytest.fixture(scope="module")
def ui_server(ui_settings: Settings) -> Iterator[UiServer]:
    """``modelyard server``'s app with sign-in, in process on a loopback port, over a
    store with project ``demo`` and a user per role."""
    from modelyard.api import create_app
    from modelyard.api.auth import governance_auth
    from modelyard.governance import SYSTEM
    from modelyard.sdk.client import Client

    with Client(ui_settings) as client:
        client.create_project(PROJECT, description="The UI tests' project")
        gov = client.services.governance
        for role in ROLES:
            gov.users.create_user(role, PASSWORD, actor=SYSTEM, admin=role == "admin")
            if role not in ("admin", "outsider"):
                gov.roles.grant(PROJECT, role, role, actor=SYSTEM)
    server = LiveServer(create_app(ui_settings, auth=governance_auth)).start()
    try:
        yield UiServer(server.url, ui_settings, {r: r for r in ROLES})
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def watched() -> Iterator[Watched]:
    found = Watched()
    yield found
    assert found.unexpected() == [], found.errors


@pytest.fixture
def new_page(browser: Browser, watched: Watched) -> Iterator[Callable[[], Page]]:
    """``new_page()``: a fresh, watched page in a context of its own (its own cookies)."""
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return watched.watch(context.new_page())

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def signed_in(ui_server: UiServer, new_page: Callable[[], Page]) -> Callable[[str], Page]:
    """``signed_in(role)``: a watched page signed in as that role's user."""

    def make(role: str) -> Page:
        page = new_page()
        sign_in(page, ui_server.url, ui_server.users[role])
        return page

    return make
