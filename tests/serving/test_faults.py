"""Issue 13's faults, end to end: real ``modelyard serve`` processes over an embedded home
(a registered model, its versions in staging, a deployment), each stopped by its PID.

Bad requests through the real server; a canary whose blob is corrupt; the control plane
and the artifact store unreachable after the versions loaded; one of two replicas killed
with SIGKILL under load.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.config import Settings
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from server_support import free_port

PROJECT = "shop"
ROW = {"records": [{"x1": 0.5, "x2": -1.0}]}

pytestmark = pytest.mark.slow


def _models() -> list[LogisticRegression]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(60, 2)), columns=["x1", "x2"])
    y = (x["x1"] > 0).astype(int)
    return [LogisticRegression(C=c).fit(x, y) for c in (1.0, 0.1)]


def _blobs(settings: Settings) -> set[Path]:
    return set((Path(settings.artifacts_uri) / "blobs").rglob("*"))


def _deploy(
    settings: Settings, plan: TrafficPlan | str = "churn/1"
) -> tuple[dict[int, str], dict[int, set[Path]]]:
    """Deployment ``churn`` of project shop over versions 1 and 2 of model churn (both in
    staging): their ids by number, and the blob files each one added to the artifact root."""
    example = pd.DataFrame({"x1": [0.1, 0.2], "x2": [0.3, -0.4]})
    with Client(settings) as client:
        client.create_project(PROJECT)
        ids, added = {}, {}
        with client.start_run(PROJECT, capture=False):
            for model in _models():
                before = _blobs(settings)
                v = client.models.log(model, "churn", input_example=example)
                ids[v.version] = v.id
                added[v.version] = {f for f in _blobs(settings) - before if f.is_file()}
        for number in ids:
            client.models.request("churn", number, to="staging", project=PROJECT)
        client.deployments.create("churn", plan, project=PROJECT)
    return ids, added


class Serve:
    """``modelyard serve --project shop`` in a child process on a free loopback port,
    open auth; ``env`` adds MODELYARD_* settings."""

    def __init__(self, settings: Settings, log: Path, **env: str) -> None:
        self.settings = settings
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MODELYARD_SERVING_AUTH": "open", **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Serve:
        args = [
            sys.executable, "-m", "modelyard",
            "--home", str(self.settings.home), "--store-url", self.settings.store_url,
            "serve", "--project", PROJECT, "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"serve did not start: {self.log.read_text()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    def predict(self, http: httpx.Client | None = None, **kw: Any) -> httpx.Response:
        post = (http or httpx).post
        return post(f"{self.url}/v1/deployments/churn/predict", timeout=10, **kw)

    def readyz(self) -> tuple[int, dict[str, Any]]:
        answer = httpx.get(f"{self.url}/readyz", timeout=5)
        return answer.status_code, answer.json()

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), SIGKILL if it outlives 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start ``Serve`` processes; each is stopped by its PID after the test."""
    started: list[Serve] = []

    def start(settings: Settings, **env: str) -> Serve:
        server = Serve(settings, tmp_path / f"serve-{len(started)}.log", **env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def _error(answer: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = answer.json()["error"]
    return error


def test_bad_requests_get_their_status_from_the_real_server(
    embedded_settings: Settings, serve: Any
) -> None:
    _deploy(embedded_settings)
    server = serve(
        embedded_settings, MODELYARD_SERVING_MAX_BODY_BYTES="4096", MODELYARD_SERVING_MAX_ROWS="50"
    )
    assert server.predict(json=ROW).status_code == 200

    malformed = server.predict(
        content=b'{"records": [{"x1": 0.5,', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400, malformed.text
    assert _error(malformed)["code"] == "malformed_body"

    wrong = server.predict(json={"records": [{"x1": "high", "x2": -1.0}]})
    assert wrong.status_code == 422, wrong.text
    assert "x1" in (_error(wrong)["field"] or "")

    big_body = server.predict(
        json={"records": [{"x1": 0.5, "x2": -1.0, "note": "x" * 5000}]},
    )
    assert big_body.status_code == 413, big_body.text
    many_rows = server.predict(json={"columns": {"x1": [0.5] * 51, "x2": [1.0] * 51}})
    assert many_rows.status_code == 413, many_rows.text
    assert _error(many_rows)["code"] == _error(big_body)["code"]

    unknown = httpx.post(f"{server.url}/v1/deployments/nope/predict", json=ROW, timeout=10)
    assert unknown.status_code == 404, unknown.text
    assert _error(unknown)["field"] == "deployment"
    # each answer above was one error: the server still answers
    assert server.predict(json=ROW).status_code == 200


def test_a_canary_whose_blob_is_corrupt_is_unhealthy_and_its_traffic_goes_to_the_champion(
    embedded_settings: Settings, serve: Any
) -> None:
    canary = TrafficPlan((Route("churn", "1", 50), Route("churn", "2", 50)))
    ids, added = _deploy(embedded_settings, canary)
    assert added[2], "version 2 added no blob"
    for blob in added[2]:  # the same size, other bytes: only the digest can tell
        blob.write_bytes(bytes(b ^ 0xFF for b in blob.read_bytes()))

    server = serve(embedded_settings)
    status, ready = server.readyz()
    assert status == 200, ready  # the champion answers
    assert set(ready["unhealthy_versions"]) == {ids[2]}
    champion, broken = ready["deployments"]["churn"]["routes"]
    assert champion["healthy"] is True
    assert broken["healthy"] is False and broken["error"]

    with httpx.Client() as http:
        answers = [server.predict(http, json=ROW) for _ in range(40)]
    assert [a.status_code for a in answers] == [200] * 40
    assert {a.headers["modelyard-model-version"] for a in answers} == {"churn/1"}


def _metric(text: str, name: str) -> float:
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    return float(line.split()[1])


def test_with_the_control_plane_and_its_store_gone_it_answers_and_queues_the_log(
    embedded_settings: Settings, server_process: Any, serve: Any, tmp_path: Path
) -> None:
    _deploy(embedded_settings)
    control = server_process(embedded_settings)
    own = tmp_path / "serve-home"  # the replica's own home: its cache, no store of its own
    settings = embedded_settings.model_copy(update={"home": own})
    server = serve(
        settings,
        MODELYARD_TRACKING_URI=control.url,
        MODELYARD_TRACKING_RETRY_TIMEOUT_S="1",
        MODELYARD_SERVING_LOG_FLUSH_S="0.2",
    )
    with httpx.Client() as http:
        assert [server.predict(http, json=ROW).status_code for _ in range(5)] == [200] * 5
        control.kill()  # the control plane, the metadata store and the blobs behind it
        deadline = time.monotonic() + 15
        while (ready := server.readyz())[0] != 503:
            assert time.monotonic() < deadline, ready
            time.sleep(0.1)
        answers = []
        for _ in range(30):
            started = time.perf_counter()
            answer = server.predict(http, json=ROW)
            answers.append((answer.status_code, time.perf_counter() - started))
        metrics = http.get(f"{server.url}/metrics", timeout=5).text
        status, ready = server.readyz()
    assert [s for s, _ in answers] == [200] * 30
    # no request waits on the store: the log's writes fail on their own thread
    assert max(s for _, s in answers) < 1.0, answers
    assert status == 503 and ready["control_plane"]["reachable"] is False, ready
    assert any("control plane is unreachable" in p for p in ready["problems"]), ready
    assert ready["unhealthy_versions"] == {}
    assert _metric(metrics, "modelyard_prediction_log_queue_rows") >= 30
    assert _metric(metrics, "modelyard_prediction_log_dropped_total") == 0
    assert _metric(metrics, "modelyard_serving_plan_poll_failures_total") >= 1


def test_sigkill_of_one_replica_under_load_the_other_answers_and_at_most_a_second_is_lost(
    embedded_settings: Settings, serve: Any
) -> None:
    _deploy(embedded_settings)
    flush_s = 1.0
    a, b = (serve(embedded_settings, MODELYARD_SERVING_LOG_FLUSH_S=str(flush_s)) for _ in "ab")
    # (replica, request id or None when the connection failed, status, wall time answered)
    done: list[tuple[Serve, str | None, int, float]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client() as http_a, httpx.Client() as http_b:
            while not stop.is_set():
                for server, http in ((a, http_a), (b, http_b)):
                    try:
                        answer = server.predict(http, json=ROW)
                    except httpx.TransportError:
                        done.append((server, None, 0, time.time()))
                        continue
                    rid = answer.headers.get("modelyard-prediction-id")
                    done.append((server, rid, answer.status_code, time.time()))

    client = threading.Thread(target=load)
    client.start()
    try:
        time.sleep(3 * flush_s)
        killed_at = time.time()
        a.kill()
        time.sleep(2 * flush_s)
    finally:
        stop.set()
        client.join(timeout=30)
    b.stop()  # gracefully: it writes its whole log

    by_a = [d for d in done if d[0] is a]
    by_b = [d for d in done if d[0] is b]
    assert by_b and all(status == 200 for _, _, status, _ in by_b), by_b[-5:]
    assert [d for d in by_b if d[3] > killed_at + 0.5], "b answered nothing after the kill"
    answered_a = {f"{rid}-0": t for _, rid, status, t in by_a if status == 200}
    assert all(t <= killed_at + 0.5 for t in answered_a.values())
    assert any(rid is None for _, rid, _, t in by_a if t > killed_at)  # refused at connect

    with Client(embedded_settings) as reader:
        logged = reader.predictions.load(PROJECT, "churn", with_labels=False)
    ids = set(logged["prediction_id"])
    assert {f"{rid}-0" for _, rid, _, _ in by_b} <= ids
    lost = {pid: t for pid, t in answered_a.items() if pid not in ids}
    assert len(answered_a) - len(lost) > 0, "a wrote no segment before the kill"
    # what a lost was answered in its last flush period (and the write under way then)
    oldest = killed_at - min(lost.values(), default=killed_at)
    assert oldest <= flush_s + 0.5, (oldest, len(lost), len(answered_a))
    assert len(ids) == len(logged)  # no row written twice
