"""Mergeable summaries of logged predictions: what a monitoring pass keeps per version and hour.

A :class:`Summary` of some rows of one version's prediction log holds, built with the data
layer's accumulators (``modelyard.data._accumulators``, so every statistic is computed as
a dataset profile computes it):

* the row count;
* per input feature of the version (the log's ``input.<name>`` columns): for a numeric
  column a quantile sketch, moments (count, mean, spread, min, max) and the missing (null,
  NaN) and infinite counts; for a categorical one (text, boolean, dictionary) the value
  counts (a frequency sketch), a distinct counter and the missing count; a feature the
  version expects that the log lacks is counted in :attr:`Summary.absent` (rows seen
  without it), never an error;
* per output (``output`` or ``output.<name>``) the same by its kind; an output that holds
  one list of numbers per row (class probabilities) gives one numeric sketch per position,
  named ``output[<class>]`` after the version's classes (or the position);
* a quantile sketch of ``latency_ms``.

:meth:`Summary.merge` gives the summary of both sets of rows: counts, moments and value
counts add up exactly; quantile sketches are exact while a column holds at most 32,768
values and within their ``rank_error`` beyond (under 1e-4 of the count at a million
values); value counts are exact up to 10,000 distinct values per column (Misra-Gries
beyond: each count low by at most ``n / 10,001``); distinct counts exact up to 10,000
(HyperLogLog beyond, 1.6 % standard error).

:meth:`Summary.to_bytes` is a compact binary encoding read back by :func:`load`: a magic
``MYWS``, a format version, a JSON header of names and counts, then the sketches' numpy
arrays as raw little-endian bytes. No pickle: a stored summary is data, never code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.data._accumulators import (
    CategoricalAccumulator,
    ColumnAccumulator,
    NumericAccumulator,
)
from modelyard.data._arrow import category_values, kind_of, logical_type, numeric_values
from modelyard.data._sketches import (
    DistinctCounter,
    FrequencySketch,
    HyperLogLog,
    Moments,
    QuantileSketch,
    hash_strings,
)
from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.monitoring._parts import Reference, WindowSummary

__all__ = ["FORMAT_VERSION", "MAGIC", "Summarizer", "Summary", "distinct_count", "load"]

MAGIC = b"MYWS"
FORMAT_VERSION = 1
#: Distinct values counted exactly per categorical column (HyperLogLog beyond).
DISTINCT_LIMIT = 10_000
#: Items per level of the quantile sketches: exact up to 4096 values, rank error about
#: 0.2 % of the count at a million values (a profile's 32,768 would make each hour's
#: summary megabytes).
SKETCH_K = 4096
LATENCY = "latency_ms"
#: Merges gathered before they are done (bounds what a summary holds on to).
PENDING_MERGES = 64

_PREFIX = struct.Struct("<4sHI")  # magic, format version, header length
_DTYPES: dict[str, np.dtype[Any]] = {
    "f8": np.dtype("<f8"),
    "i8": np.dtype("<i8"),
    "u8": np.dtype("<u8"),
    "u1": np.dtype("u1"),
}


class Summary:
    """The summary of some logged rows of one version (see the module docstring).

    Merges are gathered and done together when a column is next read (or after
    ``PENDING_MERGES`` merges): a day merged from 24 hours sorts each sketch's items once,
    not 24 times. What a merge gathers is never changed afterwards, so a summary merged
    into this one may still be used and merged on its own."""

    def __init__(self) -> None:
        self._rows = 0
        self._inputs: dict[str, ColumnAccumulator] = {}
        self._outputs: dict[str, ColumnAccumulator] = {}
        self._latency = _numeric(LATENCY, pa.float64())
        self._pending: list[Summary] = []
        #: Features the version expects and the log lacked: rows seen without them.
        self.absent: dict[str, int] = {}

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def inputs(self) -> dict[str, ColumnAccumulator]:
        """Input features by name (without ``input.``)."""
        self._settle()
        return self._inputs

    @property
    def outputs(self) -> dict[str, ColumnAccumulator]:
        """Outputs by column name (``output``, ``output.<name>``, ``output[<class>]``)."""
        self._settle()
        return self._outputs

    @property
    def latency(self) -> NumericAccumulator:
        self._settle()
        return self._latency

    def __repr__(self) -> str:
        return (
            f"<Summary: {self._rows} rows, {len(self.inputs)} features, "
            f"{len(self.outputs)} outputs, {len(self.absent)} absent>"
        )

    def feature(self, name: str) -> ColumnAccumulator | None:
        """The accumulator of input feature ``name``; None when no row had its column."""
        return self.inputs.get(name)

    def merge(self, other: WindowSummary) -> Summary:
        """The summary of both (``self`` changed and returned; ``other`` unchanged)."""
        if not isinstance(other, Summary):
            raise InvalidInput(f"cannot merge a window summary with {type(other).__name__}")
        other._settle()
        gathered = Summary()
        gathered._inputs, gathered._outputs = dict(other._inputs), dict(other._outputs)
        gathered._latency = other._latency
        self._pending.append(gathered)
        self._rows += other._rows
        for name, rows in other.absent.items():
            self.absent[name] = self.absent.get(name, 0) + rows
        if len(self._pending) >= PENDING_MERGES:
            self._settle()
        return self

    def _settle(self) -> None:
        if not self._pending:
            return
        parts = [self, *self._pending]
        self._pending = []
        for attribute in ("_inputs", "_outputs"):
            merged: dict[str, list[ColumnAccumulator]] = {}
            for part in parts:
                for name, column in getattr(part, attribute).items():
                    merged.setdefault(name, []).append(column)
            setattr(self, attribute, {name: _merged(columns) for name, columns in merged.items()})
        latency = _merged([part._latency for part in parts])
        assert isinstance(latency, NumericAccumulator)
        self._latency = latency

    def to_bytes(self) -> bytes:
        arrays: list[npt.NDArray[Any]] = []
        header = {
            "rows": self._rows,
            "absent": self.absent,
            "inputs": [_encode_column(c, arrays) for c in self.inputs.values()],
            "outputs": [_encode_column(c, arrays) for c in self.outputs.values()],
            "latency": _encode_column(self.latency, arrays),
            "arrays": [[_code(a), int(a.size)] for a in arrays],
        }
        text = json.dumps(header, separators=(",", ":")).encode()
        body = b"".join(np.ascontiguousarray(a, dtype=_DTYPES[_code(a)]).tobytes() for a in arrays)
        return _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text + body


class Summarizer:
    """Builds :class:`Summary` objects from log rows, and reads them back."""

    def summarize(self, table: pa.Table, reference: Reference) -> Summary:
        summary = Summary()
        summary._rows = table.num_rows
        names = table.column_names
        features = reference.features or tuple(
            name[len("input.") :] for name in names if name.startswith("input.")
        )
        present = set(names)
        for feature in features:
            column = f"input.{feature}"
            if column not in present:
                summary.absent[feature] = table.num_rows
                continue
            summary._inputs[feature] = _summarize_column(feature, table.column(column))
        for name in names:
            if name == "output" or name.startswith("output."):
                _summarize_output(summary._outputs, name, table.column(name), reference)
        if LATENCY in present:
            summary._latency.add(numeric_values(_one_chunk(table.column(LATENCY))))
        return summary

    def load(self, data: bytes) -> Summary:
        return load(data)


# -- building ------------------------------------------------------------------------------


def _one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _numeric(name: str, data_type: pa.DataType) -> NumericAccumulator:
    column = NumericAccumulator(name, data_type, None)
    column.sketch = QuantileSketch(SKETCH_K)
    return column


def _make(name: str, data_type: pa.DataType) -> ColumnAccumulator:
    kind = kind_of(logical_type(data_type))
    if kind == "numeric":
        return _numeric(name, data_type)
    if kind == "categorical":
        return CategoricalAccumulator(name, data_type, None)
    return ColumnAccumulator(name, data_type)


def distinct_count(column: CategoricalAccumulator) -> int:
    """A categorical column's distinct values: exact while its value counts are (they hold
    every value then), the distinct counter's beyond."""
    if column.distinct is None:
        return len(column.frequencies.values)
    return column.distinct.count()


