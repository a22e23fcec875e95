"""The attack: a contributor replaces an artifact in another user's finished run and
overwrites its tags. Through the API, with two users and their tokens: the finished
run's params, metrics, artifacts, child runs and lineage are closed (409 naming the run
and its status), its artifact names are write-once, reopening it is its owner's act (403
for others, audited for her), and tags changed on it are audited with their old values."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest

from modelyard.api.app import API_PREFIX
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store
from service_support import tracking_service

OCTETS = {"Content-Type": "application/octet-stream"}
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
VERSIONS = "/projects/p/datasets/d/versions"


@pytest.fixture
def users(served: str, admin_token: str, embedded_settings: Settings) -> Iterator[dict]:
    """HTTP clients of alice and bob (contributors of project p) and of an admin."""
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    gov = Governance(store)
    clients = {}
    for name in ("alice", "bob"):
        gov.users.create_user(name, "Quartz-Lantern-Orbit-7", actor=SYSTEM)
        token = gov.tokens.create(name, "t", actor=SYSTEM).secret
        clients[name] = httpx.Client(
            base_url=served + API_PREFIX, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
    clients["admin"] = httpx.Client(
        base_url=served + API_PREFIX,
        timeout=30,
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert clients["admin"].post("/projects", json={"name": "p"}).status_code == 201
    for name in ("alice", "bob"):
        grant = clients["admin"].put(f"/projects/p/members/{name}", json={"role": "contributor"})
        assert grant.status_code == 200, grant.text
    yield clients
    for client in clients.values():
        client.close()
    store.dispose()


def _tag_events(admin: httpx.Client, run_id: str) -> list[tuple[str, str]]:
    events = admin.get("/audit", params={"limit": 1000}).json()["items"]
    return [
        (e["actor"], e["summary"])
        for e in events
        if e["action"] == "run.tag_set" and e["object_id"] == run_id
    ]


def test_another_users_finished_run_cannot_be_rewritten(users: dict) -> None:
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    run = alice.post("/runs", json={"project": "p", "name": "baseline", "tags": {"stage": "ok"}})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    content = f"/runs/{run_id}/artifacts/content"
    stored = alice.put(content, params={"path": "model.pkl"}, content=b"good", headers=OCTETS)
    assert stored.status_code == 201, stored.text
    batch = {
        "batch_id": "alice-batch-1",
        "params": [[run_id, "lr", "0.1"]],
        "metrics": [
            {"run_id": run_id, "key": "auc", "steps": [0], "values": [0.9], "timestamps": [1]}
        ],
    }
    assert alice.post("/batches", json=batch).status_code == 200
    assert alice.post(f"/runs/{run_id}/end", json={"status": "finished"}).status_code == 204
    before = admin.get(f"/runs/{run_id}").json()

    # bob replaces the artifact, adds one, logs into the run, reopens or re-ends it: all no
    for path, body in (("model.pkl", b"evil"), ("backdoor.pkl", b"evil")):
        answer = bob.put(content, params={"path": path}, content=body, headers=OCTETS)
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["code"] == "conflict" and run_id in error["message"]
        assert "finished" in error["message"]
    sneaky = {
        "batch_id": "bob-batch-1",
        "params": [[run_id, "lr", "0.5"], [run_id, "extra", "1"]],
        "metrics": [
            {"run_id": run_id, "key": "auc", "steps": [1], "values": [0.1], "timestamps": [2]}
        ],
    }
    answer = bob.post("/batches", json=sneaky)
    assert answer.status_code == 409 and "finished" in answer.json()["error"]["message"]
    assert bob.post(f"/runs/{run_id}/resume").status_code == 403
    ended = bob.post(f"/runs/{run_id}/end", json={"status": "failed", "error": "x"})
    assert ended.status_code == 409 and ended.json()["error"]["field"] == "status"
    child = bob.post("/runs", json={"project": "p", "name": "mine-now", "parent_id": run_id})
    assert child.status_code == 409 and child.json()["error"]["field"] == "parent_id"
    assert "finished" in child.json()["error"]["message"]

    after = admin.get(f"/runs/{run_id}").json()
    assert after == before
    assert alice.get(content, params={"path": "model.pkl"}).content == b"good"
    listed = alice.get(f"/runs/{run_id}/artifacts").json()["items"]
    assert [a["path"] for a in listed] == ["model.pkl"]

    # bob may still tag it (a contributor), and the old value is in the audit log
    tags = {"batch_id": "bob-batch-2", "tags": [[run_id, "stage", "broken"]]}
    assert bob.post("/batches", json=tags).status_code == 200
    assert alice.get(f"/runs/{run_id}").json()["tags"]["stage"] == "broken"
    assert _tag_events(admin, run_id) == [
        ("bob", "tag 'stage' of alice's run set to 'broken' (was 'ok')")
    ]


def _arrow(values: list[int]) -> bytes:
    """A one-column table as an Arrow IPC stream (how dataset versions are uploaded)."""
    table = pa.table({"x": values})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _lineage(admin: httpx.Client, run_id: str) -> list[dict]:
    answer = admin.get("/lineage", params={"kind": "run", "id": run_id, "limit": 1000})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_another_users_finished_run_takes_no_lineage(users: dict) -> None:
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    run_id = alice.post("/runs", json={"project": "p"}).json()["id"]
    made = bob.post(VERSIONS, content=_arrow([1, 2]), headers=ARROW)
    assert made.status_code == 201, made.text
    read = alice.post(f"{VERSIONS}/1/inputs", json={"run_id": run_id})
    assert read.status_code == 204, read.text  # her open run read it: recorded
    assert alice.post(f"/runs/{run_id}/end", json={"status": "finished"}).status_code == 204
    before = _lineage(admin, run_id)
    assert [(e["source_kind"], e["relation"]) for e in before] == [("dataset_version", "input")]

    # bob says her finished run read a version, made new data, or made the old data
    attempts = [
        bob.post(f"{VERSIONS}/1/inputs", json={"run_id": run_id}),
        bob.post(VERSIONS, params={"run_id": run_id}, content=_arrow([3]), headers=ARROW),
        bob.post(VERSIONS, params={"run_id": run_id}, content=_arrow([1, 2]), headers=ARROW),
    ]
    for answer in attempts:
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["code"] == "conflict" and error["field"] == "run_id"
        assert run_id in error["message"] and "finished" in error["message"]
    assert _lineage(admin, run_id) == before
    assert [v["version"] for v in bob.get(VERSIONS).json()["items"]] == [1]

    # closed for her too until she resumes it; then her run's lineage is hers to add to
    mine = alice.post(VERSIONS, params={"run_id": run_id}, content=_arrow([5]), headers=ARROW)
    assert mine.status_code == 409, mine.text
    assert alice.post(f"/runs/{run_id}/resume").status_code == 200
    mine = alice.post(VERSIONS, params={"run_id": run_id}, content=_arrow([5]), headers=ARROW)
    assert mine.status_code == 201, mine.text
    assert len(_lineage(admin, run_id)) == 2


def test_another_users_lost_run_is_hers_to_end(users: dict, embedded_settings: Settings) -> None:
    alice, bob = users["alice"], users["bob"]
    run_id = alice.post("/runs", json={"project": "p"}).json()["id"]
    assert bob.post(VERSIONS, content=_arrow([1]), headers=ARROW).status_code == 201
    store = open_store(embedded_settings.store_url)
    assert tracking_service(store, heartbeat_timeout_s=0.0).sweep_lost() == 1
    store.dispose()

    attempts = [
        bob.post(f"/runs/{run_id}/end", json={"status": "killed"}),
        bob.post("/runs", json={"project": "p", "parent_id": run_id}),
        bob.post(f"{VERSIONS}/1/inputs", json={"run_id": run_id}),
    ]
    for answer in attempts:
        assert answer.status_code == 409, answer.text
        assert "only its owner (alice)" in answer.json()["error"]["message"]
    assert alice.get(f"/runs/{run_id}").json()["status"] == "lost"
    assert alice.post(f"{VERSIONS}/1/inputs", json={"run_id": run_id}).status_code == 204
    assert alice.post(f"/runs/{run_id}/end", json={"status": "killed"}).status_code == 204


def test_the_owner_reopens_her_run_and_names_stay_write_once(users: dict) -> None:
    alice, admin = users["alice"], users["admin"]
    run_id = alice.post("/runs", json={"project": "p"}).json()["id"]
    content = f"/runs/{run_id}/artifacts/content"
    assert alice.put(content, params={"path": "m"}, content=b"v1", headers=OCTETS).is_success
    assert alice.post(f"/runs/{run_id}/end", json={"status": "failed"}).status_code == 204

    resumed = alice.post(f"/runs/{run_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    events = admin.get("/audit", params={"limit": 1000}).json()["items"]
    assert ("alice", "run resumed (was failed)") in [
        (e["actor"], e["summary"]) for e in events if e["action"] == "run.resumed"
    ]
    same = alice.put(content, params={"path": "m"}, content=b"v1", headers=OCTETS)
    assert same.status_code == 201
    other = alice.put(content, params={"path": "m"}, content=b"v2", headers=OCTETS)
    assert other.status_code == 409 and "write-once" in other.json()["error"]["message"]
    under = alice.put(content, params={"path": "m/x"}, content=b"x", headers=OCTETS)
    assert under.status_code == 409 and under.json()["error"]["field"] == "path"
    assert alice.get(content, params={"path": "m"}).content == b"v1"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "finished", "wall_time_s": -1},
        {"status": "finished", "cpu_time_s": "NaN"},
        {"status": "finished", "gpu_time_s": "Infinity"},
        {"status": "finished", "cost": -0.5},
        {"status": "finished", "peak_rss_bytes": -1},
    ],
)
def test_resource_figures_are_bounded_on_the_wire(users: dict, body: dict) -> None:
    alice = users["alice"]
    run_id = alice.post("/runs", json={"project": "p"}).json()["id"]
    answer = alice.post(f"/runs/{run_id}/end", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == next(k for k in body if k != "status")
    assert alice.get(f"/runs/{run_id}").json()["status"] == "running"
