"""Concurrency and faults through a real ``modelyard server`` process: eight clients
logging 50,000 points each over HTTP all land; a server killed with SIGKILL and restarted
on the same port in the middle of that load loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.config import Settings
from modelyard.store import open_store
from service_support import tracking_service

pytestmark = pytest.mark.slow

POINTS = 50_000
CLIENTS = 8

LOGGER = textwrap.dedent(
    """
    import sys, time
    from modelyard import connect

    url, home, n, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    client = connect(url, home=home, tracking={
        "flush_interval_s": 0.2, "system_metrics_interval_s": 0, "capture_packages": False,
        "capture_git": False, "exit_flush_timeout_s": 120, "retry_timeout_s": 60,
    })
    run = client.start_run("load", name="client")
    print("run", run.id, flush=True)
    for step in range(n):
        run.log_metric("x", float(step), step=step)
        if pause and step % 1000 == 999:
            time.sleep(pause)
    run.end()
    client.close()
    print("done", flush=True)
    """
)


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[Callable[[str, float], list[subprocess.Popen[str]]]]:
    """``clients(url, pause)``: start the logging clients; any left running are killed."""
    script = tmp_path / "logger.py"
    script.write_text(LOGGER)
    started: list[subprocess.Popen[str]] = []

    def start(url: str, pause: float) -> list[subprocess.Popen[str]]:
        args = [sys.executable, str(script), url, str(tmp_path / "home"), str(POINTS), str(pause)]
        for number in range(len(started), len(started) + CLIENTS):
            # stderr to a file: stdout, the only pipe, is then read to its end through
            # the buffered reader _run_ids used, which may already hold the final "done"
            with (tmp_path / f"client-{number}.err").open("w") as err:
                started.append(
                    subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
                )
        return started

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _run_ids(procs: list[subprocess.Popen[str]]) -> list[str]:
    lines = [proc.stdout.readline().split() for proc in procs if proc.stdout is not None]
    assert all(line[0] == "run" for line in lines), lines
    return [line[1] for line in lines]


def _finish(procs: list[subprocess.Popen[str]], errors: Path) -> None:
    for number, proc in enumerate(procs):
        assert proc.stdout is not None
        out = proc.stdout.read()
        assert proc.wait(timeout=300) == 0, (errors / f"client-{number}.err").read_text()
        assert out.split() == ["done"], out


def _stored_points(settings: Settings, run_ids: list[str]) -> int:
    store = open_store(settings.store_url)
    try:
        tracking = tracking_service(store)
        return sum(len(tracking.metric_history(run_id, "x")) for run_id in run_ids)
    finally:
        store.dispose()


def _check_every_point_once(settings: Settings, run_ids: list[str]) -> None:
    if settings.store_url.startswith("sqlite"):
        with sqlite3.connect(settings.store_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = open_store(settings.store_url)
    try:
        tracking = tracking_service(store)
        assert len(set(run_ids)) == CLIENTS
        for run_id in run_ids:
            assert tracking.metric_history(run_id, "x").steps == list(range(POINTS))
            assert tracking.get_run(run_id).status == "finished"
    finally:
        store.dispose()


def test_eight_clients_over_http_all_land(
    embedded_settings: Settings, server_process: Callable[..., Any], clients: Any, tmp_path: Path
) -> None:
    server = server_process(embedded_settings, workers=2)
    procs = clients(server.url, 0)
    run_ids = _run_ids(procs)
    _finish(procs, tmp_path)
    _check_every_point_once(embedded_settings, run_ids)


def test_a_server_killed_mid_load_loses_and_duplicates_nothing(
    embedded_settings: Settings, server_process: Callable[..., Any], clients: Any, tmp_path: Path
) -> None:
    server = server_process(embedded_settings)
    procs = clients(server.url, 0.05)  # ~3 s of logging each
    run_ids = _run_ids(procs)
    time.sleep(1.0)
    assert 0 < _stored_points(embedded_settings, run_ids) < CLIENTS * POINTS  # mid-load
    server.kill()
    time.sleep(1.0)  # clients meet refused connections, keep their batches, back off
    server_process(embedded_settings, port=server.port)
    _finish(procs, tmp_path)
    _check_every_point_once(embedded_settings, run_ids)


def test_start_up_forgets_old_batch_ids_and_stale_uploads(embedded_settings: Settings) -> None:
    from modelyard.api._services import Services
    from modelyard.store.tables import write_batches

    services = Services(embedded_settings)
    services.open()
    now = int(time.time() * 1000)
    with services.tracking.store.write() as conn:
        conn.execute(
            write_batches.insert(),
            [
                {"id": "old-batch-1", "created_at": now - 8 * 24 * 3600 * 1000},
                {"id": "new-batch-1", "created_at": now},
            ],
        )
    stale = services.upload_dir / "upload-dead.tmp"
    fresh = services.upload_dir / "upload-live.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (time.time() - 7 * 3600, time.time() - 7 * 3600))
    services.close()

    services.open()
    with services.tracking.store.read() as conn:
        kept = {row.id for row in conn.execute(write_batches.select())}
    services.close()
    assert not stale.exists() and fresh.exists()
    assert kept == {"new-batch-1"}