def _count_categories(column: CategoricalAccumulator, array: pa.Array) -> None:
    """Value counts; the distinct counter is only made when the value counts overflow
    (until then they hold every value): hashing each hour's values would cost more than
    counting them."""
    column.count += len(array)
    column.missing += array.null_count
    values, counts = category_values(array)
    column.frequencies.update(values, counts)
    if not column.frequencies.exact:
        column.distinct = DistinctCounter(DISTINCT_LIMIT)
        column.distinct.update(hash_strings(values))


def _summarize_column(name: str, column: pa.ChunkedArray | pa.Array) -> ColumnAccumulator:
    array = _one_chunk(column)
    accumulator = _make(name, array.type)
    if isinstance(accumulator, NumericAccumulator):
        accumulator.add(numeric_values(array))
    elif isinstance(accumulator, CategoricalAccumulator):
        _count_categories(accumulator, array)
    else:
        accumulator.update(array)
    return accumulator


def _summarize_output(
    outputs: dict[str, ColumnAccumulator], name: str, column: pa.ChunkedArray, reference: Reference
) -> None:
    """A classifier's labels are categories even when they are integers or booleans."""
    array = _one_chunk(column)
    kind = array.type
    if (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ) and (kind_of(logical_type(kind.value_type)) == "numeric"):
        _summarize_scores(outputs, name, array, reference.classes)
        return
    if reference.task == "classification" and (
        pa.types.is_integer(kind) or pa.types.is_boolean(kind)
    ):
        array = pc.cast(array, pa.string())
    outputs[name] = _summarize_column(name, array)


