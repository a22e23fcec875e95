"""The content digest of a table: the same values give the same digest, whatever the layout.

A dataset version is identified by this digest, so it must not depend on how the data
arrived: one CSV or many, Parquet row groups of any size, a pandas frame, record batches
cut anywhere, sliced arrays, or how nulls happen to be stored. It must change with any
value, the order of rows or columns, a column's name, type or nullability.

Definition (format ``modelyard.dataset/1``):

1. **Canonical schema.** Each column is cast to a canonical Arrow type: every string type
   to ``large_string``, binary to ``large_binary``, lists to ``large_list`` (child named
   ``item``), dictionaries to ``int32`` indices over canonical values, extension types to
   their storage; everything else is kept (integer width, float width, timestamp unit and
   time zone, decimal precision...). Schema metadata (pandas' included) is dropped.
2. **Per-column streams.** Each column feeds BLAKE3 hashers with byte streams that are
   concatenation-homomorphic -- the bytes for rows ``a + b`` are the bytes for ``a``
   followed by the bytes for ``b`` -- so no chunking can change them:

   * null positions: the global row index (little-endian int64) of each null;
   * fixed-width values (numbers, dates, times, timestamps, durations, decimals,
     fixed-size binary): each row's value bytes, null rows zeroed, every NaN replaced by
     the one canonical quiet NaN;
   * booleans: one byte (0 or 1) per row, null rows 0;
   * strings and binary: the length (int64) of each non-null value, and separately the
     concatenated bytes of the non-null values;
   * lists: the length of each non-null list, then the child values of the non-null lists
     as a nested column; structs: each field as a nested column (null where the struct
     is); dictionaries: the decoded values; other types (maps, unions): the ``repr`` of
     each non-null value as text.

3. **Digest.** BLAKE3 of the canonical JSON header ``{"format", "rows", "columns":
   [{"name", "type", "nullable"}]}`` (types spelled by :func:`type_spec`, independent of
   the pyarrow version), followed by the 32-byte digest of every stream, column by
   column in a fixed order.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from blake3 import blake3

from modelyard.errors import InvalidInput

__all__ = [
    "FORMAT",
    "ContentHasher",
    "canonical_schema",
    "canonical_type",
    "conform",
    "digest_of",
    "logical_type",
    "schema_columns",
    "type_spec",
]

FORMAT = "modelyard.dataset/1"
_LITTLE = sys.byteorder == "little"


# -- canonical types ----------------------------------------------------------------------


def canonical_type(data_type: pa.DataType) -> pa.DataType:
    """The type a column of ``data_type`` is stored and hashed as."""
    t = data_type
    if isinstance(t, pa.ExtensionType):
        return canonical_type(t.storage_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or _is("string_view", t):
        return pa.large_string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or _is("binary_view", t):
        return pa.large_binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or _is("list_view", t):
        return pa.large_list(_canonical_field(t.value_field, "item"))
    if _is("large_list_view", t):
        return pa.large_list(_canonical_field(t.value_field, "item"))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(_canonical_field(t.value_field, "item"), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([_canonical_field(t.field(i)) for i in range(t.num_fields)])
    if pa.types.is_dictionary(t):
        return pa.dictionary(pa.int32(), canonical_type(t.value_type), t.ordered)
    return t


def _is(name: str, t: pa.DataType) -> bool:
    check = getattr(pa.types, f"is_{name}", None)
    return bool(check(t)) if check is not None else False


def _canonical_field(field: pa.Field, name: str | None = None) -> pa.Field:
    return pa.field(name or field.name, canonical_type(field.type), nullable=field.nullable)


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with canonical types and no metadata."""
    return pa.schema([_canonical_field(field) for field in schema])


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast ``batch`` (same column names) to the canonical ``schema``."""
    if batch.schema.equals(schema, check_metadata=False):
        return batch if not batch.schema.metadata else batch.replace_schema_metadata(None)
    arrays = []
    for column, field in zip(batch.columns, schema, strict=True):
        arrays.append(_conform_array(column, field))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _conform_array(array: pa.Array, field: pa.Field) -> pa.Array:
    if array.type.equals(field.type):
        return array
    if isinstance(array.type, pa.ExtensionType):
        array = array.storage
    try:
        return array.cast(field.type)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
        raise InvalidInput(
            f"column {field.name!r} has type {array.type}, which cannot be stored as "
            f"{type_spec(field.type)}: {str(exc).splitlines()[0]}",
            field=field.name,
        ) from None


# -- naming types --------------------------------------------------------------------------


def type_spec(t: pa.DataType) -> str:
    """A stable spelling of a canonical type (``string``, ``int64``, ``timestamp[ns, UTC]``,
    ``list<int64>``...), used in the digest and shown to people."""
    if pa.types.is_large_string(t):
        return "string"
    if pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, {t.tz}]" if t.tz else f"timestamp[{t.unit}]"
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return f"{'duration' if pa.types.is_duration(t) else f'time{t.bit_width}'}[{t.unit}]"
    if pa.types.is_decimal(t):
        return f"decimal{t.bit_width}({t.precision}, {t.scale})"
    if pa.types.is_fixed_size_binary(t):
        return f"fixed_size_binary[{t.byte_width}]"
    if pa.types.is_large_list(t):
        return f"list<{_field_spec(t.value_field, name=False)}>"
    if pa.types.is_fixed_size_list(t):
        return f"list<{_field_spec(t.value_field, name=False)}>[{t.list_size}]"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(_field_spec(t.field(i)) for i in range(t.num_fields)) + ">"
    if pa.types.is_dictionary(t):
        ordered = ", ordered" if t.ordered else ""
        return f"dictionary<{type_spec(t.value_type)}{ordered}>"
    if pa.types.is_map(t):
        return f"map<{type_spec(t.key_type)}, {type_spec(t.item_type)}>"
    return str(t)


def _field_spec(field: pa.Field, name: bool = True) -> str:
    spec = type_spec(field.type) + ("" if field.nullable else " not null")
    return f"{field.name}: {spec}" if name else spec


def logical_type(t: pa.DataType) -> str:
    """integer, float, boolean, string, categorical, datetime, date, time, duration,
    binary, null, nested or other."""
    checks: list[tuple[Callable[[pa.DataType], bool], str]] = [
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "float"),
        (pa.types.is_decimal, "float"),
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_large_string, "string"),
        (pa.types.is_string, "string"),
        (pa.types.is_dictionary, "categorical"),
        (pa.types.is_timestamp, "datetime"),
        (pa.types.is_date, "date"),
        (pa.types.is_time, "time"),
        (pa.types.is_duration, "duration"),
        (pa.types.is_large_binary, "binary"),
        (pa.types.is_fixed_size_binary, "binary"),
        (pa.types.is_null, "null"),
        (pa.types.is_nested, "nested"),
    ]
    for check, name in checks:
        if check(t):
            return name
    return "other"


def schema_columns(schema: pa.Schema) -> list[dict[str, Any]]:
    """The JSON description of a canonical schema kept with each version."""
    return [
        {
            "name": field.name,
            "type": logical_type(field.type),
            "arrow_type": type_spec(field.type),
            "nullable": field.nullable,
        }
        for field in schema
    ]


# -- hashing -------------------------------------------------------------------------------


class _Column:
    """The streams of one (possibly nested) column; see the module docstring."""

    def __init__(self, data_type: pa.DataType) -> None:
        self.type = data_type
        self.rows = 0
        self.nulls = blake3()
        self.values = blake3()
        self.lengths = blake3()
        self.children: list[_Column] = []
        if pa.types.is_large_list(data_type) or pa.types.is_fixed_size_list(data_type):
            self.children = [_Column(data_type.value_type)]
        elif pa.types.is_struct(data_type):
            self.children = [_Column(data_type.field(i).type) for i in range(data_type.num_fields)]
        elif pa.types.is_dictionary(data_type):
            self.children = [_Column(data_type.value_type)]

    def update(self, array: pa.Array) -> None:
        n = len(array)
        if not n:
            return
        valid: np.ndarray | None = None
        if array.null_count and not pa.types.is_null(array.type):
            valid = np.asarray(pc.is_valid(array), dtype=bool)
            positions = np.flatnonzero(~valid).astype("<i8") + self.rows
            self.nulls.update(positions.tobytes())
        self._values(array, valid)
        self.rows += n

    def _values(self, array: pa.Array, valid: np.ndarray | None) -> None:
        t = array.type
        if pa.types.is_null(t):
            return
        if pa.types.is_boolean(t):
            if valid is not None:
                array = pc.fill_null(array, False)
            self.values.update(np.asarray(array, dtype=bool).view(np.uint8).tobytes())
        elif pa.types.is_dictionary(t):
            self.children[0].update(array.dictionary_decode())
        elif pa.types.is_struct(t):
            for child, field in zip(self.children, array.flatten(), strict=True):
                child.update(field)
        elif pa.types.is_large_string(t) or pa.types.is_large_binary(t):
            self._variable(array if valid is None else array.filter(pa.array(valid)))
        elif pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            if valid is not None:
                array = array.filter(pa.array(valid))
            lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
            self.lengths.update(lengths.astype("<i8").tobytes())
            self.children[0].update(array.flatten())
        elif _fixed_width(t):
            self._fixed(array, valid)
        else:  # maps, unions, anything exotic: slow but exact
            present = array if valid is None else array.filter(pa.array(valid))
            texts = pa.array([repr(value) for value in present.to_pylist()], pa.large_string())
            self._variable(texts)

    def _variable(self, array: pa.Array) -> None:
        """Lengths and bytes of an array of large_string / large_binary without nulls."""
        if not len(array):
            return
        buffers = array.buffers()
        offsets = np.frombuffer(buffers[1], dtype="<i8")[
            array.offset : array.offset + len(array) + 1
        ]
        self.lengths.update(np.diff(offsets).astype("<i8").tobytes())
        start, stop = int(offsets[0]), int(offsets[-1])
        if stop > start and buffers[2] is not None:
            self.values.update(memoryview(buffers[2].slice(start, stop - start)))

    def _fixed(self, array: pa.Array, valid: np.ndarray | None) -> None:
        t = array.type
        width = t.byte_width
        buffer = array.buffers()[1]
        start = array.offset * width
        raw = np.frombuffer(buffer, dtype=np.uint8)[start : start + len(array) * width]
        if pa.types.is_floating(t):
            floats = raw.view(f"<f{width}" if _LITTLE else f">f{width}")
            nan = np.isnan(floats)
            if valid is not None:
                nan &= valid
            if nan.any():
                floats = floats.copy()
                floats[nan] = np.nan
                raw = floats.view(np.uint8)
        if valid is not None:
            raw = raw.reshape(len(array), width).copy()
            raw[~valid] = 0
        if not _LITTLE and width > 1 and not pa.types.is_fixed_size_binary(t):
            raw = raw.reshape(-1, width)[:, ::-1].copy()  # pragma: no cover - big-endian only
        self.values.update(np.ascontiguousarray(raw).tobytes())

    def digests(self) -> list[bytes]:
        out = [self.nulls.digest(), self.lengths.digest(), self.values.digest()]
        for child in self.children:
            out.extend(child.digests())
        return out


def _fixed_width(t: pa.DataType) -> bool:
    try:
        return t.bit_width % 8 == 0 and t.bit_width > 0 and not pa.types.is_boolean(t)
    except ValueError:
        return False


class ContentHasher:
    """Feed record batches of one canonical schema; :meth:`hexdigest` gives the digest."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows = 0
        self._columns = [_Column(field.type) for field in schema]

    def update(self, batch: pa.RecordBatch) -> None:
        for column, array in zip(self._columns, batch.columns, strict=True):
            column.update(array)
        self.rows += batch.num_rows

    def hexdigest(self) -> str:
        header = {
            "format": FORMAT,
            "rows": self.rows,
            "columns": [
                {"name": field.name, "type": type_spec(field.type), "nullable": field.nullable}
                for field in self.schema
            ],
        }
        hasher = blake3(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
        for column in self._columns:
            for digest in column.digests():
                hasher.update(digest)
        return hasher.hexdigest()


def digest_of(data: pa.Table | pa.RecordBatch) -> str:
    """The digest of an in-memory Arrow table (tests and small data)."""
    schema = canonical_schema(data.schema)
    hasher = ContentHasher(schema)
    batches = data.to_batches() if isinstance(data, pa.Table) else [data]
    for batch in batches:
        hasher.update(conform(batch, schema))
    return hasher.hexdigest()
