"""A request's rows checked against the model version's signature, and many requests'
rows gathered into the one frame the model predicts.

:func:`validate` runs once per request, on plain column lists: a column's values are
checked by the set of their Python types (one pass in C), and only a column that fails
is walked value by value to name the row. It answers the rows as the model takes them:
the signature's columns in its order, integral floats in integer columns made ints, ISO
8601 text in datetime columns parsed, base64 text in binary columns decoded, a tensor
cast to the signature's dtype. :func:`frame` builds one DataFrame (dtypes from the
signature: nullable integers as ``Int64``, categories, datetimes) or one array from the
rows of a batch.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput
from modelyard.limits import preview
from modelyard.registry.signature import (
    BINARY,
    BOOLEAN,
    CATEGORY,
    DATETIME,
    FLOAT,
    INTEGER,
    OBJECT,
    STRING,
    ColumnSpec,
    Signature,
    TensorSpec,
)
from modelyard.serving._parts import Rows

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["INT_RANGES", "Where", "frame", "validate"]


@dataclass(frozen=True, slots=True)
class Where:
    """How a request body named its values, so that an error names the field as the
    caller wrote it (``records[3].age``, ``columns.age[3]``, ``inputs[1].data[3]``,
    ``tensor.shape[1]``).

    ``layout``: ``records`` (a list of objects), ``columns`` (an object of lists),
    ``split`` (a list of columns and a list of rows), ``inputs`` (Open Inference
    Protocol inputs) or ``table`` (an Arrow, Parquet or CSV body). ``positions``: each
    column's index among ``split``'s columns or among the inputs.
    """

    layout: str = "table"
    prefix: str = ""
    positions: Mapping[str, int] | None = None
    #: ``table``: the first row's number in the whole input (batch scoring names rows of
    #: a dataset, not of one batch).
    offset: int = 0

    def cell(self, column: str, row: int) -> str:
        """The field of one value."""
        if self.layout == "records":
            return f"{self.prefix}[{row}].{column}"
        if self.layout == "columns":
            return f"{self.prefix}.{column}[{row}]"
        if self.layout == "split":
            return f"{self.prefix}.data[{row}][{self._position(column)}]"
        if self.layout == "inputs":
            return f"{self.prefix}[{self._position(column)}].data[{row}]"
        return f"{column}[{row + self.offset}]"

    def column(self, column: str) -> str:
        """The field of a whole column: where it was sent (a column not expected), or
        where it should have been (a missing one)."""
        if self.layout == "records":
            return f"{self.prefix}[0].{column}"
        if self.layout == "columns":
            return f"{self.prefix}.{column}"
        known = column in (self.positions or {})
        if self.layout == "split":
            return f"{self.prefix}.columns" + (f"[{self._position(column)}]" if known else "")
        if self.layout == "inputs":
            return self.prefix + (f"[{self._position(column)}]" if known else "")
        return column

    def tensor(self, suffix: str = "") -> str:
        """The field of the tensor, or of a part of it (``.shape[1]``, ``[3][0]``)."""
        base = self.prefix or "tensor"
        return base + suffix

    def _position(self, column: str) -> str:
        position = (self.positions or {}).get(column)
        return "?" if position is None else str(position)


TABLE = Where()


def validate(
    rows: Rows, signature: Signature | None, *, where: Where = TABLE, drop_extra: bool = False
) -> Rows:
    """``rows`` as the model takes them, or InvalidInput naming the first field that the
    signature refuses: a missing column, a column it does not have (unless
    ``drop_extra``: then such columns are dropped, as ``mlflow models serve`` does), a
    value of another type, a null where the column is not nullable, a tensor of another
    dtype or shape. No signature: the rows pass as given."""
    if signature is None:
        return rows
    spec = signature.inputs
    if spec.tensor is not None:
        tensor = rows.tensor if rows.tensor is not None else _stack(rows, spec.tensor, where)
        checked = _check_tensor(tensor, spec.tensor, where)
        return Rows(count=int(checked.shape[0]) if checked.ndim else 1, tensor=checked)
    specs = spec.columns or ()
    columns = rows.columns if rows.columns is not None else _unstack(rows, specs, where)
    out: dict[str, list[Any]] = {}
    for column in specs:
        values = columns.get(column.name)
        if values is None:
            raise InvalidInput(
                f"{where.column(column.name)}: the model takes a column {column.name!r}, and "
                "the request has none",
                field=where.column(column.name),
            )
        out[column.name] = _check_column(values, column, where)
    if len(out) != len(columns) and not drop_extra:
        extra = next(name for name in columns if name not in out)
        names = ", ".join(repr(c.name) for c in specs[:10]) + (", ..." if len(specs) > 10 else "")
        raise InvalidInput(
            f"{where.column(extra)}: the model takes no column {extra!r} (its columns: {names})",
            field=where.column(extra),
        )
    return Rows(count=rows.count, columns=out)


# -- columns ------------------------------------------------------------------------------

_NONE = type(None)
#: The Python types each logical type takes as is (None is checked apart).
_TAKES: dict[str, frozenset[type]] = {
    INTEGER: frozenset({int}),
    FLOAT: frozenset({float, int}),
    BOOLEAN: frozenset({bool}),
    STRING: frozenset({str}),
    DATETIME: frozenset({dt.datetime}),
    CATEGORY: frozenset({str, int, float, bool}),
    BINARY: frozenset({bytes}),
}
#: The values each integer dtype holds.
INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _int_range(column: ColumnSpec) -> tuple[int, int]:
    return INT_RANGES.get(column.dtype.lower(), INT_RANGES["int64"])


def _check_column(values: list[Any], column: ColumnSpec, where: Where) -> list[Any]:
    kind = column.type
    if kind == OBJECT:
        if not column.nullable and any(map(_is_null, values)):
            _refuse_null(values, column, where)
        return values
    types = set(map(type, values))
    if kind == FLOAT:
        return values if _plain_floats(values, types, column) else _walk(values, column, where)
    takes = _TAKES.get(kind, frozenset())
    if types <= takes:
        if kind == INTEGER:
            low, high = _int_range(column)
            if min(values) < low or max(values) > high:
                return _walk(values, column, where)
        elif float in types and not column.nullable and any(map(_is_null, values)):
            _refuse_null(values, column, where)  # NaN in a category column
        return values
    if types - takes == {_NONE} and kind != INTEGER:
        if not column.nullable:
            _refuse_null(values, column, where)
        return values
    return _walk(values, column, where)


def _plain_floats(values: list[Any], types: set[type], column: ColumnSpec) -> bool:
    """Whether a float column's values pass as they are: numbers, none missing, finite,
    within ``float64`` (a narrower dtype's are walked one by one)."""
    if not types <= _TAKES[FLOAT] or column.dtype in _LARGEST_FLOAT:
        return False
    if int in types and not -_FLOAT64 <= min(values) <= max(values) <= _FLOAT64:
        return False
    return float not in types or all(map(math.isfinite, values))


def _refuse_null(values: list[Any], column: ColumnSpec, where: Where) -> None:
    row = next(i for i, v in enumerate(values) if _is_null(v))
    raise InvalidInput(
        f"{where.cell(column.name, row)}: is null, and the column {column.name!r} is not nullable",
        field=where.cell(column.name, row),
    )


def _walk(values: list[Any], column: ColumnSpec, where: Where) -> list[Any]:
    """The column value by value: each made what the model takes, or the first that
    cannot be refused by its row."""
    convert = _CONVERTERS[column.type]
    out: list[Any] = []
    for row, value in enumerate(values):
        if _is_null(value):
            if not column.nullable:
                _refuse_null(values, column, where)
            out.append(None)
            continue
        converted = convert(value, column)
        if converted is _REFUSED:
            raise InvalidInput(
                f"{where.cell(column.name, row)}: expected {_expected(column)}, got "
                f"{preview(value)}",
                field=where.cell(column.name, row),
            )
        out.append(converted)
    return out


_REFUSED = object()


def _expected(column: ColumnSpec) -> str:
    if column.type == INTEGER and _int_range(column) != INT_RANGES["int64"]:
        low, high = _int_range(column)
        return f"integer ({column.dtype}: {low} to {high})"
    if column.type == FLOAT and column.dtype in _LARGEST_FLOAT:
        largest = _LARGEST_FLOAT[column.dtype]
        return f"finite float ({column.dtype}: at most {largest:g} either way)"
    if column.type == FLOAT:
        return "finite float"
    if column.type == BINARY:
        return "binary (bytes, or base64 text)"
    if column.type == DATETIME:
        return "datetime (ISO 8601 text)"
    if column.type == CATEGORY:
        return "category (a string, number or boolean)"
    return column.type


def _integer(value: Any, column: ColumnSpec) -> Any:
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return _REFUSED
    if isinstance(value, float | np.floating):
        if not math.isfinite(value) or not float(value).is_integer():
            return _REFUSED
        value = int(value)
    elif isinstance(value, np.integer):
        value = int(value)
    if not isinstance(value, int):
        return _REFUSED
    low, high = _int_range(column)
    return value if low <= value <= high else _REFUSED


def _float(value: Any, column: ColumnSpec) -> Any:
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return _REFUSED
    if isinstance(value, int | float | np.integer | np.floating):
        largest = _LARGEST_FLOAT.get(column.dtype, _FLOAT64)
        try:
            number = float(value)
        except OverflowError:  # an integer past the largest float
            return _REFUSED
        return number if abs(number) <= largest else _REFUSED  # infinity too
    return _REFUSED


#: The largest finite value of the float dtypes narrower than ``float64``, and its own.
_LARGEST_FLOAT = {"float16": 65504.0, "float32": 3.4028234663852886e38}
_FLOAT64 = 1.7976931348623157e308


def _boolean(value: Any, column: ColumnSpec) -> Any:
    import numpy as np

    return bool(value) if isinstance(value, bool | np.bool_) else _REFUSED


def _string(value: Any, column: ColumnSpec) -> Any:
    return value if isinstance(value, str) else _REFUSED


def _category(value: Any, column: ColumnSpec) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str | int | float | bool) else _REFUSED


