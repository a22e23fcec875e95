"""The prediction log over the server: segments as Parquet bodies (refused with 422 when
they are not segments, 413 past the limit, 415 in another type), labels as JSON, reads a
page at a time; and RemotePredictions, the same surface through a client."""

from __future__ import annotations

import io

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard import Client, InvalidInput
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.predictions._segments import to_parquet
from modelyard.store import open_store
from prediction_support import request_id, segment

T0 = 1_780_000_000_000
LOG = "/projects/shop/deployments/churn-api"
PARQUET = {"Content-Type": "application/vnd.apache.parquet"}


@pytest.fixture
def shop(api: httpx.Client) -> httpx.Client:
    assert api.post("/projects", json={"name": "shop"}).status_code == 201
    return api


def _write(api: httpx.Client, table: pa.Table, **params: str) -> httpx.Response:
    return api.post(
        f"{LOG}/predictions/segments", content=to_parquet(table), headers=PARQUET, params=params
    )


def test_segments_labels_and_pages_over_http(shop: httpx.Client) -> None:
    ids = [request_id(i) for i in range(6)]
    for start in (0, 3):
        answer = _write(
            shop,
            segment(ids[start : start + 3], version_id="v" * 32, start_ms=T0 + start * 1000),
            deployment_id="d1",
            writer="replica-1:8600",
        )
        assert answer.status_code == 201, answer.text
    assert answer.json()["rows"] == 3 and answer.json()["writer"] == "replica-1:8600"

    given = [{"prediction_id": ids[0], "label": 1}, {"prediction_id": f"{ids[4]}-0", "label": "b"}]
    labels = {"labels": given}
    answer = shop.post(f"{LOG}/labels", json=labels)
    assert answer.status_code == 200 and answer.json() == {"labelled": 2}

    first = shop.get(f"{LOG}/predictions", params={"limit": 3})
    assert first.status_code == 200 and first.headers["content-type"] == PARQUET["Content-Type"]
    page = pq.read_table(io.BytesIO(first.content)).to_pandas()
    assert page["prediction_id"].tolist() == [f"{i}-0" for i in ids[:3]]
    assert page["label"].tolist()[0] == "1"  # JSON text in Parquet
    cursor = first.headers["Modelyard-Next-Cursor"]
    second = shop.get(f"{LOG}/predictions", params={"limit": 3, "cursor": cursor})
    assert "Modelyard-Next-Cursor" not in second.headers
    assert len(pq.read_table(io.BytesIO(second.content))) == 3

    window = shop.get(
        f"{LOG}/predictions", params={"since": T0 + 4000, "until": T0 + 5000, "format": "json"}
    ).json()
    assert window["next_cursor"] is None
    [row] = window["items"]
    assert (row["prediction_id"], row["label"], row["deployment"]) == (
        f"{ids[4]}-0",
        "b",
        "churn-api",
    )
    assert row["time"].startswith("2026-")


def test_what_is_not_a_segment_is_422_naming_it(shop: httpx.Client) -> None:
    answer = shop.post(f"{LOG}/predictions/segments", content=b"PAR1 not really", headers=PARQUET)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "segment"
    wrong = pa.table({"prediction_id": ["a"], "version_id": ["v"], "time": [1], "ssn": ["x"]})
    answer = _write(shop, wrong)
    assert answer.status_code == 422 and "ssn" in answer.json()["error"]["message"]
    answer = shop.post(
        f"{LOG}/predictions/segments", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 415
    answer = shop.post(f"{LOG}/labels", json={"labels": [{"prediction_id": "", "label": 1}]})
    assert answer.status_code == 422


def test_a_segment_past_the_limit_is_413(
    shop: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard import limits

    monkeypatch.setattr(limits, "PREDICTION_SEGMENT_BYTES", 1000)
    big = segment([request_id(i) for i in range(500)], version_id="v" * 32, start_ms=T0)
    answer = _write(shop, big)
    assert answer.status_code == 413


def test_rights_over_http(embedded_settings: Settings, served: str, shop: httpx.Client) -> None:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    gov = Governance(store)
    tokens = {}
    for name, role in (("viewer", "viewer"), ("writer", "contributor")):
        gov.users.create_service_account(name, actor=SYSTEM)
        gov.roles.grant("shop", name, role, actor=SYSTEM)
        tokens[name] = gov.tokens.create(name, "t", actor=SYSTEM).secret
    store.dispose()
    as_ = {
        name: httpx.Client(base_url=served + "/api/v1", headers={"Authorization": f"Bearer {t}"})
        for name, t in tokens.items()
    }
    rows = segment([request_id(0)], version_id="v" * 32, start_ms=T0)
    try:
        assert _write(as_["viewer"], rows).status_code == 403
        assert as_["viewer"].post(f"{LOG}/labels", json={"labels": []}).status_code == 403
        assert _write(as_["writer"], rows).status_code == 201
        assert as_["viewer"].get(f"{LOG}/predictions").status_code == 200
    finally:
        for client in as_.values():
            client.close()


@pytest.mark.remote
def test_remote_predictions_are_the_same_surface(
    embedded_settings: Settings, served: str, admin_token: str
) -> None:
    tracking = embedded_settings.tracking.model_copy(update={"uri": served, "token": admin_token})
    remote = embedded_settings.model_copy(update={"tracking": tracking})
    with Client(remote) as client:
        client.create_project("shop")
        predictions = client.predictions
        ids = [request_id(i) for i in range(4)]
        written = predictions.write_segment(
            "shop", "churn-api", segment(ids[:2], version_id="v" * 32, start_ms=T0),
            deployment_id="d1",
        )  # fmt: skip
        assert written.version_ids == ("v" * 32,) and written.deployment_id == "d1"
        predictions.write_segment(
            "shop", "churn-api", segment(ids[2:], version_id="w" * 32, start_ms=T0 + 10_000)
        )
        assert predictions.add_labels("shop", "churn-api", {ids[1]: {"churned": True}}) == 1
        frame = predictions.load("shop", "churn-api", until=T0 + 5000)
        later = predictions.load("shop", "churn-api", version="w" * 32, with_labels=False)
        empty = predictions.load("shop", "churn-api", since=T0 + 60_000)
    assert frame["prediction_id"].tolist() == [f"{i}-0" for i in ids[:2]]
    assert frame["label"].tolist() == [None, {"churned": True}]
    assert frame["version"].tolist() == [None, None]
    assert frame["time"].tolist()[0] == pd.Timestamp(T0, unit="ms", tz="UTC")
    assert later["prediction_id"].tolist() == [f"{i}-0" for i in ids[2:]]
    assert "label" not in later.columns
    assert len(empty) == 0 and list(empty.columns)[:2] == ["prediction_id", "deployment"]
    with Client(remote) as client, pytest.raises(InvalidInput):
        client.predictions.write_segment("shop", "churn-api", b"not parquet")
