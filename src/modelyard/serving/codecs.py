"""The bodies of the inference server's three protocols, read into :class:`Rows` and
written from a model's outputs (the writing in :mod:`._answers`, re-exported here), with no
HTTP in sight.

- Modelyard v1 (``POST /v1/deployments/{name}/predict``): JSON ``{"records": [...]}``,
  ``{"columns": {...}}`` or ``{"tensor": [[...]]}``; an Arrow IPC stream or a Parquet
  file for batches. The answer is JSON, or an Arrow IPC stream when asked for.
- The Open Inference Protocol v2 (``POST /v2/models/{name}/infer``), as KServe and
  Triton clients send it.
- MLflow's ``/invocations``: ``dataframe_split``, ``dataframe_records``, ``instances``,
  ``inputs``; CSV too.

A body that cannot be read is :class:`~modelyard.errors.MalformedBody` (400); one that
was read but is not a request, :class:`~modelyard.errors.InvalidInput` (422) naming the
field; more rows than allowed, :class:`~modelyard.errors.TooLarge` (413); a content type
the endpoint does not take, :class:`~modelyard.errors.UnsupportedMediaType` (415).
JSON is strict: an object with a key twice, ``NaN`` and ``Infinity`` are refused
(``null`` is a missing value).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard._util import refuse_duplicate_keys
from modelyard.errors import (
    InvalidInput,
    MalformedBody,
    ModelyardError,
    TooLarge,
    UnsupportedMediaType,
)
from modelyard.limits import preview
from modelyard.registry.signature import Signature
from modelyard.serving._answers import (
    encode_invocations,
    encode_v1,
    encode_v2,
    split,
    v2_metadata,
)
from modelyard.serving._formats import ARROW_STREAM, CSV, JSON, PARQUET, V2_DTYPES
from modelyard.serving._parts import Rows
from modelyard.serving.validation import INT_RANGES, Where, validate

__all__ = [
    "ARROW_STREAM",
    "CSV",
    "JSON",
    "MAX_DECODED_BYTES",
    "PARQUET",
    "Decoded",
    "decode_invocations",
    "decode_v1",
    "decode_v2",
    "encode_invocations",
    "encode_v1",
    "encode_v2",
    "media_type",
    "prediction_ids",
    "split",
    "table_rows",
    "v2_metadata",
]

_PARQUET_TYPES = frozenset({PARQUET, "application/x-parquet"})
#: The most an Arrow or Parquet body's data may take in memory once read, by default.
MAX_DECODED_BYTES = 256 * 2**20


@dataclass(frozen=True, slots=True)
class Decoded:
    """A request body read: its rows, how it named them (for validation's errors), and
    what the Open Inference Protocol adds: the caller's request ``id``, its
    ``parameters`` and the names of the ``outputs`` it asked for."""

    rows: Rows
    where: Where
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    #: Columns the model does not take are dropped, not refused (``/invocations``, as
    #: ``mlflow models serve`` does).
    drop_extra: bool = False

    def validated(self, signature: Signature | None) -> Rows:
        """The rows checked against ``signature`` (:func:`~.validation.validate`), a
        refusal naming the field as this body named it."""
        return validate(self.rows, signature, where=self.where, drop_extra=self.drop_extra)


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header, lower case, without parameters; none
    is JSON."""
    if not content_type:
        return JSON
    return content_type.partition(";")[0].strip().lower()


def prediction_ids(request_id: str, count: int) -> list[str]:
    """Each row's prediction id: ``<request id>-<row index>``."""
    return [f"{request_id}-{i}" for i in range(count)]


# -- reading ------------------------------------------------------------------------------


def decode_v1(
    body: bytes, content_type: str | None, *, max_rows: int, max_bytes: int = MAX_DECODED_BYTES
) -> Decoded:
    """A Modelyard v1 prediction request: JSON records, columns or a tensor, an Arrow
    IPC stream, or a Parquet file (whose data may take at most ``max_bytes`` once read:
    a small compressed body can stand for much more)."""
    kind = media_type(content_type)
    if kind == ARROW_STREAM:
        return Decoded(_arrow_stream(body, max_rows, max_bytes), Where())
    if kind in _PARQUET_TYPES:
        return Decoded(_parquet(body, max_rows, max_bytes), Where())
    if kind != JSON:
        raise _unsupported(kind, (JSON, ARROW_STREAM, PARQUET))
    doc = _object(
        _load_json(body), 'JSON object: {"records": [...]}, {"columns": {...}} or {"tensor": [...]}'
    )
    key = _one_key(doc, ("records", "columns", "tensor"), "body")
    if key == "records":
        return Decoded(_records(doc[key], "records", max_rows), Where("records", "records"))
    if key == "columns":
        return Decoded(_columns(doc[key], "columns", max_rows), Where("columns", "columns"))
    return Decoded(_json_tensor(doc[key], "tensor", max_rows), Where("table", "tensor"))


def decode_invocations(body: bytes, content_type: str | None, *, max_rows: int) -> Decoded:
    """An MLflow scoring request (``mlflow models serve``'s ``/invocations``): JSON with
    ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, or CSV.
    ``params`` are taken and not used, as MLflow does for a model whose signature
    declares none."""
    kind = media_type(content_type)
    if kind == CSV:
        return Decoded(_csv(body, max_rows), Where(), drop_extra=True)
    if kind != JSON:
        raise _unsupported(kind, (JSON, CSV))
    doc = _object(
        _load_json(body), "JSON object with dataframe_split, dataframe_records, instances or inputs"
    )
    extra = {"params"}
    key = _one_key(
        doc, ("dataframe_split", "dataframe_records", "instances", "inputs"), "body", extra
    )
    if "params" in doc and not isinstance(doc["params"], dict):
        raise InvalidInput("params must be an object", field="params")
    rows, where = _invocation_rows(key, doc[key], max_rows)
    return Decoded(rows, where, drop_extra=True)


def _invocation_rows(key: str, value: Any, max_rows: int) -> tuple[Rows, Where]:
    if key == "dataframe_records":
        return _records(value, key, max_rows), Where("records", key)
    if key == "dataframe_split":
        return _split(value, max_rows)
    if isinstance(value, dict):
        if value and not any(isinstance(v, list) for v in value.values()):
            return _records([value], key, max_rows), Where("records", key)
        return _columns(value, key, max_rows), Where("columns", key)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return _records(value, key, max_rows), Where("records", key)
    return _json_tensor(value, key, max_rows), Where("table", key)


def decode_v2(body: bytes, content_type: str | None, *, max_rows: int) -> Decoded:
    """An Open Inference Protocol v2 inference request. Several inputs, each one column
    (shape ``[N]`` or ``[N, 1]``), are columns named after the inputs (KServe's pandas
    convention, where text columns are ``BYTES``); one input of two or more dimensions
    is the tensor. Each input's data (flat or nested) must hold as many values as its
    shape says, of its datatype."""
    kind = media_type(content_type)
    if kind != JSON:
        raise _unsupported(kind, (JSON,))
    doc = _object(_load_json(body), 'JSON object: {"inputs": [...]}')
    for key in doc:
        if key not in ("id", "parameters", "inputs", "outputs"):
            raise InvalidInput(
                f"{key!r} is not a field of an inference request (id, parameters, inputs, outputs)",
                field=key,
            )
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"id must be a string, got {preview(request_id)}", field="id")
    parameters = doc.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("parameters must be an object", field="parameters")
    outputs = _requested_outputs(doc.get("outputs", []))
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("inputs must be a non-empty list of tensors", field="inputs")
    tensors = [_v2_input(item, f"inputs[{i}]", max_rows) for i, item in enumerate(inputs)]
    if len(tensors) == 1 and len(tensors[0][1]) > 1 and tensors[0][1][1:] != [1]:
        name, shape, data = tensors[0]
        rows = Rows(count=shape[0], tensor=data.reshape(shape))
        return Decoded(rows, Where("table", "inputs[0]"), request_id, parameters, outputs)
    columns: dict[str, list[Any]] = {}
    positions: dict[str, int] = {}
    count = tensors[0][1][0]
    for i, (name, shape, data) in enumerate(tensors):
        where = f"inputs[{i}]"
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput(
                f"{where}.shape: with several inputs each is one column, [N] or [N, 1]; got "
                f"{shape}",
                field=f"{where}.shape",
            )
        if shape[0] != count:
            raise InvalidInput(
                f"{where}.shape: every input has the same number of rows ({count} in "
                f"inputs[0]); got {shape[0]}",
                field=f"{where}.shape",
            )
        if name in columns:
            raise InvalidInput(f"{where}.name: {name!r} is sent twice", field=f"{where}.name")
        columns[name] = data
        positions[name] = i
    return Decoded(
        Rows(count=count, columns=columns),
        Where("inputs", "inputs", positions),
        request_id,
        parameters,
        outputs,
    )


