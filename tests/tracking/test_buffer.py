"""The write-behind buffer: batch ids, and a failed batch retried as it was."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidInput, ModelyardError, StorageError
from modelyard.tracking._buffer import Batch, LogBuffer


class Writer:
    """Records every call; fails the calls listed in ``failures`` (by index)."""

    def __init__(self, failures: dict[int, ModelyardError]) -> None:
        self.calls: list[tuple[list, str]] = []
        self.failures = failures

    def __call__(self, batch: Batch, batch_id: str) -> ModelyardError | None:
        self.calls.append((list(batch.metrics), batch_id))
        failure = self.failures.get(len(self.calls) - 1)
        if failure is not None:
            raise failure
        return None


def test_a_batch_that_failed_is_retried_whole_under_the_same_id() -> None:
    writer = Writer({0: StorageError("the answer was lost")})
    buffer = LogBuffer(writer, flush_interval_s=60)
    try:
        buffer.metrics.append(("r", "m", 1.0, 0, 1))
        with pytest.raises(StorageError):
            buffer.flush(timeout=0)
        assert buffer.pending == 2  # the row in flight, and the batch itself
        buffer.metrics.append(("r", "m", 2.0, 1, 2))  # logged meanwhile: a later batch
        buffer.flush()
    finally:
        buffer.close()
    (first, first_id), (again, again_id), (later, later_id) = writer.calls
    assert first == again == [("r", "m", 1.0, 0, 1)] and first_id == again_id
    assert later == [("r", "m", 2.0, 1, 2)] and later_id != first_id
    assert 8 <= len(first_id) <= 64


def test_a_refused_batch_is_dropped_and_the_error_raised() -> None:
    writer = Writer({0: InvalidInput("no such run")})
    buffer = LogBuffer(writer, flush_interval_s=60)
    try:
        buffer.metrics.append(("r", "m", 1.0, 0, 1))
        with pytest.raises(InvalidInput):
            buffer.flush()
        assert buffer.pending == 0
        buffer.metrics.append(("r", "m", 2.0, 1, 2))
        buffer.flush()
    finally:
        buffer.close()
    assert [rows for rows, _ in writer.calls] == [[("r", "m", 1.0, 0, 1)], [("r", "m", 2.0, 1, 2)]]
    assert writer.calls[0][1] != writer.calls[1][1]
