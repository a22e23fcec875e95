"""Turn any supported table into a stream of Arrow record batches, and read columns back out.

Accepted: pandas and polars DataFrames, pyarrow Tables and RecordBatches, a
RecordBatchReader, or any iterable of RecordBatches; :func:`open_source` also takes the
path of a CSV, Parquet or Arrow IPC file (or of a directory of Parquet files), which it
reads incrementally. Whatever comes in is read one batch of at most ``BATCH_ROWS`` rows at
a time. Problems the data itself has (duplicate column
names, object columns that mix value types, batches with different schemas) become
:class:`~modelyard.errors.InvalidInput` naming the column and the reason.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.errors import InvalidInput, NotFound

__all__ = [
    "BATCH_ROWS",
    "Source",
    "as_source",
    "category_values",
    "coalesce",
    "kind_of",
    "logical_type",
    "numeric_values",
    "open_source",
    "temporal_values",
]

BATCH_ROWS = 65_536
#: Batches with fewer rows are gathered by :func:`coalesce` and combined (a CSV block of
#: 1 MiB holds about 20,000 rows of 7 numbers); larger ones are not worth the copy.
SMALL_BATCH_ROWS = 32_768
#: :func:`coalesce` also combines what it holds once it reaches this many bytes.
COALESCE_BYTES = 64 << 20
CSV_BLOCK_BYTES = 8 << 20
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
IPC_SUFFIXES = (".arrow", ".feather", ".ipc")
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")

_KINDS = {
    "integer": "numeric",
    "float": "numeric",
    "boolean": "categorical",
    "string": "categorical",
    "categorical": "categorical",
    "datetime": "datetime",
    "date": "datetime",
    "null": "null",
    "other": "other",
}


@dataclass
class Source:
    """A schema and a one-pass iterator of record batches."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]

    @property
    def names(self) -> list[str]:
        return list(self.schema.names)


def as_source(data: object, role: str = "data") -> Source:
    """Normalise ``data`` to a :class:`Source`; ``role`` ("reference", ...) names it in errors."""
    if isinstance(data, pa.Table):
        return _from_table(data, role)
    if isinstance(data, pa.RecordBatch):
        return _from_table(pa.Table.from_batches([data]), role)
    if isinstance(data, pa.RecordBatchReader):
        _check_names(data.schema.names, role)
        return Source(data.schema, _rechunk(iter(data), data.schema, role))
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns") and hasattr(data, "iloc"):
        return _from_table(_pandas_to_table(data, role), role)
    if module == "polars" and hasattr(data, "to_arrow"):
        return _from_table(_polars_to_table(data, role), role)
    if isinstance(data, Iterable) and not isinstance(data, str | bytes | Mapping):
        iterator = iter(data)
        first = next(iterator, None)
        if isinstance(first, pa.RecordBatch):
            _check_names(first.schema.names, role)
            return Source(first.schema, _rechunk(_chain(first, iterator), first.schema, role))
        if first is None:
            raise InvalidInput(f"{role} is an empty iterable: it holds no record batches")
    raise InvalidInput(
        f"{role} must be a pandas or polars DataFrame, a pyarrow Table, RecordBatch or "
        f"RecordBatchReader, or an iterable of RecordBatches; got {type(data).__name__}"
    )


def open_source(
    data: object,
    role: str = "data",
    columns: Sequence[str] | None = None,
    encoding: str | None = None,
) -> Source:
    """:func:`as_source`, or for a path (``str`` or ``os.PathLike``) a file read in batches.

    The schema is always the whole file's; with ``columns``, batches read from a Parquet
    file or directory may hold only those columns (read by name, never by position).
    ``encoding`` is the text encoding of a CSV file (default UTF-8).
    """
    if isinstance(data, str | os.PathLike):
        return _from_path(Path(data), role, columns, encoding)
    return as_source(data, role)


def _from_path(
    path: Path, role: str, columns: Sequence[str] | None, encoding: str | None = None
) -> Source:
    if not path.exists():
        raise NotFound(f"{role} file {str(path)!r} does not exist", field=role)
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    try:
        if path.is_dir() or suffix in PARQUET_SUFFIXES:
            schema, batches = _read_parquet(path, columns)
        elif suffix in CSV_SUFFIXES:
            schema, batches = _read_csv(path, suffix, encoding)
        elif suffix in IPC_SUFFIXES:
            schema, batches = _read_ipc(path)
        else:
            raise InvalidInput(
                f"{role} file {str(path)!r} is not CSV (.csv, .tsv), Parquet (.parquet, .pq) "
                "or Arrow IPC (.arrow, .feather); convert it or pass a DataFrame",
                field=role,
            )
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{role} file {str(path)!r} cannot be read: {_reason(exc)}") from None
    _check_names(schema.names, role)
    return Source(schema, _translated(batches, path, role))


