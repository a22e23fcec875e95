"""Registering with expectations reads the input once: the dataset service validates the
batches of the same pass that digests and stores them. An input that can be read only
once (a generator, a RecordBatchReader) registers with expectations, embedded, through
a server and called on the service directly; a critical failure stores nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from modelyard import Client, DataValidationError
from modelyard.config import Settings
from modelyard.data import expect
from modelyard.errors import NotFound
from modelyard.services import Services

SCHEMA = pa.schema([("id", pa.int64()), ("score", pa.float64())])
BATCHES = 5
ROWS = 1000


class OneShot:
    """Record batches that can be read once, counting every batch handed out."""

    def __init__(self, *, bad_score: bool = False) -> None:
        self.read = 0
        self.bad_score = bad_score

    def batches(self) -> Iterator[pa.RecordBatch]:
        for number in range(BATCHES):
            self.read += 1
            ids = list(range(number * ROWS, (number + 1) * ROWS))
            scores = [2.0 if self.bad_score and i == 4321 else i / 10_000 for i in ids]
            yield pa.record_batch([pa.array(ids), pa.array(scores)], schema=SCHEMA)

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(SCHEMA, self.batches())


RULES = [expect.not_null("id"), expect.in_range("score", 0.0, 1.0)]


@pytest.fixture
def stored_blobs(embedded_settings: Settings) -> Callable[[], set[str]]:
    """The digests in the artifact store (the server's, in remote mode)."""

    def digests() -> set[str]:
        with Client(embedded_settings) as local:
            return set(local.blobs.iter_digests())

    return digests


@pytest.mark.parametrize("kind", ["reader", "generator"])
def test_a_one_shot_input_registers_with_expectations(client: Client, kind: str) -> None:
    source = OneShot()
    data = source.reader() if kind == "reader" else source.batches()
    version = client.datasets.register("scores", data, project="p", expectations=RULES)
    assert source.read == BATCHES  # each batch was read once, by the one pass
    assert version.num_rows == BATCHES * ROWS
    reports = client.datasets.validation_reports("scores", project="p")
    assert [(r.ok, r.rows, len(r.results)) for r in reports] == [(True, BATCHES * ROWS, 2)]
    assert len(client.datasets.load("scores", project="p")) == BATCHES * ROWS


def test_a_critical_failure_of_a_one_shot_input_stores_nothing(
    client: Client, stored_blobs: Callable[[], set[str]]
) -> None:
    before = stored_blobs()
    source = OneShot(bad_score=True)
    with pytest.raises(DataValidationError, match=r"in_range on column 'score'.*1 failing row"):
        client.datasets.register("scores", source.reader(), project="p", expectations=RULES)
    assert source.read == BATCHES
    with pytest.raises(NotFound):
        client.datasets.list_versions("scores", project="p")
    assert stored_blobs() == before


def test_the_service_validates_on_its_one_pass(embedded_settings: Settings, tmp_path: Path) -> None:
    services = Services(embedded_settings)
    try:
        service = services.datasets
        bad = OneShot(bad_score=True)
        with pytest.raises(DataValidationError) as failed:
            service.register("scores", bad.batches(), project="p", expectations=RULES)
        assert bad.read == BATCHES
        assert failed.value.report is not None and not failed.value.report.ok
        assert failed.value.report.rows == BATCHES * ROWS
        assert list(services.blobs.iter_digests()) == []
        assert service.list_datasets("p") == []

        good = OneShot()
        yaml_rules = "expectations:\n  - {kind: in_range, column: score, min: 0, max: 1}\n"
        version = service.register("scores", good.batches(), project="p", expectations=yaml_rules)
        assert good.read == BATCHES and version.num_rows == BATCHES * ROWS
        (report,) = service.get_reports(version, "validation")
        assert report.data["ok"] is True and report.data["rows"] == BATCHES * ROWS
    finally:
        services.close()
