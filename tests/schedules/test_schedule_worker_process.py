"""A fire in a process of its own: not the worker's, code read afresh at each fire, a
crash fails only its fire and ends its run, user output kept off the protocol, the
settings' secrets passed on stdin and never in argv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from schedule_support import Clock

from modelyard import Client
from modelyard.config import Settings, load_settings
from modelyard.schedules import ScheduleService
from modelyard.worker._fire import job_line
from modelyard.worker.worker import Worker, fire_command

EDITED = """
import pathlib

import modelyard as my


@my.step(cache=False)
def stamp() -> str:
    pathlib.Path("version.txt").write_text({version!r})
    return {version!r}


@my.pipeline
def versioned():
    stamp()
"""

CHATTY = """
import os
import sys

import modelyard as my

print('{"status": "failed", "error": "printed at import"}')


@my.step(cache=False)
def talk() -> int:
    print('{"run_id": "printed"}')
    print("to stderr", file=sys.stderr)
    os.write(1, b'{"status": "failed", "error": "written to fd 1"}\\n')
    return 1


@my.pipeline
def chatty():
    talk()
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's settings, allowing pipelines of the module ``sched_edited``."""
    worker = settings.worker.model_copy(update={"pipeline_packages": ["sched_edited"]})
    return settings.model_copy(update={"worker": worker})


@pytest.fixture
def worker(settings: Settings, clock: Clock, lines: list[str]) -> Iterator[Worker]:
    with Worker(settings, clock=clock, log=lines.append, lease_s=30) as w:
        yield w


@pytest.fixture
def module(tmp_path: Path) -> Iterator[Path]:
    """Where a test writes a module of its own (in the working directory)."""
    path = tmp_path / "sched_edited.py"
    yield path
    sys.modules.pop(path.stem, None)


@pytest.mark.parametrize("isolation", ["process", "inline"])
def test_a_fire_runs_in_a_process_of_its_own_unless_inline(
    settings: Settings,
    service: ScheduleService,
    pipes: Path,
    clock: Clock,
    tmp_path: Path,
    isolation: Any,
) -> None:
    service.create("who", project="ml", pipeline=f"{pipes}:whoami", cron="* * * * *")
    clock.advance(minutes=1)
    assert settings.worker.isolation == "process"
    with Worker(settings, clock=clock, log=lambda _: None, isolation=isolation) as w:
        (outcome,) = w.run_once().ran
    assert outcome.status == "finished"
    pid = int((tmp_path / "pid.txt").read_text())
    assert (pid == os.getpid()) is (isolation == "inline")


def test_the_isolation_setting_chooses_the_default(settings: Settings) -> None:
    inline = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"isolation": "inline"})}
    )
    with Worker(inline) as w:
        assert w.isolation == "inline"
    with Worker(inline, isolation="process") as w:
        assert w.isolation == "process"


def test_code_edited_between_fires_is_picked_up_without_a_restart(
    service: ScheduleService, worker: Worker, module: Path, clock: Clock, tmp_path: Path
) -> None:
    module.write_text(EDITED.format(version="one"))
    service.create("v", project="ml", pipeline="sched_edited:versioned", cron="* * * * *")
    clock.advance(minutes=1)
    assert [o.status for o in worker.run_once().ran] == ["finished"]
    assert (tmp_path / "version.txt").read_text() == "one"
    module.write_text(EDITED.format(version="second"))
    clock.advance(minutes=1)
    assert [o.status for o in worker.run_once().ran] == ["finished"]
    assert (tmp_path / "version.txt").read_text() == "second"


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("exit", "the pipeline process exited with code 3"),
        ("kill", "the pipeline process was killed by signal 9 (SIGKILL; out of memory?)"),
    ],
)
def test_a_pipeline_process_that_dies_fails_its_fire_and_the_worker_goes_on(
    client: Client,
    service: ScheduleService,
    worker: Worker,
    pipes: Path,
    clock: Clock,
    lines: list[str],
    how: str,
    error: str,
) -> None:
    service.create(
        "crash", project="ml", pipeline=f"{pipes}:crash", params={"how": how}, cron="0 * * * *"
    )
    service.create("after", project="ml", pipeline=f"{pipes}:tick", cron="0 * * * *")
    clock.advance(hours=1)
    crashed, after = sorted(worker.run_once().ran, key=lambda o: o.schedule.name != "crash")
    assert (crashed.status, crashed.error, crashed.recorded) == ("failed", error, True)
    assert crashed.run_id is not None
    run = client.get_run(crashed.run_id)
    assert (run.status, run.error) == ("failed", error)
    (step,) = [r for r in client.search_runs("ml", output="list").runs if r.parent_id == run.id]
    assert (step.status, step.error) == ("failed", error)
    (fire,) = service.fires("crash", project="ml")
    assert (fire.status, fire.run_id, fire.error) == ("failed", run.id, error)
    assert f"run {run.id[:12]} failed" in lines[0] or f"run {run.id[:12]} failed" in lines[1]
    assert after.status == "finished"


def test_what_user_code_prints_does_not_reach_the_protocol(
    service: ScheduleService,
    worker: Worker,
    module: Path,
    clock: Clock,
    capfd: pytest.CaptureFixture[str],
) -> None:
    module.write_text(CHATTY)
    service.create("chatty", project="ml", pipeline="sched_edited:chatty", cron="* * * * *")
    capfd.readouterr()
    clock.advance(minutes=1)
    (outcome,) = worker.run_once().ran
    assert (outcome.status, outcome.error) == ("finished", None)
    assert outcome.run_id is not None and outcome.run_id != "printed"
    err = capfd.readouterr().err  # the process's stderr is the worker's
    for said in ("printed at import", '{"run_id": "printed"}', "to stderr", "written to fd 1"):
        assert said in err


def test_the_settings_travel_with_their_secrets_on_stdin_not_in_argv(
    settings: Settings,
    service: ScheduleService,
    pipes: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "k" * 43 + "="
    secret = load_settings(
        home=settings.home,
        store={"url": settings.store_url},
        artifacts={"secret_access_key": "s3-password"},
        server={"secret_key": key, "previous_secret_keys": [key]},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
    )
    line = job_line(secret, pipeline="m:p", project="ml", params={"a": 1}, tags={"t": "v"})
    job = json.loads(line)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = Settings.model_validate(job["settings"])
    assert back.server.secret_key is not None
    assert back.server.secret_key.get_secret_value() == key
    assert [k.get_secret_value() for k in back.server.previous_secret_keys] == [key]
    assert back.model_dump() == secret.model_dump()
    assert (job["pipeline"], job["project"], job["params"], job["tags"]) == (
        "m:p", "ml", {"a": 1}, {"t": "v"},
    )  # fmt: skip

    started: list[list[str]] = []
    popen = subprocess.Popen

    def spy(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(list(args))
        return popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    service.create("s", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *")
    clock.advance(minutes=1)
    with Worker(secret, clock=clock, log=lambda _: None) as w:
        (outcome,) = w.run_once().ran
    assert outcome.status == "finished"
    assert started == [fire_command()]
    assert not any(s in " ".join(started[0]) for s in (key, "s3-password", settings.store_url))
