"""``modelyard serve --ray``: the inference server as a Ray Serve application on a local
Ray, and the command's refusals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from replica_support import PROJECT, alive, descendants, predict, register, start, stop, wait_ready
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.errors import InvalidInput
from modelyard.sdk.client import Client
from modelyard.serving.entities import Route, TrafficPlan
from modelyard.serving.rayserve import parse_autoscale
from server_support import free_port


@pytest.mark.parametrize("text", ["4", "a:b", "3:2", "0:0", "-1:2", "1:"])
def test_autoscale_bounds_must_be_min_colon_max(text: str) -> None:
    with pytest.raises(InvalidInput, match="MIN:MAX") as caught:
        parse_autoscale(text)
    assert caught.value.field == "--autoscale"


def test_autoscale_bounds_are_read() -> None:
    assert parse_autoscale("0:3") == (0, 3)
    assert parse_autoscale("2:2") == (2, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replicas", "2"], "--replicas and --autoscale need --ray"),
        (["--autoscale", "1:2"], "--replicas and --autoscale need --ray"),
        (["--ray", "--replicas", "2", "--autoscale", "1:2"], "not both"),
        (["--ray", "--autoscale", "2"], "MIN:MAX"),
    ],
)
def test_replica_options_are_refused_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code != 0
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_without_ray_serve_the_command_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray.serve", None)  # import raises ImportError
    result = CliRunner().invoke(app, ["serve", "--ray", "--replicas", "2"])
    assert result.exit_code != 0
    assert "pip install 'modelyard[ray]'" in result.output, result.output


def test_a_ray_address_that_takes_no_connection_is_refused_at_once(tmp_path: Path) -> None:
    pytest.importorskip("ray.serve")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    env = {**os.environ, "MODELYARD_RAY_ADDRESS": address, "MODELYARD_HOME": str(tmp_path)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "modelyard", "serve", "--ray"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"cannot reach the Ray cluster at '{address}'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 60  # Ray alone retries for minutes


@pytest.mark.slow
@pytest.mark.ray
def test_two_ray_replicas_answer_follow_plan_changes_and_stop_with_their_ray(
    settings: Settings, tmp_path: Path
) -> None:
    pytest.importorskip("ray.serve")
    with Client(settings) as client:
        client.projects.create(PROJECT)
        first, second = register(client, "churn", 0), register(client, "churn", 1)
        client.deployments.create("api", f"churn@{first}", project=PROJECT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {"MODELYARD_SERVING_AUTH": "open", "RAY_AUTH_MODE": "disabled"}
    args = ["--home", str(settings.home), "--store-url", settings.store_url, "serve"]
    args += ["--project", PROJECT, "--ray", "--replicas", "2", "--port", str(port)]
    proc = start(args, env, log)
    try:
        wait_ready(proc, url, log, timeout=120)
        started = descendants(proc.pid)
        with ThreadPoolExecutor(8) as pool:  # requests at once: Ray spreads them

            def answered(version: int) -> set[str]:
                """The replicas that answered 16 requests with ``version``."""
                answers = list(pool.map(lambda _: predict(url, "api"), range(16)))
                return {
                    a.headers["modelyard-replica"]
                    for a in answers
                    if a.headers["modelyard-model-version"] == f"churn/{version}"
                }

            replicas: set[str] = set()
            deadline = time.monotonic() + 30
            while len(replicas) < 2 and time.monotonic() < deadline:
                replicas |= answered(first)
            assert len(replicas) == 2, log.read_text()

            with Client(settings) as client:
                plan = TrafficPlan((Route("churn", str(second), 100),))
                client.deployments.set_traffic("api", plan, project=PROJECT)
            changed = time.monotonic()
            moved: set[str] = set()
            while moved != replicas and time.monotonic() < changed + 2:
                moved |= answered(second)
        assert moved == replicas, "the plan change did not reach both replicas in 2 s"
    finally:
        status = stop(proc)
    assert status == 0, log.read_text()
    assert "Deleting app ['modelyard-shop']" in log.read_text()
    assert started and not alive(started), "Ray's processes outlived the command"