#: The largest finite value of each floating datatype.
_LARGEST_FLOAT = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": 1.7976931348623157e308}


_INPUT_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})
_INPUT_REQUIRED = ("name", "shape", "datatype", "data")


def _v2_input(item: Any, where: str, max_rows: int) -> tuple[str, list[int], Any]:
    """An input's name, shape and values: a flat list for a column (``[N]``), else a flat
    array for the caller to shape."""
    if type(item) is not dict:
        raise InvalidInput(f"{where} must be an object", field=where)
    if not item.keys() <= _INPUT_KEYS:
        key = next(k for k in item if k not in _INPUT_KEYS)
        raise InvalidInput(
            f"{where}.{key} is not a field of an input (name, shape, datatype, data, parameters)",
            field=f"{where}.{key}",
        )
    for key in _INPUT_REQUIRED:
        if key not in item:
            raise InvalidInput(f"{where}.{key} is required", field=f"{where}.{key}")
    name, shape, datatype, data = item["name"], item["shape"], item["datatype"], item["data"]
    if type(name) is not str or not name:
        raise InvalidInput(f"{where}.name must be a non-empty string", field=f"{where}.name")
    if type(shape) is not list or not shape or not set(map(type, shape)) <= {int}:
        raise InvalidInput(
            f"{where}.shape must be a non-empty list of sizes (integers, 1 or more); got "
            f"{preview(shape)}",
            field=f"{where}.shape",
        )
    if shape[0] > max_rows:
        raise _too_many(shape[0], max_rows, f"{where}.shape")
    if min(shape) < 1:
        raise InvalidInput(
            f"{where}.shape: a request has at least one row and one value in it; got {shape}",
            field=f"{where}.shape",
        )
    dtype = V2_DTYPES.get(datatype) if type(datatype) is str else None
    if dtype is None:
        raise InvalidInput(
            f"{where}.datatype must be one of {', '.join(V2_DTYPES)}; got {preview(datatype)}",
            field=f"{where}.datatype",
        )
    if type(data) is not list:
        raise InvalidInput(f"{where}.data must be a list", field=f"{where}.data")
    flat, types = _flatten(data, shape, where)
    _check_v2_values(flat, types, datatype, where)
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return name, shape, flat
    import numpy as np

    return name, shape, np.array(flat, dtype=dtype)