def _datetime(value: Any, column: ColumnSpec) -> Any:
    import numpy as np

    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, np.datetime64):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return _REFUSED
    return _REFUSED


def _binary(value: Any, column: ColumnSpec) -> Any:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return _REFUSED
    return _REFUSED


_CONVERTERS = {
    INTEGER: _integer,
    FLOAT: _float,
    BOOLEAN: _boolean,
    STRING: _string,
    CATEGORY: _category,
    DATETIME: _datetime,
    BINARY: _binary,
}


def _unstack(rows: Rows, specs: Sequence[ColumnSpec], where: Where) -> dict[str, list[Any]]:
    """A 2-D tensor sent to a model that takes columns: its columns are the signature's,
    in order."""
    tensor = rows.tensor
    assert tensor is not None
    width = tensor.shape[1] if tensor.ndim == 2 else 1 if tensor.ndim == 1 else -1
    if width != len(specs):
        raise InvalidInput(
            f"{where.tensor('.shape')}: the model takes {len(specs)} named columns; a tensor "
            f"sent in their place must be [rows, {len(specs)}], got {list(tensor.shape)}",
            field=where.tensor(".shape"),
        )
    if tensor.ndim == 1:
        return {specs[0].name: tensor.tolist()}
    return {spec.name: tensor[:, i].tolist() for i, spec in enumerate(specs)}


