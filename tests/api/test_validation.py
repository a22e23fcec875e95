"""Input that the stores would choke on (NUL, lone surrogates, 64-bit overflow, huge
batches) is refused with 4xx on both SQLite and PostgreSQL, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


def test_a_batch_holds_at_most_50000_rows_of_a_kind(api: httpx.Client, run_id: str) -> None:
    rows = [[run_id, "m", 1.0, i, 0] for i in range(50_001)]
    answer = api.post("/batches", json={"batch_id": "too-many-1", "metrics": rows})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "metrics"
    answer = api.post("/batches", json={"batch_id": "just-right", "metrics": rows[:50_000]})
    assert answer.status_code == 200, answer.text


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
            b'{"batch_id": "12345678", "metrics": [["' + b"a" * 32 + b'", "k", 1, 1e400, 0]]}',
        ),
        ("/runs/search", b'{"project": "p", "max_results": 99999999999999999999999}'),
        ("/runs/search", b'{"project": "p", "filter": "attributes.start_time > 1e999"}'),
        ("/batches", b'{"batch_id": "12345678", "metrics": [["x", "k", "NaN", -1, 0]]}'),
        ("/batches", b'{"batch_id": "12345678", "metrics": [[1, 2]]}'),
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
    row = [run_id, "m", 1.0, 2**63, 0]
    answer = api.post("/batches", json={"batch_id": "overflow1", "metrics": [row]})
    assert answer.status_code == 422
