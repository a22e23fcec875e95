"""Durability and concurrency: SIGKILL mid-logging, and 8 writers at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelyard import Client

pytestmark = pytest.mark.slow

LOGGER = textwrap.dedent(
    """
    import sys, time
    from modelyard import Client
    from modelyard.config import load_settings

    url, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = load_settings(
        home=sys.argv[4], store={"url": url},
        tracking={"flush_interval_s": 0.2, "system_metrics_interval_s": 0,
                  "capture_packages": False, "capture_git": False,
                  "uri": sys.argv[5] or None, "exit_flush_timeout_s": 60},
    )
    client = Client(settings)
    run = client.start_run("durability", name=mode)
    print("run", run.id, flush=True)
    if mode == "flushes":
        step = 0
        while True:
            for _ in range(1000):
                run.log_metric("x", float(step), step=step)
                step += 1
            run.flush()
            print("flushed", step, flush=True)
    elif mode == "interval":
        for step in range(n):
            run.log_metric("x", float(step), step=step)
        print("logged", n, flush=True)
        time.sleep(60)
    else:
        for step in range(n):
            run.log_metric("x", float(step), step=step)
        run.end()
        client.close()
        print("done", flush=True)
    """
)


def _spawn(tmp_path: Path, settings, mode: str, n: int = 0) -> subprocess.Popen:
    script = tmp_path / "logger.py"
    if not script.exists():
        script.write_text(LOGGER)
    uri = settings.tracking.uri or ""
    home = str(tmp_path / "home")
    return subprocess.Popen(
        [sys.executable, str(script), settings.store_url, mode, str(n), home, uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(settings),
    )


def _env(settings) -> dict[str, str]:
    """The environment of a child process: the server's access token, in remote mode."""
    env = dict(os.environ)
    if settings.tracking.token:
        env["MODELYARD_TRACKING_TOKEN"] = settings.tracking.token
    return env


def _read_until(proc: subprocess.Popen, word: str, count: int = 1) -> list[str]:
    seen = 0
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"logger exited: {proc.stderr.read()}")
        parts = line.split()
        if parts[0] == word:
            seen += 1
            if seen >= count:
                return parts


def _steps(client: Client, run_id: str) -> list[int]:
    return client.get_metric_history(run_id, "x").steps


def test_sigkill_keeps_everything_flushed_and_the_store_intact(tmp_path: Path, settings) -> None:
    proc = _spawn(tmp_path, settings, "flushes")
    run_id = _read_until(proc, "run")[1]
    flushed = int(_read_until(proc, "flushed", count=5)[1])
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    if settings.store_url.startswith("sqlite"):
        with sqlite3.connect(settings.store_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Client(settings) as client:
        steps = _steps(client, run_id)
        assert len(steps) >= flushed
        assert steps == list(range(len(steps)))  # whole batches only, no gaps, no duplicates
        assert client.get_run(run_id).status == "running"
        with client.start_run("durability", name="after") as run:
            run.log_metric("ok", 1.0)
        assert client.get_run(run.id).metrics == {"ok": 1.0}


def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path, settings) -> None:
    proc = _spawn(tmp_path, settings, "interval", 5000)
    run_id = _read_until(proc, "run")[1]
    _read_until(proc, "logged")
    # Three flush intervals after the last log call, plus time for the write itself (an
    # HTTP round trip and a PostgreSQL commit on a loaded two-core machine).
    time.sleep(0.2 * 3 + 1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    with Client(settings) as client:
        assert _steps(client, run_id) == list(range(5000))


def test_eight_processes_log_400k_points_concurrently(tmp_path: Path, settings) -> None:
    procs = [_spawn(tmp_path, settings, "bulk", 50_000) for _ in range(8)]
    outputs = [proc.communicate(timeout=240) for proc in procs]  # every pipe read and closed
    run_ids = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower()
        lines = out.split("\n")
        assert lines[0].startswith("run ") and lines[1] == "done"
        run_ids.append(lines[0].split()[1])
    with Client(settings) as client:
        for run_id in run_ids:
            assert _steps(client, run_id) == list(range(50_000))
            assert client.get_run(run_id).status == "finished"


EXITER = textwrap.dedent(
    """
    import sys
    from modelyard import Client
    from modelyard.config import load_settings

    settings = load_settings(home=sys.argv[2], store={"url": sys.argv[1]},
                             tracking={"system_metrics_interval_s": 0, "capture_packages": False,
                                       "uri": sys.argv[4] or None})
    run = Client(settings).start_run("exits", name=sys.argv[3])
    print(run.id, flush=True)
    run.log_metric("m", 1.0)
    if sys.argv[3] == "crash":
        raise RuntimeError("boom")
    """
)


@pytest.mark.parametrize(("mode", "status"), [("normal", "finished"), ("crash", "failed")])
def test_runs_left_open_are_ended_at_exit(tmp_path: Path, settings, mode, status) -> None:
    script = tmp_path / "exiter.py"
    script.write_text(EXITER)
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            settings.store_url,
            str(tmp_path / "home"),
            mode,
            settings.tracking.uri or "",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(settings),
    )
    run_id = proc.stdout.split()[0]
    with Client(settings) as client:
        run = client.get_run(run_id)
    assert run.status == status
    assert run.metrics == {"m": 1.0}
    if mode == "crash":
        assert "RuntimeError: boom" in run.error and "RuntimeError" in proc.stderr