def _read_parquet(path: Path, columns: Sequence[str] | None) -> tuple[pa.Schema, Iterator[Any]]:
    if path.is_dir():
        import pyarrow.dataset as ds

        dataset = ds.dataset(path, format="parquet")
        wanted = None if columns is None else [n for n in columns if n in dataset.schema.names]
        return dataset.schema, iter(dataset.to_batches(columns=wanted, batch_size=BATCH_ROWS))
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    schema = handle.schema_arrow
    wanted = None if columns is None else [name for name in columns if name in schema.names]
    return schema, handle.iter_batches(batch_size=BATCH_ROWS, columns=wanted)


def _read_csv(path: Path, suffix: str, encoding: str | None) -> tuple[pa.Schema, Iterator[Any]]:
    import codecs

    from pyarrow import csv

    try:
        codecs.lookup(encoding or "utf8")
    except LookupError:
        raise InvalidInput(f"unknown encoding: {encoding}", field="encoding") from None
    reader = csv.open_csv(
        path,
        read_options=csv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding=encoding or "utf8"),
        parse_options=csv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ","),
    )
    binary = [f.name for f in reader.schema if pa.types.is_binary(f.type)]
    if encoding is None and binary:
        reader.close()
        raise InvalidInput(
            f"CSV file {str(path)!r} is not valid UTF-8 (column {binary[0]!r}); give its "
            "encoding, e.g. encoding='latin-1' (--encoding latin-1 on the command line)",
            field="encoding",
        )
    return reader.schema, iter(reader)


def _read_ipc(path: Path) -> tuple[pa.Schema, Iterator[Any]]:
    source = pa.memory_map(str(path))
    try:
        reader = pa.ipc.open_file(source)
    except pa.ArrowInvalid:
        stream = pa.ipc.open_stream(source)
        return stream.schema, iter(stream)
    return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))


def _translated(batches: Iterator[Any], path: Path, role: str) -> Iterator[pa.RecordBatch]:
    """The batches, split to ``BATCH_ROWS``; read errors become InvalidInput."""
    rows = 0
    try:
        for batch in batches:
            for offset in range(0, batch.num_rows, BATCH_ROWS):
                yield batch.slice(offset, BATCH_ROWS)
            rows += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"{role} file {str(path)!r} cannot be read after row {rows:,}: {_reason(exc)}"
        ) from None


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _chain(first: pa.RecordBatch, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _from_table(table: pa.Table, role: str) -> Source:
    _check_names(table.schema.names, role)
    return Source(table.schema, iter(table.to_batches(max_chunksize=BATCH_ROWS)))


def _rechunk(batches: Iterator[Any], schema: pa.Schema, role: str) -> Iterator[pa.RecordBatch]:
    """Check every batch against ``schema`` and split the large ones."""
    for number, batch in enumerate(batches):
        if not isinstance(batch, pa.RecordBatch):
            raise InvalidInput(
                f"{role} item {number} is a {type(batch).__name__}, not a pyarrow RecordBatch"
            )
        if not batch.schema.equals(schema):
            raise InvalidInput(
                f"{role} record batch {number} has a different schema from the first: "
                f"{_schema_text(batch.schema)} instead of {_schema_text(schema)}"
            )
        for offset in range(0, batch.num_rows, BATCH_ROWS):
            yield batch.slice(offset, BATCH_ROWS)


def coalesce(batches: Iterable[pa.RecordBatch], rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The same rows in the same order, consecutive small batches (under
    ``SMALL_BATCH_ROWS`` rows) combined into one of up to about ``rows`` rows; larger
    batches pass through untouched and empty ones are dropped. Every batch must have the
    same schema.

    Work done per batch (a thread hand-off per column, a hash update per stream) costs
    about as much for 32 rows as for 65,536, so a stream of tiny batches (a folder of
    small files) is mostly overhead until it is combined.
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = pending_bytes = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        if batch.num_rows >= SMALL_BATCH_ROWS:
            if pending:
                yield _combined(pending)
                pending, pending_rows, pending_bytes = [], 0, 0
            yield batch
            continue
        pending.append(batch)
        pending_rows += batch.num_rows
        pending_bytes += batch.nbytes
        if pending_rows >= rows or pending_bytes >= COALESCE_BYTES:
            yield _combined(pending)
            pending, pending_rows, pending_bytes = [], 0, 0
    if pending:
        yield _combined(pending)


def _combined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches, schema=batches[0].schema).combine_chunks()
    return table.to_batches()[0]


def _schema_text(schema: pa.Schema) -> str:
    return "(" + ", ".join(f"{field.name}: {field.type}" for field in schema) + ")"


def _check_names(names: list[str], role: str) -> None:
    if not names:
        raise InvalidInput(f"{role} has no columns")
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        raise InvalidInput(
            f"{role} has duplicate column names: {', '.join(map(repr, duplicated))}; "
            "rename them so that every column name is unique",
            field=duplicated[0],
        )


def _pandas_to_table(frame: Any, role: str) -> pa.Table:
    names = [str(name) for name in frame.columns]
    _check_names(names, role)
    arrays = [
        _series_to_arrow(frame.iloc[:, position], name, role) for position, name in enumerate(names)
    ]
    return pa.Table.from_arrays(arrays, names=names)


def _series_to_arrow(series: Any, name: str, role: str) -> pa.Array | pa.ChunkedArray:
    try:
        return pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        if series.dtype == object:
            kinds = sorted({type(value).__name__ for value in series.dropna().head(100_000)})
            if len(kinds) > 1:
                raise InvalidInput(
                    f"{role} column {name!r} mixes value types ({', '.join(kinds)}); "
                    "convert it to a single type first",
                    field=name,
                ) from None
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(
            f"{role} column {name!r} (dtype {series.dtype}) cannot be read: {reason}",
            field=name,
        ) from None


def _polars_to_table(frame: Any, role: str) -> pa.Table:
    names = [str(name) for name in frame.columns]
    _check_names(names, role)
    try:
        table = frame.to_arrow()
    except Exception as exc:  # polars raises its own error types
        raise InvalidInput(f"{role} cannot be converted to Arrow: {exc}") from None
    return table if isinstance(table, pa.Table) else pa.table(table)


def logical_type(data_type: pa.DataType) -> str:
    """One of integer, float, boolean, string, categorical, datetime, date, null, other."""
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "float"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or _is_string_view(data_type)
    ):
        return "string"
    if pa.types.is_dictionary(data_type):
        return "categorical"
    if pa.types.is_timestamp(data_type):
        return "datetime"
    if pa.types.is_date(data_type):
        return "date"
    if pa.types.is_null(data_type):
        return "null"
    return "other"


