"""Answers of the inference server's three protocols, written from a model's outputs
(an array, a list, a Series or a DataFrame), and the Open Inference Protocol's model
metadata. Re-exported by :mod:`modelyard.serving.codecs`."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelyardError
from modelyard.registry.signature import BOOLEAN, FLOAT, INTEGER, ColumnSpec, Signature
from modelyard.serving._formats import ARROW_STREAM, JSON, V2_BY_DTYPE

if TYPE_CHECKING:
    import numpy as np

__all__ = ["encode_invocations", "encode_v1", "encode_v2", "split", "v2_metadata"]


def split(outputs: Any, counts: Sequence[int]) -> list[Sequence[Any]]:
    """A batch's outputs (an array, a list, a Series or a DataFrame: one output per row)
    cut into one sequence per request, ``counts`` rows each: slices of the array (a
    Series as its array), of the list, or a DataFrame's rows as ``{column: value}``."""
    import numpy as np
    import pandas as pd

    if isinstance(outputs, pd.DataFrame):
        outputs = outputs.to_dict(orient="records")
    elif isinstance(outputs, pd.Series | pd.Index):
        outputs = outputs.to_numpy()
    elif not isinstance(outputs, np.ndarray | list | tuple):
        try:
            outputs = np.asarray(outputs)
        except (ValueError, TypeError) as exc:
            raise ModelyardError(f"the model's outputs are not a sequence: {exc}") from None
    total = sum(counts)
    if getattr(outputs, "ndim", 1) == 0 or len(outputs) != total:
        got = len(outputs) if getattr(outputs, "ndim", 1) else "a scalar"
        raise ModelyardError(f"the model gave {got} outputs for {total} rows")
    if len(counts) == 1:
        return [outputs]
    parts, start = [], 0
    for count in counts:
        parts.append(outputs[start : start + count])
        start += count
    return parts


def _plain(outputs: Any) -> Any:
    """Outputs as JSON's values: arrays as lists, floats that are not finite as null,
    datetimes as ISO 8601 text."""
    import numpy as np

    if isinstance(outputs, np.ndarray):
        kind = outputs.dtype.kind
        if kind == "f" and outputs.ndim == 1 and len(outputs) <= 64:
            values = outputs.tolist()  # a few: checked faster in Python than by numpy
            if all(map(math.isfinite, values)):
                return values
            return [v if math.isfinite(v) else None for v in values]
        if kind == "f":
            finite = np.isfinite(outputs)
            if not finite.all():
                cleaned = outputs.astype(object)
                cleaned[~finite] = None
                return cleaned.tolist()
            return outputs.tolist()
        if kind in "biu":
            return outputs.tolist()
        if kind == "M":
            text = np.datetime_as_string(outputs).astype(object)
            text[np.isnat(outputs)] = None
            return text.tolist()
        return outputs.tolist()
    return outputs if isinstance(outputs, list) else list(outputs)


def _default(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # pandas' Timedelta too
        return value.total_seconds()
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"a {type(value).__name__} has no JSON form")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _dumps(doc: dict[str, Any]) -> bytes:
    try:
        return _ENCODER.encode(doc).encode()
    except ValueError:
        pass  # a float that is not finite, in a list or a record: null in JSON
    except TypeError as exc:
        raise ModelyardError(f"the model's outputs cannot be written as JSON: {exc}") from None
    try:
        cleaned = json.loads(json.dumps(doc, default=_default))
        return _ENCODER.encode(_finite(cleaned)).encode()
    except ValueError as exc:  # an integer of more digits than Python writes
        raise ModelyardError(f"the model's outputs cannot be written as JSON: {exc}") from None


_ENCODER = json.JSONEncoder(allow_nan=False, default=_default, separators=(",", ":"))


def encode_v1(
    outputs: Sequence[Any],
    *,
    deployment: str,
    model: str,
    version: int,
    prediction_ids: Sequence[str],
    accept: str | None = None,
) -> tuple[bytes, str]:
    """A v1 answer and its content type: JSON ``{"deployment", "model", "version",
    "prediction_ids", "predictions"}``, or an Arrow IPC stream (a ``prediction_id``
    column beside the predictions, the rest in the schema's metadata) when ``accept``
    asks for one."""
    if accept and ARROW_STREAM in accept.lower():
        return _arrow_answer(outputs, deployment, model, version, prediction_ids), ARROW_STREAM
    doc = {
        "deployment": deployment,
        "model": model,
        "version": version,
        "prediction_ids": list(prediction_ids),
        "predictions": _plain(outputs),
    }
    return _dumps(doc), JSON


