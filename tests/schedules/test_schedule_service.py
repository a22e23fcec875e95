"""The schedule service: create and validate, read, enable and disable, delete, roles,
audit events, and the claiming rule (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from schedule_support import Clock

from modelyard import Client
from modelyard.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.schedules import ScheduleService
from modelyard.schedules.cron import to_ms
from modelyard.schedules.service import MAX_ATTEMPTS, normalize_ref


def test_create_stores_the_schedule_and_its_next_fire(
    service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    made = service.create(
        "nightly",
        project="ml",
        pipeline=f"{pipes}:tick",
        params={"label": "n"},
        cron="0  3 * * *",
        timezone="Europe/Paris",
    )
    assert (made.project, made.name, made.cron, made.timezone) == (
        "ml",
        "nightly",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert made.params == {"label": "n"} and made.enabled and made.dataset is None
    # 2026-12-04 10:00:30 UTC; the next 03:00 in Paris is 02:00 UTC the next day.
    assert made.next_fire_at == to_ms(clock.now.replace(day=5, hour=2, minute=0, second=0))
    assert service.get("nightly", project="ml") == made
    assert [s.name for s in service.list_schedules("ml")] == ["nightly"]
    assert [s.name for s in service.list_schedules()] == ["nightly"]


def test_a_relative_file_reference_is_stored_absolute(
    service: ScheduleService, pipes: Path
) -> None:
    made = service.create("t", project="ml", pipeline="sched_pipes.py:tick", cron="* * * * *")
    assert made.pipeline == f"{pipes.resolve()}:tick"
    assert normalize_ref("pkg.mod:train") == "pkg.mod:train"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "61 * * * *"}, "not a valid cron expression"),
        ({"cron": "* * *"}, "5 fields"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"dataset": "sales", "timezone": "UTC"}, "timezone goes with a cron"),
        ({}, "needs one trigger"),
        ({"cron": "* * * * *", "dataset": "sales"}, "needs one trigger"),
        ({"dataset": "no spaces allowed"}, "dataset must be"),
        ({"cron": "* * * * *", "params": "{not json"}, "params are not JSON"),
        ({"cron": "* * * * *", "params": "[1, 2]"}, "must be a JSON object"),
        ({"cron": "* * * * *", "params": {"label": float("nan")}}, "param 'label'"),
        ({"cron": "* * * * *", "params": {"labl": "x"}}, "has no parameter 'labl'"),
        ({"cron": "* * * * *", "pipeline": "no-colon"}, "not a pipeline reference"),
        ({"cron": "* * * * *", "pipeline": "missing_file.py:tick"}, "no such file"),
        ({"cron": "* * * * *", "pipeline": "no_such_module_x:tick"}, "cannot import"),
        ({"cron": "* * * * *", "pipeline": "sched_pipes.py:nope"}, "no attribute 'nope'"),
        ({"cron": "* * * * *", "pipeline": "sched_pipes.py:not_a_pipeline"}, "not a pipeline"),
    ],
)
def test_invalid_schedules_are_refused_with_a_clear_error(
    service: ScheduleService, pipes: Path, kwargs: dict, message: str
) -> None:
    args = {"pipeline": "sched_pipes.py:tick", **kwargs}
    with pytest.raises(InvalidInput, match=message):
        service.create("bad", project="ml", **args)
    with pytest.raises(NotFound):
        service.get("bad", project="ml")


def test_names_are_unique_per_project(service: ScheduleService, pipes: Path) -> None:
    service.create("t", project="a", pipeline=f"{pipes}:tick", cron="* * * * *")
    service.create("t", project="b", pipeline=f"{pipes}:tick", cron="* * * * *")
    with pytest.raises(AlreadyExists, match="already exists in project 'a'"):
        service.create("t", project="a", pipeline=f"{pipes}:tick", dataset="sales")


def test_unknown_schedules_and_projects_are_not_found(service: ScheduleService) -> None:
    with pytest.raises(NotFound, match="project 'nope' does not exist"):
        service.get("t", project="nope")
    with pytest.raises(NotFound, match="project 'nope' does not exist"):
        service.delete("t", project="nope")


def test_disable_enable_delete_and_their_audit_events(
    client: Client, service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    service.create("t", project="ml", pipeline=f"{pipes}:tick", cron="*/5 * * * *")
    assert not service.disable("t", project="ml").enabled
    assert service.get("t", project="ml").next_fire_at is None
    assert service.due(now=clock.advance(hours=1)) == []
    enabled = service.enable("t", project="ml")
    # Enabling starts from now: the occurrences while it was disabled do not fire.
    assert enabled.next_fire_at == to_ms(clock.now.replace(minute=5, second=0))
    service.delete("t", project="ml")
    with pytest.raises(NotFound, match="schedule 't' does not exist in project 'ml'"):
        service.get("t", project="ml")
    events = [
        (e["action"], e["object_type"])
        for e in Governance(client.store).audit.export(actor=SYSTEM)
        if e["object_type"] == "schedule"
    ]
    assert [a for a, _ in events] == [
        "schedule.created",
        "schedule.disabled",
        "schedule.enabled",
        "schedule.deleted",
    ]


def test_roles_viewer_reads_contributor_writes(
    client: Client, service: ScheduleService, pipes: Path
) -> None:
    gov = Governance(client.store)
    service.create("t", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *")
    service.create("other", project="secret", pipeline=f"{pipes}:tick", cron="* * * * *")
    viewer = gov.users.create_service_account("viewer-bot", actor=SYSTEM)
    writer = gov.users.create_service_account("writer-bot", actor=SYSTEM)
    gov.roles.grant("ml", "viewer-bot", "viewer", actor=SYSTEM)
    gov.roles.grant("ml", "writer-bot", "contributor", actor=SYSTEM)
    as_viewer = service.acting_as(Actor.of(viewer.principal()))
    as_writer = service.acting_as(Actor.of(writer.principal()))

    assert as_viewer.get("t", project="ml").name == "t"
    assert [s.name for s in as_viewer.list_schedules()] == ["t"]
    with pytest.raises(NotFound, match=r"^project 'secret' does not exist$"):
        as_viewer.get("other", project="secret")  # no role there: as if it did not exist
    with pytest.raises(PermissionDenied):
        as_viewer.disable("t", project="ml")
    with pytest.raises(PermissionDenied):
        as_viewer.create("v", project="ml", pipeline=f"{pipes}:tick", cron="* * * * *")
    assert as_writer.create("w", project="ml", pipeline=f"{pipes}:tick", dataset="s").created_by
    assert not as_writer.disable("t", project="ml").enabled
    with pytest.raises(PermissionDenied):
        as_viewer.run_now("t", project="ml")
    assert as_writer.run_now("t", project="ml").requested_by == "writer-bot"
    as_writer.delete("w", project="ml")


def test_cron_claim_once_and_only_the_newest_missed_occurrence(
    service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    service.create("hourly", project="ml", pipeline=f"{pipes}:tick", cron="0 * * * *")
    assert service.due() == []
    clock.advance(hours=3)  # 13:00:30: 11:00 and 12:00 were missed
    (due,) = service.due()
    assert due.trigger == "cron:0 * * * *@2026-12-04T13:00+00:00" and due.missed == 2
    fire = service.claim(due, worker="w1", lease_s=60)
    assert fire is not None and fire.status == "running" and fire.attempts == 1
    assert service.claim(due, worker="w2", lease_s=60) is None
    assert service.due() == []
    assert service.finish(fire.id, worker="w1", status="finished")
    (listed,) = service.fires("hourly", project="ml")
    assert (listed.status, listed.missed, listed.worker) == ("finished", 2, "w1")


def test_a_run_asked_for_now_is_claimed_once_and_audited(
    client: Client, service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    service.create("hourly", project="ml", pipeline=f"{pipes}:tick", cron="0 * * * *")
    asked = service.run_now("hourly", project="ml")
    assert asked.requested_at == to_ms(clock.now)
    (due,) = service.due()  # the request; the next cron occurrence is not due yet
    assert due.trigger == f"manual:{asked.requested_by}@2026-12-04T10:00:30+00:00"
    assert (due.requested_at, due.due_at, due.version) == (asked.requested_at, None, None)
    fire = service.claim(due, worker="w1", lease_s=60)
    assert fire is not None and fire.trigger == due.trigger and fire.due_at is None
    assert service.claim(due, worker="w2", lease_s=60) is None
    assert service.due() == []
    clock.advance(seconds=1)
    again = service.run_now("hourly", project="ml")  # a new request after the claim
    (second,) = service.due()
    assert second.requested_at == again.requested_at != asked.requested_at
    assert service.claim(due, worker="w2", lease_s=60) is None  # the old request is gone
    assert service.claim(second, worker="w2", lease_s=60) is not None
    assert len(service.fires("hourly", project="ml")) == 2  # no unique due time needed
    assert service.get("hourly", project="ml").next_fire_at == asked.next_fire_at
    actions = [
        e["action"]
        for e in Governance(client.store).audit.export(actor=SYSTEM)
        if e["object_type"] == "schedule"
    ]
    assert actions == ["schedule.created", "schedule.run_requested", "schedule.run_requested"]


def test_a_stale_claim_of_an_older_occurrence_loses(
    service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    service.create("hourly", project="ml", pipeline=f"{pipes}:tick", cron="0 * * * *")
    (old,) = service.due(now=clock.advance(hours=1))
    (new,) = service.due(now=clock.advance(hours=1))
    assert service.claim(new, worker="w1", lease_s=60) is not None
    assert service.claim(old, worker="w2", lease_s=60) is None


def test_dataset_versions_are_due_once_each(
    client: Client, service: ScheduleService, pipes: Path
) -> None:
    client.datasets.register("sales", pd.DataFrame({"x": [0]}), project="ml")
    service.create("retrain", project="ml", pipeline=f"{pipes}:tick", dataset="sales")
    assert service.due() == []  # versions registered before the schedule do not count
    for n in (1, 2):
        client.datasets.register("sales", pd.DataFrame({"x": [n]}), project="ml")
    client.datasets.register("other", pd.DataFrame({"x": [9]}), project="ml")
    due = service.due()
    assert [d.trigger for d in due] == ["dataset:sales:2", "dataset:sales:3"]
    fires = [service.claim(d, worker="w1", lease_s=60) for d in due]
    assert all(f is not None for f in fires)
    assert [service.claim(d, worker="w2", lease_s=60) for d in due] == [None, None]
    assert service.due() == []


def test_an_expired_lease_is_taken_over_until_the_attempts_run_out(
    service: ScheduleService, pipes: Path, clock: Clock
) -> None:
    service.create("hourly", project="ml", pipeline=f"{pipes}:tick", cron="0 * * * *")
    (due,) = service.due(now=clock.advance(hours=1))
    fire = service.claim(due, worker="dead", lease_s=60)
    assert fire is not None
    assert service.take_over(worker="w2", lease_s=60, now=clock.advance(seconds=30)) is None
    assert service.renew(fire.id, worker="dead", lease_s=60)
    assert service.take_over(worker="w2", lease_s=60, now=clock.advance(seconds=59)) is None
    taken = service.take_over(worker="w2", lease_s=60, now=clock.advance(seconds=60))
    assert taken is not None
    assert (taken.id, taken.worker, taken.attempts) == (fire.id, "w2", 2)
    assert service.take_over(worker="w3", lease_s=60) is None
    assert not service.renew(fire.id, worker="dead", lease_s=60)
    assert not service.finish(fire.id, worker="dead", status="finished")
    for attempt in range(3, MAX_ATTEMPTS + 1):
        clock.advance(seconds=61)
        again = service.take_over(worker=f"w{attempt}", lease_s=60)
        assert again is not None and again.attempts == attempt
    assert service.take_over(worker="w9", lease_s=60, now=clock.advance(seconds=61)) is None
    (gone,) = service.fires("hourly", project="ml")
    assert gone.status == "failed" and "abandoned" in (gone.error or "")
    assert gone.attempts == MAX_ATTEMPTS
