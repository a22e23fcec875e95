"""Cursor pagination on every list, search over HTTP, filters that look like SQL are just
data, and the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest

from modelyard.config import Settings
from modelyard.store import open_store

OCTETS = {"Content-Type": "application/octet-stream"}


def _walk(api: httpx.Client, path: str, limit: int, **params: str) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = api.get(path, params=query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_projects_page_by_cursor(api: httpx.Client) -> None:
    names = [f"p{i}" for i in range(7)]
    for name in names:
        api.post("/projects", json={"name": name})
    assert [p["name"] for p in _walk(api, "/projects", 3)] == names
    assert [p["name"] for p in _walk(api, "/projects", 1000)] == names


def test_artifacts_page_by_cursor(api: httpx.Client, run_id: str) -> None:
    paths = [*sorted(f"out/{i:02d}.txt" for i in range(5)), "z.txt"]
    for path in paths:
        api.put(
            f"/runs/{run_id}/artifacts/content", params={"path": path}, content=b"x", headers=OCTETS
        )
    base = f"/runs/{run_id}/artifacts"
    assert [a["path"] for a in _walk(api, base, 2)] == paths
    assert [a["path"] for a in _walk(api, base, 2, prefix="out")] == paths[:5]


def test_a_cursor_belongs_to_its_list(api: httpx.Client, run_id: str) -> None:
    for name in ("a", "b", "c"):
        api.post("/projects", json={"name": name})
    cursor = api.get("/projects", params={"limit": 1}).json()["next_cursor"]
    answer = api.get(f"/runs/{run_id}/artifacts", params={"cursor": cursor})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "cursor"
    forged = api.get("/projects", params={"cursor": "WzEsICJ4Il0="})
    assert forged.status_code == 422


def test_search_pages_with_tokens(api: httpx.Client) -> None:
    ids = [api.post("/runs", json={"project": "s", "name": f"r{i}"}).json()["id"] for i in range(5)]
    seen: list[str] = []
    token = None
    while True:
        body = {"project": "s", "order_by": ["attributes.name"], "max_results": 2}
        page = api.post("/runs/search", json={**body, "page_token": token}).json()
        seen += [r["id"] for r in page["runs"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == ids


@pytest.mark.parametrize(
    "value",
    [
        "1' OR '1'='1",
        "x'; DROP TABLE runs; --",
        "1; DELETE FROM params",
        "' UNION SELECT id FROM projects --",
        "%' OR 1=1 --",
    ],
)
def test_sql_looking_values_are_just_data(
    api: httpx.Client, settings: Settings, value: str
) -> None:
    run = api.post("/runs", json={"project": "inj", "name": value, "tags": {"t": value}}).json()
    batch = {"batch_id": "inject-01", "params": [[run["id"], "p", value]]}
    assert api.post("/batches", json=batch).status_code == 200
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    for text in (f"params.p = '{quoted}'", f"tags.t = '{quoted}'", f"attributes.name = '{quoted}'"):
        found = api.post("/runs/search", json={"project": "inj", "filter": text})
        assert found.status_code == 200, found.text
        assert [r["id"] for r in found.json()["runs"]] == [run["id"]]
    hostile = api.post("/runs/search", json={"project": "inj", "filter": f"params.p = {value}"})
    assert hostile.status_code in {200, 422}
    stored = api.get(f"/runs/{run['id']}").json()
    assert stored["name"] == value and stored["params"] == {"p": value}
    store = open_store(settings.store_url)  # the tables are all still there
    try:
        assert store.current_revision() is not None
        with store.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 1
    finally:
        store.dispose()


def test_openapi_document_is_served(api: httpx.Client) -> None:
    answer = api.get("/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in (
        "/api/v1/health",
        "/api/v1/projects",
        "/api/v1/runs",
        "/api/v1/runs/search",
        "/api/v1/batches",
        "/api/v1/runs/{run_id}/metrics/history",
        "/api/v1/runs/{run_id}/artifacts/content",
    ):
        assert path in paths
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # every 422 is the one error shape
    for path, operations in paths.items():
        for method, operation in operations.items():
            error = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorResponse"}, (path, method)
    upload = paths["/api/v1/runs/{run_id}/artifacts/content"]["put"]["requestBody"]
    assert set(upload["content"]) == {"application/octet-stream", "application/x-tar"}
    assert api.get("/health").json()["status"] == "ok"
