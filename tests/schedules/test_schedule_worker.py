"""The worker: cron fires with an injected clock, dataset triggers once per version,
failures recorded, fires of a stopped worker taken over, the loop stops on request; each
with a process per fire and inline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from schedule_support import Clock

from modelyard import Client
from modelyard.config import Settings
from modelyard.errors import InvalidInput
from modelyard.schedules import ScheduleService
from modelyard.worker.worker import FIRE_TAG, SCHEDULE_TAG, TRIGGER_TAG, Outcome, Worker
from service_support import schedule_service


@pytest.fixture(params=["process", "inline"])
def worker(
    request: pytest.FixtureRequest, settings: Settings, clock: Clock, lines: list[str]
) -> Iterator[Worker]:
    """A worker on the test's clock, running each fire in a fresh process or inline."""
    with Worker(settings, clock=clock, log=lines.append, lease_s=30, isolation=request.param) as w:
        yield w


def scheduled_runs(client: Client, project: str) -> list:
    page = client.search_runs(project, output="list")
    return [r for r in page.runs if SCHEDULE_TAG in r.tags]


def test_a_cron_schedule_fires_its_newest_due_occurrence_once(
    client: Client,
    service: ScheduleService,
    worker: Worker,
    pipes: Path,
    clock: Clock,
    lines: list[str],
) -> None:
    service.create(
        "hourly", project="ml", pipeline=f"{pipes}:tick", params={"label": "h"}, cron="0 * * * *"
    )
    assert worker.run_once().ran == []
    clock.advance(hours=3)  # 13:00:30; 11:00 and 12:00 were missed
    (outcome,) = worker.run_once().ran
    assert outcome.status == "finished" and outcome.error is None and outcome.recorded
    run = client.get_run(outcome.run_id)
    assert run.status == "finished" and run.parent_id is None
    assert run.tags[TRIGGER_TAG] == "cron:0 * * * *@2026-12-04T13:00+00:00"
    assert run.tags[SCHEDULE_TAG] == "hourly"
    assert run.tags[FIRE_TAG] == outcome.fire.id
    assert run.tags["modelyard.pipeline"] == "tick" and run.params == {"label": "h"}
    (line,) = lines
    assert "ml/hourly cron:0 * * * *@2026-12-04T13:00+00:00" in line
    assert f"run {outcome.run_id[:12]} finished" in line
    assert "skipped 2 missed occurrences; only the newest runs" in line

    assert worker.run_once().ran == []
    clock.advance(hours=1)
    (later,) = worker.run_once().ran
    assert client.get_run(later.run_id).tags[TRIGGER_TAG].endswith("@2026-12-04T14:00+00:00")
    fires = service.fires("hourly", project="ml")
    assert [(f.status, f.run_id, f.missed) for f in fires] == [
        ("finished", later.run_id, 0),
        ("finished", outcome.run_id, 2),
    ]
    assert len(scheduled_runs(client, "ml")) == 2


def test_a_timezone_schedule_fires_at_its_local_time(
    client: Client, service: ScheduleService, worker: Worker, pipes: Path, clock: Clock
) -> None:
    service.create(
        "paris", project="ml", pipeline=f"{pipes}:tick", cron="0 12 * * *", timezone="Europe/Paris"
    )
    clock.advance(hours=1)  # 11:00:30 UTC is 12:00:30 in Paris (CET)
    (outcome,) = worker.run_once().ran
    tag = client.get_run(outcome.run_id).tags[TRIGGER_TAG]
    assert tag == "cron:0 12 * * *@2026-12-04T12:00+01:00"


def test_a_dataset_trigger_fires_once_per_new_version(
    client: Client, service: ScheduleService, worker: Worker, pipes: Path, lines: list[str]
) -> None:
    service.create("retrain", project="ml", pipeline=f"{pipes}:tick", dataset="sales")
    assert worker.run_once().ran == []
    for n in (1, 2):
        client.datasets.register("sales", pd.DataFrame({"x": [n]}), project="ml")
    client.datasets.register("sales", pd.DataFrame({"x": [2]}), project="ml")  # same data
    ran = worker.run_once().ran
    triggers = [client.get_run(o.run_id).tags[TRIGGER_TAG] for o in ran]
    assert triggers == ["dataset:sales:1", "dataset:sales:2"]
    assert worker.run_once().ran == []
    client.datasets.register("sales", pd.DataFrame({"x": [3]}), project="ml")
    (third,) = worker.run_once().ran
    assert client.get_run(third.run_id).tags[TRIGGER_TAG] == "dataset:sales:3"
    assert worker.run_once().ran == []
    assert len(scheduled_runs(client, "ml")) == 3
    fires = service.fires("retrain", project="ml")
    assert sorted(f.trigger for f in fires) == [f"dataset:sales:{n}" for n in (1, 2, 3)]
    assert len(lines) == 3 and all("retrain dataset:sales:" in line for line in lines)


