"""``modelyard schedules`` and ``modelyard worker``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard import Client
from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.schedules import ScheduleService
from modelyard.worker.worker import INTERRUPTED, TRIGGER_TAG
from service_support import schedule_service


@pytest.fixture
def cli(settings: Settings, pipes: Path) -> Callable[..., Any]:
    runner = CliRunner()
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [*base, *args], env={"COLUMNS": "200"})

    return invoke


def test_create_list_show_disable_enable_delete(cli: Callable[..., Any]) -> None:
    made = cli(
        "schedules",
        "create",
        "nightly",
        "--pipeline",
        "sched_pipes.py:tick",
        "--param",
        "label=7",
        "--cron",
        "0 3 * * *",
        "--tz",
        "Europe/Paris",
        "-p",
        "ml",
        "--json",
    )
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert data["params"] == {"label": "7"}  # the parameter is annotated str
    assert (
        data["pipeline"].endswith("sched_pipes.py:tick")
        and Path(data["pipeline"][:-5]).is_absolute()
    )
    assert (data["cron"], data["timezone"], data["enabled"]) == ("0 3 * * *", "Europe/Paris", True)

    dataset = cli(
        "schedules", "create", "retrain", "--pipeline", "sched_pipes.py:tick",
        "--on-dataset", "sales", "-p", "ml",
    )  # fmt: skip
    assert (
        dataset.exit_code == 0
        and "runs" in dataset.stdout
        and "on each new version of dataset sales" in dataset.stdout
    )

    listed = json.loads(cli("schedules", "list", "--json").stdout)
    assert [(s["name"], s["trigger"]) for s in listed] == [
        ("nightly", "cron 0 3 * * * (Europe/Paris)"),
        ("retrain", "dataset sales"),
    ]
    table = cli("schedules", "list")
    assert table.exit_code == 0 and "nightly" in table.stdout and "retrain" in table.stdout
    shown = cli("schedules", "show", "nightly", "-p", "ml")
    assert "Europe/Paris" in shown.stdout and "next fire" in shown.stdout

    off = cli("schedules", "disable", "nightly", "-p", "ml")
    assert off.exit_code == 0 and "is disabled" in off.stdout
    on = json.loads(cli("schedules", "enable", "nightly", "-p", "ml", "--json").stdout)
    assert on["enabled"] is True and on["next_fire_at"] is not None
    never = cli("schedules", "fires", "nightly", "-p", "ml")
    assert never.stdout == "schedule nightly in project ml has not fired yet\n"
    gone = cli("schedules", "delete", "nightly", "-p", "ml")
    assert gone.exit_code == 0 and "deleted schedule nightly" in gone.stdout
    missing = cli("schedules", "show", "nightly", "-p", "ml")
    assert missing.exit_code == 4
    assert missing.stderr.startswith(
        "error: schedule 'nightly' does not exist in project 'ml' (searched the store "
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--cron", "61 * * * *"], 2, "not a valid cron expression: '61 * * * *'"),
        (["--cron", "0 3 * * *", "--tz", "Nowhere/City"], 2, "unknown timezone 'Nowhere/City'"),
        ([], 2, "give --cron EXPR or --on-dataset NAME"),
        (["--cron", "* * * * *", "--on-dataset", "s"], 2, "give --cron EXPR or --on-dataset"),
        (["--on-dataset", "s", "--tz", "UTC"], 2, "--tz goes with --cron"),
        (["--cron", "* * * * *", "--param", "nope=1"], 2, "has no parameter 'nope'"),
        (["--cron", "* * * * *", "--param", "label"], 2, "--param must be key=value"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    cli: Callable[..., Any], args: list[str], code: int, message: str
) -> None:
    result = cli("schedules", "create", "s", "--pipeline", "sched_pipes.py:tick", *args)
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_bad_references_are_refused(cli: Callable[..., Any]) -> None:
    for ref, message in [
        ("sched_pipes.py:not_a_pipeline", "is not a pipeline"),
        ("nothing_here.py:tick", "no such file"),
        ("tick", "not a pipeline reference"),
        ("this:x", "not in a package pipelines may be imported from"),
        ("venv.__main__:x", "runs a program when imported"),
    ]:
        result = cli("schedules", "create", "s", "--pipeline", ref, "--cron", "* * * * *")
        assert result.exit_code == 2 and message in result.stderr
        assert result.stdout == ""  # nothing imported printed anything
    assert "this" not in sys.modules and "venv.__main__" not in sys.modules


def test_a_second_schedule_of_the_same_name_is_refused(cli: Callable[..., Any]) -> None:
    args = ("schedules", "create", "s", "--pipeline", "sched_pipes.py:tick", "--cron", "* * * * *")
    assert cli(*args).exit_code == 0
    again = cli(*args)
    assert again.exit_code == 5 and "already exists" in again.stderr


def clear_of_the_next_minute(margin_s: float = 15.0) -> None:
    """Wait until at least ``margin_s`` are left in this minute: an every-minute
    schedule must not come due again between two calls that expect nothing new."""
    now = datetime.now(UTC)
    left = 60.0 - now.second - now.microsecond / 1e6
    if left < margin_s:
        time.sleep(left + 0.5)


def test_worker_once_runs_what_is_due_and_fires_shows_it(
    cli: Callable[..., Any], client: Client, pipes: Path
) -> None:
    clear_of_the_next_minute()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    schedule_service(client.store, clock=lambda: an_hour_ago).create(
        "every-minute", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *"
    )
    ran = cli("worker", "--once")
    assert ran.exit_code == 0, ran.output
    (line,) = ran.stderr.splitlines()
    assert "ml/every-minute cron:* * * * *@" in line and "finished" in line
    assert "missed occurrences; only the newest runs" in line
    again = cli("worker", "--once", "--project", "ml")
    assert again.exit_code == 0 and again.stderr == ""

    (fire,) = json.loads(cli("schedules", "fires", "every-minute", "-p", "ml", "--json").stdout)
    assert fire["status"] == "finished" and fire["missed"] >= 58
    assert client.get_run(fire["run_id"]).tags[TRIGGER_TAG] == fire["trigger"]
    table = cli("schedules", "fires", "every-minute", "-p", "ml")
    assert "finished" in table.stdout and fire["run_id"][:12] in table.stdout


def test_run_asks_for_a_run_the_next_worker_pass_makes(
    cli: Callable[..., Any], client: Client
) -> None:
    made = cli("schedules", "create", "nightly", "--pipeline", "sched_pipes.py:tick",
               "--cron", "0 3 * * *", "-p", "ml", "--disabled")  # fmt: skip
    assert made.exit_code == 0, made.output
    asked = cli("schedules", "run", "nightly", "-p", "ml")
    assert asked.exit_code == 0, asked.output
    assert "asked for a run of schedule nightly in project ml" in asked.stdout
    assert "the next worker to poll runs it" in asked.stdout
    assert "waiting for a worker" in cli("schedules", "show", "nightly", "-p", "ml").stdout
    ran = cli("worker", "--once", "--inline")
    assert ran.exit_code == 0 and "ml/nightly manual:" in ran.stderr and "finished" in ran.stderr
    (fire,) = json.loads(cli("schedules", "fires", "nightly", "-p", "ml", "--json").stdout)
    assert fire["trigger"].startswith("manual:") and fire["status"] == "finished"
    assert "waiting for a worker" not in cli("schedules", "show", "nightly", "-p", "ml").stdout
    missing = cli("schedules", "run", "nope", "-p", "ml")
    assert missing.exit_code == 4 and "schedule 'nope' does not exist" in missing.stderr


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        ([], {}, "1 at a time"),
        ([], {"MODELYARD_WORKER_CONCURRENCY": "4"}, "4 at a time"),
        (["--concurrency", "3"], {"MODELYARD_WORKER_CONCURRENCY": "4"}, "3 at a time"),
    ],
    ids=["default", "setting", "flag"],
)
def test_worker_stops_on_sigterm(
    tmp_path: Path, args: list[str], env: dict[str, str], said: str
) -> None:
    command = [sys.executable, "-m", "modelyard", "--home", str(tmp_path / "home"), "worker"]
    with subprocess.Popen(
        [*command, "--poll-interval", "0.2", *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **env},
    ) as proc:
        try:
            assert proc.stderr is not None
            first = proc.stderr.readline()
            assert first.startswith("worker ") and "every 0.2 s, all projects" in first
            assert first.rstrip().endswith(f"a process per fire, {said}")
            proc.send_signal(signal.SIGTERM)
            rest = proc.stderr.read()
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    fires = "fire (again to interrupt it)" if said == "1 at a time" else "fires (again to"
    assert f"SIGTERM: stopping after the running {fires}" in rest and "stopped" in rest


def test_a_concurrency_out_of_range_is_refused(cli: Callable[..., Any]) -> None:
    for bad in ("0", "65"):
        ran = cli("worker", "--once", "--concurrency", bad)
        assert ran.exit_code == 2 and "--concurrency" in ran.output


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def start_worker(settings: Settings, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """``modelyard worker`` in its own session, as a terminal runs it in its own process
    group: ``os.killpg(proc.pid, SIGINT)`` is a Ctrl-C at that terminal."""
    command = [sys.executable, "-m", "modelyard", "--store-url", settings.store_url]
    return subprocess.Popen(
        [*command, "--home", str(settings.home), "worker", "--poll-interval", "0.2", *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )


def interrupt_twice(
    proc: subprocess.Popen[str], pids: list[int], between: Callable[[], None] = lambda: None
) -> str:
    """Ctrl-C at the worker's terminal twice: after the first the worker and the pipeline
    processes ``pids`` go on (``between`` checks more), the second interrupts them and the
    worker exits 130. What the worker said on stderr."""
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None  # the first signal lets the running fires finish
    between()
    assert all(alive(pid) for pid in pids)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert proc.stderr is not None
    return proc.stderr.read()


def wait_for_the_run(service: ScheduleService, tmp_path: Path) -> int:
    """Wait until the ``long`` fire has its run and its step is sleeping; the step's pid."""
    for _ in range(300):
        fires = service.fires("long", project="ml")
        if fires and fires[0].run_id is not None and (tmp_path / "nap.pid").exists():
            return int((tmp_path / "nap.pid").read_text())
        time.sleep(0.1)
    raise AssertionError("the fire did not start")


