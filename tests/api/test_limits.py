"""Limits are answered with 413/415/422 in the error shape, never a crash; no malformed
body ever gets a 5xx; Host and CORS policies."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from modelyard.api.routes import metrics as metric_routes

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """These limits are checked before the store is touched: SQLite only."""
    return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"


def _code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def test_json_body_over_the_limit_is_413(server_with: Callable[..., httpx.Client]) -> None:
    api = server_with(max_body_bytes=64 * 1024)
    big = {"name": "p", "description": "x" * 70_000}
    answer = api.post("/projects", json=big)
    assert answer.status_code == 413 and _code(answer) == "too_large"

    def chunked():  # no Content-Length: counted as it arrives
        yield json.dumps(big).encode()

    answer = api.post("/projects", content=chunked(), headers=JSON)
    assert answer.status_code == 413
    assert api.get("/projects").json()["items"] == []


def test_upload_over_the_artifact_limit_is_413(
    server_with: Callable[..., httpx.Client],
) -> None:
    api = server_with(max_artifact_bytes=1000)
    run_id = api.post("/runs", json={"project": "p"}).json()["id"]
    url = f"/runs/{run_id}/artifacts/content"
    octets = {"Content-Type": "application/octet-stream"}
    answer = api.put(url, params={"path": "big.bin"}, content=b"x" * 1001, headers=octets)
    assert answer.status_code == 413 and _code(answer) == "too_large"

    def chunked():
        for _ in range(20):
            yield b"x" * 100

    answer = api.put(url, params={"path": "big.bin"}, content=chunked(), headers=octets)
    assert answer.status_code == 413
    ok = api.put(url, params={"path": "ok.bin"}, content=b"x" * 1000, headers=octets)
    assert ok.status_code == 201
    assert [a["path"] for a in api.get(f"/runs/{run_id}/artifacts").json()["items"]] == ["ok.bin"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/python-pickle", None],
)
def test_json_endpoints_take_json_only(api: httpx.Client, content_type: str | None) -> None:
    body = pickle.dumps({"name": "p"}) if content_type == "application/python-pickle" else b"x"
    headers = {"Content-Type": content_type} if content_type else {}
    answer = api.post("/projects", content=body, headers=headers)
    assert answer.status_code == 415 and _code(answer) == "unsupported_media_type"


def test_uploads_take_octets_or_tar_only(api: httpx.Client, run_id: str) -> None:
    answer = api.put(f"/runs/{run_id}/artifacts/content", params={"path": "a.json"}, json={"a": 1})
    assert answer.status_code == 415


def test_deep_nesting_is_422(api: httpx.Client) -> None:
    for body in (b"[" * 33 + b"]" * 33, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        answer = api.post("/projects", content=body, headers=JSON)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "body"
    shallow = api.post("/projects", content=b"[" * 32 + b"]" * 32, headers=JSON)
    assert shallow.status_code == 422 and "nested" not in shallow.text


def test_page_size_is_bounded(api: httpx.Client) -> None:
    assert api.get("/projects", params={"limit": 1001}).status_code == 422
    search = api.post("/runs/search", json={"project": "p", "max_results": 50_001})
    assert search.status_code in {404, 422}


def test_history_answers_are_bounded(
    api: httpx.Client, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = {
        "run_id": run_id,
        "key": "loss",
        "steps": list(range(20)),
        "values": [float(i) for i in range(20)],
        "timestamps": [0] * 20,
    }
    api.post("/batches", json={"batch_id": "history-1", "metrics": [series]})
    monkeypatch.setattr(metric_routes, "MAX_HISTORY_POINTS", 10)
    url = f"/runs/{run_id}/metrics/history"
    answer = api.get(url, params={"key": "loss"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "max_points"
    small = api.get(url, params={"key": "loss", "max_points": 10}).json()
    assert len(small["steps"]) <= 10 and small["total_points"] == 20


def test_hosts_not_allowed_are_refused(
    api: httpx.Client, server_with: Callable[..., httpx.Client]
) -> None:
    assert api.get("/health", headers={"Host": "rebound.example.com"}).status_code == 400
    assert api.get("/health", headers={"Host": "localhost:9"}).status_code == 200
    assert api.get("/health", headers={"Host": "[::1]:9"}).status_code == 200
    other = server_with(allowed_hosts=["*.example.com"])
    assert other.get("/health", headers={"Host": "ml.example.com"}).status_code == 200
    assert other.get("/health", headers={"Host": "example.com.evil"}).status_code == 400
    assert other.get("/health", headers={"Host": "127.0.0.1"}).status_code == 200  # bound
    refused = api.get("/health", headers={"Host": "rebound.example.com"}).json()["error"]
    assert refused["code"] == "invalid_host" and refused["field"] == "host"
    assert "server.allowed_hosts (MODELYARD_SERVER_ALLOWED_HOSTS)" in refused["message"]


def test_the_hosts_answered_follow_the_bind_address(
    server_with: Callable[..., httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team server bound to every interface answers by IP and by name; one bound to an
    address answers that address and its names; a loopback one the loopback names."""
    everywhere = server_with(host="0.0.0.0")
    for host in ("192.0.2.10:8080", "ml-box", "ml-box.example.com:8080", "[2001:db8::1]"):
        assert everywhere.get("/health", headers={"Host": host}).status_code == 200, host

    def lookup(address: str) -> tuple[str, list[str], list[str]]:
        assert address == "192.0.2.10"
        return "ml-box.example.com", ["ml-box"], [address]

    monkeypatch.setattr("socket.gethostbyaddr", lookup)
    one = server_with(host="192.0.2.10")
    for host in ("192.0.2.10:8080", "ml-box", "ML-BOX.example.com"):
        assert one.get("/health", headers={"Host": host}).status_code == 200, host
    for host in ("localhost", "rebound.example.com"):
        assert one.get("/health", headers={"Host": host}).status_code == 400, host
    loopback = server_with(host="127.0.0.1")
    assert loopback.get("/health", headers={"Host": "localhost:8080"}).status_code == 200
    assert loopback.get("/health", headers={"Host": "192.0.2.10"}).status_code == 400