def test_a_failing_pipeline_is_recorded_on_the_fire_and_the_run(
    client: Client, service: ScheduleService, worker: Worker, pipes: Path, clock: Clock
) -> None:
    service.create("bad", project="ml", pipeline=f"{pipes}:failing", cron="* * * * *")
    clock.advance(minutes=1)
    (outcome,) = worker.run_once().ran
    assert outcome.status == "failed" and outcome.error == "ValueError: boom x"
    run = client.get_run(outcome.run_id)
    assert run.status == "failed" and run.tags[SCHEDULE_TAG] == "bad"
    (fire,) = service.fires("bad", project="ml")
    assert (fire.status, fire.run_id, fire.error) == ("failed", run.id, "ValueError: boom x")


def test_a_pipeline_that_no_longer_loads_fails_its_fire_without_a_run(
    service: ScheduleService, worker: Worker, pipes: Path, clock: Clock, lines: list[str]
) -> None:
    service.create("gone", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *")
    pipes.unlink()
    clock.advance(minutes=1)
    (outcome,) = worker.run_once().ran
    assert outcome.run_id is None and outcome.status == "failed"
    assert "no such file" in (outcome.error or "")
    assert "no run failed" in lines[0]


def test_disabled_schedules_and_other_projects_do_not_fire(
    settings: Settings, service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    service.create("a", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *")
    service.create("b", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *")
    service.create("c", project="other", pipeline=f"{pipes}:tick", cron="* * * * *")
    service.disable("b", project="ml")
    clock.advance(minutes=2)
    with Worker(settings, clock=clock, project="ml", log=lambda _: None) as w:
        assert [o.schedule.name for o in w.run_once().ran] == ["a"]


def test_a_fire_whose_worker_stopped_is_taken_over(
    client: Client,
    service: ScheduleService,
    worker: Worker,
    pipes: Path,
    clock: Clock,
    lines: list[str],
) -> None:
    service.create("hourly", project="ml", pipeline=f"{pipes}:tick", cron="0 * * * *")
    (due,) = service.due(now=clock.advance(hours=1))
    dead = service.claim(due, worker="gone:1", lease_s=30)
    assert dead is not None
    assert worker.run_once().ran == []  # the lease still holds
    clock.advance(seconds=31)
    (outcome,) = worker.run_once().ran
    assert outcome.fire.id == dead.id and outcome.fire.attempts == 2
    assert outcome.status == "finished"
    assert client.get_run(outcome.run_id).tags[FIRE_TAG] == dead.id
    assert "attempt 2 (the previous worker stopped)" in lines[0]
    (fire,) = service.fires("hourly", project="ml")
    assert (fire.status, fire.worker, fire.run_id) == ("finished", worker.name, outcome.run_id)


def test_run_forever_passes_until_stopped(
    settings: Settings, service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    service.create("m", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *")
    clock.advance(minutes=1)
    seen: list[str] = []
    with Worker(settings, clock=clock, poll_interval_s=0.05, log=seen.append) as w:
        thread = threading.Thread(target=w.run_forever)
        thread.start()
        try:
            for _ in range(200):
                if seen:
                    break
                threading.Event().wait(0.05)
        finally:
            w.stop()
            thread.join(timeout=10)
        assert not thread.is_alive()
    assert len(seen) == 1 and "ml/m cron:" in seen[0]


@pytest.mark.slow
def test_the_lease_is_renewed_while_the_pipeline_runs(
    settings: Settings, client: Client, pipes: Path
) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    schedule_service(client.store, clock=lambda: an_hour_ago).create(
        "long", project="ml", pipeline=f"{pipes}:slow", params={"seconds": 3.0}, cron="* * * * *"
    )
    thief = schedule_service(client.store)
    outcomes = []
    with Worker(settings, lease_s=1.2, log=lambda _: None) as w:
        thread = threading.Thread(target=lambda: outcomes.extend(w.run_once().ran))
        thread.start()
        stolen = []
        while thread.is_alive():
            stolen.append(thief.take_over(worker="thief", lease_s=10))
            thread.join(timeout=0.1)
    assert stolen and set(stolen) == {None}
    (outcome,) = outcomes
    assert outcome.status == "finished" and outcome.recorded
    (fire,) = thief.fires("long", project="ml")
    assert (fire.status, fire.attempts, fire.worker) == ("finished", 1, w.name)


def test_abandoned_fires_are_taken_over_one_at_a_time(
    service: ScheduleService,
    worker: Worker,
    pipes: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("a", "b"):
        service.create(name, project="ml", pipeline=f"{pipes}:tick", cron="0 * * * *")
    clock.advance(hours=1)
    for due in service.due():
        assert service.claim(due, worker="gone:1", lease_s=30) is not None
    clock.advance(seconds=31)
    holders: list[set[str]] = []
    run = worker._run

    def watched(running: Any) -> Outcome | None:
        holders.append({f.worker for s in ("a", "b") for f in service.fires(s, project="ml")})
        return run(running)

    monkeypatch.setattr(worker, "_run", watched)
    ran = worker.run_once().ran
    assert [(o.fire.attempts, o.status) for o in ran] == [(2, "finished"), (2, "finished")]
    # While the first ran, the second was still the dead worker's (not leased, unrenewed).
    assert holders == [{worker.name, "gone:1"}, {worker.name}]


@pytest.fixture(params=["process", "inline"])
def pair(
    request: pytest.FixtureRequest, settings: Settings, clock: Clock, lines: list[str]
) -> Iterator[Worker]:
    """A worker that runs two fires at once, each in a fresh process or on a thread."""
    with Worker(
        settings, clock=clock, log=lines.append, lease_s=30, isolation=request.param, concurrency=2
    ) as w:
        yield w


def meeting(service: ScheduleService, pipes: Path, marks: Path, *names: str) -> None:
    """A schedule per name whose pipeline waits until two of them have started."""
    marks.mkdir(exist_ok=True)
    for name in names:
        service.create(
            name,
            project="ml",
            pipeline=f"{pipes}:together",
            params={"marks": str(marks), "label": name},
            cron="0 * * * *",
        )


def test_two_fires_run_at_once(
    service: ScheduleService,
    pair: Worker,
    pipes: Path,
    clock: Clock,
    tmp_path: Path,
    lines: list[str],
) -> None:
    meeting(service, pipes, tmp_path / "marks", "a", "b")
    clock.advance(hours=1)
    ran = pair.run_once().ran  # each pipeline fails unless the other runs with it
    assert sorted((o.schedule.name, o.status, o.error) for o in ran) == [
        ("a", "finished", None),
        ("b", "finished", None),
    ]
    assert sorted(line.split()[2] for line in lines) == ["ml/a", "ml/b"]


def test_a_fire_waits_for_a_free_slot_and_is_claimed_only_then(
    service: ScheduleService, pair: Worker, pipes: Path, clock: Clock, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    meeting(service, pipes, marks, "a", "b", "c")
    (marks / "hold").touch()
    clock.advance(hours=1)
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.extend(pair.run_once().ran))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(list(marks.glob("*.start"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        started = sorted(p.stem for p in marks.glob("*.start"))
        claimed = [f for name in "abc" for f in service.fires(name, project="ml")]
    finally:
        (marks / "hold").unlink()
        thread.join(timeout=60)
    assert started == ["a", "b"]  # claimed in order; the third not claimed while both run
    assert sorted(f.schedule for f in claimed) == ["a", "b"]
    assert sorted((o.schedule.name, o.status) for o in outcomes) == [
        ("a", "finished"), ("b", "finished"), ("c", "finished"),
    ]  # fmt: skip
    # How many fires ran when each started, itself included (c: after a or b ended).
    running = {p.stem: int(p.read_text().split()[1]) for p in marks.glob("*.start")}
    assert sorted(running) == ["a", "b", "c"] and max(running.values()) <= 2


def test_the_concurrency_setting_chooses_the_default(settings: Settings) -> None:
    four = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"concurrency": 4})}
    )
    with Worker(settings) as w:
        assert w.concurrency == 1
    with Worker(four) as w:
        assert w.concurrency == 4
    with Worker(four, concurrency=2) as w:
        assert w.concurrency == 2
    with pytest.raises(InvalidInput) as info:
        Worker(settings, concurrency=0)
    assert info.value.field == "concurrency"