def _flatten(data: list[Any], shape: list[int], where: str) -> tuple[list[Any], set[type]]:
    """``data`` flat, and the types of its values."""
    size = math.prod(shape)
    flat = data
    types = set(map(type, flat))
    if list not in types:
        if len(flat) != size:
            raise InvalidInput(
                f"{where}.data: the shape {shape} holds {size} values, the data {len(flat)}",
                field=f"{where}.data",
            )
        return flat, types
    for depth in range(1, len(shape)):
        if not all(type(v) is list and len(v) == shape[depth] for v in flat):
            raise InvalidInput(
                f"{where}.data: nested data must follow the shape {shape}",
                field=f"{where}.data",
            )
        flat = [v for part in flat for v in part]
    types = set(map(type, flat))
    if len(flat) != size or list in types:
        raise InvalidInput(
            f"{where}.data: nested data must follow the shape {shape}", field=f"{where}.data"
        )
    return flat, types


_INT = frozenset({int})
_NUMBER = frozenset({int, float})


def _check_v2_values(flat: list[Any], types: set[type], datatype: str, where: str) -> None:
    if datatype == "BYTES":
        good = types <= {str}
    elif datatype == "BOOL":
        good = types <= {bool}
    elif datatype in _LARGEST_FLOAT:
        largest = _LARGEST_FLOAT[datatype]
        good = types <= _NUMBER and -largest <= min(flat) and max(flat) <= largest
    else:
        good = types <= _INT or (types <= _NUMBER and all(float(v).is_integer() for v in flat))
        if good:
            low, high = INT_RANGES[V2_DTYPES[datatype]]
            good = low <= min(flat) and max(flat) <= high
    if not good:
        kind = {"BYTES": "strings", "BOOL": "booleans"}.get(datatype, f"{datatype} numbers")
        raise InvalidInput(f"{where}.data: a {datatype} input holds {kind}", field=f"{where}.data")


def _requested_outputs(outputs: Any) -> tuple[str, ...]:
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidInput('outputs must be a list of {"name": ...}', field="outputs")
    return tuple(o["name"] for o in outputs)


def _load_json(body: bytes) -> Any:
    try:
        return _DECODER.decode(body.decode())
    except json.JSONDecodeError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if exc.doc else ""
        raise MalformedBody(f"the body is not JSON: {exc.msg}{where}", field="body") from None
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8 text", field="body") from None
    except ValueError as exc:  # a number of more digits than Python reads
        raise MalformedBody(f"the body's JSON cannot be read: {exc}", field="body") from None
    except RecursionError:
        raise MalformedBody("the body's JSON is nested too deeply", field="body") from None


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON (send null for a missing value)", "", 0)