def _summarize_scores(
    outputs: dict[str, ColumnAccumulator], name: str, array: pa.Array, classes: tuple[str, ...]
) -> None:
    """One numeric accumulator per position of a list-of-numbers output; rows whose list
    is null or of another length than the first count as missing."""
    lengths = pc.fill_null(pc.list_value_length(array), -1).to_numpy()
    given = lengths[lengths >= 0]
    width = int(given[0]) if given.size else 0
    keep = (lengths == width) & (width > 0)
    flat = numeric_values(pc.list_flatten(array.filter(pa.array(keep))))
    matrix = flat.reshape(-1, width) if width else np.empty((0, 0))
    dropped = len(array) - int(keep.sum())
    labels = classes if len(classes) == width else tuple(str(i) for i in range(width))
    for position, label in enumerate(labels):
        accumulator = _numeric(f"{name}[{label}]", pa.float64())
        accumulator.add(np.ascontiguousarray(matrix[:, position]))
        accumulator.count += dropped
        accumulator.missing += dropped
        outputs[accumulator.name] = accumulator


# -- merging -------------------------------------------------------------------------------


def _merged(columns: list[ColumnAccumulator]) -> ColumnAccumulator:
    """One column of several summaries merged, as a new accumulator (the given ones are
    left as they are). Columns of another kind than the first (a feature logged as numbers
    in one hour and as text in another) cannot be merged into it: their rows count as
    missing."""
    if len(columns) == 1:
        return columns[0]
    first = columns[0]
    alike = [column for column in columns if type(column) is type(first)]
    merged: ColumnAccumulator
    if isinstance(first, NumericAccumulator):
        merged = _merged_numeric([c for c in alike if isinstance(c, NumericAccumulator)])
    elif isinstance(first, CategoricalAccumulator):
        merged = _merged_categories([c for c in alike if isinstance(c, CategoricalAccumulator)])
    else:
        merged = ColumnAccumulator(first.name, pa.null())
        merged.logical, merged.arrow_type = first.logical, first.arrow_type
    merged.count = sum(column.count for column in columns)
    merged.missing = sum(
        column.missing if type(column) is type(first) else column.count for column in columns
    )
    return merged


