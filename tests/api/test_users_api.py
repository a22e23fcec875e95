"""User accounts over the API: global administrators list, create, disable and enable
accounts and grant admin rights; everyone else is refused; the last administrator stays."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet
from sign_in_support import PASSWORD

from modelyard.api.app import API_PREFIX
from modelyard.governance import SYSTEM, Governance, SecretBox


@pytest.fixture
def web(served: str, governance: Governance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served + API_PREFIX, timeout=30) as client:
        yield client


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_an_administrator_manages_accounts(
    web: httpx.Client, admin_token: str, governance: Governance
) -> None:
    admin = _bearer(admin_token)
    made = web.post(
        "/users",
        json={"username": "Erin", "password": PASSWORD, "email": "erin@example.org"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json()["username"] == "erin" and made.json()["disabled_at"] is None
    listed = web.get("/users", headers=admin).json()
    assert "erin" in [u["username"] for u in listed["items"]]
    assert "password_hash" not in str(listed)

    off = web.patch("/users/erin", json={"disabled": True}, headers=admin)
    assert off.status_code == 200 and off.json()["disabled_at"] is not None
    refused = web.post("/auth/login", json={"username": "erin", "password": PASSWORD})
    assert refused.status_code == 401
    on = web.patch("/users/erin", json={"disabled": False, "is_admin": True}, headers=admin)
    assert on.json()["disabled_at"] is None and on.json()["is_admin"] is True
    assert governance.users.get_user("erin").is_admin
    actions = [e["action"] for e in governance.audit.export(actor=SYSTEM)]
    assert {"user.created", "user.disabled", "user.enabled", "user.admin_granted"} <= set(actions)


def test_a_weak_password_or_a_taken_name_is_refused(web: httpx.Client, admin_token: str) -> None:
    admin = _bearer(admin_token)
    weak = web.post("/users", json={"username": "frank", "password": "short"}, headers=admin)
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "password"
    taken = web.post("/users", json={"username": "dana", "password": PASSWORD}, headers=admin)
    assert taken.status_code == 409


def test_the_last_administrator_cannot_lock_everyone_out(
    web: httpx.Client, admin_token: str
) -> None:
    admin = _bearer(admin_token)
    me = web.get("/auth/me", headers=admin).json()["username"]
    answer = web.patch(f"/users/{me}", json={"is_admin": False}, headers=admin)
    assert answer.status_code == 409, answer.text
    assert "last active administrator" in answer.json()["error"]["message"]


def test_a_user_who_is_not_an_administrator_is_refused(
    web: httpx.Client, governance: Governance
) -> None:
    dana = _bearer(governance.tokens.create("dana", "t", actor=SYSTEM).secret)
    assert web.get("/users", headers=dana).status_code == 403
    made = web.post("/users", json={"username": "mallory", "password": PASSWORD}, headers=dana)
    assert made.status_code == 403
    peek = web.patch("/users/dana", json={}, headers=dana)
    assert peek.status_code == 403
    promote = web.patch("/users/dana", json={"is_admin": True}, headers=dana)
    assert promote.status_code == 403 and not governance.users.get_user("dana").is_admin


def test_an_administrator_resets_a_lost_authenticator_and_requires_mfa(
    web: httpx.Client, admin_token: str, governance: Governance
) -> None:
    admin, dana = (
        _bearer(admin_token),
        _bearer(governance.tokens.create("dana", "t", actor=SYSTEM).secret),
    )
    boxed = Governance(governance.store, secret_box=SecretBox(Fernet.generate_key()))
    enrolment = boxed.mfa.enrol("dana", actor=SYSTEM)
    boxed.mfa.confirm("dana", pyotp.TOTP(enrolment.secret).now(), actor=SYSTEM)
    status = web.get("/users/dana/mfa", headers=admin)
    assert status.status_code == 200, status.text
    assert status.json() == {
        "username": "dana",
        "enrolled": True,
        "confirmed": True,
        "recovery_codes_left": len(enrolment.recovery_codes),
        "required": False,
    }
    assert web.get("/users/dana/mfa", headers=dana).json()["confirmed"] is True  # one's own
    assert web.delete("/users/dana/mfa", headers=dana).status_code == 403  # admins reset
    gone = web.delete("/users/dana/mfa", headers=admin)
    assert gone.status_code == 204, gone.text
    assert web.get("/users/dana/mfa", headers=admin).json()["enrolled"] is False
    again = web.delete("/users/dana/mfa", headers=admin)
    assert again.status_code == 404 and "no authenticator" in again.json()["error"]["message"]
    assert web.get("/users/nobody/mfa", headers=admin).status_code == 404

    assert web.put("/auth/mfa/required", json={"required": True}, headers=dana).status_code == 403
    on = web.put("/auth/mfa/required", json={"required": True}, headers=admin)
    assert on.status_code == 200 and on.json() == {"required": True}
    assert governance.mfa.is_required()
    bad = web.put("/auth/mfa/required", json={"required": "yes please"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "required"
    off = web.put("/auth/mfa/required", json={"required": False}, headers=admin)
    assert off.json() == {"required": False} and not governance.mfa.is_required()
    actions = [e["action"] for e in governance.audit.export(actor=SYSTEM)]
    assert actions.count("mfa.reset") == 1 and actions.count("mfa.required_changed") == 2