#: Strict JSON (RFC 8259, UTF-8): one decoder for every request.
_DECODER = json.JSONDecoder(
    object_pairs_hook=refuse_duplicate_keys, parse_constant=_refuse_constant
)


def _object(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise InvalidInput(f"the body must be a {what}", field="body")
    return doc


def _one_key(
    doc: dict[str, Any],
    keys: Sequence[str],
    where: str,
    extra: set[str] | frozenset[str] = frozenset(),
) -> str:
    found = [k for k in doc if k in keys]
    unknown = [k for k in doc if k not in keys and k not in extra]
    if unknown:
        raise InvalidInput(
            f"{unknown[0]!r} is not a field of a prediction request (send one of "
            f"{', '.join(keys)})",
            field=unknown[0],
        )
    if len(found) != 1:
        raise InvalidInput(
            f"the body must hold exactly one of {', '.join(keys)}; it holds "
            f"{', '.join(found) or 'none'}",
            field=where,
        )
    return found[0]


def _too_many(count: int, max_rows: int, where: str) -> TooLarge:
    return TooLarge(
        f"{where}: the request holds {count} rows, more than the {max_rows} a request may hold",
        field=where,
    )


def _count(count: int, max_rows: int, where: str) -> None:
    if count > max_rows:
        raise _too_many(count, max_rows, where)
    if count == 0:
        raise InvalidInput(f"{where}: a request has at least one row", field=where)


def _records(records: Any, where: str, max_rows: int) -> Rows:
    if type(records) is not list:
        raise InvalidInput(f"{where} must be a list of objects", field=where)
    _count(len(records), max_rows, where)
    first = records[0]
    if len(records) == 1 and type(first) is dict and first:
        return Rows(count=1, columns={k: [v] for k, v in first.items()})
    for i, record in enumerate(records):
        if type(record) is not dict:
            raise InvalidInput(f"{where}[{i}] must be an object", field=f"{where}[{i}]")
    keys = first.keys()
    if not any(records):
        raise InvalidInput(f"{where}[0]: a record has at least one value", field=f"{where}[0]")
    if all(r.keys() == keys for r in records):
        return Rows(count=len(records), columns={k: [r[k] for r in records] for k in keys})
    names = dict.fromkeys(k for r in records for k in r)
    return Rows(count=len(records), columns={k: [r.get(k) for r in records] for k in names})


def _columns(columns: Any, where: str, max_rows: int) -> Rows:
    if type(columns) is not dict or not columns:
        raise InvalidInput(f"{where} must be an object of column lists", field=where)
    count = -1
    for name, values in columns.items():
        if type(values) is not list:
            raise InvalidInput(f"{where}.{name} must be a list", field=f"{where}.{name}")
        if count < 0:
            count = len(values)
            _count(count, max_rows, f"{where}.{name}")
        elif len(values) != count:
            raise InvalidInput(
                f"{where}.{name}: every column has the same length ({count}); it has {len(values)}",
                field=f"{where}.{name}",
            )
    return Rows(count=count, columns=columns)


def _split(split: Any, max_rows: int) -> tuple[Rows, Where]:
    where = "dataframe_split"
    if not isinstance(split, dict):
        raise InvalidInput(f"{where} must be an object with columns and data", field=where)
    names, data = split.get("columns"), split.get("data")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidInput(
            f"{where}.columns must be a non-empty list of column names", field=f"{where}.columns"
        )
    if len(set(names)) != len(names):
        raise InvalidInput(f"{where}.columns names a column twice", field=f"{where}.columns")
    if type(data) is not list:
        raise InvalidInput(f"{where}.data must be a list of rows", field=f"{where}.data")
    _count(len(data), max_rows, f"{where}.data")
    width = len(names)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            raise InvalidInput(
                f"{where}.data[{i}] must be a list of {width} values, one per column",
                field=f"{where}.data[{i}]",
            )
    columns = dict(zip(names, map(list, zip(*data, strict=True)), strict=True))
    positions = {n: i for i, n in enumerate(names)}
    return Rows(count=len(data), columns=columns), Where("split", where, positions)


def _json_tensor(data: Any, where: str, max_rows: int) -> Rows:
    import numpy as np

    if type(data) is not list:
        raise InvalidInput(f"{where} must be a list (of rows)", field=where)
    _count(len(data), max_rows, where)
    try:
        tensor = np.array(data)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(
            f"{where}: a tensor is nested lists of one shape (rows of the same length)",
            field=where,
        ) from None
    if tensor.size == 0:
        raise InvalidInput(f"{where}: a tensor has at least one value", field=where)
    if tensor.dtype.kind in "UO":
        # Text, nulls or values of several kinds (rows for named columns): kept as sent,
        # where numpy would turn numbers beside text into text.
        tensor = np.array(data, dtype=object)
        if not set(map(type, tensor.ravel().tolist())) <= _SCALARS:
            raise InvalidInput(
                f"{where}: a tensor holds numbers, booleans, strings or nulls, each row the "
                "same shape",
                field=where,
            )
    return Rows(count=len(data), tensor=tensor)


_SCALARS = frozenset({type(None), bool, int, float, str})


def _arrow_stream(body: bytes, max_rows: int, max_bytes: int) -> Rows:
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(pa.py_buffer(body))
        batches, count, size = [], 0, 0
        for batch in reader:
            count += batch.num_rows
            size += batch.nbytes
            if count > max_rows:
                raise _too_many(count, max_rows, "body")
            if size > max_bytes:
                raise _too_big(max_bytes)
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except ModelyardError:
        raise
    except Exception as exc:  # pyarrow raises many kinds for bytes that are no stream
        raise MalformedBody(
            f"the body is not an Arrow IPC stream: {_first_line(exc)}", field="body"
        ) from None
    return _table(table, max_rows)


def _parquet(body: bytes, max_rows: int, max_bytes: int) -> Rows:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(pa.BufferReader(body))
        meta = file.metadata
        if meta.num_rows > max_rows:
            raise _too_many(meta.num_rows, max_rows, "body")
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if declared > max_bytes:
            raise _too_big(max_bytes)
        groups, size = [], 0
        for i in range(meta.num_row_groups):  # a row group at a time: its size may lie
            group = file.read_row_group(i)
            size += group.nbytes
            if size > max_bytes:
                raise _too_big(max_bytes)
            groups.append(group)
        table = pa.concat_tables(groups) if groups else file.schema_arrow.empty_table()
    except ModelyardError:
        raise
    except Exception as exc:  # as above: any failure to read is the body's
        raise MalformedBody(
            f"the body is not a Parquet file: {_first_line(exc)}", field="body"
        ) from None
    return _table(table, max_rows)


def _too_big(max_bytes: int) -> TooLarge:
    return TooLarge(
        f"the body's data takes more than {max_bytes // 2**20} MiB once read", field="body"
    )


def _csv(body: bytes, max_rows: int) -> Rows:
    import io

    import pandas as pd

    try:
        data = pd.read_csv(io.BytesIO(body), nrows=max_rows + 1, engine="c")
    except Exception as exc:  # pandas' parser errors, bad text
        raise MalformedBody(f"the body is not CSV: {_first_line(exc)}", field="body") from None
    if data.columns.has_duplicates:
        raise InvalidInput("the CSV names a column twice", field="body")
    _count(len(data), max_rows, "body")
    return Rows(count=len(data), columns={str(c): data[c].tolist() for c in data.columns})


def table_rows(table: Any) -> Rows:
    """The rows of an Arrow table as plain column lists, as an Arrow body's are read
    (batch scoring reads a dataset's batches so)."""
    return _table(table, table.num_rows)


def _table(table: Any, max_rows: int) -> Rows:
    import pyarrow.types as pa_types

    names = table.column_names
    if not names:
        raise InvalidInput("the body has no columns", field="body")
    if len(set(names)) != len(names):
        raise InvalidInput("the body names a column twice", field="body")
    _count(table.num_rows, max_rows, "body")
    columns = {}
    for name, column in zip(names, table.columns, strict=True):
        if column.null_count == 0 and _fixed(column.type):
            columns[name] = column.to_numpy().tolist()
        elif pa_types.is_timestamp(column.type):
            # As UTC wall times (numpy makes datetimes forty times faster than pyarrow;
            # a column's time zone and what is finer than a microsecond are dropped).
            columns[name] = column.to_numpy().astype("datetime64[us]").tolist()
        else:
            columns[name] = column.to_pylist()
    return Rows(count=table.num_rows, columns=columns)


def _fixed(arrow_type: Any) -> bool:
    import pyarrow.types as t

    return bool(t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_boolean(arrow_type))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return preview(text[0]) if text else type(exc).__name__


def _unsupported(kind: str, takes: Sequence[str]) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"the body's content type {kind!r} is not taken here (send {', '.join(takes)})",
        field="Content-Type",
    )