def _merged_numeric(columns: list[NumericAccumulator]) -> NumericAccumulator:
    """Counts and moments added; each sketch level's items concatenated and sorted once,
    then compacted (as one update of all of them would)."""
    merged = _numeric(columns[0].name, pa.float64())
    typed = next((c for c in columns if c.logical != "integer"), columns[0])
    merged.logical, merged.arrow_type = typed.logical, typed.arrow_type
    merged.infinite = sum(column.infinite for column in columns)
    for column in columns:
        merged.moments.merge(column.moments)
    sketch = merged.sketch
    sketch.k = columns[0].sketch.k
    depth = max(len(column.sketch.levels) for column in columns)
    sketch.levels = []
    for h in range(depth):
        level = np.concatenate(
            [c.sketch.levels[h] for c in columns if len(c.sketch.levels) > h] or [np.empty(0)]
        )
        level.sort(kind="stable")  # sorted runs, one per summary: merged, not re-sorted
        sketch.levels.append(level)
    sketch.n = sum(column.sketch.n for column in columns)
    sketch.error = sum(column.sketch.error for column in columns)
    sketch._compact()
    return merged


def _merged_categories(columns: list[CategoricalAccumulator]) -> CategoricalAccumulator:
    """Value counts added up per value and cut back to the capacity once (Misra-Gries'
    merge); the distinct counters merged, made from the value counts of those that held
    every value."""
    first = columns[0]
    merged = CategoricalAccumulator(first.name, pa.string(), None)
    merged.logical, merged.arrow_type = first.logical, first.arrow_type
    values = pa.concat_arrays([column.frequencies.values for column in columns])
    counts = np.concatenate([column.frequencies.counts for column in columns])
    grouped = (
        pa.table({"value": values, "count": counts}).group_by("value").aggregate([("count", "sum")])
    )
    distinct_values = grouped.column("value").combine_chunks()
    frequencies = FrequencySketch(first.frequencies.capacity)
    frequencies.update(distinct_values, grouped.column("count_sum").to_numpy())
    frequencies.n = sum(column.frequencies.n for column in columns)
    frequencies.decrement += sum(column.frequencies.decrement for column in columns)
    merged.frequencies = frequencies
    if all(column.distinct is None for column in columns):
        if not frequencies.exact:  # every value was held until now: count them before the cut
            merged.distinct = DistinctCounter(DISTINCT_LIMIT)
            merged.distinct.update(hash_strings(distinct_values))
        return merged
    distinct = DistinctCounter(DISTINCT_LIMIT)
    for column in columns:
        if column.distinct is not None:
            distinct.merge(column.distinct)
        else:
            distinct.update(hash_strings(column.frequencies.values))
    merged.distinct = distinct
    return merged


# -- encoding ------------------------------------------------------------------------------


def _code(array: npt.NDArray[Any]) -> str:
    return {"f": "f8", "i": "i8", "u": "u1" if array.dtype.itemsize == 1 else "u8"}[
        array.dtype.kind
    ]


def _put(arrays: list[npt.NDArray[Any]], array: npt.NDArray[Any]) -> int:
    arrays.append(array)
    return len(arrays) - 1


