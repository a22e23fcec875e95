"""Replicas of ``modelyard serve`` in processes of their own, over one store: a project with
a deployment of a real scikit-learn model to serve, the command started and stopped by
PID, and the processes it started (a local Ray's) found so a test can see them gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from modelyard.registry.flavors import flavor_for
from modelyard.sdk.client import Client

PROJECT = "shop"
ROW = {"records": [{"f0": 0.5, "f1": -1.0}]}


def register(client: Client, name: str, seed: int) -> int:
    """A LogisticRegression over ``f0``, ``f1`` registered as a version of ``name`` in
    staging (so it may take traffic); its number."""
    data = np.random.default_rng(seed).normal(size=(60, 2))
    model = LogisticRegression(max_iter=50).fit(
        pd.DataFrame(data, columns=["f0", "f1"]), np.arange(60) % 2
    )
    flavor = flavor_for(model)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model").mkdir()
        config = flavor.save(model, Path(tmp) / "model")
        version = client.model_service.register(
            name, tmp, project=PROJECT, flavor=flavor.name, flavor_config=config
        )
    client.model_service.request_transition(
        name, project=PROJECT, to="staging", version=version.version
    )
    return version.version


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``modelyard ARGS`` in a child process, its output in ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "modelyard", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    """Until ``url``/readyz answers 200 (the process must stay up meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"not ready in {timeout} s:\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def predict(url: str, deployment: str, **options: Any) -> httpx.Response:
    answer = httpx.post(f"{url}/v1/deployments/{deployment}/predict", json=ROW, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


def descendants(pid: int) -> set[int]:
    """Every live process under ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGINT (Ctrl-C) and wait; SIGKILL if it does not end. Its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    return proc.returncode
