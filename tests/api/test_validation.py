"""Input that the stores would choke on (NUL, lone surrogates, 64-bit overflow, huge
batches) is refused with 4xx on both SQLite and PostgreSQL, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


def _series(run_id: str, key: str, steps: list[int]) -> dict[str, object]:
    return {
        "run_id": run_id,
        "key": key,
        "steps": steps,
        "values": [1.0] * len(steps),
        "timestamps": [0] * len(steps),
    }


def test_a_batch_holds_at_most_50000_rows_of_a_kind(api: httpx.Client, run_id: str) -> None:
    split = [_series(run_id, "a", list(range(25_000))), _series(run_id, "b", list(range(25_001)))]
    answer = api.post("/batches", json={"batch_id": "too-many-1", "metrics": split})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "metrics"
    assert "at most 50,000 metric points" in answer.json()["error"]["message"]
    one = [_series(run_id, "m", list(range(50_001)))]
    answer = api.post("/batches", json={"batch_id": "too-many-2", "metrics": one})
    assert answer.status_code == 422, answer.text
    split[1] = _series(run_id, "b", list(range(25_000)))
    answer = api.post("/batches", json={"batch_id": "just-right", "metrics": split})
    assert answer.status_code == 200, answer.text


def test_series_columns_must_be_as_long_as_each_other(api: httpx.Client, run_id: str) -> None:
    series = _series(run_id, "m", [0, 1, 2])
    series["values"] = [1.0, 2.0]
    answer = api.post("/batches", json={"batch_id": "ragged-01", "metrics": [series]})
    assert answer.status_code == 422
    assert "as long as each other" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/projects", b'{"name": '),
        ("/projects", b"\xff\xfe"),
        ("/projects", b'"just a string"'),
        ("/projects", b'{"name": "a\\u0000b"}'),
        ("/projects", b'{"name": "\\ud800"}'),
        ("/runs", b'{"project": "p", "tags": {"k": ["not", "text"]}}'),
        (
            "/batches",
            b'{"batch_id": "12345678", "metrics": [{"run_id": "'
            + b"a" * 32
            + b'", "key": "k", "steps": [1e400], "values": [1], "timestamps": [0]}]}',
        ),
        ("/runs/search", b'{"project": "p", "max_results": 99999999999999999999999}'),
        ("/runs/search", b'{"project": "p", "filter": "attributes.start_time > 1e999"}'),
        (
            "/batches",
            b'{"batch_id": "12345678", "metrics": [{"run_id": "x", "key": "k", '
            b'"steps": [-1], "values": ["NaN"], "timestamps": [0]}]}',
        ),
        ("/batches", b'{"batch_id": "12345678", "metrics": [[1, 2]]}'),
        ("/batches", b'{"batch_id": "12345678", "metrics": [{"run_id": 1, "key": 2}]}'),
        ("/batches", b'{"batch_id": "12345678", "params": [["' + b"a" * 32 + b'", "k", 5]]}'),
        ("/batches", b'{"batch_id": "12345678", "heartbeats": "abc"}'),
        ("/batches", b"[]"),
        ("/batches", b"null"),
    ],
)
def test_malformed_bodies_are_4xx(api: httpx.Client, path: str, body: bytes) -> None:
    answer = api.post(path, content=body, headers=JSON)
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()) == {"error"}


def test_steps_beyond_64_bits_are_refused(api: httpx.Client, run_id: str) -> None:
    series = _series(run_id, "m", [2**63])
    answer = api.post("/batches", json={"batch_id": "overflow1", "metrics": [series]})
    assert answer.status_code == 422


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/projects", b'{"name": "a", "name": "b"}', "name"),
        ("/runs", b'{"project": "p", "tags": {"k": "1", "k": "2"}}', "k"),
        ("/runs/search", b'{"project": "p", "filter": "", "filter": "params.x = 1"}', "filter"),
    ],
)
def test_a_key_twice_in_a_json_object_is_422(
    api: httpx.Client, path: str, body: bytes, key: str
) -> None:
    answer = api.post(path, content=body, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {
        "code": "invalid_input",
        "message": f"the body is not valid JSON: an object has the key {key!r} twice",
        "field": "body",
    }
    assert api.get("/projects").json()["items"] == []  # nothing was created


def test_every_route_is_a_modelyard_route() -> None:
    """So each parses JSON bodies strictly and answers a BaseException in the shape (the
    web UI's pages, which read no body and answer HTML, aside)."""
    from fastapi.routing import APIRoute

    from modelyard.api import create_app
    from modelyard.api._routing import Route
    from modelyard.api.auth import no_auth
    from modelyard.api.ui import ROUTERS
    from modelyard.config import load_settings

    def walk(items: list[Any]) -> Iterator[APIRoute]:
        for route in items:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router") and route.original_router not in ROUTERS:
                yield from walk(route.original_router.routes)  # an included router

    routes = list(walk(create_app(load_settings(), auth=no_auth).routes))
    assert len(routes) > 40 and all(isinstance(r, Route) for r in routes)


@pytest.mark.parametrize(
    "url",
    [
        "/projects/a%FFb",
        "/projects/a%ED%A0%80b",  # a lone surrogate, encoded
        "/runs/{run_id}/artifacts/content?path=a%FF.txt",
        "/runs/{run_id}/artifacts/content?path=a%C3.txt",
        "/runs/search?x=%80",
    ],
)
def test_invalid_utf8_in_the_url_is_422_and_never_stored(
    api: httpx.Client, run_id: str, url: str
) -> None:
    target = url.replace("{run_id}", run_id)
    answers = [
        api.put(target, content=b"x", headers={"Content-Type": "application/octet-stream"}),
        api.get(target),
        api.post(target, json={"project": "p"}),
    ]
    for answer in answers:
        assert answer.status_code == 422, (answer.request.method, answer.text)
        assert answer.json()["error"]["field"] == "url"
        assert "not valid UTF-8" in answer.json()["error"]["message"]
    assert api.get(f"/runs/{run_id}/artifacts").json()["items"] == []
    assert [p["name"] for p in api.get("/projects").json()["items"]] == ["p"]


def test_token_expiry_in_the_openapi_document_is_what_the_server_enforces(
    api: httpx.Client,
) -> None:
    from modelyard.governance import Governance
    from modelyard.governance.tokens import MAX_TOKEN_LIFETIME

    document = api.get("/openapi.json").json()
    days = document["components"]["schemas"]["TokenCreate"]["properties"]["expires_in_days"]
    bounds = next(option for option in days["anyOf"] if option.get("type") == "integer")
    assert (bounds["minimum"], bounds["maximum"]) == (1, MAX_TOKEN_LIFETIME.days)
    assert Governance.__init__.__kwdefaults__["token_max_lifetime"] == MAX_TOKEN_LIFETIME
    beyond = api.post("/tokens", json={"name": "beyond", "expires_in_days": bounds["maximum"] + 1})
    assert beyond.status_code == 422 and beyond.json()["error"]["field"] == "expires_in_days"