def _is_string_view(data_type: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check(data_type)) if check is not None else False


def kind_of(logical: str) -> str:
    """numeric, categorical, datetime, null or other: which statistics apply."""
    return _KINDS[logical]


def numeric_values(array: pa.Array) -> npt.NDArray[np.float64]:
    """float64 values; nulls become NaN."""
    if not pa.types.is_floating(array.type) or array.type != pa.float64():
        array = pc.cast(array, pa.float64(), safe=False)
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def category_values(array: pa.Array) -> tuple[pa.Array, npt.NDArray[np.int64]]:
    """Distinct non-null values as strings and how often each occurs."""
    counted = pc.value_counts(array)
    values = counted.field("values")
    counts = counted.field("counts")
    if values.null_count:
        keep = pc.is_valid(values)
        values, counts = values.filter(keep), counts.filter(keep)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values.cast(pa.large_string()), np.asarray(counts, dtype=np.int64)


def temporal_values(
    array: pa.Array, name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], str]:
    """Integer times, a validity mask and their numpy unit ("s", "ms", "us", "ns" or "D").

    Zoned timestamps count from the epoch in UTC. Text is parsed as ISO 8601.
    """
    data_type = array.type
    if logical_type(data_type) == "string":
        try:
            array = pc.cast(array, pa.timestamp("ns"))
        except pa.ArrowException as exc:
            raise InvalidInput(
                f"time column {name!r} has text that is not an ISO 8601 timestamp: "
                f"{str(exc).splitlines()[0]}",
                field=name,
            ) from None
        data_type = array.type
    if pa.types.is_timestamp(data_type):
        unit = str(data_type.unit)
    elif pa.types.is_date(data_type):
        unit = "D"
        array = pc.cast(array, pa.date32())
    else:
        raise InvalidInput(
            f"time column {name!r} must hold timestamps or dates; it is {data_type}",
            field=name,
        )
    valid = np.asarray(pc.is_valid(array), dtype=bool)
    raw = pc.fill_null(pc.cast(array.view(pa.int32()) if unit == "D" else array, pa.int64()), 0)
    return np.asarray(raw, dtype=np.int64), valid, unit
