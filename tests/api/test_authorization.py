"""Deny by default: every mounted route needs credentials (but health, sign-in and the
OpenAPI document), and a signed-in user without the role is refused (403, or 404 for an
object in a project where the user has no role at all); the role ladder
(viewer < contributor < admin) holds route by route."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyarrow as pa
import pytest
from fastapi.routing import APIRoute

from modelyard.api.app import API_PREFIX, PUBLIC_PATHS
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store

# Routes any signed-in user may call: they act on the caller's own account or list only
# what the caller may see (a new project makes its creator its admin).
SELF_SERVICE = {
    ("GET", "/projects"),
    ("POST", "/projects"),
    ("GET", "/auth/me"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/mfa/enrol"),
    ("POST", "/auth/mfa/confirm"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("GET", "/datasets"),
    ("GET", "/schedules"),
}
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}


@dataclass
class World:
    api: httpx.Client
    admin: dict[str, str]
    run_id: str
    admin_token_id: str
    version_id: str
    report_id: str

    def as_(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def embedded_settings(embedded_settings: Settings) -> Settings:
    """The test's settings, with room for one refused token per route from this address
    (past ``login_failures_per_address`` the server answers 429, tested elsewhere), and the
    smallest JSON body limit."""
    server = embedded_settings.server.model_copy(
        update={"login_failures_per_address": 10_000, "max_body_bytes": MAX_BODY}
    )
    return embedded_settings.model_copy(update={"server": server})


@pytest.fixture
def governance(embedded_settings: Settings) -> Iterator[Governance]:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    yield Governance(store)
    store.dispose()


PASSWORD = "Quartz-Lantern-Orbit-7"
MAX_BODY = 64 * 1024


def _token(gov: Governance, username: str) -> str:
    """A personal access token of a new (non-admin) user."""
    gov.users.create_user(username, PASSWORD, actor=SYSTEM)
    return gov.tokens.create(username, "t", actor=SYSTEM).secret


@pytest.fixture
def world(served: str, admin_token: str, governance: Governance) -> Iterator[World]:
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=served + API_PREFIX, timeout=30) as api:
        run = api.post("/runs", json={"project": "p", "name": "r"}, headers=admin)
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]
        stored = api.put(
            f"/runs/{run_id}/artifacts/content",
            params={"path": "x.txt"},
            content=b"x",
            headers={**admin, "Content-Type": "application/octet-stream"},
        )
        assert stored.status_code == 201, stored.text
        governance.users.create_service_account("alice", actor=SYSTEM)
        token_id = admin_token.split("_")[2]
        registered = api.post(
            "/projects/p/datasets/d/versions",
            params={"aliases": ["prod"]},
            content=_arrow_body(),
            headers={**admin, **ARROW},
        )
        assert registered.status_code == 201, registered.text
        version_id = registered.json()["version"]["id"]
        report = api.post(
            "/projects/p/datasets/d/versions/1/reports",
            json={"kind": "validation", "data": {"ok": True}, "html": "<p>ok</p>"},
            headers=admin,
        )
        assert report.status_code == 201, report.text
        yield World(api, admin, run_id, token_id, version_id, report.json()["id"])


def _one_point(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "key": "m", "steps": [0], "values": [1], "timestamps": [1]}


def _arrow_body() -> bytes:
    """A small table as an Arrow IPC stream (how dataset versions are uploaded)."""
    table = pa.table({"x": [1, 2, 3]})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _tar_body() -> bytes:
    """A folder of one file as a tar stream (how a model version's files are uploaded)."""
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("model/model.skops")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"m"))
    return sink.getvalue()


def _url(world: World, path: str) -> str:
    """``path`` with its parameters filled in with things that exist."""
    return (
        path.replace("{name}", "p")
        .replace("{username}", "alice")
        .replace("{run_id}", world.run_id)
        .replace("{token_id}", world.admin_token_id)
        .replace("{project}", "p")
        .replace("{dataset}", "d")
        .replace("{ref}", "1")
        .replace("{alias}", "prod")
        .replace("{version_id}", world.version_id)
        .replace("{report_id}", world.report_id)
        .replace("{key}", "registry.allow_code_formats")
        .replace("{evaluation_id}", "0" * 32)
        .replace("{deployment}", "dep")
        .replace("{model}", "m")
        .replace("{version}", "1")
        .replace("{scope}", "all")
        .replace("{alert_id}", "0" * 32)
    )


