"""Two processes, one store: every due occurrence is claimed, and run, exactly once
(SQLite, and PostgreSQL when MODELYARD_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from schedule_support import Clock, claim_everything, in_two_processes, work_once

from modelyard import Client
from modelyard.config import Settings
from modelyard.worker.worker import SCHEDULE_TAG, TRIGGER_TAG
from service_support import schedule_service


def make_due_work(client: Client, clock: Clock, pipes: Path, crons: int) -> set[tuple[str, str]]:
    """``crons`` cron schedules and a dataset schedule with three new versions, all due
    at ``clock.now`` afterwards; the (schedule, trigger) pairs that are due."""
    service = schedule_service(client.store, clock=clock)
    for n in range(crons):
        service.create(f"c{n}", project="ml", pipeline=f"{pipes}:tick", cron="*/5 * * * *")
    service.create("d", project="ml", pipeline=f"{pipes}:tick", dataset="sales")
    for n in range(3):
        client.datasets.register("sales", pd.DataFrame({"x": [n]}), project="ml")
    clock.advance(minutes=30)
    due = {(d.schedule.name, d.trigger) for d in service.due()}
    assert len(due) == crons + 3 and sum(t.startswith("dataset:") for _, t in due) == 3
    return due


@pytest.mark.slow
def test_two_processes_claim_each_occurrence_once(
    client: Client, settings: Settings, clock: Clock, pipes: Path
) -> None:
    due = make_due_work(client, clock, pipes, crons=40)
    (seen_a, won_a), (seen_b, won_b) = in_two_processes(
        claim_everything, settings.store_url, clock.now.isoformat()
    )
    assert seen_a == seen_b == 43  # both saw every occurrence and raced for it
    won = [tuple(pair) for pair in won_a + won_b]
    assert Counter(won) == Counter(dict.fromkeys(due, 1))


@pytest.mark.slow
def test_two_workers_run_each_due_occurrence_exactly_once(
    client: Client, settings: Settings, clock: Clock, pipes: Path
) -> None:
    due = make_due_work(client, clock, pipes, crons=5)
    ran_a, ran_b = in_two_processes(work_once, settings, clock.now.isoformat())
    ran = ran_a + ran_b
    assert Counter((name, trigger) for name, trigger, _, _ in ran) == Counter(dict.fromkeys(due, 1))
    assert {status for *_, status in ran} == {"finished"}
    runs = [r for r in client.search_runs("ml", output="list").runs if SCHEDULE_TAG in r.tags]
    assert Counter((r.tags[SCHEDULE_TAG], r.tags[TRIGGER_TAG]) for r in runs) == Counter(
        dict.fromkeys(due, 1)
    )
    assert sorted(r.id for r in runs) == sorted(run_id for _, _, run_id, _ in ran)
