"""``modelyard worker`` delivers webhooks; a worker killed in the middle of a delivery
loses nothing: the next worker sends it again, under the same delivery id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from events_support import hook_settings
from receiver import Receiver

from modelyard.config import Settings
from modelyard.events.delivery import verify
from modelyard.sdk.client import Client


def _worker(settings: Settings, cwd: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "modelyard", "--store-url", settings.store_url]
    env = {
        **os.environ,
        "MODELYARD_WEBHOOKS_ALLOWED_HOSTS": json.dumps(settings.webhooks.allowed_hosts),
        "MODELYARD_WEBHOOKS_TIMEOUT_S": str(settings.webhooks.timeout_s),
        "MODELYARD_WEBHOOKS_BACKOFF_S": str(settings.webhooks.backoff_s),
        "MODELYARD_WEBHOOKS_POLL_INTERVAL_S": "0.1",
    }
    return subprocess.Popen(
        [*command, "--home", str(settings.home), "worker", "--poll-interval", "0.2"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )


def _end(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> str:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return err


@pytest.mark.slow
def test_a_worker_killed_mid_delivery_loses_nothing(
    tmp_path: Path, store_url: str, receiver: Callable[..., Receiver]
) -> None:
    got = receiver(stall_first=True)
    settings = hook_settings(tmp_path, store_url, timeout_s=2.0)  # a lease of 6 s
    with Client(settings) as client:
        client.create_project("lab")
        hooks = client.services.webhooks
        made = hooks.create("lab", got.url, events=["dataset.version_created"])
        client.dataset_service.register("d", pa.table({"x": [1]}), project="lab")

        first = _worker(settings, tmp_path)
        try:
            [stalled] = got.wait_for(1)  # the receiver holds it: the worker waits
        finally:
            _end(first, signal.SIGKILL)
        got.release()
        [held] = hooks.deliveries("lab")
        assert (held.status, held.attempts) == ("pending", 1)  # the dead worker's lease

        second = _worker(settings, tmp_path)
        try:
            requests = got.wait_for(2)
            deadline = time.monotonic() + 30
            while hooks.deliveries("lab")[0].status != "delivered":
                assert time.monotonic() < deadline, "the second attempt was not recorded"
                time.sleep(0.1)
        finally:
            said = _end(second)
        [delivery] = hooks.deliveries("lab")
    assert (delivery.id, delivery.status, delivery.attempts) == (held.id, "delivered", 2)
    assert [r.headers["Modelyard-Delivery"] for r in requests] == [held.id, held.id]
    assert stalled.body == requests[1].body  # the same event, once more
    assert made.secret is not None
    for request in requests:
        assert verify(
            made.secret,
            request.headers["Modelyard-Delivery"],
            request.headers["Modelyard-Timestamp"],
            request.body,
            request.headers["Modelyard-Signature"],
        )
    assert (
        f"webhook delivery {held.id[:12]} dataset.version_created to {got.url}: delivered" in said
    )


def test_a_worker_pass_delivers_what_is_due(
    settings: Settings, receiver: Callable[..., Receiver]
) -> None:
    from modelyard.worker.worker import Worker

    got = receiver()
    lines: list[str] = []
    with Client(settings) as client:
        client.create_project("lab")
        client.webhooks.create("lab", got.url, events=["*"])
        client.dataset_service.register("d", pa.table({"x": [1]}), project="lab")
        with Worker(settings, isolation="inline", log=lines.append) as worker:
            assert worker.run_once().ran == []  # no schedule: only the delivery
        [delivery] = client.webhooks.deliveries("lab")
    assert delivery.status == "delivered"
    assert got.wait_for(1)[0].headers["Modelyard-Delivery"] == delivery.id
    assert any(f"webhook delivery {delivery.id[:12]}" in line for line in lines)
