"""Graceful shutdown of the inference server in a process of its own, and its command."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from modelyard.cli.main import app
from server_support import free_port

ROW = {"records": [{"x1": 0.5, "x2": -1.0}]}
SCRIPT = Path(__file__).with_name("serve_doubles.py")


def test_sigterm_lets_a_request_in_flight_finish_then_closes_the_parts(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(port), "1.0"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        answers: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{url}/v1/deployments/slow/predict", json=ROW, timeout=10)
            )
        )
        slow.start()
        time.sleep(0.4)  # the request is in the model now
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            late = httpx.get(f"{url}/healthz", timeout=2).status_code
        except httpx.TransportError:
            late = None
        slow.join(timeout=10)
        # uvicorn raises the signal again once drained: the status says what stopped it
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert answers and answers[0].status_code == 200, log.read_text()
    assert answers[0].json()["predictions"] == [1.0]
    assert late is None  # no new connection once the signal came
    assert "sink closed with 1 records" in log.read_text()


def test_serve_is_a_command_with_its_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--project", "--deployment", "--host", "--port"):
        assert option in result.output
