"""Deployments over REST: the shapes of the answers, and bad bodies answered 422 naming the
field before the service is asked, or by the service with its own field."""

from __future__ import annotations

import io
import tarfile

import httpx
import pytest

DEPLOYMENTS = "/projects/p/deployments"


def _tar() -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("model/model.skops")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"m"))
    return sink.getvalue()


@pytest.fixture
def staged(api: httpx.Client) -> None:
    """Version 1 of model ``m`` in project ``p``, in staging."""
    upload = api.post(
        "/projects/p/models/m/versions",
        params={"flavor": "sklearn"},
        content=_tar(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert upload.status_code == 201, upload.text
    moved = api.post("/projects/p/models/m/versions/1/requests", json={"to": "staging"})
    assert moved.status_code == 201, moved.text


def test_create_read_change_and_history(api: httpx.Client, staged: None) -> None:
    made = api.post(DEPLOYMENTS, json={"name": "api", "plan": "m/1", "sample_rate": 0.25})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["plan"] == {
        "routes": [
            {
                "model": "m",
                "ref": "1",
                "weight": 100,
                "version": 1,
                "version_id": body["plan"]["routes"][0]["version_id"],
            }
        ],
        "shadows": [],
        "sticky_key": None,
        "strategy": "single",
    }
    assert (body["revision"], body["sample_rate"], body["project"]) == (1, 0.25, "p")
    plan = {"routes": [{"model": "m", "ref": "1", "weight": 100}], "sticky_key": "X-Id"}
    changed = api.put(f"{DEPLOYMENTS}/api/plan", json={"plan": plan, "expected_revision": 1})
    assert changed.status_code == 200 and changed.json()["revision"] == 2
    stale = api.put(f"{DEPLOYMENTS}/api/plan", json={"plan": plan, "expected_revision": 1})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
    listed = api.get(DEPLOYMENTS).json()
    assert [d["name"] for d in listed["items"]] == ["api"] and listed["next_cursor"] is None
    history = api.get(f"{DEPLOYMENTS}/api/history").json()["items"]
    assert [h["action"] for h in history] == ["create", "set_traffic"]
    assert history[1]["plan"]["routes"][0]["version"] is None  # as written, unresolved
    back = api.post(f"{DEPLOYMENTS}/api/rollback", json={"to_revision": 1, "reason": "r"})
    assert back.status_code == 200 and back.json()["plan"]["sticky_key"] is None
    assert api.delete(f"{DEPLOYMENTS}/api").status_code == 204
    assert api.get(f"{DEPLOYMENTS}/api").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"name": "api", "plan": {"routes": [{"model": "m", "ref": "1", "weight": 101}]}},
            "weight",
        ),
        ({"name": "api", "plan": {"routes": []}}, "routes"),
        ({"name": "api", "plan": "m/1", "sample_rate": 2}, "sample_rate"),
        ({"name": "api", "plan": "m/1", "extra": 1}, "extra"),
        (
            {
                "name": "api",
                "plan": {"routes": [{"model": "m", "ref": "1", "weight": 100}], "shadow": []},
            },
            "shadow",
        ),
        ({"name": "api", "plan": "m/7"}, "plan.routes[0].ref"),
        ({"name": "api", "plan": "m"}, "plan"),
        (
            {"name": "api", "plan": {"routes": [{"model": "m", "ref": "1", "weight": 60}]}},
            "plan.routes",
        ),
    ],
)
def test_bad_bodies_name_their_field(
    api: httpx.Client, staged: None, body: dict, field: str
) -> None:
    answer = api.post(DEPLOYMENTS, json=body)
    assert answer.status_code == 422, answer.text
    assert field in (answer.json()["error"]["field"] or ""), answer.text


def _latency(requests: int) -> list[int]:
    return [requests] + [0] * 22


def test_a_rollout_over_rest_and_the_report_routes_checks(api: httpx.Client, staged: None) -> None:
    api.post("/projects/p/models/m/aliases/champion", json={"version": 1})
    assert api.post(DEPLOYMENTS, json={"name": "api", "plan": "m/1"}).status_code == 201
    plan = {"routes": [{"model": "m", "ref": "1", "weight": 100}]}
    rollout = {"max_error_rate": 0.01, "max_p99_ms": 50, "window_s": 60, "min_requests": 10}
    changed = api.put(f"{DEPLOYMENTS}/api/plan", json={"plan": plan, "rollout": rollout})
    assert changed.status_code == 200, changed.text
    assert changed.json()["rollout"]["max_p99_ms"] == 50
    assert changed.json()["rollout"]["steps"] == []
    version_id = changed.json()["plan"]["routes"][0]["version_id"]
    end = changed.json()["updated_at"] + 5000
    stats = {"deployment": "api", "version_id": version_id, "requests": 10, "errors": 0,
             "latency_ms": _latency(10)}  # fmt: skip
    report = {"server": "s1", "window_start": end - 5000, "window_end": end, "stats": [stats]}
    sent = api.post(f"{DEPLOYMENTS}/-/reports", json=report)
    assert sent.status_code == 204, sent.text
    unknown = api.post(
        f"{DEPLOYMENTS}/-/reports", json={**report, "stats": [{**stats, "version_id": "f" * 32}]}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "stats[0].version_id"
    too_many = api.post(f"{DEPLOYMENTS}/-/reports", json={**report, "stats": [stats] * 1001})
    assert too_many.status_code == 422
    short = api.post(
        f"{DEPLOYMENTS}/-/reports", json={**report, "stats": [{**stats, "latency_ms": [10]}]}
    )
    assert short.status_code == 422


def test_a_bad_rollout_names_its_field(api: httpx.Client, staged: None) -> None:
    assert api.post(DEPLOYMENTS, json={"name": "api", "plan": "m/1"}).status_code == 201
    plan = {"routes": [{"model": "m", "ref": "1", "weight": 100}]}
    for rollout, field in (
        ({"max_error_rate": 2}, "max_error_rate"),
        ({}, "rollout"),
        ({"max_p99_ms": 5, "steps": [10, 100]}, "rollout.steps"),
        ({"live_monitor": "accuracy"}, "rollout.max_live_drop"),
        ({"live_monitor": "accuracy", "max_live_drop": 0.1}, "rollout.live_monitor"),
        ({"live_monitor": "accuracy", "max_live_drop": -1}, "max_live_drop"),
    ):
        answer = api.put(f"{DEPLOYMENTS}/api/plan", json={"plan": plan, "rollout": rollout})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"].endswith(field), answer.json()
