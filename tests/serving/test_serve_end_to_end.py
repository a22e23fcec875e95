"""``modelyard serve`` end to end over the real parts, no doubles: an embedded home, a
registered model in staging with an alias, a deployment made with the CLI, the server in
a process of its own with token auth, the three protocols, plan changes, labels, the
prediction log, metrics and SIGTERM."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app
from modelyard.config import Settings, load_settings
from modelyard.governance import SYSTEM
from modelyard.sdk.client import Client
from server_support import free_port

pytestmark = pytest.mark.slow

PROJECT = "shop"
MODEL = "churn"
DEPLOYMENT = "churn-api"
ROWS = pd.DataFrame({"x1": [0.5, -1.25, 2.0], "x2": [-1.0, 0.75, 0.1]})
VERSION_HEADER = "modelyard-model-version"
SHADOWED = ("--route", f"{MODEL}@champion", "--shadow", f"{MODEL}/2=100")


@dataclass
class Serving:
    settings: Settings
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    predictor: dict[str, str]  # headers of a predictor's token
    stranger: dict[str, str]  # headers of a token without a role in the project
    labeller: dict[str, str]  # headers of a contributor's token
    expected: dict[int, list[int]]  # version -> the model's own predictions of ROWS

    def cli(self, *args: str) -> str:
        return _cli(self.settings, *args)

    def revision(self) -> int:
        listed = httpx.get(f"{self.url}/v1/deployments", headers=self.predictor).json()
        return int(listed["deployments"][0]["revision"])

    def set_traffic(self, *options: str) -> float:
        """``modelyard deployments set-traffic`` with ``options``; the seconds until the
        server routes by the new revision."""
        before = self.revision()
        self.cli("deployments", "set-traffic", DEPLOYMENT, *options)
        started = time.monotonic()
        while self.revision() == before:
            assert time.monotonic() - started < 5, "the plan did not arrive"
            time.sleep(0.02)
        return time.monotonic() - started


def _cli(settings: Settings, *args: str) -> str:
    done = CliRunner().invoke(app, ["--home", str(settings.home), *args, "--project", PROJECT])
    assert done.exit_code == 0, done.output
    return done.output


def _register(client: Client) -> dict[int, list[int]]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    expected = {}
    for number, y in ((1, X["x1"] > 0), (2, X["x2"] > 0)):
        with client.start_run(project=PROJECT):
            model = LogisticRegression().fit(X, y.astype(int))
            client.models.log(model, MODEL, input_example=X[:3])
        client.models.request(MODEL, number, to="staging", project=PROJECT)
        expected[number] = model.predict(ROWS).tolist()
    client.models.set_alias(MODEL, "champion", 1, project=PROJECT)
    return expected


def _token(client: Client, name: str, role: str | None) -> dict[str, str]:
    governance = client.services.governance
    governance.users.create_service_account(name, actor=SYSTEM)
    if role is not None:
        governance.roles.grant(PROJECT, name, role, actor=SYSTEM)
    return {"Authorization": f"Bearer {governance.tokens.create(name, 'e2e', actor=SYSTEM).secret}"}


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    folder = tmp_path_factory.mktemp("e2e")
    settings = load_settings(
        home=folder / "home",
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
    )
    with Client(settings) as client:
        client.create_project(PROJECT)
        expected = _register(client)
        tokens = [
            _token(client, "inference", "predictor"),
            _token(client, "stranger", None),
            _token(client, "labeller", "contributor"),
        ]
    port, log = free_port(), folder / "serve.log"
    args = [
        sys.executable, "-m", "modelyard", "--home", str(settings.home),
        "serve", "--project", PROJECT, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    env = {"MODELYARD_SERVING_LOG_FLUSH_S": "0.2", "MODELYARD_TRACKING_CAPTURE_PACKAGES": "false"}
    _cli(settings, "deployments", "create", DEPLOYMENT, f"{MODEL}@champion")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    served = Serving(settings, f"http://127.0.0.1:{port}", proc, log, *tokens, expected)
    try:
        deadline = time.monotonic() + 30
        while _status(f"{served.url}/readyz") != 200:
            assert served.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.05)
        yield served
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(timeout=30)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.TransportError:
        return None


def _arrow(frame: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def test_the_three_protocols_answer_what_the_model_predicts(serving: Serving) -> None:
    url, headers, want = serving.url, serving.predictor, serving.expected[1]
    records = ROWS.to_dict(orient="records")
    columns = ROWS.to_dict(orient="list")
    predict = f"{url}/v1/deployments/{DEPLOYMENT}/predict"
    for body in ({"records": records}, {"columns": columns}):
        answer = httpx.post(predict, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["predictions"] == want
        assert (got["model"], got["version"]) == (MODEL, 1)
        request_id = answer.headers["modelyard-prediction-id"]
        assert got["prediction_ids"] == [f"{request_id}-{i}" for i in range(3)]
        assert answer.headers[VERSION_HEADER] == f"{MODEL}/1"
    arrow = httpx.post(
        predict,
        content=_arrow(ROWS),
        headers={**headers, "Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert arrow.status_code == 200, arrow.text
    assert arrow.json()["predictions"] == want

    inputs = [
        {"name": c, "shape": [3], "datatype": "FP64", "data": columns[c]} for c in ("x1", "x2")
    ]
    infer = httpx.post(
        f"{url}/v2/models/{DEPLOYMENT}/infer", json={"id": "r-1", "inputs": inputs}, headers=headers
    )
    assert infer.status_code == 200, infer.text
    v2 = infer.json()
    assert (v2["id"], v2["model_version"], v2["outputs"][0]["data"]) == ("r-1", f"{MODEL}/1", want)
    assert len(v2["parameters"]["prediction_ids"]) == 3
    metadata = httpx.get(f"{url}/v2/models/{DEPLOYMENT}", headers=headers).json()
    assert [i["name"] for i in metadata["inputs"]] == ["x1", "x2"]
    ready = httpx.get(f"{url}/v2/models/{DEPLOYMENT}/ready", headers=headers)
    assert ready.status_code == 200 and ready.json()["ready"] is True

    split = {"columns": ["x1", "x2"], "data": ROWS.to_numpy().tolist()}
    for body in (
        {"dataframe_split": split},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": columns},
    ):
        answer = httpx.post(f"{url}/invocations", json=body, headers=headers)
        assert answer.status_code == 200, (body, answer.text)
        assert answer.json()["predictions"] == want
        assert len(answer.json()["prediction_ids"]) == 3


def test_a_token_is_needed_and_must_hold_a_role(serving: Serving) -> None:
    predict = f"{serving.url}/v1/deployments/{DEPLOYMENT}/predict"
    body = {"records": ROWS[:1].to_dict(orient="records")}
    none = httpx.post(predict, json=body)
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    bad = httpx.post(predict, json=body, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    stranger = httpx.post(predict, json=body, headers=serving.stranger)
    assert stranger.status_code in (403, 404), stranger.text
    assert stranger.json()["error"]["code"] in ("permission_denied", "not_found")
    assert "predictions" not in stranger.json()


def test_plan_changes_reach_the_server_canary_ab_and_shadow(serving: Serving) -> None:
    predict = f"{serving.url}/v1/deployments/{DEPLOYMENT}/predict"
    one = {"records": ROWS[:1].to_dict(orient="records")}

    def versions(n: int, headers: dict[str, str]) -> collections.Counter[str]:
        with httpx.Client(headers=headers) as http:
            return collections.Counter(
                http.post(predict, json=one).headers[VERSION_HEADER] for _ in range(n)
            )

    canary = ("--route", f"{MODEL}@champion=50", "--route", f"{MODEL}/2=50")
    assert serving.set_traffic(*canary) < 2.0
    drawn = versions(200, serving.predictor)
    assert set(drawn) == {f"{MODEL}/1", f"{MODEL}/2"}
    assert 60 <= drawn[f"{MODEL}/2"] <= 140, drawn  # 50% of 200, sd 7

    assert serving.set_traffic(*canary, "--sticky-key", "X-Customer-Id") < 2.0
    seen = {
        customer: versions(5, {**serving.predictor, "X-Customer-Id": customer})
        for customer in (f"c-{i}" for i in range(12))
    }
    assert all(len(counts) == 1 for counts in seen.values()), seen  # sticky
    assert {next(iter(c)) for c in seen.values()} == {f"{MODEL}/1", f"{MODEL}/2"}
    missing = httpx.post(predict, json=one, headers=serving.predictor)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "X-Customer-Id"

    assert serving.set_traffic(*SHADOWED) < 2.0
    shadowed = httpx.post(
        predict, json={"records": ROWS.to_dict(orient="records")}, headers=serving.predictor
    )
    assert shadowed.headers[VERSION_HEADER] == f"{MODEL}/1"
    assert shadowed.json()["predictions"] == serving.expected[1]
    assert versions(20, serving.predictor) == {f"{MODEL}/1": 20}


def test_labels_join_the_prediction_log(serving: Serving) -> None:
    serving.set_traffic(*SHADOWED)  # so that the log holds shadow rows too
    predict = f"{serving.url}/v1/deployments/{DEPLOYMENT}/predict"
    answer = httpx.post(
        predict, json={"records": ROWS.to_dict(orient="records")}, headers=serving.predictor
    )
    ids = answer.json()["prediction_ids"]
    labels = {"labels": [{"prediction_id": i, "label": y} for i, y in ((ids[0], 1), (ids[2], 0))]}
    refused = httpx.post(
        f"{serving.url}/v1/deployments/{DEPLOYMENT}/labels", json=labels, headers=serving.predictor
    )
    assert refused.status_code == 403, refused.text  # a predictor may only predict
    posted = httpx.post(
        f"{serving.url}/v1/deployments/{DEPLOYMENT}/labels", json=labels, headers=serving.labeller
    )
    assert posted.status_code == 200, posted.text

    deadline = time.monotonic() + 10
    while True:
        df = my.predictions.load(DEPLOYMENT, project=PROJECT, settings=serving.settings)
        mine = df[df["prediction_id"].isin(ids)]
        if len(mine) == 6:  # three rows answered and three copied to the shadow
            break
        assert time.monotonic() < deadline, df
        time.sleep(0.1)
    live, shadow = mine[~mine["shadow"]], mine[mine["shadow"]]
    assert live.sort_values("prediction_id")["output"].tolist() == serving.expected[1]
    assert sorted(shadow["version"]) == [2, 2, 2]
    assert sorted(shadow["output"].tolist()) == sorted(serving.expected[2])
    by_id = dict(zip(live["prediction_id"], live["label"], strict=True))
    assert (by_id[ids[0]], by_id[ids[2]]) == (1, 0) and pd.isna(by_id[ids[1]])
    assert live["input.x1"].tolist() == ROWS["x1"].tolist()


def test_metrics_count_the_requests_and_sigterm_stops_cleanly(serving: Serving) -> None:
    metrics = httpx.get(f"{serving.url}/metrics").text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("modelyard_serving_requests_total{")
        and f'deployment="{DEPLOYMENT}"' in line
        and 'status="200"' in line
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in counted) >= 200
    assert "modelyard_serving_model_memory_bytes{" in metrics
    serving.proc.send_signal(signal.SIGTERM)
    # uvicorn raises the signal again once drained: the status says what stopped it
    assert serving.proc.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Traceback" not in serving.log.read_text()
