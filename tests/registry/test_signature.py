"""Signatures inferred from an input example and a prediction: names, logical types and
nullability, integer columns with missing values kept; tensors; comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from modelyard.errors import InvalidInput
from modelyard.registry.signature import (
    ColumnSpec,
    Signature,
    TensorSpec,
    compare_signatures,
    infer_signature,
)
from modelyard.sdk.client import Client


def _columns(sig: Signature) -> list[tuple[str, str, bool]]:
    return [(c.name, c.type, c.nullable) for c in sig.inputs.columns or ()]


def test_columns_keep_their_logical_types_and_nullability() -> None:
    frame = pd.DataFrame(
        {
            "age": pd.array([31, None, 40], dtype="Int64"),  # pandas nullable integer
            "visits": pd.Series([1, None, 3], dtype=object),  # integers and None
            "count": np.array([1, 2, 3], dtype="int64"),
            "score": [0.5, np.nan, 1.0],
            "city": ["a", "b", None],
            "vip": pd.array([True, None, False], dtype="boolean"),
            "when": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
            "tier": pd.Categorical(["x", "y", "x"]),
        }
    )
    sig = infer_signature(frame, np.array([0, 1, 0]))
    assert _columns(sig) == [
        ("age", "integer", True),
        ("visits", "integer", True),
        ("count", "integer", False),
        ("score", "float", True),
        ("city", "string", True),
        ("vip", "boolean", True),
        ("when", "datetime", True),
        ("tier", "category", False),
    ]
    assert sig.outputs is not None and sig.outputs.tensor == TensorSpec("int64", (-1,))
    assert Signature.from_dict(sig.as_dict()) == sig


def test_an_integer_column_is_nullable_by_its_dtype_even_without_missing_values() -> None:
    sig = infer_signature(pd.DataFrame({"n": pd.array([1, 2], dtype="Int64")}))
    assert _columns(sig) == [("n", "integer", True)]
    assert sig.outputs is None


def test_arrays_are_tensors_and_other_objects_are_refused() -> None:
    sig = infer_signature(np.zeros((4, 3, 2), dtype="float32"))
    assert sig.inputs.tensor == TensorSpec("float32", (-1, 3, 2))
    with pytest.raises(InvalidInput) as exc:
        infer_signature(object())
    assert exc.value.field == "input_example"
    with pytest.raises(InvalidInput) as exc:
        infer_signature(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    assert exc.value.field == "input_example"


def test_comparing_flags_added_removed_and_retyped_columns() -> None:
    before = infer_signature(
        pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]}), pd.Series([0, 1], name="y")
    )
    after = infer_signature(
        pd.DataFrame({"a": [1.5, 2.0], "c": ["x", None], "d": [True, False]}),
        pd.Series([0.1, 0.9], name="y"),
    )
    diff = compare_signatures(before, after)
    assert diff.added == ["d"] and diff.removed == ["b"]
    assert diff.retyped == [("a", "integer", "float"), ("c", "string", "string?")]
    assert diff.outputs_retyped == [("y", "integer", "float")]
    assert not diff.same and compare_signatures(before, before).same
    tensor = Signature(infer_signature(np.zeros((2, 3))).inputs)
    wider = Signature(infer_signature(np.zeros((2, 4))).inputs)
    assert compare_signatures(tensor, wider).retyped == [
        ("<tensor>", "float64[?x3]", "float64[?x4]")
    ]


def test_a_logged_versions_signatures_are_compared(client: Client) -> None:
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0]})
    y = pd.Series([1.0, 2.0, 3.5])
    with client.start_run("lab"):
        client.models.log(LinearRegression().fit(x, y), "reg", input_example=x)
        x2 = x.assign(c=pd.array([1, None, 3], dtype="Int64").fillna(0))
        client.models.log(LinearRegression().fit(x2, y), "reg", input_example=x2)
    diff = client.models.compare("reg", 1, 2, project="lab")
    assert diff.added == ["c"] and diff.removed == [] and diff.retyped == []
    with pytest.raises(InvalidInput, match=r"at most 2147483647"):  # past the column
        client.models.compare("reg", 2**63 - 1, 2, project="lab")
    stored = client.models.get_version("reg", 2, project="lab").signature
    assert stored is not None and stored.inputs.columns is not None
    assert stored.inputs.columns[2] == ColumnSpec("c", "integer", True, "Int64")