def _arrow_answer(
    outputs: Sequence[Any], deployment: str, model: str, version: int, ids: Sequence[str]
) -> bytes:
    import numpy as np
    import pyarrow as pa

    data: dict[str, Any] = {"prediction_id": pa.array(list(ids), pa.string())}
    try:
        if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
            for key in outputs[0]:
                data[str(key)] = pa.array([row.get(key) for row in outputs])
        else:
            array = np.asarray(outputs)
            if array.ndim == 2:
                flat = pa.array(array.reshape(-1))
                data["prediction"] = pa.FixedSizeListArray.from_arrays(flat, array.shape[1])
            elif array.ndim == 1 and array.dtype.kind != "O":
                data["prediction"] = pa.array(array)
            else:
                data["prediction"] = pa.array(_plain(array))
        table = pa.table(data)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise ModelyardError(f"the model's outputs cannot be written as Arrow: {exc}") from None
    metadata = {"deployment": deployment, "model": model, "version": str(version)}
    table = table.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def encode_invocations(outputs: Sequence[Any], *, prediction_ids: Sequence[str]) -> bytes:
    """An ``/invocations`` answer as ``mlflow models serve`` gives it, ``{"predictions":
    [...]}``, with the rows' ``prediction_ids`` beside."""
    return _dumps({"predictions": _plain(outputs), "prediction_ids": list(prediction_ids)})


def encode_v2(
    outputs: Sequence[Any],
    *,
    model_name: str,
    model_version: int | str,
    request_id: str,
    prediction_ids: Sequence[str],
    names: Sequence[str] = (),
) -> bytes:
    """An Open Inference Protocol v2 inference answer: one output tensor (named after the
    first of ``names``, the outputs the request asked for, else ``output-0``), or one
    per column for a model that answers columns (those in ``names`` when it names any),
    its data flat in row-major order; the rows' ``prediction_ids`` in ``parameters``."""
    import numpy as np

    tensors: list[tuple[str, Any]]
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        keys = list(outputs[0])
        wanted = [k for k in keys if str(k) in names] if names else keys
        tensors = [(str(k), _column_array([row.get(k) for row in outputs])) for k in wanted or keys]
    else:
        array = outputs if isinstance(outputs, np.ndarray) else _column_array(list(outputs))
        tensors = [(names[0] if names else "output-0", array)]
    doc = {
        "model_name": model_name,
        "model_version": str(model_version),
        "id": request_id,
        "parameters": {"prediction_ids": list(prediction_ids)},
        "outputs": [
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": _v2_datatype(array.dtype),
                "data": _plain(array.reshape(-1)),
            }
            for name, array in tensors
        ],
    }
    return _dumps(doc)


def _column_array(values: list[Any]) -> np.ndarray:
    import numpy as np

    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        array = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            array[i] = value
    return array.astype(object) if array.dtype.kind in "US" else array


def _v2_datatype(dtype: Any) -> str:
    return V2_BY_DTYPE.get(dtype.name, "BYTES")


def v2_metadata(
    name: str, versions: Sequence[int | str], signature: Signature | None
) -> dict[str, Any]:
    """The Open Inference Protocol's model metadata (``GET /v2/models/{name}``): inputs
    and outputs with their datatypes and shapes, from the signature (``-1`` where any
    size goes; none without a signature)."""
    inputs = _v2_schema(signature.inputs if signature else None, "input")
    outputs = _v2_schema(signature.outputs if signature else None, "output")
    return {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": "modelyard",
        "inputs": inputs,
        "outputs": outputs,
    }


def _v2_schema(schema: Any, what: str) -> list[dict[str, Any]]:
    if schema is None:
        return []
    if schema.tensor is not None:
        datatype = V2_BY_DTYPE.get(schema.tensor.dtype, "BYTES")
        return [{"name": f"{what}-0", "datatype": datatype, "shape": list(schema.tensor.shape)}]
    return [
        {"name": c.name, "datatype": _column_datatype(c), "shape": [-1]}
        for c in schema.columns or ()
    ]


def _column_datatype(column: ColumnSpec) -> str:
    if column.type == BOOLEAN:
        return "BOOL"
    if column.type in (INTEGER, FLOAT):
        dtype = column.dtype.lower()
        if dtype in V2_BY_DTYPE:
            return V2_BY_DTYPE[dtype]
        return "INT64" if column.type == INTEGER else "FP64"
    return "BYTES"
