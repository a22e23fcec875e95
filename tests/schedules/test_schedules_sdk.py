"""``client.schedules`` in both SDK modes: embedded, and through a server (which checks
the pipeline reference without importing it); the fires come from an embedded worker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelyard import Client
from modelyard.config import Settings
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.schedules import Fire, Schedule
from modelyard.worker.worker import Worker


@pytest.fixture
def settings(settings_in_mode: Settings) -> Settings:
    return settings_in_mode


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    with Client(settings) as c:
        yield c


def test_create_read_toggle_fire_and_delete(
    client: Client, sdk_mode: str, embedded_settings: Settings, pipes: Path
) -> None:
    schedules = client.schedules
    made = schedules.create(
        "minutely", project="ml", pipeline="sched_pipes.py:tick", params={"label": "m"},
        cron="* * * * *",
    )  # fmt: skip
    assert isinstance(made, Schedule)
    # Resolved where the service runs (the server's working directory is the test's).
    assert made.pipeline == f"{pipes.resolve()}:tick"
    assert (made.project, made.params, made.trigger) == (
        "ml",
        {"label": "m"},
        "cron * * * * * (UTC)",
    )
    assert made.enabled and made.next_fire_at is not None
    if sdk_mode == "remote":
        assert made.created_by == "test-admin"  # the server's caller
    assert schedules.get("minutely", project="ml") == made
    later = schedules.create(
        "on-sales", project="ml", pipeline=f"{pipes}:tick", dataset="sales", enabled=False
    )
    assert later.trigger == "dataset sales" and not later.enabled and later.timezone is None
    assert [s.name for s in schedules.list_schedules("ml")] == ["minutely", "on-sales"]
    assert schedules.list_schedules() == schedules.list_schedules("ml")

    off = schedules.disable("minutely", project="ml")
    assert not off.enabled and off.next_fire_at is None
    assert schedules.set_enabled("minutely", True, project="ml").enabled
    assert schedules.enable("on-sales", project="ml").enabled

    soon = datetime.now(UTC) + timedelta(minutes=2)
    with Worker(embedded_settings, clock=lambda: soon, log=lambda _: None) as worker:
        done = worker.run_once()
    assert [(o.schedule.name, o.status) for o in done.ran] == [("minutely", "finished")]
    fires = schedules.fires("minutely", project="ml")
    assert len(fires) == 1 and isinstance(fires[0], Fire)
    fire = fires[0]
    assert (fire.schedule, fire.project, fire.status, fire.run_id, fire.attempts) == (
        "minutely", "ml", "finished", done.ran[0].run_id, 1,
    )  # fmt: skip
    assert fire.trigger.startswith("cron:* * * * *@") and fire.finished_at is not None
    assert schedules.fires("minutely", project="ml", limit=1) == fires
    assert schedules.fires("on-sales", project="ml") == []

    schedules.delete("minutely", project="ml")
    with pytest.raises(NotFound, match="schedule 'minutely' does not exist in project 'ml'"):
        schedules.get("minutely", project="ml")
    assert [s.name for s in schedules.list_schedules()] == ["on-sales"]


def test_errors_are_the_same_in_both_modes(client: Client, pipes: Path) -> None:
    """But those only loading the pipeline finds: a server never imports it (its worker
    reports them, see tests/api/test_schedules_api.py)."""
    schedules = client.schedules
    ref = f"{pipes}:tick"
    schedules.create("s", project="ml", pipeline=ref, cron="0 3 * * *")
    with pytest.raises(AlreadyExists, match="schedule 's' already exists in project 'ml'"):
        schedules.create("s", project="ml", pipeline=ref, cron="0 3 * * *")
    cases = [
        ({"cron": "61 * * * *"}, "cron", "not a valid cron expression"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
        ({}, "cron", "needs one trigger"),
        ({"cron": "* * * * *", "params": "[1]"}, "params", "must be a JSON object"),
        ({"cron": "* * * * *", "params": {"label": float("nan")}}, "param 'label'", "canonical"),
        ({"cron": "* * * * *", "pipeline": ".relative:x"}, "pipeline", "cannot import"),
        ({"cron": "* * * * *", "pipeline": "json:x"}, "pipeline", "not in a package"),
    ]
    if not client.is_remote:
        cases += [
            ({"cron": "* * * * *", "params": {"labl": "x"}}, "labl", "has no parameter 'labl'"),
            ({"cron": "* * * * *", "pipeline": "sched_pipes.py:nope"}, "pipeline", "no attribute"),
        ]
    for kwargs, field, message in cases:
        arguments = {"pipeline": ref, **kwargs}
        with pytest.raises(InvalidInput, match=message) as info:
            schedules.create("t", project="ml", **arguments)
        assert info.value.field == field, kwargs
    with pytest.raises(InvalidInput, match="schedule must be"):
        schedules.get("no spaces", project="ml")
    with pytest.raises(NotFound, match="project 'nope' does not exist"):
        schedules.get("s", project="nope")
    with pytest.raises(NotFound):
        schedules.enable("ghost", project="ml")
    with pytest.raises(NotFound):
        schedules.delete("ghost", project="ml")
    for limit in (0, 501, True):
        with pytest.raises(InvalidInput, match="limit must be an integer from 1 to 500") as info:
            schedules.fires("s", project="ml", limit=limit)
        assert info.value.field == "limit"
    assert [s.name for s in schedules.list_schedules("ml")] == ["s"]


def test_a_worker_refuses_a_remote_client_at_once(embedded_settings: Settings) -> None:
    tracking = embedded_settings.tracking.model_copy(update={"uri": "http://127.0.0.1:9"})
    remote = embedded_settings.model_copy(update={"tracking": tracking})
    with pytest.raises(InvalidInput, match="a worker needs the stores") as info:
        Worker(remote)
    assert info.value.field == "tracking.uri"


def test_run_now_is_claimed_once_by_the_next_worker(
    client: Client, sdk_mode: str, embedded_settings: Settings, pipes: Path
) -> None:
    schedules = client.schedules
    nightly = schedules.create(
        "nightly", project="ml", pipeline=f"{pipes}:tick", params={"label": "n"},
        cron="0 3 * * *",
    )  # fmt: skip
    schedules.create(
        "on-sales", project="ml", pipeline=f"{pipes}:tick", dataset="sales", enabled=False
    )
    asked = schedules.run_now("on-sales", project="ml")  # disabled: it runs all the same
    assert asked.requested_at is not None and not asked.enabled
    assert asked.requested_by == ("test-admin" if sdk_mode == "remote" else nightly.created_by)
    assert schedules.run_now("on-sales", project="ml") == asked  # kept, not doubled
    assert schedules.run_now("nightly", project="ml").next_fire_at == nightly.next_fire_at

    with Worker(embedded_settings, log=lambda _: None, isolation="inline") as worker:
        ran = worker.run_once().ran
        assert worker.run_once().ran == []  # each request runs once
    assert sorted((o.schedule.name, o.status) for o in ran) == [
        ("nightly", "finished"),
        ("on-sales", "finished"),
    ]
    (fire,) = schedules.fires("on-sales", project="ml")
    assert fire.trigger.startswith(f"manual:{asked.requested_by}@")
    assert (fire.due_at, fire.dataset_version_id, fire.status) == (None, None, "finished")
    assert client.get_run(fire.run_id).tags["modelyard.trigger"] == fire.trigger
    after = schedules.get("on-sales", project="ml")
    assert (after.requested_at, after.requested_by, after.enabled) == (None, None, False)
    assert schedules.get("nightly", project="ml").next_fire_at == nightly.next_fire_at
    with pytest.raises(NotFound):
        schedules.run_now("nope", project="ml")


def test_params_over_their_limit_are_refused_in_both_modes(client: Client) -> None:
    with pytest.raises(InvalidInput, match=r"^params: 70012 characters, the limit is 65536$"):
        client.schedules.create(
            "big", project="ml", pipeline="sched_pipes.py:tick", cron="* * * * *",
            params={"text": "x" * 70_000},
        )  # fmt: skip
    assert client.schedules.list_schedules() == []
