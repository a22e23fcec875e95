"""Over HTTP, a stored string over its limit (modelyard.limits) is 422 in the one error
shape, naming the field and the limit, and the request stores nothing."""

from __future__ import annotations

import io

import httpx
import pyarrow as pa

from modelyard import limits

ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}


def _refused(answer: httpx.Response, field: str, size: int, limit: int) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "error": {
            "code": "invalid_input",
            "message": f"{field}: {size} characters, the limit is {limit}",
            "field": field,
        }
    }


def test_a_run_with_a_tag_over_its_limit_is_not_created(api: httpx.Client) -> None:
    answer = api.post("/runs", json={"project": "p", "tags": {"note": "x" * 70_000}})
    _refused(answer, "tags.note", 70_000, limits.TAG_VALUE)
    assert api.get("/projects").json()["items"] == []


def test_a_batch_with_a_tag_over_its_limit_stores_none_of_its_rows(
    api: httpx.Client, run_id: str
) -> None:
    batch = {
        "batch_id": "batch-0001",
        "metrics": [{"run_id": run_id, "key": "m", "steps": [0], "values": [1], "timestamps": [1]}],
        "params": [[run_id, "lr", "0.1"]],
        "tags": [[run_id, "note", "x" * 70_000]],
    }
    _refused(api.post("/batches", json=batch), "tags.note", 70_000, limits.TAG_VALUE)
    batch["tags"] = []
    batch["params"] = [[run_id, "lr", "1" * 65_537]]
    _refused(api.post("/batches", json=batch), "params.lr", 65_537, limits.PARAM_VALUE)
    run = api.get(f"/runs/{run_id}").json()
    assert (run["metrics"], run["params"], run["tags"]) == ({}, {}, {})


def test_project_and_dataset_descriptions(api: httpx.Client) -> None:
    answer = api.post("/projects", json={"name": "p", "description": "d" * 10_001})
    _refused(answer, "description", 10_001, limits.DESCRIPTION)
    assert api.get("/projects").json()["items"] == []
    table = pa.table({"x": [1, 2]})
    body = io.BytesIO()
    with pa.ipc.new_stream(body, table.schema) as writer:
        writer.write_table(table)
    answer = api.post(
        "/projects/q/datasets/d/versions",
        params={"description": "d" * 10_001},
        content=body.getvalue(),
        headers=ARROW,
    )
    _refused(answer, "description", 10_001, limits.DESCRIPTION)
    assert api.get("/datasets").json()["items"] == []


def test_schedule_params_over_their_limit(api: httpx.Client) -> None:
    answer = api.post(
        "/projects/p/schedules",
        json={
            "name": "s",
            "pipeline": "some_module:pipe",
            "cron": "* * * * *",
            "params": {"text": "x" * 70_000},
        },
    )
    _refused(answer, "params", 70_012, limits.SCHEDULE_PARAMS)
    assert api.get("/schedules").json()["items"] == []


def test_token_and_project_names_over_their_limit(api: httpx.Client) -> None:
    _refused(api.post("/tokens", json={"name": "t" * 251}), "token name", 251, limits.KEY)
    assert [t["name"] for t in api.get("/tokens").json()["items"]] == ["tests"]
    answer = api.post("/projects", json={"name": "p" * 129})
    _refused(answer, "project", 129, limits.NAME)


def test_the_openapi_document_states_the_limits(api: httpx.Client) -> None:
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    run = schemas["RunCreate"]["properties"]
    assert run["tags"]["additionalProperties"]["maxLength"] == limits.TAG_VALUE
    assert run["entry_point"]["maxLength"] == limits.ENTRY_POINT
    assert schemas["ProjectCreate"]["properties"]["description"]["maxLength"] == 10_000
