"""Aliases move atomically and every move is kept: who, from which version, to which,
when and why; "which version had alias A at time T" is answered from that history."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from registry_support import model_files, move_alias_in_process

from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound
from modelyard.governance import SYSTEM, Governance
from modelyard.registry.service import ModelService
from modelyard.sdk.client import Client


def _three_versions(client: Client, tmp_path: Path, name: str = "m") -> ModelService:
    service = client.models.service
    for n in range(3):
        files = model_files(tmp_path / f"v{n}", f"version {n}".encode())
        service.register(name, files, project="lab", flavor="sklearn")
    return service


@pytest.mark.local_only("reads the audit log from the store")
def test_an_alias_moves_and_each_move_is_recorded(client: Client, tmp_path: Path) -> None:
    service = _three_versions(client, tmp_path)
    first = service.set_alias("m", "champion", 1, project="lab", reason="initial")
    second = service.set_alias("m", "champion", 3, project="lab", reason="beats v1 on AUC")
    service.set_alias("m", "challenger", 2, project="lab")
    assert (first.from_version, first.to_version) == (None, 1)
    assert (second.from_version, second.to_version) == (1, 3)
    assert service.get_version("m", project="lab", alias="champion").version == 3
    assert service.get_model("m", project="lab").aliases == {"challenger": 2, "champion": 3}
    assert service.get_version("m", project="lab", version=3).aliases == ["champion"]
    moves = service.history("m", project="lab", alias="champion")
    assert [(m.from_version, m.to_version, m.reason) for m in moves] == [
        (None, 1, "initial"),
        (1, 3, "beats v1 on AUC"),
    ]
    assert all(m.moved_by.startswith("local:") for m in moves)
    assert len(service.history("m", project="lab")) == 3
    gone = service.delete_alias("m", "challenger", project="lab", reason="retired")
    assert (gone.from_version, gone.to_version) == (2, None)
    events = Governance(client.store).audit.list_events(actor=SYSTEM, limit=1000)
    assert [e.summary for e in events if e.action == "model.alias_moved"] == [
        "lab/m@champion: - -> 1",
        "lab/m@champion: 1 -> 3",
        "lab/m@challenger: - -> 2",
        "lab/m@challenger: 2 -> -",
    ]
    with pytest.raises(NotFound) as exc:
        service.get_version("m", project="lab", alias="challenger")
    assert exc.value.field == "alias" and "champion" in exc.value.message


@pytest.mark.local_only("builds a service with a clock of its own")
def test_which_version_had_an_alias_at_a_time(client: Client, tmp_path: Path) -> None:
    _three_versions(client, tmp_path)
    day = 86_400_000
    times = iter([10 * day, 20 * day, 30 * day])
    services = client.services
    service = ModelService(
        services.store,
        services.blobs,
        services.access,
        services.projects,
        tracking=services.tracking,
        clock=lambda: next(times),
    )
    service.set_alias("m", "production", 1, project="lab")
    service.set_alias("m", "production", 2, project="lab")
    service.delete_alias("m", "production", project="lab")
    assert service.alias_at("m", "production", 5 * day, project="lab") is None
    assert service.alias_at("m", "production", 10 * day, project="lab") == 1
    assert service.alias_at("m", "production", 25 * day - 1, project="lab") == 2
    assert service.alias_at("m", "production", 31 * day, project="lab") is None
    on_day_15 = datetime.fromtimestamp(15 * 86_400, tz=UTC)
    assert client.models.alias_at("m", "production", on_day_15, project="lab") == 1
    moves = service.history("m", project="lab", alias="production")
    assert [(m.moved_at, m.to_version) for m in moves] == [
        (10 * day, 1),
        (20 * day, 2),
        (30 * day, None),
    ]
    with pytest.raises(InvalidInput) as exc:
        service.alias_at("m", "production", datetime(2024, 1, 1), project="lab")
    assert exc.value.field == "at"


@pytest.mark.parametrize("alias", ["3", "v2", "1.5", "latest", "LATEST", "bad alias"])
def test_an_alias_named_like_a_version_is_refused(
    client: Client, tmp_path: Path, alias: str
) -> None:
    service = _three_versions(client, tmp_path)
    with pytest.raises(InvalidInput) as exc:
        service.set_alias("m", alias, 1, project="lab")
    assert exc.value.field == "alias"
    assert service.history("m", project="lab") == []


def test_an_alias_to_a_missing_version_changes_nothing(client: Client, tmp_path: Path) -> None:
    service = _three_versions(client, tmp_path)
    service.set_alias("m", "champion", 2, project="lab")
    with pytest.raises(NotFound) as exc:
        service.set_alias("m", "champion", 9, project="lab")
    assert exc.value.field == "version" and "the newest is 3" in exc.value.message
    assert service.get_version("m", project="lab", alias="champion").version == 2
    assert len(service.history("m", project="lab")) == 1
    with pytest.raises(NotFound) as exc:
        service.delete_alias("m", "nope", project="lab")
    assert exc.value.field == "alias"


def test_concurrent_moves_are_all_in_the_history_and_the_last_wins(
    client: Client, tmp_path: Path
) -> None:
    service = _three_versions(client, tmp_path)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def move(version: int) -> None:
        try:
            start.wait(timeout=30)
            service.set_alias("m", "champion", version, project="lab", reason=f"to {version}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(1 + i % 3,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    moves = service.history("m", project="lab", alias="champion")
    assert len(moves) == 6
    # Each move starts where the one before it ended: no move was lost or overwritten.
    assert moves[0].from_version is None
    assert [m.from_version for m in moves[1:]] == [m.to_version for m in moves[:-1]]
    current = service.get_version("m", project="lab", alias="champion").version
    assert current == moves[-1].to_version


@pytest.mark.slow
def test_concurrent_moves_from_processes_are_all_in_the_history(
    settings: Settings, client: Client, tmp_path: Path
) -> None:
    service = _three_versions(client, tmp_path, name="racy")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(4)
    with ctx.Pool(4) as pool:
        pool.starmap(
            move_alias_in_process,
            [(str(settings.home), settings.store_url, 1 + i % 3, barrier) for i in range(4)],
        )
    moves = service.history("racy", project="lab", alias="champion")
    assert len(moves) == 4
    assert [m.from_version for m in moves[1:]] == [m.to_version for m in moves[:-1]]
    assert (
        service.get_version("racy", project="lab", alias="champion").version == moves[-1].to_version
    )
