"""Remote mode: the same interface as the embedded service, retries, idempotent batches,
and what only the embedded mode can do."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelyard as my
from modelyard import Client, InvalidInput, StorageError
from modelyard.config import Settings, load_settings
from modelyard.remote import RemoteTracking
from modelyard.remote import tracking as remote_tracking
from modelyard.tracking._buffer import Batch
from server_support import free_port


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """The client's behaviour does not depend on the server's store (both stores run the
    whole tracking suite remotely): SQLite only."""
    return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"


def _app(settings: Settings) -> Any:
    from modelyard.api import create_app
    from modelyard.api.auth import no_auth

    return create_app(settings, auth=no_auth)


def _remote(url: str, settings: Settings, **tracking: Any) -> Client:
    conf = settings.tracking.model_copy(update={"uri": url, **tracking})
    return Client(settings.model_copy(update={"tracking": conf}))


class _Flaky:
    """An ASGI wrapper that fails chosen requests once, in a chosen way."""

    def __init__(self, app: Any, method: str, path_end: str, how: str) -> None:
        self.app, self.method, self.path_end, self.how = app, method, path_end, how
        self.failed = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        hit = (
            scope["type"] == "http"
            and scope["method"] == self.method
            and scope["path"].endswith(self.path_end)
            and not self.failed
        )
        if not hit:
            await self.app(scope, receive, send)
            return
        self.failed += 1
        if self.how == "503 before":
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return

        async def swallow(message: dict) -> None:  # the work is done, the answer is lost
            pass

        await self.app(scope, receive, swallow)
        raise ConnectionResetError("the answer was lost after the commit")


def test_connect_and_what_only_the_embedded_mode_has(
    served: str, admin_token: str, settings: Settings
) -> None:
    with my.connect(served, token=admin_token, home=settings.home) as client:
        assert client.is_remote and isinstance(client.tracking, RemoteTracking)
        client.create_project("remote")
        assert [p.name for p in client.list_projects()] == ["remote"]
        for attempt in (lambda: client.blobs, lambda: client.store, lambda: client.gc()):
            with pytest.raises(InvalidInput, match="not available through the tracking server"):
                attempt()


@pytest.mark.parametrize("uri", ["ftp://x", "127.0.0.1:8080", "http://", "http://h/x?q=1"])
def test_tracking_uri_must_be_an_http_url(uri: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_settings(tracking={"uri": uri})
    assert info.value.field == "tracking.uri"


def test_the_token_is_sent_as_a_bearer_header(
    settings: Settings, live_server: Callable[..., Any]
) -> None:
    seen: list[dict[bytes, bytes]] = []
    app = _app(settings)

    async def recording(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(dict(scope["headers"]))
        await app(scope, receive, send)

    server = live_server(recording)
    with my.connect(server.url, token="s3cret", home=settings.home) as client:
        client.list_projects()
    assert seen[-1][b"authorization"] == b"Bearer s3cret"
    assert seen[-1][b"user-agent"].startswith(b"modelyard/")


def test_a_server_that_comes_up_late_is_waited_for(
    settings: Settings, live_server: Callable[..., Any]
) -> None:
    port = free_port()
    app = _app(settings)
    timer = threading.Timer(0.4, lambda: live_server(app, port))
    timer.start()
    try:
        with _remote(f"http://127.0.0.1:{port}", settings, retry_timeout_s=20) as client:
            started = time.monotonic()
            assert client.create_project("late").name == "late"  # refused, then served
            assert time.monotonic() - started >= 0.3
    finally:
        timer.join()


def test_retries_stop_at_the_retry_timeout(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with _remote(url, settings, retry_timeout_s=1.5) as client:
        started, wall = time.monotonic(), time.time()
        with pytest.raises(StorageError) as raised:
            client.list_projects()
        assert 1.5 <= time.monotonic() - started < 5
    message = raised.value.message
    assert message.startswith(f"the tracking server at {url} did not answer in ")
    assert "within 1.5 s (tracking.retry_timeout_s, MODELYARD_TRACKING_RETRY_TIMEOUT_S)" in message
    assert "\n" not in message
    # said at once, not after the wait: one warning, logged well before the deadline
    [warning] = [r for r in caplog.records if r.name == "modelyard.remote"]
    assert warning.levelname == "WARNING"
    assert warning.created - wall < 0.75
    text = warning.getMessage()
    assert f"cannot reach the tracking server at {url}" in text
    assert "retrying for up to 1.5 s, until " in text and "tracking.retry_timeout_s" in text


def test_503_is_retried_even_for_creation(
    settings: Settings, live_server: Callable[..., Any]
) -> None:
    flaky = _Flaky(_app(settings), "POST", "/runs", "503 before")
    server = live_server(flaky)
    with _remote(server.url, settings) as client:
        run = client.tracking.create_run("p", name="once")
        assert flaky.failed == 1
        assert [r.id for r in client.search_runs("p", output="list")] == [run.id]


def test_a_batch_retried_after_the_server_committed_it_is_stored_once(
    settings: Settings, live_server: Callable[..., Any]
) -> None:
    flaky = _Flaky(_app(settings), "POST", "/batches", "answer lost")
    server = live_server(flaky)
    with _remote(server.url, settings) as client:
        with client.start_run("p", capture=False) as run:
            for step in range(1000):
                run.log_metric("x", float(step), step=step)
            run.log_param("lr", 0.1)
        assert flaky.failed == 1
        assert client.get_metric_history(run.id, "x").steps == list(range(1000))
        assert client.get_run(run.id).params == {"lr": "0.1"}


def test_a_creation_whose_answer_was_lost_is_not_repeated(
    settings: Settings, live_server: Callable[..., Any]
) -> None:
    flaky = _Flaky(_app(settings), "POST", "/projects", "answer lost")
    server = live_server(flaky)
    with _remote(server.url, settings) as client:
        with pytest.raises(my.ModelyardError):
            client.create_project("maybe")
        assert [p.name for p in client.list_projects()] == ["maybe"]


def test_a_big_batch_goes_in_parts_stored_once_each(
    monkeypatch: pytest.MonkeyPatch, served: str, admin_token: str, settings: Settings
) -> None:
    monkeypatch.setattr(remote_tracking, "_MAX_REQUEST_BYTES", 2000)
    with _remote(served, settings, token=admin_token) as remote:
        run = remote.tracking.create_run("p")
        rows = [(run.id, "m", float(i), i, 1) for i in range(100)]
        tags = [(run.id, f"t{i}", "v" * 50) for i in range(10)]
        batch = Batch(metrics=rows, tags=tags, heartbeats=[run.id])
        for _ in range(2):  # a retry sends the same parts under the same ids
            assert remote.tracking.write_batch(batch, batch_id="big-batch-1") is None
        assert remote.get_metric_history(run.id, "m").steps == list(range(100))
        assert len(remote.get_run(run.id).tags) == 10


def test_a_param_clash_is_deferred_after_the_rest_is_stored(
    served: str, admin_token: str, settings: Settings
) -> None:
    with _remote(served, settings, token=admin_token) as remote:
        run = remote.tracking.create_run("p")
        remote.tracking.write_batch(Batch(params=[(run.id, "lr", "0.1")]), "first-batch")
        clash = Batch(metrics=[(run.id, "m", 1.0, 0, 1)], params=[(run.id, "lr", "0.5")])
        deferred = remote.tracking.write_batch(clash, "second-batch")
        assert isinstance(deferred, my.Conflict) and deferred.field == "params.lr"
        assert remote.get_metric_history(run.id, "m").values == [1.0]


def test_batches_travel_as_columns_per_series_with_non_finite_values_as_strings() -> None:
    a, b = "a" * 32, "b" * 32
    rows = [(a, "loss", 0.5, 0, 10), (b, "loss", 1.0, 0, 11), (a, "loss", float("nan"), 1, 12)]
    rows.append((a, "acc", float("-inf"), 3, 13))
    (body,) = remote_tracking._batch_bodies(Batch(metrics=rows), "columns-1")
    sent = json.loads(body)
    assert sent["metrics"] == [
        {
            "run_id": a,
            "key": "loss",
            "steps": [0, 1],
            "values": [0.5, "NaN"],
            "timestamps": [10, 12],
        },
        {"run_id": b, "key": "loss", "steps": [0], "values": [1.0], "timestamps": [11]},
        {"run_id": a, "key": "acc", "steps": [3], "values": ["-Infinity"], "timestamps": [13]},
    ]
    finite = remote_tracking._batch_bodies(Batch(metrics=rows[:2]), "columns-2")
    assert json.loads(finite[0])["metrics"][0]["values"] == [0.5]
