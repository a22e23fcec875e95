"""Read what a user registers as one stream of canonical record batches.

Accepted: pandas and polars DataFrames, pyarrow Tables, RecordBatches and
RecordBatchReaders, iterables of RecordBatches, CSV files (``.csv``, ``.tsv``, optionally
``.gz``/``.bz2``/``.zst``/``.lz4`` compressed), Parquet files (``.parquet``, ``.pq``), and
directories of them: every data file under the directory, in sorted path order, read as
one table (files and folders whose names start with ``.`` or ``_`` are skipped).

Files are read in bounded blocks (CSV, see ``_csv.py``: types inferred once, widened on
demand) or batches (Parquet), never whole. Every problem with the input becomes an
:class:`~modelyard.errors.InvalidInput` that names the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from modelyard.datasets._csv import (
    JOIN_BYTES,
    WidenColumn,
    check_columns,
    csv_format,
    first_line,
    header_line,
    open_csv,
    read_joined,
)
from modelyard.datasets.digest import canonical_schema, conform, type_spec
from modelyard.errors import InvalidInput, NotFound

__all__ = ["BATCH_ROWS", "Input", "WidenColumn", "open_input"]

#: Rows per record batch handed on (record batches from memory are cut to this).
BATCH_ROWS = 65_536

Progress = Callable[[int, int | None], None]

_PARQUET_SUFFIXES = {".parquet", ".pq"}
_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")


@dataclass
class Input:
    """The canonical schema, a one-pass iterator of canonical batches (no empty ones),
    where the data came from, and how many bytes of source there are (None: unknown)."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    source: str
    total_bytes: int | None
    files: list[Path] = field(default_factory=list)


def open_input(
    data: object,
    *,
    encoding: str | None = None,
    csv_types: Mapping[str, pa.DataType] | None = None,
    progress: Progress | None = None,
) -> Input:
    """Open ``data`` for one streaming pass; see the module docstring."""
    if isinstance(data, str | os.PathLike):
        return _open_path(Path(data), encoding, dict(csv_types or {}), progress)
    if encoding is not None:
        raise InvalidInput("encoding applies to CSV files only", field="encoding")
    source, table_or_batches = _in_memory(data)
    if isinstance(table_or_batches, pa.Table):
        table = table_or_batches
        check_columns(table.schema.names, source)
        schema = canonical_schema(table.schema)
        total = table.nbytes
        batches: Iterable[pa.RecordBatch] = table.to_batches(max_chunksize=BATCH_ROWS)
    else:
        first, rest = table_or_batches
        check_columns(first.schema.names, source)
        schema = canonical_schema(first.schema)
        total = None
        batches = _same_schema(first, rest, source)
    return Input(schema, _counted(_conformed(batches, schema), progress, total), source, total)


# -- in memory ------------------------------------------------------------------------------


def _in_memory(
    data: object,
) -> tuple[str, pa.Table | tuple[pa.RecordBatch, Iterator[Any]]]:
    if isinstance(data, pa.Table):
        return "pyarrow.Table", data
    if isinstance(data, pa.RecordBatch):
        return "pyarrow.RecordBatch", pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return "pyarrow.RecordBatchReader", _first(iter(data), data.schema)
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns") and hasattr(data, "iloc"):
        return "pandas.DataFrame", _from_pandas(data)
    if module == "polars" and hasattr(data, "to_arrow"):
        return "polars.DataFrame", _from_polars(data)
    if isinstance(data, Iterable) and not isinstance(data, str | bytes | Mapping):
        iterator = iter(data)
        first = next(iterator, None)
        if isinstance(first, pa.RecordBatch):
            return "record batches", (first, iterator)
        if first is None:
            raise InvalidInput("the data is empty: an iterable with no record batches")
    raise InvalidInput(
        "datasets are registered from a pandas or polars DataFrame, a pyarrow Table, "
        "RecordBatch or RecordBatchReader, an iterable of RecordBatches, or the path of a CSV "
        f"or Parquet file or a directory of them; got {type(data).__name__}"
    )


