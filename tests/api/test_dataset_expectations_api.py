"""Registering a dataset version over HTTP with ``expectations`` (JSON): the service
validates the uploaded stream on its one pass; a critical failure is 422
``data_validation_failed`` and registers nothing; a parameter that is not a JSON list or
suite is 422 on the parameter (never a path the server would read)."""

from __future__ import annotations

import io
import json

import httpx
import pyarrow as pa
import pytest

VERSIONS = "/projects/p/datasets/d/versions"
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=100)
    return sink.getvalue()


BODY = _ipc(pa.table({"id": list(range(500)), "score": [i / 1000 for i in range(500)]}))


def _rules(top: float) -> str:
    return json.dumps([{"kind": "in_range", "column": "score", "min": 0, "max": top}])


def test_a_critical_failure_is_422_and_registers_nothing(api: httpx.Client) -> None:
    failed = api.post(VERSIONS, content=BODY, headers=ARROW, params={"expectations": _rules(0.1)})
    assert failed.status_code == 422, failed.text
    error = failed.json()["error"]
    assert error["code"] == "data_validation_failed" and error["field"] == "score"
    assert "in_range on column 'score'" in error["message"]
    assert api.get(VERSIONS).status_code == 404

    passed = api.post(VERSIONS, content=BODY, headers=ARROW, params={"expectations": _rules(1)})
    assert passed.status_code == 201, passed.text
    reports = api.get(f"{VERSIONS}/1/reports", params={"kind": "validation"}).json()["items"]
    assert [(r["data"]["ok"], r["data"]["rows"]) for r in reports] == [(True, 500)]


@pytest.mark.parametrize(
    "expectations",
    [
        "not json",
        '"/etc/passwd"',
        "42",
        '[{"kind": "no_such_rule"}]',
        # a backtracking pattern (lookahead, RE2 has none): never run by the server
        json.dumps([{"kind": "matches", "column": "id", "pattern": "(?=(a+)+b)a*"}]),
    ],
)
def test_expectations_that_are_not_a_suite_are_422(api: httpx.Client, expectations: str) -> None:
    answer = api.post(VERSIONS, content=BODY, headers=ARROW, params={"expectations": expectations})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    assert api.get(VERSIONS).status_code == 404
