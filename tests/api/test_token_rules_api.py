"""Over HTTP, a token cannot outlive or outrank what created it: minting tokens and enrolling
an authenticator need the password again; tokens minted by tokens are capped to their parent
and die with it; with MFA required, an unenrolled account's tokens serve enrolment only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import pytest
from sign_in_support import PASSWORD

from modelyard.api.app import API_PREFIX
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance


@pytest.fixture
def api(served: str, governance: Governance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served + API_PREFIX, timeout=30) as client:
        yield client


@pytest.fixture
def laptop(governance: Governance) -> str:
    """dana's token, made by the operator, expiring in 30 days."""
    return governance.tokens.create(
        "dana", "laptop", actor=SYSTEM, expires_in=timedelta(days=30)
    ).secret


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _audited(governance: Governance, action: str) -> list[dict[str, object]]:
    return [e for e in governance.audit.export(actor=SYSTEM) if e["action"] == action]


def test_a_token_alone_cannot_mint_tokens(
    api: httpx.Client, governance: Governance, laptop: str
) -> None:
    alone = api.post("/tokens", json={"name": "more"}, headers=_bearer(laptop))
    assert alone.status_code == 403, alone.text
    error = alone.json()["error"]
    assert (error["code"], error["field"]) == ("reauth_required", "password")
    assert "send your current password in the `password` field" in error["message"]
    wrong = api.post(
        "/tokens", json={"name": "more", "password": "not-the-password"}, headers=_bearer(laptop)
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "reauth_required"
    assert [e["summary"] for e in _audited(governance, "reauth.required")] == [
        "refused to create tokens with an access token and no password"
    ]
    assert "re-authentication" in str(_audited(governance, "login.failure")[-1]["summary"])
    assert [t.name for t in governance.tokens.list_tokens("dana", actor=SYSTEM)] == ["laptop"]


def test_a_minted_token_is_capped_to_its_parent_and_dies_with_it(
    api: httpx.Client, governance: Governance, laptop: str
) -> None:
    parent = governance.tokens.list_tokens("dana", actor=SYSTEM)[0]
    child = api.post(
        "/tokens", json={"name": "child", "password": PASSWORD}, headers=_bearer(laptop)
    )
    assert child.status_code == 201, child.text
    assert child.json()["token"]["parent_id"] == parent.id
    assert child.json()["token"]["expires_at"] == parent.expires_at  # asked for none
    later = api.post(
        "/tokens",
        json={"name": "later", "expires_in_days": 365, "password": PASSWORD},
        headers=_bearer(laptop),
    )
    assert later.json()["token"]["expires_at"] == parent.expires_at
    child_secret = child.json()["secret"]
    grandchild = api.post(
        "/tokens", json={"name": "grandchild", "password": PASSWORD}, headers=_bearer(child_secret)
    )
    assert grandchild.json()["token"]["parent_id"] == child.json()["token"]["id"]
    descendants = [child_secret, later.json()["secret"], grandchild.json()["secret"]]
    for secret in descendants:
        assert api.get("/auth/me", headers=_bearer(secret)).status_code == 200

    assert api.delete(f"/tokens/{parent.id}", headers=_bearer(laptop)).status_code == 204
    for secret in [laptop, *descendants]:
        refused = api.get("/auth/me", headers=_bearer(secret))
        assert refused.status_code == 401, refused.text
    listed = governance.tokens.list_tokens("dana", actor=SYSTEM)
    assert {t.state for t in listed} == {"revoked"} and len(listed) == 4


def test_a_fresh_password_session_mints_without_the_password_again(
    api: httpx.Client, governance: Governance
) -> None:
    signed_in = api.post("/auth/login", json={"username": "dana", "password": PASSWORD})
    csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    made = api.post("/tokens", json={"name": "from-browser"}, headers=csrf)
    assert made.status_code == 201, made.text
    assert made.json()["token"]["parent_id"] is None
    assert made.json()["token"]["expires_at"] is None


def test_an_old_session_needs_the_password_again(
    embedded_settings: Settings, governance: Governance, live_server: Callable[..., Any]
) -> None:
    from modelyard.api import create_app
    from modelyard.api.auth import governance_auth

    server = embedded_settings.server.model_copy(update={"reauth_window_s": 0})
    app = create_app(embedded_settings.model_copy(update={"server": server}), auth=governance_auth)
    try:
        url = live_server(app).url + API_PREFIX
        with httpx.Client(base_url=url, timeout=30) as web:
            signed_in = web.post("/auth/login", json={"username": "dana", "password": PASSWORD})
            csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
            stale = web.post("/auth/mfa/enrol", headers=csrf)
            assert stale.status_code == 403, stale.text
            assert "a session that signed in 0 s ago or more" in stale.json()["error"]["message"]
            enrolled = web.post("/auth/mfa/enrol", json={"password": PASSWORD}, headers=csrf)
            assert enrolled.status_code == 200, enrolled.text
    finally:
        app.state.services.close()


def test_a_token_alone_cannot_enrol_an_authenticator(
    api: httpx.Client, governance: Governance, laptop: str
) -> None:
    alone = api.post("/auth/mfa/enrol", headers=_bearer(laptop))
    assert alone.status_code == 403 and alone.json()["error"]["code"] == "reauth_required"
    assert not governance.mfa.status("dana", actor=SYSTEM).enrolled
    enrolled = api.post("/auth/mfa/enrol", json={"password": PASSWORD}, headers=_bearer(laptop))
    assert enrolled.status_code == 200, enrolled.text


def test_with_mfa_required_an_unenrolled_token_serves_enrolment_only(
    api: httpx.Client, governance: Governance, laptop: str, admin_token: str
) -> None:
    governance.mfa.set_required(True, actor=SYSTEM)
    refused = api.get("/projects", headers=_bearer(laptop))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "mfa_enrolment_required"
    assert api.post("/projects", json={"name": "p"}, headers=_bearer(laptop)).status_code == 403
    minting = api.post(
        "/tokens", json={"name": "more", "password": PASSWORD}, headers=_bearer(laptop)
    )
    assert minting.json()["error"]["code"] == "mfa_enrolment_required"
    assert "MFA enrolment required" in str(_audited(governance, "token.denied")[-1]["summary"])
    assert api.get("/projects", headers=_bearer(admin_token)).status_code == 200  # a robot

    assert api.get("/auth/me", headers=_bearer(laptop)).json()["username"] == "dana"
    enrolment = api.post("/auth/mfa/enrol", json={"password": PASSWORD}, headers=_bearer(laptop))
    assert enrolment.status_code == 200, enrolment.text
    secret = enrolment.json()["uri"].split("secret=")[1].split("&")[0]
    code = {"code": pyotp.TOTP(secret).now()}
    assert api.post("/auth/mfa/confirm", json=code, headers=_bearer(laptop)).status_code == 204
    assert api.get("/projects", headers=_bearer(laptop)).status_code == 200
    assert api.post("/auth/logout", headers=_bearer(laptop)).status_code == 204


def test_with_mfa_required_an_unenrolled_account_may_still_revoke_its_tokens(
    api: httpx.Client, governance: Governance, laptop: str
) -> None:
    spare = governance.tokens.create("dana", "spare", actor=SYSTEM)
    governance.mfa.set_required(True, actor=SYSTEM)
    listing = api.get("/tokens", headers=_bearer(laptop))
    assert listing.json()["error"]["code"] == "mfa_enrolment_required"
    revoked = api.delete(f"/tokens/{spare.token.id}", headers=_bearer(laptop))
    assert revoked.status_code == 204, revoked.text
    states = {t.name: t.state for t in governance.tokens.list_tokens("dana", actor=SYSTEM)}
    assert states == {"laptop": "active", "spare": "revoked"}


def test_refusals_for_want_of_enrolment_are_audited_up_to_the_address_limit(
    embedded_settings: Settings,
    governance: Governance,
    laptop: str,
    live_server: Callable[..., Any],
) -> None:
    """A busy client whose account must enrol does not flood the audit log."""
    from modelyard.api import create_app
    from modelyard.api.auth import governance_auth

    server = embedded_settings.server.model_copy(update={"login_failures_per_address": 2})
    app = create_app(embedded_settings.model_copy(update={"server": server}), auth=governance_auth)
    governance.mfa.set_required(True, actor=SYSTEM)
    try:
        with httpx.Client(base_url=live_server(app).url + API_PREFIX, timeout=30) as api:
            for _ in range(5):
                refused = api.get("/projects", headers=_bearer(laptop))
                assert refused.json()["error"]["code"] == "mfa_enrolment_required"
    finally:
        app.state.services.close()
    assert len(_audited(governance, "token.denied")) == 2
