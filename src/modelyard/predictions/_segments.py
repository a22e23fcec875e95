"""The format of a prediction log segment: one Parquet file of answered predictions.

Its columns: ``prediction_id`` (text), ``version_id`` (text: the model version that
answered), ``time`` (a timestamp, or integer ms since the epoch), and optionally
``deployment_id``, ``model`` (text), ``version`` (integer), ``latency_ms`` (a number),
``shadow`` (boolean); the request's inputs as ``input.<name>`` (or one ``input`` column
for a tensor) and its outputs as ``output`` or ``output.<name>``. Nothing else.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard import limits
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SegmentFacts", "check_segment", "read_segment", "to_parquet"]

#: The columns every segment has.
REQUIRED = ("prediction_id", "version_id", "time")


def _is_text(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_time(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_timestamp(t) or pa.types.is_integer(t))


def _is_number(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def _is_integer(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t))


def _is_bool(t: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_boolean(t))


#: The type each named column must have, as a check and its name in an error.
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "prediction_id": (_is_text, "text"),
    "version_id": (_is_text, "text"),
    "deployment_id": (_is_text, "text"),
    "model": (_is_text, "text"),
    "time": (_is_time, "a timestamp or integer milliseconds"),
    "version": (_is_integer, "an integer"),
    "latency_ms": (_is_number, "a number"),
    "shadow": (_is_bool, "a boolean"),
}


@dataclass(frozen=True, slots=True)
class SegmentFacts:
    """What the index keeps of a segment."""

    rows: int
    min_time: int
    max_time: int
    version_ids: tuple[str, ...]


def _io_column(name: str) -> bool:
    return name in ("input", "output") or name.startswith(("input.", "output."))


def check_segment(table: pa.Table) -> SegmentFacts:
    """The facts of ``table`` if it is a segment (the columns above, at least one row,
    at most ``limits.PREDICTION_SEGMENT_ROWS``, no null id, version or time), else
    InvalidInput naming what is wrong."""
    import pyarrow.compute as pc

    names = table.column_names
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise InvalidInput(
            f"a prediction segment needs the columns {', '.join(REQUIRED)}; "
            f"missing: {', '.join(missing)}",
            field="segment",
        )
    if len(set(names)) != len(names):
        raise InvalidInput("a prediction segment has a column twice", field="segment")
    for name in names:
        if name in _TYPES:
            check, wanted = _TYPES[name]
            if not check(table.schema.field(name).type):
                raise InvalidInput(
                    f"the column {name!r} of a prediction segment must be {wanted}, "
                    f"not {table.schema.field(name).type}",
                    field="segment",
                )
        elif not _io_column(name):
            raise InvalidInput(
                f"a prediction segment has no column {limits.preview(name)}: its columns "
                "are prediction_id, version_id, time, deployment_id, model, version, "
                "latency_ms, shadow, input.<name> (or input) and output (or output.<name>)",
                field="segment",
            )
    if table.num_rows == 0:
        raise InvalidInput("a prediction segment has no rows", field="segment")
    if table.num_rows > limits.PREDICTION_SEGMENT_ROWS:
        raise InvalidInput(
            f"a prediction segment has {table.num_rows} rows; the limit is "
            f"{limits.PREDICTION_SEGMENT_ROWS}",
            field="segment",
        )
    for name in REQUIRED:
        if table.column(name).null_count:
            raise InvalidInput(f"the column {name!r} has nulls", field="segment")
    longest = pc.max(pc.utf8_length(table.column("prediction_id"))).as_py()
    if longest > limits.PREDICTION_ID:
        raise InvalidInput(
            f"a prediction id has {longest} characters; the limit is {limits.PREDICTION_ID}",
            field="segment",
        )
    times = pc.min_max(_time_ms(table))
    versions = pc.unique(table.column("version_id")).to_pylist()
    return SegmentFacts(
        rows=table.num_rows,
        min_time=int(times["min"].as_py()),
        max_time=int(times["max"].as_py()),
        version_ids=tuple(sorted(versions)),
    )


def _time_ms(table: pa.Table) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column("time")
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64())
    return column.cast(pa.int64())


def to_parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def parse_parquet(data: bytes) -> pa.Table:
    """The table of Parquet bytes; InvalidInput when they are not Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(
            f"a prediction segment must be a Parquet file: {exc}", field="segment"
        ) from None


def read_segment(data: bytes, since: int | None, until: int | None) -> pa.Table:
    """A stored segment's rows from ``since`` (ms, inclusive) to ``until`` (exclusive),
    ``time`` as a UTC timestamp in ms."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = parse_parquet(data)
    times = _time_ms(table)
    keep = None
    if since is not None:
        keep = pc.greater_equal(times, since)
    if until is not None:
        before = pc.less(times, until)
        keep = before if keep is None else pc.and_(keep, before)
    at = table.schema.get_field_index("time")
    table = table.set_column(at, "time", times.cast(pa.timestamp("ms", tz="UTC")))
    return table if keep is None else table.filter(keep)