def test_accepted_hosts() -> None:
    from modelyard.api.app import accepted_hosts
    from modelyard.config import load_settings

    def hosts(**server: object) -> list[str]:
        return accepted_hosts(load_settings(server=server).server)

    assert hosts(host="0.0.0.0") == hosts(host="::") == ["*"]
    assert hosts() == hosts(host="localhost") == ["127.0.0.1", "localhost", "::1"]
    assert hosts(host="127.0.0.2") == ["127.0.0.1", "localhost", "::1", "127.0.0.2"]
    assert hosts(host="ml-box.example.com") == ["ml-box.example.com"]
    assert hosts(host="0.0.0.0", allowed_hosts=["ml.example.com"]) == ["ml.example.com"]
    assert hosts(host="127.0.0.1", allowed_hosts=["ml.example.com"]) == [
        "ml.example.com",
        "127.0.0.1",
    ]


def test_no_cors_by_default(api: httpx.Client) -> None:
    answer = api.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers
    preflight = api.options(
        "/projects",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_configured_origins(server_with: Callable[..., httpx.Client]) -> None:
    listed = server_with(cors_origins=["https://ui.example"])
    answer = listed.get("/health", headers={"Origin": "https://ui.example"})
    assert answer.headers["access-control-allow-origin"] == "https://ui.example"
    assert answer.headers["access-control-allow-credentials"] == "true"
    other = listed.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    anyone = server_with(cors_origins=["*"])
    answer = anyone.get("/health", headers={"Origin": "https://evil.example"})
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers


def test_control_characters_in_the_url_are_422(api: httpx.Client) -> None:
    assert api.get("/projects/a%00b").status_code == 422
    assert api.get("/runs/resolve?ref=ab%0acd").status_code == 422