# -- tensors ------------------------------------------------------------------------------


def _stack(rows: Rows, spec: TensorSpec, where: Where) -> np.ndarray:
    """Columns sent to a model that takes a tensor: side by side, in the order sent."""
    import numpy as np

    columns = list((rows.columns or {}).values())
    try:
        if len(spec.shape) == 1 and len(columns) == 1:
            return np.asarray(columns[0])
        return np.column_stack([np.asarray(c) for c in columns])
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"{where.tensor()}: the columns do not make a tensor: {exc}", field=where.tensor()
        ) from None


def _check_tensor(tensor: np.ndarray, spec: TensorSpec, where: Where) -> np.ndarray:
    import numpy as np

    if tensor.ndim != len(spec.shape):
        raise InvalidInput(
            f"{where.tensor('.shape')}: expected {len(spec.shape)} dimensions "
            f"{list(spec.shape)}, got {list(tensor.shape)}",
            field=where.tensor(".shape"),
        )
    for dim, (want, got) in enumerate(zip(spec.shape, tensor.shape, strict=True)):
        if want >= 0 and want != got:
            raise InvalidInput(
                f"{where.tensor(f'.shape[{dim}]')}: expected {want}, got {got} (the model "
                f"takes {list(spec.shape)}, -1 where any size goes)",
                field=where.tensor(f".shape[{dim}]"),
            )
    want_dtype = np.dtype(spec.dtype)
    if tensor.dtype == want_dtype:
        return tensor
    have, need = tensor.dtype.kind, want_dtype.kind
    numbers = "iuf"
    if need in numbers and have in numbers:
        if need in "iu" and have == "f":
            bad = ~np.isfinite(tensor) | (tensor != np.round(tensor))
            if bad.any():
                return _refuse_cell(tensor, bad, spec, where)
        if need in "iu":
            info = np.iinfo(want_dtype)
            bad = (tensor < info.min) | (tensor > info.max)
            if bad.any():
                return _refuse_cell(tensor, bad, spec, where)
        with np.errstate(over="ignore"):
            cast = tensor.astype(want_dtype)
        if need == "f":
            bad = np.isinf(cast) & ~np.isinf(tensor)  # past the largest float of the dtype
            if bad.any():
                return _refuse_cell(tensor, bad, spec, where)
        return cast
    if need == "b" and have == "b":
        return tensor
    if need in "OUS" and have in "OUS":
        return tensor.astype(want_dtype)
    raise InvalidInput(
        f"{where.tensor()}: expected {spec.dtype}, got {_described(tensor.dtype)}",
        field=where.tensor(),
    )


