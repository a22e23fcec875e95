"""Bytes in flight are bounded: JSON bodies are counted as they stream in, across
requests (server.max_body_bytes_in_flight); one that does not fit is 503 with
Retry-After in the error shape, before its body is read; a real server's memory under
eight concurrent maximum-size bodies stays within a stated bound."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from modelyard.api import create_app
from modelyard.api._inflight import BodyBudget
from modelyard.api.auth import no_auth
from modelyard.config import Settings
from server_support import LiveServer, ServerProcess

JSON = {"Content-Type": "application/json"}
KIB = 1024
MIB = 1024 * 1024


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """The budget is counted before the store is touched: SQLite only."""
    return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"


def test_a_body_that_does_not_fit_beside_another_is_503_with_retry_after(
    embedded_settings: Settings, live_server: Callable[..., LiveServer]
) -> None:
    conf = embedded_settings.server.model_copy(
        update={"max_body_bytes": 64 * KIB, "max_body_bytes_in_flight": 64 * KIB}
    )
    app = create_app(embedded_settings.model_copy(update={"server": conf}), auth=no_auth)
    api = httpx.Client(base_url=live_server(app).url + "/api/v1", timeout=30)
    go_on = threading.Event()

    def slow() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "first"' + b" " * (40 * KIB)
        go_on.wait(10)
        yield b"}"

    with api, ThreadPoolExecutor(1) as pool:
        first = pool.submit(api.post, "/projects", content=slow(), headers=JSON)
        # Once the server holds the first body's bytes (a request sent before then could
        # come first and leave the first no room), the next does not fit beside it.
        budget = _budget(app)
        deadline = time.monotonic() + 10
        while budget.in_flight < 40 * KIB:
            assert time.monotonic() < deadline and not first.done(), "the first body never came"
            time.sleep(0.002)
        answer = _create(api, "early", 30 * KIB)
        go_on.set()
        assert first.result().status_code == 201
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "1"
        error = answer.json()["error"]
        assert error["code"] == "server_busy" and "retry after 1 s" in error["message"]
        assert set(error) == {"code", "message", "field"}
        assert "early" not in {p["name"] for p in api.get("/projects").json()["items"]}
        # Given back once answered: the same body now fits, and a body alone always does.
        assert _create(api, "second", 30 * KIB).status_code == 201
        assert _create(api, "third", 60 * KIB).status_code == 201


def _budget(app: Any) -> BodyBudget:
    """The app's body budget, once its first request has built the middleware stack."""
    deadline = time.monotonic() + 10
    while app.middleware_stack is None:
        assert time.monotonic() < deadline, "the server never took the first request"
        time.sleep(0.002)
    layer = app.middleware_stack
    while not isinstance(layer, BodyBudget):
        layer = layer.app
    return layer


def _create(api: httpx.Client, name: str, size: int) -> httpx.Response:
    """POST /projects with a body of ``size`` bytes (JSON padded with spaces)."""
    body = json.dumps({"name": name}).encode()
    return api.post("/projects", content=body + b" " * (size - len(body)), headers=JSON)


BODY_BYTES = 16 * MIB
IN_FLIGHT_BYTES = 32 * MIB
UPLOAD_BYTES = 64 * MIB
#: What eight concurrent maximum-size bodies may add to the server's resident memory.
RSS_BOUND = 300 * 1000 * 1000


@pytest.fixture
def server(
    embedded_settings: Settings,
    server_process: Callable[..., ServerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> ServerProcess:
    """``modelyard server`` with 16 MiB JSON bodies, 32 MiB of them in flight."""
    monkeypatch.setenv("MODELYARD_SERVER_MAX_BODY_BYTES", str(BODY_BYTES))
    monkeypatch.setenv("MODELYARD_SERVER_MAX_BODY_BYTES_IN_FLIGHT", str(IN_FLIGHT_BYTES))
    return server_process(embedded_settings)


def _eight_at_once(
    server: ServerProcess, send: Callable[[int], httpx.Response]
) -> tuple[list[httpx.Response], int]:
    """``send(0)`` ... ``send(7)`` at once; their answers, and how much the server's
    resident memory grew at its peak meanwhile (sampled every 5 ms)."""
    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    baseline = process.memory_info().rss
    peak, stop = [baseline], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(8)))
    finally:
        stop.set()
        sampler.join()
    return answers, peak[0] - baseline


@pytest.mark.slow
def test_eight_concurrent_maximum_size_bodies_keep_the_server_within_its_bound(
    server: ServerProcess,
) -> None:
    with httpx.Client(base_url=server.url + "/api/v1", timeout=120) as api:
        run_id = api.post("/runs", json={"project": "p"}).json()["id"]
        api.post("/runs/search", json={"project": "p"})  # warm: the routes' first use
        bodies = [_batch(run_id, n) for n in range(8)]
        answers, grown = _eight_at_once(
            server, lambda n: api.post("/batches", content=bodies[n], headers=JSON)
        )
        statuses = sorted(a.status_code for a in answers)
        for answer in answers:
            assert answer.status_code in (200, 413, 503), answer.text
            if answer.status_code != 200:
                assert set(answer.json()["error"]) == {"code", "message", "field"}
            if answer.status_code == 503:
                assert answer.headers["Retry-After"] == "1"
        assert statuses.count(200) >= 1, statuses
        assert grown < RSS_BOUND, (statuses, grown / MIB)
        assert api.get("/health").status_code == 200
        assert api.get(f"/runs/{run_id}").status_code == 200


@pytest.mark.slow
def test_eight_concurrent_uploads_stream_to_disk(server: ServerProcess) -> None:
    """Uploads are not counted in the budget: they are staged on disk as they arrive,
    never held whole in memory."""
    octets = {"Content-Type": "application/octet-stream"}
    with httpx.Client(base_url=server.url + "/api/v1", timeout=120) as api:
        run_id = api.post("/runs", json={"project": "p"}).json()["id"]
        url = f"/runs/{run_id}/artifacts/content"
        api.put(url, params={"path": "warm.bin"}, content=b"w", headers=octets)
        data = [bytes([n]) * UPLOAD_BYTES for n in range(8)]
        answers, grown = _eight_at_once(
            server,
            lambda n: api.put(url, params={"path": f"{n}.bin"}, content=data[n], headers=octets),
        )
        assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
        assert grown < RSS_BOUND, grown / MIB
        listed = api.get(f"/runs/{run_id}/artifacts").json()["items"]
        assert {a["path"]: a["size"] for a in listed if a["path"] != "warm.bin"} == {
            f"{n}.bin": UPLOAD_BYTES for n in range(8)
        }


def _batch(run_id: str, n: int) -> bytes:
    """A batch of 50,000 tags, padded to exactly BODY_BYTES."""
    value = "v" * 280
    tags = [[run_id, f"t{n}-{i}", value] for i in range(50_000)]
    body = json.dumps({"batch_id": f"memory-batch-{n}", "tags": tags}).encode()
    assert len(body) <= BODY_BYTES
    return body + b" " * (BODY_BYTES - len(body))
