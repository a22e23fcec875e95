"""The account, users, members and audit pages of a server without sign-in (the local
operator), on a live server: what they show, and a bad day in the audit filter said beside it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from modelyard.config import Settings
from modelyard.sdk.client import Client
from server_support import LiveServer


@pytest.fixture(scope="module")
def pages(ui_settings: Settings) -> Iterator[httpx.Client]:
    from modelyard.api import create_app
    from modelyard.api.auth import no_auth

    with Client(ui_settings) as client:
        client.create_project("demo")
    server = LiveServer(create_app(ui_settings, auth=no_auth)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as web:
            yield web
    finally:
        server.stop()


def test_the_operator_has_no_account_to_enrol(pages: httpx.Client) -> None:
    account = pages.get("/account")
    assert account.status_code == 200
    assert "the local operator has no account" in account.text
    assert "Set up an authenticator app" not in account.text
    assert pages.get("/account/mfa").status_code == 403


def test_the_operator_administers(pages: httpx.Client) -> None:
    assert pages.get("/admin/users").status_code == 200
    members = pages.get("/projects/demo/members")
    assert members.status_code == 200 and 'id="member-grant"' in members.text
    assert pages.get("/projects/nowhere/members").status_code == 404


def test_the_audit_page_says_a_bad_day_beside_the_filter(pages: httpx.Client) -> None:
    intact = pages.get("/projects/demo/audit")
    assert intact.status_code == 200 and "Chain verified" in intact.text
    assert "project.created" in intact.text
    bad = pages.get("/projects/demo/audit", params={"since": "yesterday"})
    assert bad.status_code == 200
    assert "since must be a day, YYYY-MM-DD" in bad.text and "No events match." in bad.text
    for odd in ("x", "²", "9" * 40):
        answer = pages.get("/projects/demo/audit", params={"before": odd})
        assert answer.status_code == 200 and "before must be an event number" in answer.text
    assert pages.get("/projects/nowhere/audit").status_code == 404
