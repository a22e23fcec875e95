"""Alerts and health over REST: the answers' shapes, the role ladder on the alert routes
(viewers read, contributors handle), a resolved alert's 409 in the one error shape, bad
queries and bodies answered 422 naming their field."""

from __future__ import annotations

import io
import tarfile

import httpx
import pytest

from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.monitoring._raise import raise_alert
from modelyard.store import open_store
from modelyard.store.tables import deployments

ALERTS = "/projects/p/alerts"


def _tar() -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("model/model.skops")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"m"))
    return sink.getvalue()


@pytest.fixture
def alert_id(api: httpx.Client, embedded_settings: Settings) -> str:
    """Deployment ``api`` of project ``p`` with an open critical alert on it."""
    upload = api.post(
        "/projects/p/models/m/versions",
        params={"flavor": "sklearn"},
        content=_tar(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert upload.status_code == 201, upload.text
    api.post("/projects/p/models/m/versions/1/requests", json={"to": "staging"})
    made = api.post("/projects/p/deployments", json={"name": "api", "plan": "m/1"})
    assert made.status_code == 201, made.text
    store = open_store(embedded_settings.store_url)
    try:
        with store.write() as conn:
            deployment_id = (
                conn.execute(deployments.select().where(deployments.c.name == "api")).one().id
            )
            return raise_alert(
                conn,
                project="p",
                subject_kind="deployment",
                subject_id=deployment_id,
                subject="deployment api",
                monitor="p99",
                severity="critical",
                title="p99 latency 900 ms above 500",
                details={"p99_ms": 900},
                at=1_000,
            ).alert_id
    finally:
        store.dispose()


def _as(governance: Governance, username: str, role: str) -> dict[str, str]:
    governance.users.create_service_account(username, actor=SYSTEM)
    governance.roles.grant("p", username, role, actor=SYSTEM)
    return {
        "Authorization": f"Bearer {governance.tokens.create(username, 't', actor=SYSTEM).secret}"
    }


def test_viewers_read_contributors_handle_and_a_resolved_alert_is_409(
    api: httpx.Client, alert_id: str, governance: Governance
) -> None:
    viewer = _as(governance, "vera", "viewer")
    contributor = _as(governance, "carl", "contributor")
    listed = api.get(ALERTS, params={"status": "open", "deployment": "api"}, headers=viewer)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["id"], item["subject"], item["history"]) == (alert_id, "deployment api", [])
    one = api.get(f"{ALERTS}/{alert_id}", headers=viewer).json()
    assert [n["action"] for n in one["history"]] == ["opened"]
    assert one["details"] == {"p99_ms": 900} and one["occurrences"] == 1
    for action, body in [("acknowledge", {}), ("resolve", {}), ("comments", {"comment": "x"})]:
        refused = api.post(f"{ALERTS}/{alert_id}/{action}", json=body, headers=viewer)
        assert refused.status_code == 403, (action, refused.text)
    acked = api.post(f"{ALERTS}/{alert_id}/acknowledge", json={}, headers=contributor)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "carl"
    noted = api.post(f"{ALERTS}/{alert_id}/comments", json={"comment": "a"}, headers=contributor)
    assert noted.json()["history"][-1] == {
        "action": "commented",
        "by": "carl",
        "at": noted.json()["history"][-1]["at"],
        "comment": "a",
    }
    done = api.post(f"{ALERTS}/{alert_id}/resolve", json={"comment": "ok"}, headers=contributor)
    assert (done.json()["status"], done.json()["resolved_by"]) == ("resolved", "carl")
    again = api.post(f"{ALERTS}/{alert_id}/resolve", json={}, headers=contributor)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert "resolved already (by carl)" in again.json()["error"]["message"]


def test_health_answers_with_components_and_formula(api: httpx.Client, alert_id: str) -> None:
    health = api.get("/projects/p/deployments/api/health")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["score"] is None and body["subject"] == "deployment api"
    assert [c["name"] for c in body["components"]] == [
        "drift",
        "performance",
        "slo",
        "quality",
        "labels",
    ]
    assert "weight" in body["formula"]
    one = api.get("/projects/p/deployments/api/health", params={"version": "m/1"}).json()
    assert (one["subject_kind"], one["subject"]) == ("model_version", "m/1")
    history = api.get("/projects/p/deployments/api/health/history", params={"since": 0})
    assert history.status_code == 200 and history.json() == {"items": []}


def test_bad_queries_and_bodies_name_their_field(api: httpx.Client, alert_id: str) -> None:
    for params, field in [
        ({"status": "closed"}, "status"),
        ({"severity": "fatal"}, "severity"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
    ]:
        answer = api.get(ALERTS, params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["error"]["field"] == field
    for body in ({"comment": ""}, {"comment": "x", "extra": 1}, {}):
        answer = api.post(f"{ALERTS}/{alert_id}/comments", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert api.get(f"{ALERTS}/{'0' * 32}").status_code == 404
    assert api.get("/projects/p/deployments/nowhere/health").status_code == 404
    bad = api.get("/projects/p/deployments/api/health/history", params={"since": 5, "until": 1})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "since"
    version = api.get("/projects/p/deployments/api/health", params={"version": "m"})
    assert version.status_code == 422 and version.json()["error"]["field"] == "version"