def _first(batches: Iterator[Any], schema: pa.Schema) -> tuple[pa.RecordBatch, Iterator[Any]]:
    first = next(batches, None)
    if first is None:
        first = pa.RecordBatch.from_pylist([], schema=schema)
    return first, batches


def _from_pandas(frame: Any) -> pa.Table:
    names = [str(name) for name in frame.columns]
    check_columns(names, "the pandas DataFrame")
    arrays = []
    for position, name in enumerate(names):
        series = frame.iloc[:, position]
        try:
            arrays.append(pa.array(series, from_pandas=True))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            kinds = sorted({type(v).__name__ for v in series.dropna().head(10_000)})
            why = (
                f"it mixes value types ({', '.join(kinds)})"
                if len(kinds) > 1
                else str(exc).splitlines()[0]
            )
            raise InvalidInput(
                f"column {name!r} (dtype {series.dtype}) cannot be stored: {why}; "
                "convert it to a single type first",
                field=name,
            ) from None
    return pa.Table.from_arrays(arrays, names=names)


def _from_polars(frame: Any) -> pa.Table:
    names = [str(name) for name in frame.columns]
    check_columns(names, "the polars DataFrame")
    try:
        table = frame.to_arrow()
    except Exception as exc:  # polars raises its own error types
        raise InvalidInput(f"the polars DataFrame cannot be converted to Arrow: {exc}") from None
    return table if isinstance(table, pa.Table) else pa.table(table)


def _same_schema(
    first: pa.RecordBatch, rest: Iterator[Any], source: str
) -> Iterator[pa.RecordBatch]:
    yield first
    for number, batch in enumerate(rest, start=1):
        if not isinstance(batch, pa.RecordBatch):
            raise InvalidInput(
                f"{source}: item {number} is a {type(batch).__name__}, not a RecordBatch"
            )
        if not batch.schema.equals(first.schema, check_metadata=False):
            raise InvalidInput(
                f"{source}: record batch {number} has the columns {_schema_text(batch.schema)}, "
                f"but the first has {_schema_text(first.schema)}"
            )
        yield batch


# -- files ----------------------------------------------------------------------------------


def _open_path(
    path: Path,
    encoding: str | None,
    csv_types: dict[str, pa.DataType],
    progress: Progress | None,
) -> Input:
    if not path.exists():
        raise NotFound(f"no such file or directory: {str(path)!r}", field="path")
    files = _data_files(path)
    if encoding is not None and not any(csv_format(f) for f in files):
        raise InvalidInput("encoding applies to CSV files only", field="encoding")
    sizes = [f.stat().st_size for f in files]
    total = sum(sizes)
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    first = _open_file(files[0], None, encoding, csv_types, advance)
    schema = first[0]
    fmt = csv_format(files[0])
    header = None
    if len(files) > 2 and fmt is not None and fmt[1] is None and encoding is None:
        header = header_line(files[0])
    # files[i:run_end[i]]: the small files of the first file's format from i on
    run_end = list(range(len(files) + 1))
    for index in range(len(files) - 1, 0, -1) if header is not None else ():
        if sizes[index] <= JOIN_BYTES and csv_format(files[index]) == fmt:
            run_end[index] = run_end[index + 1]

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first[1]
        index = 1
        while index < len(files):
            if header is not None and fmt is not None and run_end[index] - index > 1:
                run = files[index : run_end[index]]
                read = yield from read_joined(run, header, fmt[0], schema, csv_types, advance)
                if read:
                    index += read
                    continue
            file = files[index]
            file_schema, stream = _open_file(file, schema, encoding, csv_types, advance)
            _check_same(files[0], schema, file, file_schema)
            yield from stream
            index += 1

    source = str(path.resolve())
    return Input(schema, _non_empty(batches()), source, total, files)


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        if csv_format(path) is None and path.suffix.lower() not in _PARQUET_SUFFIXES:
            raise InvalidInput(
                f"unsupported file type {path.name!r}: register a CSV (.csv, .tsv, optionally "
                ".gz/.bz2/.zst/.lz4 compressed) or Parquet (.parquet, .pq) file, or a "
                "directory of them",
                field="path",
            )
        return [path]
    if not path.is_dir():
        raise InvalidInput(f"{str(path)!r} is neither a file nor a directory", field="path")
    found: list[tuple[str, Path]] = []
    others: list[str] = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        base = Path(folder)
        inside = base.relative_to(path).as_posix()
        prefix = "" if inside == "." else f"{inside}/"
        for name in names:
            if name.startswith((".", "_")):
                continue
            file = base / name
            if csv_format(file) is not None or file.suffix.lower() in _PARQUET_SUFFIXES:
                found.append((prefix + name, file))
            else:
                others.append(prefix + name)
    if others:
        listed = ", ".join(sorted(others)[:5]) + (" ..." if len(others) > 5 else "")
        raise InvalidInput(
            f"directory {str(path)!r} holds files that are neither CSV nor Parquet: {listed}; "
            "move them out, or give their names a leading '_' or '.' to skip them",
            field="path",
        )
    if not found:
        raise InvalidInput(
            f"directory {str(path)!r} holds no data files (.csv, .tsv or .parquet)", field="path"
        )
    return [file for _, file in sorted(found)]


