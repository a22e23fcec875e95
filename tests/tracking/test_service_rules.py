"""The tracking service holds a batch to every rule itself, called directly (no SDK, no
REST API): rows per batch, metric points (a number at an integer step and time within
limits.INTEGER), batch ids, run ids. A batch that breaks one is InvalidInput and stores
nothing (on PostgreSQL a NUL or a number as a run id was a StorageError before)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from modelyard import limits
from modelyard.config import Settings
from modelyard.errors import InvalidInput
from modelyard.services import Services
from modelyard.tracking._buffer import Batch
from modelyard.tracking.service import TrackingService


@pytest.fixture
def service(embedded_settings: Settings) -> Iterator[TrackingService]:
    services = Services(embedded_settings)
    yield services.tracking
    services.close()


def _nothing_stored(service: TrackingService, run_id: str) -> None:
    stored = service.get_run(run_id)
    assert (stored.metrics, stored.params, stored.tags) == ({}, {}, {})


def test_a_batch_holds_at_most_batch_rows_of_each_kind(service: TrackingService) -> None:
    run = service.create_run("p")
    over = limits.BATCH_ROWS + 1
    batches = {
        "metrics": Batch(metrics=[(run.id, "loss", 0.5, i, 1) for i in range(over)]),
        "params": Batch(params=[(run.id, f"p{i}", "1") for i in range(over)]),
        "tags": Batch(tags=[(run.id, f"t{i}", "1") for i in range(over)]),
        "heartbeats": Batch(heartbeats=[run.id] * over),
    }
    for kind, batch in batches.items():
        with pytest.raises(InvalidInput) as exc:
            service.write_batch(batch, "batch-0001")
        assert exc.value.field == kind
        assert exc.value.message == f"a batch holds at most 50,000 {kind}, not 50,001"
    _nothing_stored(service, run.id)
    full = Batch(metrics=[(run.id, "loss", 0.5, i, 1) for i in range(limits.BATCH_ROWS)])
    assert service.write_batch(full, "batch-0001") is None  # the refused id was not kept
    assert service.metric_history(run.id, "loss").total_points == limits.BATCH_ROWS


@pytest.mark.parametrize(
    ("point", "field"),
    [
        (("loss", "0.5", 0, 1), "value"),
        (("loss", None, 0, 1), "value"),
        (("loss", b"1", 0, 1), "value"),
        (("loss", 0.5, -1, 1), "step"),
        (("loss", 0.5, limits.INTEGER + 1, 1), "step"),
        (("loss", 0.5, 1.5, 1), "step"),
        (("loss", 0.5, "3", 1), "step"),
        (("loss", 0.5, True, 1), "step"),
        (("loss", 0.5, 0, -1), "timestamp"),
        (("loss", 0.5, 0, 2**64), "timestamp"),
        (("loss", 0.5, 0, "now"), "timestamp"),
    ],
)
def test_a_metric_point_is_a_number_at_an_integer_step_and_time(
    service: TrackingService, point: tuple[Any, ...], field: str
) -> None:
    run = service.create_run("p")
    good = (run.id, "acc", 0.9, 0, 1)
    with pytest.raises(InvalidInput) as exc:
        service.write_batch(Batch(metrics=[good, (run.id, *point)]), "batch-0002")
    assert exc.value.field == field
    _nothing_stored(service, run.id)


def test_a_point_given_as_another_kind_of_number_is_stored_as_float_and_int(
    service: TrackingService,
) -> None:
    run = service.create_run("p")
    service.write_batch(Batch(metrics=[(run.id, "n", 3, np.int64(7), np.int32(1000))]))
    history = service.metric_history(run.id, "n")
    assert (history.values, history.steps, history.timestamps) == ([3.0], [7], [1000])
    assert type(history.values[0]) is float and type(history.steps[0]) is int


@pytest.mark.parametrize("batch_id", ["seven77", "x" * 65, "batch 0001", "batch-é001", 12345678])
def test_a_batch_id_is_8_to_64_printable_ascii_characters(
    service: TrackingService, batch_id: Any
) -> None:
    run = service.create_run("p")
    with pytest.raises(InvalidInput) as exc:
        service.write_batch(Batch(tags=[(run.id, "k", "v")]), batch_id)
    assert exc.value.field == "batch_id"
    _nothing_stored(service, run.id)


@pytest.mark.parametrize("bad", ["ab\x00cd", "", 7, None])
def test_run_ids_are_strings_without_nul(service: TrackingService, bad: Any) -> None:
    run = service.create_run("p")
    for batch in (
        Batch(metrics=[(run.id, "loss", 0.5, 0, 1), (bad, "loss", 0.5, 0, 1)]),
        Batch(tags=[(run.id, "k", "v"), (bad, "k", "v")]),
        Batch(heartbeats=[run.id, bad]),
    ):
        with pytest.raises(InvalidInput) as exc:
            service.write_batch(batch)
        assert exc.value.field == "run_id"
    if bad is not None:  # no parent_id: a top-level run
        with pytest.raises(InvalidInput) as parent:
            service.create_run("p", parent_id=bad)
        assert parent.value.field == "parent_id"
    _nothing_stored(service, run.id)
    assert len(service.search_runs("p").runs) == 1  # no child run was created