def _segment_body() -> bytes:
    import pyarrow as pa

    from modelyard.predictions._segments import to_parquet

    return to_parquet(pa.table({"prediction_id": ["p-0"], "version_id": ["v"], "time": [1]}))


def _call(world: World, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    """One request to ``method path`` with valid-looking arguments."""
    run_id = world.run_id
    url = _url(world, path)
    kwargs: dict[str, Any] = {}
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/projects"): {"name": "fresh"},
        ("PUT", "/projects/{name}/members/{username}"): {"role": "viewer"},
        ("PUT", "/projects/{name}/settings/{key}"): {"value": False},
        ("POST", "/runs"): {"project": "p"},
        ("POST", "/runs/{run_id}/end"): {"status": "finished"},
        ("POST", "/runs/search"): {"project": "p"},
        ("POST", "/batches"): {"batch_id": "batch-0001", "metrics": [_one_point(run_id)]},
        ("POST", "/auth/mfa/confirm"): {"code": "123456"},
        ("POST", "/tokens"): {"name": "mine", "password": PASSWORD},
        ("POST", "/auth/mfa/enrol"): {"password": PASSWORD},
        ("POST", "/auth/login"): {"username": "nobody", "password": "wrong-password"},
        ("POST", "/users"): {"username": "newcomer", "password": PASSWORD},
        ("PATCH", "/users/{username}"): {"disabled": True},
        ("PUT", "/auth/mfa/required"): {"required": True},
        ("PUT", "/projects/{project}/datasets/{dataset}/aliases/{alias}"): {"version": 1},
        ("POST", "/projects/{project}/datasets/{dataset}/versions/{ref}/reports"): {
            "kind": "validation",
            "data": {},
        },
        ("POST", "/projects/{project}/datasets/{dataset}/versions/{ref}/inputs"): {
            "run_id": run_id
        },
        ("POST", "/projects/{project}/models"): {"name": "m"},
        ("PATCH", "/projects/{project}/models/{name}"): {"description": "d"},
        ("POST", "/projects/{project}/models/{name}/versions/check"): {"flavor": "sklearn"},
        ("PUT", "/projects/{project}/models/{name}/aliases/{alias}"): {"version": 1},
        ("PUT", "/projects/{project}/models/{name}/versions/{ref}/card"): {
            "fields": {"license": "MIT"}
        },
        ("POST", "/projects/{project}/models/{name}/versions/{ref}/requests"): {"to": "staging"},
        ("POST", "/model-requests/{request_id}/approve"): {"comment": "ok"},
        ("POST", "/model-requests/{request_id}/reject"): {"comment": "no"},
        ("PUT", "/projects/{project}/model-policy"): {"source": "staging: {}"},
        ("POST", "/projects/{project}/models/{name}/versions/{ref}/evaluations"): {
            "dataset_version_id": world.version_id,
            "target": "x",
        },
        ("POST", "/projects/{project}/models/{name}/versions/{ref}/archive"): {"reason": "old"},
        ("POST", "/projects/{project}/models/{name}/versions/{ref}/retire"): {"reason": "old"},
        ("PUT", "/projects/{project}/model-retirement-policy"): {"source": "keep_last: 3"},
        ("POST", "/projects/{project}/models/{name}/versions/from-run"): {
            "run_id": run_id,
            "path": "model",
            "flavor": "sklearn",
        },
        ("POST", "/projects/{project}/schedules"): {
            "name": "s",
            "pipeline": "some_module:pipeline",
            "cron": "* * * * *",
        },
        ("POST", "/projects/{project}/deployments/{deployment}/labels"): {
            "labels": [{"prediction_id": "0" * 32, "label": 1}]
        },
        ("POST", "/projects/{project}/webhooks"): {
            "url": "http://93.184.215.14/hook",
            "events": ["*"],
        },
        ("POST", "/projects/{project}/deployments"): {"name": "dep", "plan": "m/1"},
        ("POST", "/projects/{project}/deployments/{deployment}/monitors"): {
            "name": "rows",
            "kind": "volume",
        },
        ("POST", "/projects/{project}/monitors/apply"): {
            "spec": "deployment: dep\nmonitors: [{name: rows, kind: volume}]"
        },
        ("PUT", "/projects/{project}/deployments/{name}/plan"): {
            "plan": {"routes": [{"model": "m", "ref": "1", "weight": 100}]}
        },
        ("POST", "/projects/{project}/deployments/{name}/promote"): {},
        ("POST", "/projects/{project}/deployments/{name}/rollback"): {},
        ("POST", "/projects/{project}/deployments/-/reports"): {
            "server": "s1",
            "window_start": 0,
            "window_end": 1,
        },
        ("PUT", "/projects/{project}/budgets/{scope}"): {"amount": 5.0},
        ("POST", "/projects/{project}/alerts/{alert_id}/acknowledge"): {"comment": "on it"},
        ("POST", "/projects/{project}/alerts/{alert_id}/resolve"): {},
        ("POST", "/projects/{project}/alerts/{alert_id}/comments"): {"comment": "noted"},
        ("PUT", "/projects/{project}/deployments/{deployment}/loop-policy"): {
            "policy": {"pipeline": "m:p", "model": "m", "evaluate": {"metric": "accuracy"}}
        },
        ("POST", "/projects/{project}/deployments/{deployment}/loops"): {"reason": "r"},
        ("POST", "/projects/{project}/loops/{run_id}/decide"): {"approve": True},
        ("POST", "/projects/{project}/loops/{run_id}/cancel"): {"reason": "r"},
    }
    if (method, path) in bodies:
        kwargs["json"] = bodies[(method, path)]
    if path.startswith("/runs/{run_id}/artifacts/"):
        kwargs["params"] = {"path": "x.txt"}
    if path == "/runs/resolve":
        kwargs["params"] = {"ref": run_id[:8]}
    if path.endswith("/metrics/history"):
        kwargs["params"] = {"key": "m"}
    if method == "PUT" and path.endswith("/content"):
        kwargs["content"] = b"y"
        headers = {**headers, "Content-Type": "application/octet-stream"}
    if (method, path) == ("POST", "/projects/{project}/datasets/{dataset}/versions"):
        kwargs["content"] = _arrow_body()
        headers = {**headers, **ARROW}
    if (method, path) == ("POST", "/projects/{project}/models/{name}/versions"):
        kwargs["content"] = _tar_body()
        kwargs["params"] = {"flavor": "sklearn"}
        headers = {**headers, "Content-Type": "application/x-tar"}
    if path.endswith("/evaluations/data"):
        kwargs["content"] = _arrow_body()
        kwargs["params"] = {"target": "x"}
        headers = {**headers, **ARROW}
    if path.endswith("/predictions/segments"):
        kwargs["content"] = _segment_body()
        headers = {**headers, "Content-Type": "application/vnd.apache.parquet"}
    if path.endswith("/aliases/{alias}/at"):
        kwargs["params"] = {"at": 0}
    if path.endswith("/compare"):
        kwargs["params"] = {"before": 1, "after": 1}
    if path == "/lineage":
        kwargs["params"] = {"kind": "dataset_version", "id": world.version_id}
    return world.api.request(method, url, headers=headers, **kwargs)


