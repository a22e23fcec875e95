"""No existence oracle: a signed-in user with no role in a project gets the same answer
(404, the same body but for the id asked for) for an object there as for one that does
not exist, for every kind of id: projects, members, runs, metrics, artifacts, datasets,
dataset versions, aliases, reports, schedules, lineage; and a user who is not an
administrator gets the same answer for another user's token as for a missing one."""

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
from modelyard.governance import SYSTEM, Governance
from modelyard.lineage.edges import Lineage
from modelyard.store import open_store
from pipeline_files import pipeline_file

MISSING_RUN = "0" * 32
MISSING_DIGEST = "f" * 64
MISSING_TOKEN = "0" * 16
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
    report_id: str
    token_id: str
    """A token of another user, bob."""
    eve_run: str
    """A run of eve's own, in her project ``mine``."""


@pytest.fixture
def hidden(
    served: str, admin_token: str, embedded_settings: Settings, tmp_path: Path
) -> Iterator[Hidden]:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    governance = Governance(store)
    governance.users.create_service_account("eve", actor=SYSTEM)
    eve_token = governance.tokens.create("eve", "t", actor=SYSTEM).secret
    governance.users.create_service_account("bob", actor=SYSTEM)
    bob_token = governance.tokens.create("bob", "t", actor=SYSTEM).token.id
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
        version = _ok(
            admin.post(
                "/projects/vault/datasets/ledger/versions",
                params={"run_id": run_id, "aliases": "prod"},
                content=_arrow(),
                headers=ARROW,
            )
        )["version"]
        report = {"kind": "validation", "data": {"ok": True}, "html": "<p>ok</p>"}
        versions = "/projects/vault/datasets/ledger/versions"
        report_id = _ok(admin.post(f"{versions}/1/reports", json=report))["id"]
        schedule = {"name": "nightly", "pipeline": "oracle_pipes.py:tick", "cron": "0 3 * * *"}
        _ok(admin.post("/projects/vault/schedules", json=schedule))
        eve_run = _ok(eve.post("/runs", json={"project": "mine"}))["id"]
        _ok(eve.post("/projects/mine/datasets/own/versions", content=_arrow(), headers=ARROW))
        yield Hidden(
            admin,
            eve,
            run_id,
            digest,
            version["id"],
            Lineage(store),
            report_id,
            bob_token,
            eve_run,
        )
    store.dispose()


