"""Write a stream of record batches as Parquet parts, and read stored parts back.

A version's data is a blob tree of ``part-00000.parquet``, ``part-00001.parquet``... A
row group is written once it holds ``ROW_GROUP_ROWS`` rows or ``ROW_GROUP_BYTES`` bytes
of Arrow data; it is encoded and compressed in a thread of its own while the next one is
gathered, so memory stays bounded by about two row groups whatever the table's size. A
new part starts once the current one reaches ``PART_BYTES`` on disk.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore

__all__ = ["PartWriter", "export", "iter_parts", "read_parts"]

ROW_GROUP_ROWS = 1_048_576
ROW_GROUP_BYTES = 64 * 1024 * 1024
PART_BYTES = 512 * 1024 * 1024
COMPRESSION = "zstd"
#: Rows in each record batch a stored version is read back in, unless asked otherwise.
BATCH_ROWS = 65_536
#: Numbers and times are dictionary encoded when their first ``_DICTIONARY_SAMPLE`` rows
#: hold at most one distinct value per ``_DICTIONARY_SHARE`` rows.
_DICTIONARY_SHARE = 2
_DICTIONARY_SAMPLE = 16_384
#: Parts up to this size are read from memory; larger ones through a temp file.
_IN_MEMORY_PART = 64 * 1024 * 1024


class PartWriter:
    """Parquet parts of one schema in ``folder``; :meth:`close` returns their paths.

    One row group is written at a time, in a background thread, while the caller goes on;
    an error from a write is raised by the next :meth:`write` or by :meth:`close`.
    """

    def __init__(
        self,
        schema: pa.Schema,
        folder: Path,
        *,
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
        part_bytes: int = PART_BYTES,
    ) -> None:
        self.schema = schema
        self.folder = folder
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.part_bytes = part_bytes
        self.parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._thread: ThreadPoolExecutor | None = None
        self._in_flight: Future[None] | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._pending_bytes += batch.nbytes
        if self._pending_rows >= self.row_group_rows or self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0
        self._wait()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="modelyard-parquet")
        self._in_flight = self._thread.submit(self._write_row_group, table)

    def _wait(self) -> None:
        """Wait for the row group in flight; raises its error."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def _write_row_group(self, table: pa.Table) -> None:
        if self._writer is None:
            path = self.folder / f"part-{len(self.parts):05d}.parquet"
            self.parts.append(path)
            self._writer = pq.ParquetWriter(
                path,
                self.schema,
                compression=COMPRESSION,
                write_statistics=True,
                use_dictionary=_dictionary_columns(table),
            )
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        if os.path.getsize(self.parts[-1]) >= self.part_bytes:
            self._writer.close()
            self._writer = None

    def close(self) -> list[Path]:
        try:
            self._flush()
            self._wait()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        finally:
            self._stop()
        return list(self.parts)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._wait()
        self._stop()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self._pending = []

    def _stop(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None


def _dictionary_columns(table: pa.Table) -> list[str]:
    """The columns to dictionary encode, judged on a part's first row group: all but the
    numbers and times whose values seldom repeat (more than one distinct value in
    ``_DICTIONARY_SHARE`` rows of a sample). For those the writer would build a dictionary
    only to drop it once it outgrows its page."""
    import pyarrow.compute as pc

    chosen = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        t = column.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t):
            sample = column.slice(0, _DICTIONARY_SAMPLE)
            if pc.count_distinct(sample).as_py() * _DICTIONARY_SHARE > len(sample):
                continue
        chosen.append(name)
    return chosen


def _part_entries(blobs: BlobStore, tree_digest: str) -> list[tuple[str, str, int]]:
    entries = blobs.read_tree(tree_digest)
    return sorted((e.path, e.digest, e.size) for e in entries)


@contextlib.contextmanager
def _opened(blobs: BlobStore, digest: str, size: int) -> Iterator[pq.ParquetFile]:
    """A stored part as a ParquetFile, verified against its digest before use."""
    if size <= _IN_MEMORY_PART:
        file = pq.ParquetFile(pa.BufferReader(blobs.get_bytes(digest)))
        try:
            yield file
        finally:
            file.close()
        return
    staging = blobs.backend.staging_dir
    if staging is not None:
        staging.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="modelyard-part-", suffix=".parquet", dir=staging)
    os.close(fd)
    try:
        blobs.get_file(digest, name)
        file = pq.ParquetFile(name)
        try:
            yield file
        finally:
            file.close()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def iter_parts(
    blobs: BlobStore,
    tree_digest: str,
    columns: Sequence[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """The stored rows, in order, one record batch at a time (one part in memory or on
    local disk at a time)."""
    for _path, digest, size in _part_entries(blobs, tree_digest):
        with _opened(blobs, digest, size) as file:
            yield from file.iter_batches(
                batch_size=batch_rows, columns=list(columns) if columns is not None else None
            )


def read_parts(
    blobs: BlobStore, tree_digest: str, columns: Sequence[str] | None = None
) -> pa.Table:
    """All stored rows as one Arrow table (a version has at least one part)."""
    tables = []
    for _path, digest, size in _part_entries(blobs, tree_digest):
        with _opened(blobs, digest, size) as file:
            tables.append(file.read(columns=list(columns) if columns is not None else None))
    return pa.concat_tables(tables)


def export(batches: Iterator[pa.RecordBatch], schema: pa.Schema, dest: Path) -> int:
    """Stream ``batches`` into ``dest`` (``.parquet``/``.pq`` or ``.csv``), written to a
    temp file beside it and renamed when complete; returns the number of rows."""
    import pyarrow.csv as pcsv

    from modelyard.errors import InvalidInput

    suffix = dest.suffix.lower()
    if suffix not in {".parquet", ".pq", ".csv"}:
        raise InvalidInput(
            f"cannot write {dest.name!r}: the file name must end with .parquet or .csv",
            field="dest",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:  # name the file asked for, not the temporary one beside it
        raise OSError(exc.errno, exc.strerror, str(dest)) from None
    os.close(fd)
    rows = 0
    try:
        if suffix == ".csv":
            plain = pa.schema([pa.field(f.name, _plain(f.type), f.nullable) for f in schema])
            with pcsv.CSVWriter(name, plain) as writer:
                for batch in batches:
                    writer.write_batch(batch.cast(plain) if plain != schema else batch)
                    rows += batch.num_rows
        else:
            with pq.ParquetWriter(name, schema, compression=COMPRESSION) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        os.replace(name, dest)
    except pa.ArrowException as exc:
        raise InvalidInput(
            f"cannot write {dest.name!r}: {str(exc).splitlines()[0]}", field="dest"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
    return rows


def _plain(data_type: pa.DataType) -> pa.DataType:
    """CSV has no dictionaries: categorical columns are written as their values."""
    return data_type.value_type if pa.types.is_dictionary(data_type) else data_type