def _open_file(
    path: Path,
    expected: pa.Schema | None,
    encoding: str | None,
    csv_types: dict[str, pa.DataType],
    advance: Callable[[int], None],
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    fmt = csv_format(path)
    if fmt is not None:
        return open_csv(path, fmt, expected, encoding, csv_types, advance)
    return _open_parquet(path, advance)


def _open_parquet(
    path: Path, advance: Callable[[int], None]
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        arrow_schema = file.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"{str(path)!r} is not a readable Parquet file: {first_line(exc)}", field="path"
        ) from None
    names = [name for name in arrow_schema.names if not _PANDAS_INDEX.match(name)]
    check_columns(names, repr(str(path)))
    schema = canonical_schema(pa.schema([arrow_schema.field(name) for name in names]))
    size = path.stat().st_size
    rows = max(file.metadata.num_rows, 1)

    def batches() -> Iterator[pa.RecordBatch]:
        sent = 0
        try:
            iterator = file.iter_batches(batch_size=BATCH_ROWS, columns=names)
            for batch in iterator:
                share = size * batch.num_rows // rows
                sent += share
                advance(share)
                yield conform(batch, schema)
        except pa.ArrowException as exc:
            raise InvalidInput(
                f"cannot read Parquet file {str(path)!r}: {first_line(exc)}", field="path"
            ) from None
        finally:
            file.close()
        advance(size - sent)

    return schema, batches()


# -- checks and helpers ---------------------------------------------------------------------


def _check_same(first: Path, schema: pa.Schema, file: Path, other: pa.Schema) -> None:
    if other.equals(schema):
        return
    if other.names != schema.names:
        missing = [n for n in schema.names if n not in other.names]
        extra = [n for n in other.names if n not in schema.names]
        detail = (
            f"it lacks {missing} and has {extra}"
            if missing or extra
            else "its columns are in another order"
        )
        raise InvalidInput(
            f"{str(file)!r} does not have the columns of {str(first)!r}: {detail}; "
            "every file of a directory must have the same schema",
            field="path",
        )
    for a, b in zip(schema, other, strict=True):
        if not a.equals(b):
            raise InvalidInput(
                f"column {a.name!r} is {_field_text(b)} in {str(file)!r} but {_field_text(a)} "
                f"in {str(first)!r}; every file of a directory must have the same schema",
                field=a.name,
            )


def _field_text(field: pa.Field) -> str:
    return type_spec(field.type) + ("" if field.nullable else " not null")


def _schema_text(schema: pa.Schema) -> str:
    return "(" + ", ".join(f"{f.name}: {f.type}" for f in schema) + ")"


def _conformed(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if batch.num_rows:
            yield conform(batch, schema)


def _non_empty(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if batch.num_rows:
            yield batch


def _counted(
    batches: Iterator[pa.RecordBatch], progress: Progress | None, total: int | None
) -> Iterator[pa.RecordBatch]:
    done = 0
    for batch in batches:
        for offset in range(0, batch.num_rows, BATCH_ROWS):
            part = batch.slice(offset, BATCH_ROWS)
            done += part.nbytes
            if progress is not None:
                progress(min(done, total) if total else done, total)
            yield part