def _routes(served_app_paths: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path.removeprefix(API_PREFIX))
        for path, ops in served_app_paths.items()
        for method in ops
    )


@pytest.fixture
def routes(world: World) -> list[tuple[str, str]]:
    document = world.api.get("/openapi.json").json()
    found = _routes(document["paths"])
    assert len(found) == _mounted_operations(), "a route is missing from the OpenAPI document"
    return found


def _mounted_operations() -> int:
    """Operations of every APIRoute the app mounts (walking included routers), but the
    web UI's pages (outside the API, in no OpenAPI document)."""
    from modelyard.api import create_app
    from modelyard.api.auth import no_auth
    from modelyard.api.ui import ROUTERS
    from modelyard.config import load_settings

    app = create_app(load_settings(), auth=no_auth)

    def walk(items: list[Any]) -> Iterator[APIRoute]:
        for route in items:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router") and route.original_router not in ROUTERS:
                yield from walk(route.original_router.routes)

    return sum(len(r.methods) for r in walk(app.routes) if r.include_in_schema)


def test_every_route_but_the_public_ones_needs_credentials(
    world: World, routes: list[tuple[str, str]]
) -> None:
    public = {p.removeprefix(API_PREFIX) for p in PUBLIC_PATHS}
    assert ("GET", "/health") in routes and len(routes) > 20
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer my_pat_0000000000000000_" + "a" * 52}):
            answer = _call(world, method, path, headers)
            if path in public:  # health answers; sign-in checks the password it was sent
                assert answer.status_code == (401 if path == "/auth/login" else 200)
                assert "sign in first" not in answer.text
                continue
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "unauthenticated"
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert world.api.get("/openapi.json").status_code == 200


