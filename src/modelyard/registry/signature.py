"""Model signatures: what a model takes and gives, inferred from an input example and the
model's prediction on it, and compared between versions.

A table (a pandas DataFrame or Series, a dict of columns) has named columns, each with a
logical type (``integer``, ``float``, ``boolean``, ``string``, ``datetime``, ``category``,
``binary``, ``object``), the dtype it came in and whether it may hold missing values. An
integer column with missing values stays ``integer`` and ``nullable``: a pandas nullable
dtype (``Int64``, ``boolean``, ``string``) keeps its kind, and an ``object`` column of
integers and ``None`` is an integer column, not dropped nor turned into floats. A NumPy
array is a tensor: dtype and shape, the first dimension (the batch) variable (``-1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import InvalidInput

__all__ = [
    "ColumnSpec",
    "Schema",
    "Signature",
    "SignatureDiff",
    "TensorSpec",
    "check_example",
    "compare_signatures",
    "example_schema",
    "infer_schema",
    "infer_signature",
]

INTEGER, FLOAT, BOOLEAN, STRING = "integer", "float", "boolean", "string"
DATETIME, CATEGORY, BINARY, OBJECT = "datetime", "category", "binary", "object"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column: its name, logical type, whether it may be missing, and its dtype."""

    name: str
    type: str
    nullable: bool
    dtype: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "dtype": self.dtype,
        }


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """An array: its dtype and shape (``-1`` where the size varies: the batch)."""

    dtype: str
    shape: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class Schema:
    """Named columns, or one tensor."""

    columns: tuple[ColumnSpec, ...] | None = None
    tensor: TensorSpec | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.tensor is not None:
            return {"tensor": self.tensor.as_dict()}
        return {"columns": [c.as_dict() for c in self.columns or ()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        if "tensor" in data:
            t = data["tensor"]
            return cls(tensor=TensorSpec(str(t["dtype"]), tuple(int(n) for n in t["shape"])))
        return cls(
            columns=tuple(
                ColumnSpec(str(c["name"]), str(c["type"]), bool(c["nullable"]), str(c["dtype"]))
                for c in data["columns"]
            )
        )


@dataclass(frozen=True, slots=True)
class Signature:
    """A model's inputs and, when a prediction was given, its outputs."""

    inputs: Schema
    outputs: Schema | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.as_dict(),
            "outputs": self.outputs.as_dict() if self.outputs is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        outputs = data.get("outputs")
        return cls(
            Schema.from_dict(data["inputs"]),
            Schema.from_dict(outputs) if outputs is not None else None,
        )


@dataclass(frozen=True, slots=True)
class SignatureDiff:
    """What changed from one signature to another: columns added, removed and retyped
    (``(name, before, after)``, the type with ``?`` when nullable), in inputs and outputs;
    a tensor is one entry named ``<tensor>``."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)
    outputs_added: list[str] = field(default_factory=list)
    outputs_removed: list[str] = field(default_factory=list)
    outputs_retyped: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not any(
            (
                self.added,
                self.removed,
                self.retyped,
                self.outputs_added,
                self.outputs_removed,
                self.outputs_retyped,
            )
        )


def infer_signature(input_example: object, prediction: object = None) -> Signature:
    """The signature of a model that takes ``input_example`` and gives ``prediction``."""
    return Signature(
        infer_schema(input_example, "input_example"),
        infer_schema(prediction, "prediction") if prediction is not None else None,
    )


def infer_schema(data: object, what: str = "data") -> Schema:
    """The schema of a DataFrame, Series, dict of columns, NumPy array or list of rows."""
    import numpy as np
    import pandas as pd

    if isinstance(data, np.ndarray):
        if data.dtype == object or data.dtype.names is not None:
            return _frame_schema(pd.DataFrame(data), what)
        return Schema(tensor=TensorSpec(str(data.dtype), (-1, *data.shape[1:])))
    if isinstance(data, pd.Series):
        return _frame_schema(data.to_frame(name=data.name if data.name is not None else 0), what)
    if isinstance(data, pd.DataFrame):
        return _frame_schema(data, what)
    if isinstance(data, dict | list):
        try:
            frame = pd.DataFrame(data)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{what} is not a table: {exc}", field=what) from None
        return _frame_schema(frame, what)
    raise InvalidInput(
        f"{what} must be a pandas DataFrame or Series, a NumPy array, a dict of columns or a "
        f"list of rows; got {type(data).__name__}",
        field=what,
    )


def _frame_schema(frame: Any, what: str) -> Schema:
    if frame.columns.has_duplicates:
        raise InvalidInput(f"{what} has duplicate column names", field=what)
    columns = []
    for name in frame.columns:
        column = frame[name]
        kind, extension = _logical_type(column)
        nullable = extension or bool(column.isna().any())
        columns.append(ColumnSpec(str(name), kind, nullable, str(column.dtype)))
    return Schema(columns=tuple(columns))


def _logical_type(column: Any) -> tuple[str, bool]:
    """The logical type of a pandas column, and whether its dtype is one of pandas'
    nullable dtypes (it admits missing values whatever the example holds)."""
    import numpy as np
    import pandas as pd
    from pandas.api import types

    dtype = column.dtype
    # pandas' nullable dtypes (Int64, boolean, Float64, string, Arrow's) miss with pd.NA.
    extension = getattr(dtype, "na_value", None) is pd.NA
    if isinstance(dtype, pd.CategoricalDtype):
        return CATEGORY, False
    if types.is_bool_dtype(dtype):
        return BOOLEAN, extension
    if types.is_integer_dtype(dtype):
        return INTEGER, extension
    if types.is_float_dtype(dtype):
        return FLOAT, extension
    if types.is_datetime64_any_dtype(dtype):
        return DATETIME, False
    if isinstance(dtype, pd.StringDtype):
        return STRING, extension
    present = column.dropna()
    if present.empty:
        return OBJECT, False
    values = present.tolist()
    if all(isinstance(v, bool | np.bool_) for v in values):
        return BOOLEAN, False
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return INTEGER, False
    if all(isinstance(v, float | int | np.number) and not isinstance(v, bool) for v in values):
        return FLOAT, False
    if all(isinstance(v, str) for v in values):
        return STRING, False
    if all(isinstance(v, bytes) for v in values):
        return BINARY, False
    return OBJECT, False


def compare_signatures(before: Signature, after: Signature) -> SignatureDiff:
    """What ``after`` adds, removes and retypes compared with ``before``."""
    added, removed, retyped = _compare(before.inputs, after.inputs)
    out_added: list[str] = []
    out_removed: list[str] = []
    out_retyped: list[tuple[str, str, str]] = []
    if before.outputs is not None and after.outputs is not None:
        out_added, out_removed, out_retyped = _compare(before.outputs, after.outputs)
    return SignatureDiff(added, removed, retyped, out_added, out_removed, out_retyped)


def _described(schema: Schema) -> dict[str, str]:
    if schema.tensor is not None:
        shape = "x".join("?" if n < 0 else str(n) for n in schema.tensor.shape)
        return {"<tensor>": f"{schema.tensor.dtype}[{shape}]"}
    return {c.name: c.type + ("?" if c.nullable else "") for c in schema.columns or ()}


def _compare(
    before: Schema, after: Schema
) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    old, new = _described(before), _described(after)
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    retyped = [
        (name, old[name], new[name]) for name in old if name in new and old[name] != new[name]
    ]
    return added, removed, retyped


def example_schema(data: bytes, path: str) -> Schema:
    """The schema of an input example as a version keeps it (Parquet, or ``.npy``)."""
    import io

    import numpy as np
    import pandas as pd

    try:
        if path.endswith(".npy"):
            return infer_schema(np.load(io.BytesIO(data), allow_pickle=False), "input_example")
        return infer_schema(pd.read_parquet(io.BytesIO(data)), "input_example")
    except (ValueError, OSError) as exc:
        raise InvalidInput(
            f"the input example {path!r} cannot be read: {exc}", field="input_example"
        ) from None


def check_example(signature: Signature, example: Schema, *, stored: bool = False) -> None:
    """Refuse a signature whose inputs disagree with the input example's schema: a column one
    has and the other has not, another logical type (an integer example for a float column
    agrees), missing values in a column the signature says has none, or another tensor
    dtype or fixed dimension. InvalidInput names the column. ``stored``: the example as
    read back from its Parquet file, where an ``object`` column of integers and missing
    values became floats (so integer and float agree either way)."""
    declared = signature.inputs
    numbers = {(INTEGER, FLOAT), *([(FLOAT, INTEGER)] if stored else [])}

    def refuse(what: str) -> InvalidInput:
        return InvalidInput(
            f"the signature does not match the input example: {what}", field="signature"
        )

    if declared.tensor is not None or example.tensor is not None:
        if declared.tensor is None or example.tensor is None:
            kinds = ("a tensor", "a table") if declared.tensor else ("a table", "a tensor")
            raise refuse(f"the signature takes {kinds[0]}, the example is {kinds[1]}")
        want, got = declared.tensor, example.tensor
        if want.dtype != got.dtype:
            raise refuse(f"the tensor's dtype is {want.dtype} in the signature, {got.dtype} in it")
        fixed = len(want.shape) == len(got.shape) and all(
            w < 0 or w == g for w, g in zip(want.shape[1:], got.shape[1:], strict=True)
        )
        if not fixed:
            raise refuse(
                f"the tensor's shape is {list(want.shape)}, the example's {list(got.shape)}"
            )
        return
    columns = {c.name: c for c in example.columns or ()}
    names = [c.name for c in declared.columns or ()]
    for column in declared.columns or ():
        found = columns.get(column.name)
        if found is None:
            raise refuse(f"column {column.name!r} is not in the example")
        if found.type != column.type and (found.type, column.type) not in numbers:
            raise refuse(
                f"column {column.name!r} is {column.type} in the signature, {found.type} in "
                "the example"
            )
        if found.nullable and not column.nullable:
            raise refuse(
                f"column {column.name!r} has missing values in the example, and the signature "
                "says it has none"
            )
    extra = [name for name in columns if name not in names]
    if extra:
        raise refuse(f"column {extra[0]!r} of the example is not in the signature")