@pytest.fixture
def long_fire(client: Client, pipes: Path) -> ScheduleService:
    """A schedule ``long`` in project ``ml`` whose pipeline sleeps 60 s, due now."""
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    service = schedule_service(client.store, clock=lambda: an_hour_ago)
    service.create(
        "long", project="ml", pipeline=f"{pipes}:slow", params={"seconds": 60}, cron="* * * * *"
    )
    return service


@pytest.mark.slow
@pytest.mark.parametrize("isolation", [[], ["--inline"]], ids=["process", "inline"])
def test_a_second_sigint_interrupts_the_running_fire(
    settings: Settings,
    client: Client,
    long_fire: ScheduleService,
    tmp_path: Path,
    isolation: list[str],
) -> None:
    with start_worker(settings, tmp_path, *isolation) as proc:
        try:
            pid = wait_for_the_run(long_fire, tmp_path)
            assert (pid == proc.pid) is bool(isolation)

            def still_running() -> None:
                (fire,) = long_fire.fires("long", project="ml")
                assert fire.run_id is not None
                assert client.get_run(fire.run_id).status == "running"

            said = interrupt_twice(proc, [pid], still_running)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "SIGINT: stopping after the running fire (again to interrupt it)" in said
    assert said.rstrip().endswith("interrupted")
    assert not alive(pid)
    (fire,) = long_fire.fires("long", project="ml")
    assert (fire.status, fire.error) == ("failed", INTERRUPTED)
    assert fire.run_id is not None
    assert client.get_run(fire.run_id).status == "killed"  # as at a Ctrl-C