def test_credentials_come_before_the_body(world: World, routes: list[tuple[str, str]]) -> None:
    """No route looks at the body, its type or its size before the caller is known: no
    credentials, with no, a wrong or a right content type and a garbage, deeply nested or
    too large body, is always 401."""
    public = {p.removeprefix(API_PREFIX) for p in PUBLIC_PATHS}
    bodies = [b"", b"\xff\xfe{garbage", b"[" * 1000, b"{" + b" " * MAX_BODY + b"}"]
    types = [None, "text/plain", "application/json", "application/x-tar", ARROW["Content-Type"]]
    for method, path in routes:
        if path in public:
            continue
        for body in bodies:
            for media in types:
                headers = {"Content-Type": media} if media else {}
                answer = world.api.request(method, _url(world, path), content=body, headers=headers)
                assert answer.status_code == 401, (method, path, media, body[:10], answer.text)
                assert answer.json()["error"]["code"] == "unauthenticated"
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    unknown = world.api.post("/nowhere", content=b"{", headers={"Content-Type": "text/plain"})
    assert unknown.status_code == 401  # no route is revealed to a stranger either


def test_a_user_without_a_role_is_refused_everywhere_else(
    world: World, routes: list[tuple[str, str]], governance: Governance
) -> None:
    """403, or 404 where the route names an object of the project: to a user with no
    role there, it is as if it did not exist (tests/api/test_existence_oracle.py)."""
    eve = world.as_(_token(governance, "eve"))
    public = {p.removeprefix(API_PREFIX) for p in PUBLIC_PATHS}
    for method, path in routes:
        if path in public:
            continue
        answer = _call(world, method, path, eve)
        if (method, path) in SELF_SERVICE:
            assert answer.status_code not in (401, 403), (method, path, answer.text)
        else:
            code = {403: "permission_denied", 404: "not_found"}.get(answer.status_code)
            assert answer.json()["error"]["code"] == code, (method, path, answer.text)
    # Nothing eve tried changed the project: its run and artifact are as they were.
    run = world.api.get(f"/runs/{world.run_id}", headers=world.admin).json()
    assert run["status"] == "running" and run["metrics"] == {}
    assert world.api.get("/projects", headers=eve).json()["items"] == [
        {**world.api.get("/projects/fresh", headers=eve).json()}
    ]