def _encode_column(column: ColumnAccumulator, arrays: list[npt.NDArray[Any]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": column.name,
        "logical": column.logical,
        "arrow_type": column.arrow_type,
        "count": column.count,
        "missing": column.missing,
    }
    if isinstance(column, NumericAccumulator):
        moments, sketch = column.moments, column.sketch
        entry["kind"] = "numeric"
        entry["infinite"] = column.infinite
        entry["moments"] = [moments.n, moments.mean, moments.m2, moments.min, moments.max]
        entry["sketch"] = {
            "k": sketch.k,
            "n": sketch.n,
            "error": sketch.error,
            "levels": [_put(arrays, level) for level in sketch.levels],
        }
    elif isinstance(column, CategoricalAccumulator):
        frequencies, distinct = column.frequencies, column.distinct
        values = frequencies.values.cast(pa.large_string())
        offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
            values.offset : values.offset + len(values) + 1
        ]
        data = values.buffers()[2]
        text = (
            np.frombuffer(data, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
            if data is not None and len(values)
            else np.empty(0, dtype=np.uint8)
        )
        entry["kind"] = "categorical"
        entry["frequencies"] = {
            "capacity": frequencies.capacity,
            "n": frequencies.n,
            "decrement": frequencies.decrement,
            "offsets": _put(arrays, offsets - offsets[0]),
            "text": _put(arrays, text),
            "counts": _put(arrays, frequencies.counts),
        }
        if distinct is not None:
            state = distinct._exact if distinct._exact is not None else None
            registers = distinct._hll.registers if distinct._hll is not None else None
            entry["distinct"] = {
                "limit": distinct.limit,
                "exact": None if state is None else _put(arrays, state),
                "registers": None if registers is None else _put(arrays, registers),
            }
    else:
        entry["kind"] = "other"
    return entry


def load(data: bytes) -> Summary:
    """The :class:`Summary` that :meth:`Summary.to_bytes` encoded; InvalidInput when
    ``data`` is not one (or is of a newer format)."""
    try:
        return _load(bytes(data))
    except InvalidInput:
        raise
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
        raise InvalidInput(f"not a window summary: {exc}", field="summary") from exc


def _load(data: bytes) -> Summary:
    magic, version, size = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise InvalidInput("not a window summary (no MYWS header)", field="summary")
    if version != FORMAT_VERSION:
        raise InvalidInput(
            f"a window summary of format {version}; this version reads {FORMAT_VERSION}",
            field="summary",
        )
    start = _PREFIX.size
    header = json.loads(data[start : start + size])
    position = start + size
    arrays: list[npt.NDArray[Any]] = []
    for code, count in header["arrays"]:
        dtype = _DTYPES[code]
        end = position + dtype.itemsize * int(count)
        if end > len(data):
            raise ValueError("the summary is cut short")
        arrays.append(np.frombuffer(data, dtype=dtype, count=int(count), offset=position).copy())
        position = end
    if position != len(data):
        raise ValueError("the summary has trailing bytes")
    summary = Summary()
    summary._rows = int(header["rows"])
    summary.absent = {str(k): int(v) for k, v in dict(header["absent"]).items()}
    for entry in header["inputs"]:
        summary._inputs[entry["name"]] = _decode_column(entry, arrays)
    for entry in header["outputs"]:
        summary._outputs[entry["name"]] = _decode_column(entry, arrays)
    latency = _decode_column(header["latency"], arrays)
    if not isinstance(latency, NumericAccumulator):
        raise ValueError("the latency is not numeric")
    summary._latency = latency
    return summary


def _decode_column(entry: Mapping[str, Any], arrays: list[npt.NDArray[Any]]) -> ColumnAccumulator:
    kind = entry["kind"]
    column: ColumnAccumulator
    if kind == "numeric":
        numeric = _numeric(entry["name"], pa.float64())
        numeric.infinite = int(entry["infinite"])
        moments = Moments()
        n, moments.mean, moments.m2, moments.min, moments.max = entry["moments"]
        moments.n = int(n)
        numeric.moments = moments
        sketch = QuantileSketch(int(entry["sketch"]["k"]))
        sketch.n = int(entry["sketch"]["n"])
        sketch.error = int(entry["sketch"]["error"])
        sketch.levels = [arrays[i] for i in entry["sketch"]["levels"]] or [np.empty(0)]
        numeric.sketch = sketch
        column = numeric
    elif kind == "categorical":
        categorical = CategoricalAccumulator(entry["name"], pa.string(), None)
        stored = entry["frequencies"]
        offsets, text = arrays[stored["offsets"]], arrays[stored["text"]]
        frequencies = FrequencySketch(int(stored["capacity"]))
        frequencies.values = pa.LargeStringArray.from_buffers(
            len(offsets) - 1, pa.py_buffer(offsets.tobytes()), pa.py_buffer(text.tobytes())
        )
        frequencies.counts = arrays[stored["counts"]]
        frequencies.n = int(stored["n"])
        frequencies.decrement = int(stored["decrement"])
        categorical.frequencies = frequencies
        if entry.get("distinct") is not None:
            distinct = DistinctCounter(int(entry["distinct"]["limit"]))
            exact, registers = entry["distinct"]["exact"], entry["distinct"]["registers"]
            if exact is not None:
                distinct._exact = arrays[exact]
            else:
                distinct._exact = None
                distinct._hll = HyperLogLog()
                distinct._hll.registers = arrays[registers]
            categorical.distinct = distinct
        column = categorical
    else:
        column = ColumnAccumulator(entry["name"], pa.null())
    column.logical = str(entry["logical"])
    column.arrow_type = str(entry["arrow_type"])
    column.count = int(entry["count"])
    column.missing = int(entry["missing"])
    return column