@pytest.mark.slow
def test_a_second_sigint_interrupts_every_running_fire(
    settings: Settings, client: Client, pipes: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "hold").touch()  # neither pipeline ends on its own
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    service = schedule_service(client.store, clock=lambda: an_hour_ago)
    for name in ("a", "b"):
        params = {"marks": str(marks), "label": name, "deadline_s": 120}
        service.create(
            name, project="ml", pipeline=f"{pipes}:together", params=params, cron="* * * * *"
        )

    def fires() -> list[Any]:
        return [f for name in ("a", "b") for f in service.fires(name, project="ml")]

    with start_worker(settings, tmp_path, "--concurrency", "2") as proc:
        try:
            for _ in range(300):
                if len(list(marks.glob("*.start"))) == 2 and all(f.run_id for f in fires()):
                    break
                time.sleep(0.1)
            pids = [int(p.read_text().split()[0]) for p in marks.glob("*.start")]
            assert len(pids) == 2 and len(fires()) == 2
            said = interrupt_twice(proc, pids)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "SIGINT: stopping after the running fires (again to interrupt them)" in said
    assert said.rstrip().endswith("interrupted")
    assert not any(alive(pid) for pid in pids)
    ended = fires()
    assert [(f.status, f.error) for f in ended] == [("failed", INTERRUPTED)] * 2
    assert {client.get_run(f.run_id).status for f in ended} == {"killed"}
    for name in ("a", "b"):  # one line per fire
        assert len([line for line in said.splitlines() if f" ml/{name} cron:" in line]) == 1


@pytest.mark.slow
def test_a_pipeline_process_does_not_outlive_a_killed_worker(
    settings: Settings, long_fire: ScheduleService, tmp_path: Path
) -> None:
    with start_worker(settings, tmp_path) as proc:
        try:
            pid = wait_for_the_run(long_fire, tmp_path)
            assert pid != proc.pid and alive(pid)
            proc.kill()
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    for _ in range(100):
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid)


def test_worker_inline_runs_the_pipeline_in_its_own_process(
    cli: Callable[..., Any], client: Client, pipes: Path, tmp_path: Path
) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    schedule_service(client.store, clock=lambda: an_hour_ago).create(
        "who", project="ml", pipeline=f"{pipes}:whoami", cron="* * * * *"
    )
    ran = cli("worker", "--once", "--inline")
    assert ran.exit_code == 0, ran.output
    assert "ml/who cron:" in ran.stderr and "finished" in ran.stderr
    assert int((tmp_path / "pid.txt").read_text()) == os.getpid()