def test_the_role_ladder(world: World, governance: Governance) -> None:
    api, run_id = world.api, world.run_id
    bob = world.as_(_token(governance, "bob"))
    grant = api.put("/projects/p/members/bob", json={"role": "viewer"}, headers=world.admin)
    assert grant.status_code == 200 and grant.json()["role"] == "viewer"

    assert api.get(f"/runs/{run_id}", headers=bob).status_code == 200
    assert api.get(f"/runs/{run_id}/artifacts/content?path=x.txt", headers=bob).content == b"x"
    assert api.post("/runs", json={"project": "p"}, headers=bob).status_code == 403

    api.put("/projects/p/members/bob", json={"role": "contributor"}, headers=world.admin)
    created = api.post("/runs", json={"project": "p", "name": "bobs"}, headers=bob)
    assert created.status_code == 201 and created.json()["user"] == "bob"
    batch = {"batch_id": "bob-batch-1", "metrics": [_one_point(run_id)]}
    assert api.post("/batches", json=batch, headers=bob).status_code == 200
    assert api.delete(f"/runs/{run_id}", headers=bob).status_code == 403
    assert api.put("/projects/p/members/eve", json={"role": "admin"}, headers=bob).status_code in (
        403,
    )

    api.put("/projects/p/members/bob", json={"role": "admin"}, headers=world.admin)
    assert api.delete(f"/runs/{run_id}", headers=bob).status_code == 204
    members = api.get("/projects/p/members", headers=bob).json()["items"]
    assert {m["username"]: m["role"] for m in members} == {"bob": "admin", "test-admin": "admin"}
    assert api.get("/audit", headers=bob).status_code == 403  # the log is for global admins


#: What a predictor may call: read the project's deployments (an inference server's token).
PREDICTOR_READS = {
    ("GET", "/projects/{project}/deployments"),
    ("GET", "/projects/{project}/deployments/{name}"),
}


def test_a_predictor_may_read_deployments_and_nothing_else(
    world: World, routes: list[tuple[str, str]], governance: Governance
) -> None:
    """A ``predictor`` of project p (deployment p exists) reads its deployments; every
    other route of the project is refused (403, or 404 as to a stranger), and nothing of
    the project is listed to it."""
    api, admin = world.api, world.admin
    upload = api.post(
        "/projects/p/models/m/versions",
        params={"flavor": "sklearn"},
        content=_tar_body(),
        headers={**admin, "Content-Type": "application/x-tar"},
    )
    assert upload.status_code == 201, upload.text
    staged = api.post(
        "/projects/p/models/m/versions/1/requests", json={"to": "staging"}, headers=admin
    )
    assert staged.status_code == 201, staged.text
    made = api.post("/projects/p/deployments", json={"name": "p", "plan": "m/1"}, headers=admin)
    assert made.status_code == 201, made.text
    pam = world.as_(_token(governance, "pam"))
    granted = api.put("/projects/p/members/pam", json={"role": "predictor"}, headers=admin)
    assert granted.status_code == 200, granted.text
    public = {p.removeprefix(API_PREFIX) for p in PUBLIC_PATHS}
    for method, path in routes:
        if path in public or (method, path) in SELF_SERVICE:
            continue
        answer = _call(world, method, path, pam)
        if (method, path) in PREDICTOR_READS:
            assert answer.status_code == 200, (method, path, answer.text)
            continue
        code = {403: "permission_denied", 404: "not_found"}.get(answer.status_code)
        assert answer.json()["error"]["code"] == code, (method, path, answer.text)
    found = api.get("/projects/p/deployments/p", headers=pam).json()
    assert found["plan"]["routes"][0]["version"] == 1 and found["revision"] == 1
    assert api.get("/projects", headers=pam).json()["items"] == []
    assert api.get("/datasets", headers=pam).json()["items"] == []
    assert api.post("/runs/search", json={"project": "p"}, headers=pam).status_code == 404
    assert api.get("/projects/p/models", headers=pam).status_code == 404
    history = api.get("/projects/p/deployments/p/history", headers=admin).json()["items"]
    assert [h["action"] for h in history] == ["create"]  # nothing pam tried changed it


def test_a_creator_becomes_the_projects_admin(world: World, governance: Governance) -> None:
    carol = world.as_(_token(governance, "carol"))
    assert world.api.post("/projects", json={"name": "mine"}, headers=carol).status_code == 201
    me = world.api.get("/auth/me", headers=carol).json()
    assert me == {
        "username": "carol",
        "is_admin": False,
        "authenticated_by": "token",
        "projects": {"mine": "admin"},
    }
