"""No existence oracle: a signed-in user with no role in a project gets the same answer
(404, the same body but for the id asked for) for an object there as for one that does
not exist, for every kind of id: projects, runs, metrics, artifacts, datasets, dataset
versions, schedules, lineage."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from modelyard.config import Settings
from modelyard.datasets.edges import Lineage
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store
from pipeline_files import pipeline_file

MISSING_RUN = "0" * 32
MISSING_DIGEST = "f" * 64
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}


@dataclass
class Hidden:
    """Objects in project ``vault``, made by an administrator, and a user with no role."""

    admin: httpx.Client
    eve: httpx.Client
    run_id: str
    digest: str
    version_id: str
    lineage: Lineage


@pytest.fixture
def hidden(
    served: str, admin_token: str, embedded_settings: Settings, tmp_path: Path
) -> Iterator[Hidden]:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    governance = Governance(store)
    governance.users.create_service_account("eve", actor=SYSTEM)
    eve_token = governance.tokens.create("eve", "t", actor=SYSTEM).secret
    base = served + "/api/v1"
    admin_headers = {"Authorization": f"Bearer {admin_token}"}
    with (
        pipeline_file(tmp_path, "oracle_pipes"),
        httpx.Client(base_url=base, timeout=30, headers=admin_headers) as admin,
        httpx.Client(
            base_url=base, timeout=30, headers={"Authorization": f"Bearer {eve_token}"}
        ) as eve,
    ):
        run_id = _ok(admin.post("/runs", json={"project": "vault", "name": "r"}))["id"]
        point = {"run_id": run_id, "key": "m", "steps": [0], "values": [1], "timestamps": [1]}
        _ok(admin.post("/batches", json={"batch_id": "oracle-batch", "metrics": [point]}))
        digest = _ok(
            admin.put(
                f"/runs/{run_id}/artifacts/content",
                params={"path": "x.txt"},
                content=b"secret bytes",
                headers={"Content-Type": "application/octet-stream"},
            )
        )["digest"]
        table = pa.table({"x": [1, 2, 3]})
        body = io.BytesIO()
        with pa.ipc.new_stream(body, table.schema) as writer:
            writer.write_table(table)
        version = _ok(
            admin.post(
                "/projects/vault/datasets/ledger/versions",
                params={"run_id": run_id},
                content=body.getvalue(),
                headers=ARROW,
            )
        )["version"]
        schedule = {"name": "nightly", "pipeline": "oracle_pipes.py:tick", "cron": "0 3 * * *"}
        _ok(admin.post("/projects/vault/schedules", json=schedule))
        yield Hidden(admin, eve, run_id, digest, version["id"], Lineage(store))
    store.dispose()


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _pairs(h: Hidden) -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(method, path template, request arguments, existing id, missing id): ``{id}`` in
    the template and in the arguments is replaced by the id."""
    run, missing_run = h.run_id, MISSING_RUN
    return [
        ("GET", "/projects/{id}", {}, "vault", "nosuch"),
        ("GET", "/projects/{id}/members", {}, "vault", "nosuch"),
        ("POST", "/runs/search", {"json": {"project": "{id}"}}, "vault", "nosuch"),
        ("GET", "/datasets", {"params": {"project": "{id}"}}, "vault", "nosuch"),
        ("GET", "/projects/{id}/schedules", {}, "vault", "nosuch"),
        ("GET", "/runs/{id}", {}, run, missing_run),
        ("GET", "/runs/resolve", {"params": {"ref": "{id}"}}, run[:8], missing_run[:8]),
        ("GET", "/runs/{id}/last-steps", {}, run, missing_run),
        ("GET", "/runs/{id}/explain", {}, run, missing_run),
        ("POST", "/runs/{id}/end", {"json": {"status": "finished"}}, run, missing_run),
        ("POST", "/runs/{id}/resume", {}, run, missing_run),
        ("DELETE", "/runs/{id}", {}, run, missing_run),
        ("POST", "/runs/{id}/restore", {}, run, missing_run),
        ("GET", "/runs/{id}/metrics/history", {"params": {"key": "m"}}, run, missing_run),
        (
            "POST",
            "/batches",
            {"json": {"batch_id": "eve-batch-1", "tags": [["{id}", "k", "v"]]}},
            run,
            missing_run,
        ),
        ("GET", "/runs/{id}/artifacts", {}, run, missing_run),
        ("GET", "/runs/{id}/artifacts/info", {"params": {"path": "x.txt"}}, run, missing_run),
        ("GET", "/runs/{id}/artifacts/content", {"params": {"path": "x.txt"}}, run, missing_run),
        ("GET", "/dataset-versions/{id}", {}, h.version_id, MISSING_RUN),
        ("GET", "/projects/vault/datasets/{id}/versions", {}, "ledger", "nosuch"),
        ("GET", "/projects/vault/datasets/ledger/versions/{id}", {}, "1", "9"),
        ("GET", "/projects/vault/datasets/ledger/versions/{id}/profile", {}, "1", "9"),
        ("GET", "/projects/vault/schedules/{id}", {}, "nightly", "nosuch"),
        ("GET", "/projects/vault/schedules/{id}/fires", {}, "nightly", "nosuch"),
        ("POST", "/projects/vault/schedules/{id}/disable", {}, "nightly", "nosuch"),
        ("GET", "/lineage", {"params": {"kind": "run", "id": "{id}"}}, run, missing_run),
        (
            "GET",
            "/lineage",
            {"params": {"kind": "dataset_version", "id": "{id}"}},
            h.version_id,
            MISSING_RUN,
        ),
        (
            "GET",
            "/lineage",
            {"params": {"kind": "artifact", "id": "{id}"}},
            h.digest,
            MISSING_DIGEST,
        ),
    ]


