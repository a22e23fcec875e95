"""The Ray executor: independent steps as Ray tasks at once, outputs through the store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from fan_steps import FAN_HEAD

import modelyard as my
from modelyard import Client, MissingDependency
from modelyard.config import load_settings

STEPS = (
    FAN_HEAD
    + """


@my.step
def combine(a: dict, b: dict) -> dict:
    return {"totals": [a["total"], b["total"]], "pids": [a["pid"], b["pid"], os.getpid()]}


@my.step
def broken(values: list) -> int:
    raise ValueError("broken on ray")


@my.pipeline
def half(n: int):
    broken(source(n))
"""
)

Write = Callable[..., dict[str, ModuleType]]


@pytest.mark.ray
@pytest.mark.slow
def test_independent_steps_run_at_once_as_ray_tasks(
    ray_instance: ModuleType, pipe_client: Client, write_modules: Write, tmp_path: Path
) -> None:
    steps = write_modules(ray_steps=STEPS)["ray_steps"]
    marks = tmp_path / "marks"
    marks.mkdir()

    result = steps.fan.run(n=4, marks=str(marks), client=pipe_client, executor="ray")

    out = result.output("combine")
    assert out["totals"] == [6, 14]
    assert len(set(out["pids"])) == 3 and os.getpid() not in out["pids"]  # a process per step
    assert sorted(result.ran) == ["branch", "branch_2", "combine", "source"]
    parent = pipe_client.get_run(result.run_id)
    assert parent.status == "finished" and parent.tags["modelyard.executor"] == "ray"
    for name, step in result.steps.items():
        run = pipe_client.get_run(step.run_id)
        assert run.parent_id == parent.id and run.status == "finished"
        assert run.name == f"{parent.name}/{name}" and run.tags["modelyard.cached"] == "false"
        assert [a.path for a in pipe_client.list_artifacts(run.id)] == [step.output.path]
    assert result.output("branch_2") == {"pid": out["pids"][1], "total": 14}

    for mark in marks.iterdir():
        mark.unlink()
    again = steps.fan.run(n=4, marks=str(marks), client=pipe_client, executor="ray")
    assert sorted(again.cached) == ["branch", "branch_2", "combine", "source"]
    assert again.output("combine") == out


@pytest.mark.ray
@pytest.mark.slow
def test_a_failing_ray_task_fails_the_pipeline_run_with_its_error(
    ray_instance: ModuleType, pipe_client: Client, write_modules: Write
) -> None:
    steps = write_modules(ray_steps=STEPS)["ray_steps"]
    with pytest.raises(ValueError, match="broken on ray"):
        steps.half.run(n=3, client=pipe_client, executor="ray")

    runs = {r.name.rpartition("/")[2]: r for r in pipe_client.search_runs("default", output="list")}
    assert runs["broken"].status == "failed"
    assert "ValueError: broken on ray" in (runs["broken"].error or "")
    assert runs["source"].status == "finished"
    assert next(r for r in runs.values() if r.parent_id is None).status == "failed"


@my.step
def one() -> int:
    return 1


@my.pipeline
def single():
    one()


def test_without_ray_the_ray_executor_names_the_extra(
    pipe_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe_client.projects.ensure("default")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'modelyard\[ray\]'"):
        single.run(client=pipe_client, executor="ray")
    assert pipe_client.search_runs("default", output="list").runs == []  # refused before a run


def test_a_ray_address_that_takes_no_connection_is_refused_at_once(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "addressed.py").write_text(STEPS)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    env = {**os.environ, "MODELYARD_RAY_ADDRESS": address, "MODELYARD_HOME": str(tmp_path / "h")}
    marks = f"marks={tmp_path}"
    args = ["pipelines", "run", "addressed.py:fan", "--param", "n=3", "--param", marks]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "modelyard", *args, "--executor", "ray"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"cannot reach the Ray cluster at '{address}'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 60  # Ray alone retries for minutes


@pytest.mark.ray
@pytest.mark.slow
def test_the_cli_connects_to_the_cluster_at_ray_address(
    ray_instance: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "addressed.py").write_text(STEPS)
    env = {
        **os.environ,
        "MODELYARD_RAY_ADDRESS": ray_instance.get_runtime_context().gcs_address,
        "MODELYARD_HOME": str(tmp_path / "home"),
    }
    marks = tmp_path / "marks"
    marks.mkdir()
    args = ["pipelines", "run", "addressed.py:fan", "--param", "n=3", "--param", f"marks={marks}"]
    done = subprocess.run(
        [sys.executable, "-m", "modelyard", *args, "--executor", "ray", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Connecting to existing Ray cluster" in done.stderr, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    with Client(load_settings(home=tmp_path / "home")) as client:
        result = client.get_run(run_id)
        assert result.status == "finished" and result.tags["modelyard.executor"] == "ray"
    assert len({int(p.read_text()) for p in marks.iterdir()}) == 2  # branches in Ray workers


LOCAL_INIT = """
import sys

import ray

import addressed
from modelyard import Client
from modelyard.config import load_settings

with Client(load_settings(home=sys.argv[1])) as client:
    result = addressed.fan.run(n=3, marks=sys.argv[2], client=client, executor="ray")
    print(result.output("combine")["totals"], ray.is_initialized())
"""


@pytest.mark.ray
@pytest.mark.slow
def test_without_an_address_a_local_ray_is_started_and_stopped(
    ray_instance: ModuleType, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (tmp_path / "addressed.py").write_text(STEPS)
    (tmp_path / "main.py").write_text(LOCAL_INIT)
    marks = tmp_path / "marks"
    marks.mkdir()
    short = tmp_path_factory.mktemp("r")  # Ray's session files: its socket paths are limited
    env = {**os.environ, "RAY_TMPDIR": str(short)}
    env.pop("MODELYARD_RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "main.py", str(tmp_path / "home"), str(marks)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[3, 5] False"  # ran, and Ray was shut down
    assert "Started a local Ray instance" in done.stderr
