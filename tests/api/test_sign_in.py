"""Password sign-in to a session cookie, CSRF on state changes, sign-out, MFA over the
API, lock-out, and the audit log for administrators."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet
from sign_in_support import PASSWORD

from modelyard.api.app import API_PREFIX
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance, SecretBox


@pytest.fixture
def web(served: str, governance: Governance) -> Iterator[httpx.Client]:
    """A browser-like client (keeps cookies) on the live server's API."""
    with httpx.Client(base_url=served + API_PREFIX, timeout=30) as client:
        yield client


def _login(web: httpx.Client, **extra: str) -> httpx.Response:
    return web.post("/auth/login", json={"username": "dana", "password": PASSWORD, **extra})


def test_a_session_cookie_with_csrf_and_sign_out(web: httpx.Client) -> None:
    answer = _login(web)
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert "modelyard_session=" in cookie and "HttpOnly" in cookie
    # the server's root (the test's mount): the API and the web UI's pages
    assert "SameSite=strict" in cookie and re.search(r"Path=/\w+/;", cookie), cookie
    csrf = answer.json()["csrf_token"]
    assert answer.json()["user"]["username"] == "dana"

    assert web.get("/auth/me").json()["authenticated_by"] == "session"
    forged = web.post("/projects", json={"name": "p"})  # a cross-site form post has no header
    assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["error"]["message"]
    wrong = web.post("/projects", json={"name": "p"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    made = web.post("/projects", json={"name": "p"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201

    stolen = web.cookies.get("modelyard_session")
    assert web.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    web.cookies.set("modelyard_session", stolen)  # replaying it after sign-out
    after = web.get("/auth/me")
    assert after.status_code == 401 and "sign in again" in after.json()["error"]["message"]


def test_each_sign_in_is_a_new_session(web: httpx.Client) -> None:
    first = _login(web).json()["csrf_token"]
    one = web.cookies.get("modelyard_session")
    second = _login(web).json()["csrf_token"]
    assert web.cookies.get("modelyard_session") != one and first != second


def test_wrong_passwords_are_401_then_locked_out(web: httpx.Client) -> None:
    for _ in range(5):
        bad = web.post("/auth/login", json={"username": "dana", "password": "nope-nope-nope"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"
    locked = _login(web)  # the right password, but too late
    assert locked.status_code == 401 and "too many failed sign-ins" in locked.text
    unknown = web.post("/auth/login", json={"username": "zed", "password": "x" * 12})
    assert unknown.status_code == 401


def test_mfa_enrolment_and_sign_in_over_the_api(web: httpx.Client) -> None:
    csrf = _login(web).json()["csrf_token"]
    enrolment = web.post("/auth/mfa/enrol", headers={"X-CSRF-Token": csrf}).json()
    assert enrolment["uri"].startswith("otpauth://totp/") and len(enrolment["recovery_codes"]) > 5
    secret = enrolment["uri"].split("secret=")[1].split("&")[0]
    code = pyotp.TOTP(secret).now()
    confirm = web.post("/auth/mfa/confirm", json={"code": code}, headers={"X-CSRF-Token": csrf})
    assert confirm.status_code == 204, confirm.text

    web.cookies.clear()
    needs_code = _login(web)
    assert needs_code.status_code == 403 and needs_code.json()["error"]["code"] == "mfa_required"
    recovery = enrolment["recovery_codes"][0]
    assert _login(web, totp_code=recovery).status_code == 200
    web.cookies.clear()
    assert _login(web, totp_code=recovery).status_code == 401  # single use


def test_a_totp_secret_the_server_key_cannot_decrypt_is_a_readable_409(
    web: httpx.Client, governance: Governance
) -> None:
    """Enrolled under a key the server does not have (its key file replaced, say)."""
    other_key = Governance(governance.store, secret_box=SecretBox(Fernet.generate_key()))
    enrolment = other_key.mfa.enrol("dana", actor=SYSTEM)
    other_key.mfa.confirm("dana", pyotp.TOTP(enrolment.secret).now(), actor=SYSTEM)
    answer = _login(web, totp_code=pyotp.TOTP(enrolment.secret).now())
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "secret_unreadable"
    assert "TOTP secret of user dana cannot be decrypted" in error["message"]
    assert "modelyard mfa reset dana" in error["message"]
    assert _login(web, totp_code=enrolment.recovery_codes[0]).status_code == 200


def test_the_audit_log_for_administrators(
    web: httpx.Client, admin_token: str, governance: Governance
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    run = web.post("/runs", json={"project": "p", "name": "r"}, headers=admin).json()
    web.post(f"/runs/{run['id']}/end", json={"status": "finished"}, headers=admin)
    web.post("/auth/login", json={"username": "dana", "password": "wrong-wrong-wrong"})

    first = web.get("/audit", params={"limit": 3}, headers=admin)
    assert first.status_code == 200, first.text
    events = first.json()["items"]
    cursor = first.json()["next_cursor"]
    while cursor:
        page = web.get("/audit", params={"limit": 3, "cursor": cursor}, headers=admin).json()
        events += page["items"]
        cursor = page["next_cursor"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    by_action = {e["action"]: e for e in events}
    created = by_action["run.created"]
    assert created["actor"] == "test-admin" and created["object_id"] == run["id"]
    assert created["client_addr"] == "127.0.0.1"
    assert by_action["run.ended"]["summary"] == "run ended: finished"
    assert by_action["login.failure"]["object_id"] == "dana"
    # filters, each with the others and with the cursor's paging
    runs = web.get("/audit", params={"action": "run"}, headers=admin).json()["items"]
    assert [e["action"] for e in runs] == ["run.created", "run.ended"]
    mine = {"actor": "test-admin", "object_type": "run", "limit": 1}
    page = web.get("/audit", params=mine, headers=admin).json()
    assert [e["action"] for e in page["items"]] == ["run.created"]
    rest = web.get("/audit", params={**mine, "cursor": page["next_cursor"]}, headers=admin)
    assert [e["action"] for e in rest.json()["items"]] == ["run.ended"]
    assert rest.json()["next_cursor"] is None
    at = created["time"]
    iso = datetime.fromtimestamp(at / 1000, UTC).isoformat()
    before = web.get("/audit", params={"until": iso, "action": "run"}, headers=admin).json()
    assert before["items"] == []  # until excludes its own moment
    since = web.get("/audit", params={"since": iso, "action": "run.created"}, headers=admin)
    assert [e["seq"] for e in since.json()["items"]] == [created["seq"]]
    nobody = web.get("/audit", params={"actor": "nobody"}, headers=admin).json()
    assert nobody == {"items": [], "next_cursor": None}
    backwards = web.get(
        "/audit", params={"since": iso, "until": "2000-01-01T00:00:00"}, headers=admin
    )
    assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "until"
    assert governance.audit.verify(actor=SYSTEM).ok

    recent = web.get("/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=admin)
    assert recent.json() == {"items": [], "next_cursor": None}
    assert web.get("/audit", params={"cursor": "x"}, headers=admin).status_code == 422
    _login(web)
    assert web.get("/audit").status_code == 403


def test_many_failures_from_one_address_are_429_with_retry_after(
    server_with: Callable[..., httpx.Client], governance: Governance
) -> None:
    api = server_with(login_failures_per_address=3, login_failure_window_s=60)
    for name in ("ann", "bob", "cid"):  # one guess each: no username reaches its own limit
        bad = api.post("/auth/login", json={"username": name, "password": "x" * 12})
        assert bad.status_code == 401
    refused = api.post("/auth/login", json={"username": "dana", "password": PASSWORD})
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert "too many failed sign-ins from this address" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert governance.users.authenticate("dana", PASSWORD).username == "dana"  # not locked


def test_refused_tokens_from_one_address_are_429_and_audited(
    embedded_settings: Settings,
    live_server: Callable[..., Any],
    governance: Governance,
    admin_token: str,
) -> None:
    from modelyard.api import create_app
    from modelyard.api.auth import governance_auth

    conf = embedded_settings.server.model_copy(
        update={"login_failures_per_address": 2, "login_failure_window_s": 60}
    )
    app = create_app(embedded_settings.model_copy(update={"server": conf}), auth=governance_auth)
    with httpx.Client(base_url=live_server(app).url + API_PREFIX, timeout=30) as api:
        wrong = admin_token[:-1] + ("a" if admin_token[-1] != "a" else "b")
        for token in (wrong, "my_pat_nonsense"):
            bad = api.get("/projects", headers={"Authorization": f"Bearer {token}"})
            assert bad.status_code == 401, bad.text
        for _ in range(3):  # past the limit: refused, neither checked further nor audited
            refused = api.get("/projects", headers={"Authorization": f"Bearer {wrong}"})
            assert refused.status_code == 429, refused.text
        message = refused.json()["error"]["message"]
        assert "too many requests with a refused access token from this address" in message
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        good = api.get("/projects", headers={"Authorization": f"Bearer {admin_token}"})
        assert good.status_code == 200  # a valid token from the same address still passes
        signed_in = api.post("/auth/login", json={"username": "dana", "password": PASSWORD})
        assert signed_in.status_code == 200  # sign-ins are counted on their own
    events = [e for e in governance.audit.export(actor=SYSTEM) if e["action"] == "token.denied"]
    assert [(e["actor"], e["summary"], e["client_addr"]) for e in events] == [
        ("test-admin", "token 'tests' refused: wrong secret", "127.0.0.1")
    ]