def _ask(client: httpx.Client, method: str, path: str, args: dict[str, Any], id_: str) -> Any:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{id}", id_)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    answer = client.request(method, fill(path), **fill(args))
    text = answer.text.replace(id_, "<id>") if len(id_) > 2 else answer.text
    return answer.status_code, text


def test_a_user_without_a_role_cannot_tell_an_object_from_a_missing_one(hidden: Hidden) -> None:
    for method, path, args, existing, missing in _pairs(hidden):
        there = _ask(hidden.eve, method, path, args, existing)
        absent = _ask(hidden.eve, method, path, args, missing)
        assert there == absent, (method, path, there, absent)
        assert there[0] == 404, (method, path, there)
        assert '"code":"not_found"' in there[1]
    # Nothing eve tried changed anything, and the objects are all there.
    run = _ok(hidden.admin.get(f"/runs/{hidden.run_id}"))
    assert run["status"] == "running" and run["tags"] == {}
    assert _ok(hidden.admin.get("/projects/vault/schedules/nightly"))["enabled"] is True
    lineage = _ok(hidden.admin.get("/lineage", params={"kind": "artifact", "id": hidden.digest}))
    assert lineage["items"] == []


def test_a_viewer_still_learns_that_a_write_is_refused(hidden: Hidden) -> None:
    _ok(hidden.admin.put("/projects/vault/members/eve", json={"role": "viewer"}))
    assert hidden.eve.get(f"/runs/{hidden.run_id}").status_code == 200
    refused = hidden.eve.post(f"/runs/{hidden.run_id}/end", json={"status": "finished"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    missing = hidden.eve.get(f"/runs/{MISSING_RUN}")
    assert missing.status_code == 404


def test_lineage_shows_no_edge_of_a_run_the_user_cannot_read(hidden: Hidden) -> None:
    """The same bytes stored in a project of one's own are no window on the pipelines of
    projects where one has no role."""
    mine = _ok(hidden.eve.post("/runs", json={"project": "mine"}))["id"]
    stored = hidden.eve.put(
        f"/runs/{mine}/artifacts/content",
        params={"path": "guess.txt"},
        content=b"secret bytes",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert _ok(stored)["digest"] == hidden.digest
    artifact = ("artifact", hidden.digest)
    hidden.lineage.record(artifact, ("run", hidden.run_id), "input", run_id=hidden.run_id)
    hidden.lineage.record(artifact, ("run", mine), "input", run_id=mine)
    asked = {"kind": "artifact", "id": hidden.digest}
    seen = _ok(hidden.eve.get("/lineage", params=asked))["items"]
    assert [e["target_id"] for e in seen] == [mine]
    everything = _ok(hidden.admin.get("/lineage", params=asked))["items"]
    assert [e["target_id"] for e in everything] == [hidden.run_id, mine]
