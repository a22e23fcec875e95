"""The inference server's protocols, errors, plans and operations, over test doubles of
its parts (serving_support names which part each stands in for)."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from serving_support import (
    Constant,
    DictLabels,
    DictPlans,
    JsonCodecs,
    ListSink,
    deployment,
    direct_batcher,
    pool_of,
    route,
)
from sklearn.linear_model import LogisticRegression

from modelyard.config import ServingSettings
from modelyard.errors import Overloaded
from modelyard.serving.server import InferenceServer

ROW = {"records": [{"x1": 0.5, "x2": -1.0}]}


def _lr() -> LogisticRegression:
    import pandas as pd

    x = pd.DataFrame({"x1": np.linspace(-2, 2, 40), "x2": np.linspace(1, -1, 40)})
    return LogisticRegression().fit(x, (x["x1"] > 0).astype(int))


def _until(check: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def test_v1_predict_answers_with_ids_and_version_in_header_and_body(serve, http) -> None:
    plans = DictPlans(deployment("churn", [route("lr", 1)]))
    s = serve(plans, pool_of(("lr", 1, _lr())))
    r = http.post(f"{s.url}/v1/deployments/churn/predict", json=ROW)
    assert r.status_code == 200, r.text
    body = r.json()
    request_id = r.headers["modelyard-prediction-id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert r.headers["modelyard-model-version"] == "lr/1"
    assert body["prediction_ids"] == [f"{request_id}-0"]
    assert (body["model"], body["version"], body["predictions"]) == ("lr", 1, [1.0])
    _until(lambda: len(s.sink.records) == 1)
    rec = s.sink.records[0]
    assert rec["deployment_id"] == "dep-churn" and rec["version_id"] == "lr-v1"
    assert rec["prediction_ids"] == [f"{request_id}-0"] and not rec.get("shadow")


def test_v2_infer_metadata_and_health(serve, http) -> None:
    s = serve(DictPlans(deployment("churn", [route("lr", 1)])), pool_of(("lr", 1, _lr())))
    body = {"id": "abc", "inputs": [
        {"name": "x1", "shape": [2], "datatype": "FP64", "data": [1.0, -1.0]},
        {"name": "x2", "shape": [2], "datatype": "FP64", "data": [0.0, 0.0]},
    ]}  # fmt: skip
    r = http.post(f"{s.url}/v2/models/churn/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_version"] == "lr/1" and out["id"] == "abc"
    rid = r.headers["modelyard-prediction-id"]
    assert out["parameters"]["prediction_ids"] == [f"{rid}-0", f"{rid}-1"]
    assert out["outputs"][0]["data"] == [1.0, 0.0]
    assert http.get(f"{s.url}/v2/models/churn").json()["versions"] == ["lr/1"]
    assert http.get(f"{s.url}/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
    assert http.get(f"{s.url}/v2/health/live").status_code == 200
    assert http.get(f"{s.url}/v2/health/ready").json() == {"ready": True}


def test_invocations_takes_the_only_deployment_or_the_one_named(serve, http) -> None:
    plans = DictPlans(deployment("a", [route("m", 1)]))
    s = serve(plans, pool_of(("m", 1, Constant(1)), ("m", 2, Constant(2))))
    split = {"dataframe_split": {"columns": ["x1", "x2"], "data": [[1, 2], [3, 4]]}}
    r = http.post(f"{s.url}/invocations", json=split)
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == [1.0, 1.0] and len(r.json()["prediction_ids"]) == 2
    plans.set(deployment("b", [route("m", 2)]))
    _until(lambda: "b" in s.app.plans.tables)
    r = http.post(f"{s.url}/invocations", json=split)
    assert r.status_code == 422 and r.json()["error"]["field"] == "deployment"
    rec = {"dataframe_records": [{"x1": 1, "x2": 2}]}
    r = http.post(f"{s.url}/invocations?deployment=b", json=rec)
    assert r.json()["predictions"] == [2.0]
    r = http.post(f"{s.url}/invocations", json=rec, headers={"Modelyard-Deployment": "a"})
    assert r.json()["predictions"] == [1.0]


@pytest.mark.parametrize(
    ("content", "headers", "status", "code", "field"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "malformed_body", "body"),
        (b"a,b\n1,2", {"content-type": "text/plain"}, 415, "unsupported_media_type", "body"),
        (b'{"records": [{"x1": 1}]}', {}, 422, "invalid_input", "x2"),
        (b'{"records": [{"x1": "a", "x2": 1}]}', {}, 422, "invalid_input", "x1"),
    ],
)
def test_bad_input_is_answered_in_the_error_shape(
    serve, http, content, headers, status, code, field
) -> None:
    s = serve(DictPlans(deployment("churn", [route("lr", 1)])), pool_of(("lr", 1, _lr())))
    r = http.post(f"{s.url}/v1/deployments/churn/predict", content=content, headers=headers)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code and r.json()["error"]["field"] == field


def test_unknown_deployment_route_and_method(serve, http) -> None:
    s = serve(DictPlans(deployment("churn", [route("lr", 1)])), pool_of(("lr", 1, _lr())))
    r = http.post(f"{s.url}/v1/deployments/nope/predict", json=ROW)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert http.get(f"{s.url}/nowhere").status_code == 404
    r = http.get(f"{s.url}/v1/deployments/churn/predict")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_size_limits_refuse_before_reading_and_while_streaming(serve, http) -> None:
    s = serve(
        DictPlans(deployment("churn", [route("lr", 1)])),
        pool_of(("lr", 1, _lr())),
        max_body_bytes=2048,
        max_rows=3,
    )
    url = f"{s.url}/v1/deployments/churn/predict"
    r = http.post(url, content=b"x" * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 500

    r = http.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = http.post(url, json={"records": [{"x1": 1.0, "x2": 1.0}] * 4})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_overload_is_503_with_retry_after_and_a_crash_is_a_500_in_the_shape(serve, http) -> None:
    class Shedding:
        queue_rows = 0

        async def submit(self, rows: Any) -> Any:
            raise Overloaded("past capacity", retry_after=2)

        async def close(self) -> None: ...

    s = serve(
        DictPlans(deployment("a", [route("m", 1)])),
        pool_of(("m", 1, Constant(1))),
        make_batcher=lambda fn, hook: Shedding(),
    )
    r = http.post(f"{s.url}/v1/deployments/a/predict", json=ROW)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["code"] == "overloaded"

    class Crashing:
        def predict(self, frame: Any) -> Any:
            raise RuntimeError("boom")

    s = serve(DictPlans(deployment("a", [route("m", 1)])), pool_of(("m", 1, Crashing())))
    r = http.post(f"{s.url}/v1/deployments/a/predict", json=ROW)
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal server error",
                                  "field": None}}  # fmt: skip


def test_ab_without_its_header_is_422_naming_it(serve, http) -> None:
    plan = deployment("ab", [route("m", 1, 50), route("m", 2, 50)], sticky_key="X-Customer-Id")
    s = serve(DictPlans(plan), pool_of(("m", 1, Constant(1)), ("m", 2, Constant(2))))
    r = http.post(f"{s.url}/v1/deployments/ab/predict", json=ROW)
    assert r.status_code == 422 and r.json()["error"]["field"] == "X-Customer-Id"
    answers = {
        http.post(
            f"{s.url}/v1/deployments/ab/predict", json=ROW, headers={"X-Customer-Id": "c-42"}
        ).json()["version"]
        for _ in range(5)
    }
    assert len(answers) == 1


def test_shadow_answers_are_logged_never_returned_and_their_failure_changes_nothing(
    serve, http
) -> None:
    plan = deployment("s", [route("m", 1)], shadows=[route("m", 2), route("m", 3)])
    pool = pool_of(("m", 1, Constant(1)), ("m", 2, Constant(2)))
    pool.broken["m-v3"] = "corrupt blob"
    s = serve(DictPlans(plan), pool)
    r = http.post(f"{s.url}/v1/deployments/s/predict", json=ROW)
    assert r.status_code == 200 and r.json()["predictions"] == [1.0]
    _until(lambda: len(s.sink.records) == 2)
    live, shadow = s.sink.records
    assert shadow["shadow"] is True and shadow["version_id"] == "m-v2"
    assert shadow["outputs"] == [2.0] and shadow["prediction_ids"] == live["prediction_ids"]
    _until(lambda: "m-v3" in s.app._unhealthy)
    text = http.get(f"{s.url}/metrics").text
    assert 'modelyard_serving_version_healthy{version_id="m-v3"} 0.0' in text


def test_a_version_that_cannot_load_is_unhealthy_and_its_traffic_goes_to_the_champion(
    serve, http
) -> None:
    plan = deployment("c", [route("m", 1, 50), route("m", 2, 50)])
    pool = pool_of(("m", 1, Constant(1)), ("m", 2, Constant(2)))
    pool.broken["m-v2"] = "its blob does not match its digest"
    s = serve(DictPlans(plan), pool)
    answers = [http.post(f"{s.url}/v1/deployments/c/predict", json=ROW) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert {a.headers["modelyard-model-version"] for a in answers} == {"m/1"}
    ready = http.get(f"{s.url}/readyz")
    assert ready.status_code == 200  # the champion answers: the deployment is served
    body = ready.json()
    assert "digest" in body["unhealthy_versions"]["m-v2"]
    routes = body["deployments"]["c"]["routes"]
    assert [r["healthy"] for r in routes] == [True, False]
    assert (
        'modelyard_serving_version_healthy{version_id="m-v2"} 0.0'
        in http.get(f"{s.url}/metrics").text
    )
    pool.broken.clear()  # it loads again: the next poll sees it and traffic returns
    _until(lambda: "m-v2" not in s.app._unhealthy)


def test_a_broken_champion_makes_readyz_503(serve, http) -> None:
    pool = pool_of(("m", 1, Constant(1)))
    pool.broken["m-v1"] = "load failed"
    s = serve(DictPlans(deployment("c", [route("m", 1)])), pool)
    r = http.get(f"{s.url}/readyz")
    assert r.status_code == 503 and "champion cannot answer" in r.json()["problems"][0]
    r = http.post(f"{s.url}/v1/deployments/c/predict", json=ROW)
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"


def test_a_plan_change_is_picked_up_within_the_poll_and_fails_no_request(serve, http) -> None:
    plans = DictPlans(deployment("d", [route("m", 1)]))
    s = serve(plans, pool_of(("m", 1, Constant(1)), ("m", 2, Constant(2))), plan_poll_s=0.1)
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                r = c.post(f"{s.url}/v1/deployments/d/predict", json=ROW)
                statuses.append(r.status_code)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.2)
    changed = time.monotonic()
    plans.set(deployment("d", [route("m", 2)], revision=2))
    _until(lambda: http.post(f"{s.url}/v1/deployments/d/predict", json=ROW).json()["version"] == 2)
    took = time.monotonic() - changed
    time.sleep(0.2)
    stop.set()
    for w in workers:
        w.join()
    assert took < 1.5  # the poll (0.1 s) and a read; the issue asks within 2 s
    assert len(statuses) > 20 and set(statuses) == {200}


def test_an_alias_moving_to_another_version_swaps_the_plan_without_a_new_revision(
    serve, http
) -> None:
    plans = DictPlans(deployment("d", [route("m", 1)]))
    s = serve(plans, pool_of(("m", 1, Constant(1)), ("m", 2, Constant(2))))
    moved = deployment("d", [route("m", 2)])  # same revision, the alias resolves elsewhere
    plans.set(moved)
    _until(lambda: s.app.plans.tables["d"].champion.version_id == "m-v2")
    assert http.post(f"{s.url}/v1/deployments/d/predict", json=ROW).json()["version"] == 2


def test_the_control_plane_down_keeps_the_plans_and_readyz_says_since_when(serve, http) -> None:
    plans = DictPlans(deployment("d", [route("m", 1)]))
    s = serve(plans, pool_of(("m", 1, Constant(1))))
    assert http.get(f"{s.url}/readyz").status_code == 200
    plans.down = True
    _until(lambda: http.get(f"{s.url}/readyz").status_code == 503)
    body = http.get(f"{s.url}/readyz").json()
    assert body["control_plane"]["reachable"] is False
    assert body["control_plane"]["unreachable_since"] > 0
    assert "connection refused" in body["control_plane"]["error"]
    assert "control plane is unreachable since" in body["problems"][0]
    assert http.get(f"{s.url}/healthz").status_code == 200
    assert http.post(f"{s.url}/v1/deployments/d/predict", json=ROW).status_code == 200
    assert "modelyard_serving_plan_poll_failures_total" in http.get(f"{s.url}/metrics").text
    plans.down = False
    _until(lambda: http.get(f"{s.url}/readyz").status_code == 200)


def test_only_the_deployments_named_are_served(serve, http) -> None:
    plans = DictPlans(deployment("a", [route("m", 1)]), deployment("b", [route("m", 1)]))
    s = serve(plans, pool_of(("m", 1, Constant(1))), names=("a", "gone"))
    listed = http.get(f"{s.url}/v1/deployments").json()["deployments"]
    assert [d["name"] for d in listed] == ["a"]
    assert http.post(f"{s.url}/v1/deployments/b/predict", json=ROW).status_code == 404
    r = http.get(f"{s.url}/readyz")
    assert r.status_code == 503 and "'gone' does not exist" in r.json()["problems"][0]


def test_metrics_expose_requests_latency_batches_memory_and_the_log(serve, http) -> None:
    s = serve(DictPlans(deployment("d", [route("m", 1)])), pool_of(("m", 1, Constant(1))))
    http.post(f"{s.url}/v1/deployments/d/predict", json=ROW)
    http.post(f"{s.url}/v1/deployments/d/predict", content=b"{", headers={})
    text = http.get(f"{s.url}/metrics").text
    for line in [
        'modelyard_serving_requests_total{deployment="d",status="200",version="m/1"} 1.0',
        'modelyard_serving_requests_total{deployment="d",status="400",version=""} 1.0',
        'modelyard_serving_request_seconds_count{deployment="d"} 2.0',
        'modelyard_serving_predictions_total{deployment="d",shadow="false",version="m-v1"} 1.0',
        'modelyard_serving_batch_rows_count{version_id="m-v1"} 1.0',
        'modelyard_serving_model_memory_bytes{model="m",version="1",version_id="m-v1"} 1000.0',
        'modelyard_serving_queue_rows{version_id="m-v1"} 0.0',
        "modelyard_prediction_log_dropped_total 0.0",
    ]:
        assert line in text, line


def test_open_auth_logs_a_warning_and_the_server_closes_its_parts(
    serve, http, caplog: pytest.LogCaptureFixture
) -> None:
    pool = pool_of(("m", 1, Constant(1)))
    with caplog.at_level(logging.WARNING, logger="modelyard.serving"):
        s = serve(DictPlans(deployment("d", [route("m", 1)])), pool)
    assert any("serving.auth is open" in r.message for r in caplog.records)
    assert s.sink.started
    http.post(f"{s.url}/v1/deployments/d/predict", json=ROW)
    batcher = s.app._batchers["m-v1"][1]
    s.stop()
    assert batcher.closed and s.sink.closed and pool.closed


def test_labels_take_row_prediction_ids_and_a_bare_request_id_means_row_0(serve, http) -> None:
    labels = DictLabels()
    s = serve(
        DictPlans(deployment("d", [route("m", 1)])), pool_of(("m", 1, Constant(1))), labels=labels
    )
    answer = http.post(f"{s.url}/v1/deployments/d/predict", json=ROW)
    request_id = answer.headers["modelyard-prediction-id"]
    row_id = "0" * 32 + "-3"
    given = {"labels": [{"prediction_id": request_id, "label": 1},
                        {"prediction_id": row_id, "label": {"churned": False}}]}  # fmt: skip
    r = http.post(f"{s.url}/v1/deployments/d/labels", json=given)
    assert r.status_code == 200 and r.json() == {"deployment": "d", "labelled": 2}
    assert labels.labels["d"] == {f"{request_id}-0": 1, row_id: {"churned": False}}
    r = http.post(f"{s.url}/v1/deployments/d/labels", json={"labels": [{"label": 1}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "labels[0].prediction_id"
    r = http.post(f"{s.url}/v1/deployments/d/labels", content=b"[", headers={})
    assert r.status_code == 400
    assert http.post(f"{s.url}/v1/deployments/x/labels", json=given).status_code == 404
    s = serve(DictPlans(deployment("d", [route("m", 1)])), pool_of(("m", 1, Constant(1))))
    assert http.post(f"{s.url}/v1/deployments/d/labels", json=given).status_code == 404


def test_the_sink_logs_the_deployments_served_and_forgets_those_gone(serve, http) -> None:
    plans = DictPlans(deployment("a", [route("m", 1)], sample_rate=0.25))
    s = serve(plans, pool_of(("m", 1, Constant(1))))
    assert s.sink.tracked["dep-a"].sample_rate == 0.25
    plans.deployments.pop("a")
    plans.set(deployment("b", [route("m", 1)]))
    _until(lambda: set(s.sink.tracked) == {"dep-b"})


def test_invocations_drop_columns_the_model_does_not_take_as_mlflow_does(serve, http) -> None:
    s = serve(DictPlans(deployment("a", [route("m", 1)])), pool_of(("m", 1, Constant(1))))
    extra = {"records": [{"x1": 1.0, "x2": 2.0, "note": "x"}]}
    r = http.post(f"{s.url}/v1/deployments/a/predict", json=extra)
    assert r.status_code == 422 and r.json()["error"]["field"] == "note"
    r = http.post(f"{s.url}/invocations", json={"dataframe_records": extra["records"]})
    assert r.status_code == 200, r.text


def test_a_server_that_freezes_its_heap_does_so_once_its_models_are_loaded() -> None:
    pool = pool_of(("lr", 1, _lr()))
    app = InferenceServer(
        deployments=DictPlans(deployment("churn", [route("lr", 1)])),  # type: ignore[arg-type]
        project="default", pool=pool, make_batcher=direct_batcher, sink=ListSink(),
        codecs=JsonCodecs(), settings=ServingSettings(), auth=None, freeze_heap=True,
    )  # fmt: skip

    async def started() -> tuple[int, list[Any]]:
        await app.start()
        try:
            return gc.get_freeze_count(), list(pool.loaded())
        finally:
            await app.close()

    gc.unfreeze()  # a server started in process earlier (the API's app) froze it too
    assert gc.get_freeze_count() == 0
    try:
        frozen, loaded = asyncio.run(started())
    finally:
        gc.unfreeze()
    assert loaded and frozen > 0


# -- event time (replays and backfills) -----------------------------------------------------


def test_an_event_time_sets_the_logged_time_of_the_request_and_its_shadows(serve, http) -> None:
    plan = deployment("e", [route("m", 1)], shadows=[route("m", 2)])
    pool = pool_of(("m", 1, Constant(1)), ("m", 2, Constant(2)))
    s = serve(DictPlans(plan), pool, accept_event_time=True)
    march = 1_300_000_000_000  # 2011-03-13T07:06:40Z
    for value in (str(march), "2011-03-13T07:06:40Z", "2011-03-13T02:06:40-05:00"):
        headers = {"Modelyard-Event-Time": value}
        r = http.post(f"{s.url}/v1/deployments/e/predict", json=ROW, headers=headers)
        assert r.status_code == 200, r.text
    r = http.post(f"{s.url}/v1/deployments/e/predict", json=ROW)
    _until(lambda: len(s.sink.records) == 8)
    times = [rec["at_ms"] for rec in s.sink.records]
    assert times[:6] == [march] * 6  # three requests and their shadow copies
    assert all(abs(t - time.time() * 1000) < 60_000 for t in times[6:])  # none: now


def test_an_event_time_to_a_server_that_does_not_accept_it_is_refused_naming_the_setting(
    serve, http
) -> None:
    s = serve(DictPlans(deployment("e", [route("lr", 1)])), pool_of(("lr", 1, _lr())))
    headers = {"Modelyard-Event-Time": "1300000000000"}
    for path, body in (
        ("/v1/deployments/e/predict", ROW),
        ("/invocations", {"dataframe_records": ROW["records"]}),
    ):
        r = http.post(f"{s.url}{path}", json=body, headers=headers)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["field"] == "Modelyard-Event-Time"
        assert "serving.accept_event_time" in error["message"]
    time.sleep(0.1)
    assert s.sink.records == []  # refused, never logged at the server's time instead


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2011-03-13T07:06:40", "1.3e12", "-5", "", "2011-13-45T00:00:00Z", "١٢٣"],
)
def test_a_malformed_event_time_is_refused_naming_the_header(serve, http, value: str) -> None:
    plans = DictPlans(deployment("e", [route("lr", 1)]))
    s = serve(plans, pool_of(("lr", 1, _lr())), accept_event_time=True)
    r = http.post(
        f"{s.url}/v1/deployments/e/predict",
        json=ROW,
        headers={"Modelyard-Event-Time": value.encode()},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "Modelyard-Event-Time"
    assert "Modelyard-Event-Time" in r.json()["error"]["message"]


def test_an_event_time_more_than_five_minutes_ahead_is_refused(serve, http) -> None:
    plans = DictPlans(deployment("e", [route("lr", 1)]))
    s = serve(plans, pool_of(("lr", 1, _lr())), accept_event_time=True)
    now_ms = int(time.time() * 1000)
    url = f"{s.url}/v1/deployments/e/predict"
    soon = {"Modelyard-Event-Time": str(now_ms + 60_000)}  # a clock a minute ahead: fine
    assert http.post(url, json=ROW, headers=soon).status_code == 200
    late = {"Modelyard-Event-Time": str(now_ms + 10 * 60_000)}
    r = http.post(url, json=ROW, headers=late)
    assert r.status_code == 400 and "future" in r.json()["error"]["message"]
