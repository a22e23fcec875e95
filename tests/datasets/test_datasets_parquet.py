"""Parquet parts: row groups are written in a background thread, one at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard.datasets._parquet import PartWriter


def _batches(rows: int, size: int) -> list[pa.RecordBatch]:
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "s": [str(i) for i in range(rows)]})
    return table.to_batches(max_chunksize=size)


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("modelyard-parquet")]


def test_row_groups_and_parts_hold_every_row_in_order(tmp_path: Path) -> None:
    batches = _batches(10_000, 300)
    writer = PartWriter(batches[0].schema, tmp_path, row_group_rows=1_000, part_bytes=20_000)
    for batch in batches:
        writer.write(batch)
    parts = writer.close()
    assert len(parts) > 1
    assert [p.name for p in parts] == [f"part-{n:05d}.parquet" for n in range(len(parts))]
    tables = [pq.read_table(p) for p in parts]
    assert pa.concat_tables(tables).equals(pa.Table.from_batches(batches))
    assert all(pq.ParquetFile(p).metadata.num_row_groups >= 1 for p in parts)
    assert not _writer_threads()


def test_a_failed_write_is_raised_and_abort_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _batches(3_000, 500)
    writer = PartWriter(batches[0].schema, tmp_path, row_group_rows=1_000)

    def fail(self: pq.ParquetWriter, table: pa.Table, row_group_size: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail)
    with pytest.raises(OSError, match="disk full"):
        for batch in batches:
            writer.write(batch)
        writer.close()
    writer.abort()
    assert not _writer_threads()


def test_only_columns_whose_values_repeat_are_dictionary_encoded(tmp_path: Path) -> None:
    rows = 50_000
    table = pa.table(
        {
            "x": pa.array([i * 0.37 for i in range(rows)], pa.float64()),
            "code": pa.array([i % 40 for i in range(rows)], pa.int64()),
            "label": pa.array(["ab"[i % 2] for i in range(rows)], pa.large_string()),
        }
    )
    writer = PartWriter(table.schema, tmp_path)
    for batch in table.to_batches(max_chunksize=10_000):
        writer.write(batch)
    (part,) = writer.close()
    group = pq.ParquetFile(part).metadata.row_group(0)
    encoded = {
        group.column(i).path_in_schema: group.column(i).dictionary_page_offset is not None
        for i in range(group.num_columns)
    }
    assert encoded == {"x": False, "code": True, "label": True}
    assert pq.read_table(part).equals(table)
