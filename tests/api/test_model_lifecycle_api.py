"""Model cards, status requests, decisions and policies over REST: the card as JSON,
Markdown or HTML; roles route by route (viewer reads, contributor fills cards and requests,
approver decides, project admin sets the policy); refusals in the one error shape."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import httpx
import pytest

from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store

MODEL = "/projects/p/models/m"


def _tar() -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("model/model.skops")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"m"))
    return sink.getvalue()


@pytest.fixture
def tokens(embedded_settings: Settings, api: httpx.Client) -> Iterator[dict[str, dict[str, str]]]:
    """A version ``m/1`` in project ``p`` and a user of each role there, by role."""
    registered = api.post(
        f"{MODEL}/versions",
        params={"flavor": "sklearn"},
        content=_tar(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert registered.status_code == 201, registered.text
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    governance = Governance(store)
    found = {}
    for role in ("viewer", "contributor", "approver", "admin"):
        governance.users.create_service_account(role, actor=SYSTEM)
        governance.roles.grant("p", role, role, actor=SYSTEM)
        token = governance.tokens.create(role, "t", actor=SYSTEM).secret
        found[role] = {"Authorization": f"Bearer {token}"}
    yield found
    store.dispose()


def test_the_card_as_json_markdown_or_html(api: httpx.Client, tokens: dict) -> None:
    viewer, contributor = tokens["viewer"], tokens["contributor"]
    body = {"fields": {"intended_use": "<i>tests</i>"}}
    assert api.put(f"{MODEL}/versions/1/card", json=body, headers=viewer).status_code == 403
    filled = api.put(f"{MODEL}/versions/latest/card", json=body, headers=contributor)
    assert filled.status_code == 200 and filled.json()["fields"] == body["fields"]
    markdown = api.get(f"{MODEL}/versions/1/card", params={"format": "md"}, headers=viewer)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "&lt;i&gt;tests&lt;/i&gt;" in markdown.text
    page = api.get(f"{MODEL}/versions/1/card", params={"format": "html"}, headers=viewer)
    assert page.headers["content-type"].startswith("text/html") and "<i>" not in page.text
    assert api.get(f"{MODEL}/versions/1/card", headers=viewer).json()["version"] == 1
    bad = api.get(f"{MODEL}/versions/1/card", params={"format": "pdf"}, headers=viewer)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "format"
    named = api.put(f"{MODEL}/versions/1/card", json={"fields": {"A b": "x"}}, headers=contributor)
    assert named.status_code == 422 and named.json()["error"]["field"] == "fields"


def test_roles_along_a_request_and_its_approval(api: httpx.Client, tokens: dict) -> None:
    viewer, contributor = tokens["viewer"], tokens["contributor"]
    approver, admin = tokens["approver"], tokens["admin"]
    policy = {"source": "production:\n  approvals: 1\n"}
    for who in (viewer, contributor, approver):
        assert api.put("/projects/p/model-policy", json=policy, headers=who).status_code == 403
    set_ = api.put("/projects/p/model-policy", json=policy, headers=admin)
    assert set_.status_code == 200 and set_.json()["scope"] == "project"
    shown = api.get("/projects/p/model-policy", params={"model": "m"}, headers=viewer)
    assert shown.json()["policy"] == {"production": {"approvals": 1}}
    bad = api.put(
        "/projects/p/model-policy", json={"source": "production: {quorum: 2}"}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "production.quorum"

    ask = {"to": "production", "comment": "ship it"}
    assert api.post(f"{MODEL}/versions/1/requests", json=ask, headers=viewer).status_code == 403
    asked = api.post(f"{MODEL}/versions/1/requests", json=ask, headers=contributor)
    assert asked.status_code == 201 and asked.json()["state"] == "open"
    request_id = asked.json()["id"]
    again = api.post(f"{MODEL}/versions/1/requests", json=ask, headers=contributor)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    for who in (viewer, contributor):
        refused = api.post(f"/model-requests/{request_id}/approve", json={}, headers=who)
        assert refused.status_code == 403
    approved = api.post(
        f"/model-requests/{request_id}/approve", json={"comment": "ok"}, headers=approver
    )
    assert approved.status_code == 200 and approved.json()["state"] == "applied"
    assert api.get(f"{MODEL}/versions/1", headers=viewer).json()["status"] == "production"
    listed = api.get(f"{MODEL}/requests", params={"state": "applied"}, headers=viewer).json()
    assert [r["id"] for r in listed["items"]] == [request_id]
    assert api.get(f"/model-requests/{request_id}", headers=viewer).status_code == 200
    missing = api.get("/model-requests/" + "0" * 32, headers=viewer)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "request_id"


def test_refusals_in_the_error_shape(api: httpx.Client, tokens: dict) -> None:
    admin = tokens["admin"]
    api.put(
        "/projects/p/model-policy", json={"source": "staging:\n  evaluation: true\n"}, headers=admin
    )
    refused = api.post(f"{MODEL}/versions/1/requests", json={"to": "staging"}, headers=admin)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "policy_violation"
    assert "evaluation: observed none kept" in refused.json()["error"]["message"]
    illegal = api.post(f"{MODEL}/versions/1/requests", json={"to": "limbo"}, headers=admin)
    assert illegal.status_code == 422 and illegal.json()["error"]["field"] == "to"
    for to in ("retired", "staging"):
        answer = api.post(f"{MODEL}/versions/1/requests", json={"to": to}, headers=admin)
        assert answer.status_code == (201 if to == "retired" else 409), answer.text
    assert "retired is final" in answer.json()["error"]["message"]