def _arrow() -> bytes:
    table = pa.table({"x": [1, 2, 3]})
    body = io.BytesIO()
    with pa.ipc.new_stream(body, table.schema) as writer:
        writer.write_table(table)
    return body.getvalue()


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _pairs(h: Hidden) -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(method, path template, request arguments, existing id, missing id): ``{id}`` in
    the template and in the arguments is replaced by the id."""
    run, missing_run = h.run_id, MISSING_RUN
    point = {"key": "m", "steps": [1], "values": [1], "timestamps": [1]}
    octets = {"content": b"eve", "headers": {"Content-Type": "application/octet-stream"}}
    arrow = {"content": _arrow(), "headers": ARROW}
    eve_input = {"json": {"run_id": h.eve_run}}
    report = {"json": {"kind": "validation", "data": {"ok": False}}}
    return [
        ("GET", "/projects/{id}", {}, "vault", "nosuch"),
        ("GET", "/projects/{id}/members", {}, "vault", "nosuch"),
        ("PUT", "/projects/{id}/members/eve", {"json": {"role": "admin"}}, "vault", "nosuch"),
        ("DELETE", "/projects/{id}/members/bob", {}, "vault", "nosuch"),
        ("GET", "/schedules", {"params": {"project": "{id}"}}, "vault", "nosuch"),
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
        ("DELETE", "/runs/{id}", {"params": {"permanent": "true"}}, run, missing_run),
        ("POST", "/runs", {"json": {"project": "mine", "parent_id": "{id}"}}, run, missing_run),
        ("POST", "/runs/{id}/restore", {}, run, missing_run),
        ("GET", "/runs/{id}/metrics/history", {"params": {"key": "m"}}, run, missing_run),
        (
            "POST",
            "/batches",
            {"json": {"batch_id": "eve-batch-1", "tags": [["{id}", "k", "v"]]}},
            run,
            missing_run,
        ),
        (
            "POST",
            "/batches",
            {"json": {"batch_id": "eve-batch-2", "params": [["{id}", "k", "v"]]}},
            run,
            missing_run,
        ),
        (
            "POST",
            "/batches",
            {"json": {"batch_id": "eve-batch-3", "metrics": [dict(point, run_id="{id}")]}},
            run,
            missing_run,
        ),
        (
            "POST",
            "/batches",
            {"json": {"batch_id": "eve-batch-4", "heartbeats": ["{id}"]}},
            run,
            missing_run,
        ),
        ("GET", "/runs/{id}/artifacts", {}, run, missing_run),
        (
            "PUT",
            "/runs/{id}/artifacts/content",
            {"params": {"path": "y.txt"}, **octets},
            run,
            missing_run,
        ),
        ("GET", "/runs/{id}/artifacts/info", {"params": {"path": "x.txt"}}, run, missing_run),
        ("GET", "/runs/{id}/artifacts/content", {"params": {"path": "x.txt"}}, run, missing_run),
        ("GET", "/dataset-versions/{id}", {}, h.version_id, MISSING_RUN),
        ("GET", "/projects/vault/datasets/{id}/versions", {}, "ledger", "nosuch"),
        ("GET", "/projects/vault/datasets/ledger/versions/{id}", {}, "1", "9"),
        ("GET", "/projects/vault/datasets/ledger/versions/{id}/profile", {}, "1", "9"),
        ("GET", "/projects/vault/datasets/ledger/versions/{id}", {}, "prod", "nosuch"),
        ("GET", "/projects/{id}/datasets/ledger/versions", {}, "vault", "nosuch"),
        ("GET", "/projects/vault/datasets/{id}/versions/1/data", {}, "ledger", "nosuch"),
        ("GET", "/projects/vault/datasets/ledger/versions/{id}/data", {}, "1", "9"),
        (
            "POST",
            "/projects/mine/datasets/own/versions",
            {"params": {"run_id": "{id}"}, **arrow},
            run,
            missing_run,
        ),
        ("POST", "/projects/vault/datasets/ledger/versions/{id}/inputs", eve_input, "1", "9"),
        (
            "POST",
            "/projects/mine/datasets/own/versions/1/inputs",
            {"json": {"run_id": "{id}"}},
            run,
            missing_run,
        ),
        (
            "PUT",
            "/projects/vault/datasets/{id}/aliases/x",
            {"json": {"version": 1}},
            "ledger",
            "nosuch",
        ),
        ("DELETE", "/projects/vault/datasets/ledger/aliases/{id}", {}, "prod", "nosuch"),
        ("GET", "/projects/vault/datasets/ledger/versions/{id}/reports", {}, "1", "9"),
        ("POST", "/projects/vault/datasets/ledger/versions/{id}/reports", report, "1", "9"),
        (
            "GET",
            "/projects/vault/datasets/ledger/versions/1/reports/{id}/html",
            {},
            h.report_id,
            MISSING_RUN,
        ),
        ("GET", "/projects/vault/schedules/{id}", {}, "nightly", "nosuch"),
        ("GET", "/projects/vault/schedules/{id}/fires", {}, "nightly", "nosuch"),
        ("POST", "/projects/vault/schedules/{id}/disable", {}, "nightly", "nosuch"),
        ("POST", "/projects/vault/schedules/{id}/enable", {}, "nightly", "nosuch"),
        ("POST", "/projects/vault/schedules/{id}/run", {}, "nightly", "nosuch"),
        ("DELETE", "/projects/vault/schedules/{id}", {}, "nightly", "nosuch"),
        ("DELETE", "/tokens/{id}", {}, h.token_id, MISSING_TOKEN),
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
    leaks = []
    for method, path, args, existing, missing in _pairs(hidden):
        there = _ask(hidden.eve, method, path, args, existing)
        absent = _ask(hidden.eve, method, path, args, missing)
        if there != absent or there[0] != 404 or '"code":"not_found"' not in there[1]:
            leaks.append((method, path, there, absent))
    assert leaks == [], "\n".join(map(str, leaks))
    # Nothing eve tried changed anything, and the objects are all there.
    run = _ok(hidden.admin.get(f"/runs/{hidden.run_id}"))
    assert run["status"] == "running" and run["tags"] == {}
    assert _ok(hidden.admin.get("/projects/vault/schedules/nightly"))["enabled"] is True
    assert _ok(hidden.admin.get("/projects/vault/schedules"))["items"][0]["name"] == "nightly"
    members = _ok(hidden.admin.get("/projects/vault/members"))["items"]
    assert [m["username"] for m in members] == ["test-admin"]
    versions = _ok(hidden.admin.get("/projects/vault/datasets/ledger/versions"))["items"]
    assert [(v["version"], sorted(v["aliases"])) for v in versions] == [(1, ["latest", "prod"])]
    reports = "/projects/vault/datasets/ledger/versions/1/reports"
    validations = _ok(hidden.admin.get(reports, params={"kind": "validation"}))["items"]
    assert [r["id"] for r in validations] == [hidden.report_id]
    tokens = _ok(hidden.admin.get("/tokens", params={"all": "true"}))["items"]
    assert next(t for t in tokens if t["id"] == hidden.token_id)["revoked_at"] is None
    lineage = _ok(hidden.admin.get("/lineage", params={"kind": "artifact", "id": hidden.digest}))
    assert lineage["items"] == []
    edges = _ok(hidden.admin.get("/lineage", params={"kind": "run", "id": hidden.run_id}))
    ends = {(e["source_id"], e["target_id"]) for e in edges["items"]}
    assert ends == {(hidden.run_id, hidden.version_id)}, ends


def test_creating_in_a_project_without_a_role_tells_nothing_of_its_objects(
    hidden: Hidden,
) -> None:
    """Creating names a project, and a project name that is taken is no secret (creating
    it again is 409, and writing to a new name creates it): the refusal to create in
    ``vault`` is 403, and the same whether the name of the new object is taken there."""
    schedule = {"name": "{id}", "pipeline": "oracle_pipes.py:tick", "cron": "0 3 * * *"}
    arrow = {"content": _arrow(), "headers": ARROW}
    for method, path, args, existing in [
        ("POST", "/projects/vault/datasets/{id}/versions", arrow, "ledger"),
        ("POST", "/projects/vault/schedules", {"json": schedule}, "nightly"),
    ]:
        there = _ask(hidden.eve, method, path, args, existing)
        assert there == _ask(hidden.eve, method, path, args, "nosuch"), (path, there)
        assert there[0] == 403 and '"code":"permission_denied"' in there[1], (path, there)


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