def _refuse_cell(tensor: np.ndarray, bad: np.ndarray, spec: TensorSpec, where: Where) -> Any:
    import numpy as np

    index = tuple(int(i) for i in np.argwhere(bad)[0])
    field = where.tensor("".join(f"[{i}]" for i in index))
    raise InvalidInput(
        f"{field}: expected {spec.dtype}, got {preview(tensor[index].item())}", field=field
    )


def _described(dtype: np.dtype) -> str:
    return {"b": "booleans", "U": "strings", "S": "bytes", "O": "objects"}.get(
        dtype.kind, str(dtype)
    )


# -- frames -------------------------------------------------------------------------------


def frame(batch: Sequence[Rows], signature: Signature | None) -> pd.DataFrame | np.ndarray:
    """The rows of many requests as one frame: an array for a tensor, else a DataFrame
    whose columns take their dtypes from the signature (without one, pandas infers them;
    a column some requests lack is null in their rows)."""
    import numpy as np
    import pandas as pd

    if not batch:
        raise InvalidInput("a batch needs at least one request", field="batch")
    if batch[0].tensor is not None:
        tensors = [r.tensor for r in batch if r.tensor is not None]
        if len(tensors) != len(batch):
            raise InvalidInput("a batch mixes tensors and columns", field="batch")
        return tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
    specs = (
        {c.name: c for c in signature.inputs.columns or ()}
        if signature is not None and signature.inputs.tensor is None
        else {}
    )
    parts = [r.columns or {} for r in batch]
    keys = parts[0].keys()
    if all(p.keys() == keys for p in parts):
        gathered = {name: [p[name] for p in parts] for name in keys}
    else:
        names = dict.fromkeys(name for p in parts for name in p)
        gathered = {
            name: [p.get(name) or [None] * r.count for p, r in zip(parts, batch, strict=True)]
            for name in names
        }
    arrays = {}
    for i, (name, lists) in enumerate(gathered.items()):
        values = lists[0] if len(lists) == 1 else list(itertools.chain.from_iterable(lists))
        spec = specs.get(name)
        arrays[i] = _array(values, spec) if spec is not None else values
    # Built with positions for names, then named at once: pandas infers the type of the
    # column names each time otherwise, which costs more than building the columns.
    built = pd.DataFrame(arrays, copy=False)
    built.columns = _column_index(tuple(gathered))
    return built


@functools.lru_cache(maxsize=1024)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    import pandas as pd

    return pd.Index(names)


#: pandas' nullable dtypes by the numpy dtype they stand in for.
_NULLABLE = {
    "bool": "boolean",
    **{f"{k}{n}": f"{k.title()}{n}" for k in ("int", "uint") for n in (8, 16, 32, 64)},
}


def _extension(values: list[Any], dtype: str) -> Any:
    """A pandas extension array (nullable integers, booleans, strings) of ``values``."""
    import pandas as pd

    return pd.array(values, dtype=_pandas_dtype(dtype))


@functools.lru_cache(maxsize=256)
def _pandas_dtype(name: str) -> Any:
    """The dtype a signature names (read once: parsing the name costs more than building
    a small array)."""
    from pandas.api.types import pandas_dtype

    return pandas_dtype(name)


def _array(values: list[Any], column: ColumnSpec) -> Any:
    import numpy as np
    import pandas as pd

    kind, dtype = column.type, column.dtype
    if kind == INTEGER:
        if dtype in INT_RANGES and not column.nullable:
            return np.array(values, dtype=dtype)
        if dtype in INT_RANGES:
            return _extension(values, _NULLABLE[dtype])
        if dtype in _NULLABLE.values():
            return _extension(values, dtype)
        return _extension(values, "Int64") if column.nullable else np.array(values, "int64")
    if kind == FLOAT:
        if dtype in ("Float32", "Float64"):
            return _extension(values, dtype)
        return np.array(values, dtype=dtype if dtype in ("float16", "float32") else "float64")
    if kind == BOOLEAN:
        if dtype == "bool" and not column.nullable:
            return np.array(values, dtype=bool)
        return _extension(values, "boolean")
    if kind == CATEGORY:
        return pd.Categorical(values)
    if kind == DATETIME:
        # Read as UTC, so that text with and without offsets mixes; a column without a
        # time zone then takes the UTC wall time.
        stamps = pd.to_datetime(values, utc=True)
        if "," not in dtype:
            stamps = stamps.tz_convert(None)
        try:
            return stamps.astype(dtype)
        except (TypeError, ValueError):
            return stamps
    if kind == STRING and dtype != "object":
        try:
            return _extension(values, dtype)
        except (TypeError, ValueError):
            pass
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out
