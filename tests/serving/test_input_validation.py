"""A request's rows checked against the signature (each refusal names the field as the
caller wrote it), and many requests' rows gathered into the one frame the model takes."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidInput
from modelyard.registry.signature import (
    ColumnSpec,
    Schema,
    Signature,
    TensorSpec,
    infer_signature,
)
from modelyard.serving._parts import Rows
from modelyard.serving.codecs import JSON, decode_invocations, decode_v1, decode_v2
from modelyard.serving.validation import Where, frame, validate

RECORDS = "records"


def columns(*specs: tuple[str, str, bool, str]) -> Signature:
    return Signature(Schema(columns=tuple(ColumnSpec(*s) for s in specs)))


def tensor(dtype: str, *shape: int) -> Signature:
    return Signature(Schema(tensor=TensorSpec(dtype, shape)))


PEOPLE = columns(
    ("age", "integer", False, "int64"),
    ("income", "float", False, "float64"),
    ("city", "string", False, "object"),
)


def v1(records: list[dict[str, Any]], signature: Signature | None, **kwargs: Any) -> Rows:
    decoded = decode_v1(json.dumps({"records": records}).encode(), JSON, max_rows=1000)
    return validate(decoded.rows, signature, where=decoded.where, **kwargs)


def refused(call: Any, field: str, message: str = "") -> InvalidInput:
    with pytest.raises(InvalidInput) as exc:
        call()
    assert exc.value.http_status == 422
    assert exc.value.field == field, exc.value
    assert message in exc.value.message, exc.value.message
    assert exc.value.message.startswith(field + ":")
    return exc.value


def person(**change: Any) -> dict[str, Any]:
    return {"age": 31, "income": 1.5, "city": "Oslo", **change}


# -- columns ------------------------------------------------------------------------------


def test_well_typed_rows_pass_in_the_signatures_order() -> None:
    rows = v1([{"city": "Oslo", "income": 2, "age": 3.0}], PEOPLE)
    assert list(rows.columns or {}) == ["age", "income", "city"]
    assert rows.columns == {"age": [3], "income": [2], "city": ["Oslo"]}
    assert type((rows.columns or {})["age"][0]) is int


def test_a_missing_column_is_named() -> None:
    refused(
        lambda: v1([{"age": 1, "income": 1.0}], PEOPLE), "records[0].city", "takes a column 'city'"
    )


def test_an_extra_column_is_named_or_dropped_when_asked() -> None:
    refused(lambda: v1([person(zip="0150")], PEOPLE), "records[0].zip", "no column 'zip'")
    rows = v1([person(zip="0150")], PEOPLE, drop_extra=True)
    assert list(rows.columns or {}) == ["age", "income", "city"]


def test_invocations_drop_extra_columns_as_mlflow_does_and_v1_refuses_them() -> None:
    records = [person(zip="0150")]
    mlflow = decode_invocations(
        json.dumps({"dataframe_records": records}).encode(), JSON, max_rows=1
    )
    assert list(mlflow.validated(PEOPLE).columns or {}) == ["age", "income", "city"]
    csv = decode_invocations(b"age,income,city,zip\n1,2.5,Oslo,0150\n", "text/csv", max_rows=1)
    assert list(csv.validated(PEOPLE).columns or {}) == ["age", "income", "city"]
    v1 = decode_v1(json.dumps({"records": records}).encode(), JSON, max_rows=1)
    refused(lambda: v1.validated(PEOPLE), "records[0].zip")
    refused(
        lambda: mlflow.validated(columns(("zip", "integer", False, "int64"))),
        "dataframe_records[0].zip",
    )


def test_a_value_of_another_type_is_named_by_column_and_row() -> None:
    records = [person(), person(), person(age="abc")]
    error = refused(lambda: v1(records, PEOPLE), "records[2].age")
    assert error.message == "records[2].age: expected integer, got 'abc'"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"age": 3.5}, "records[1].age"),
        ({"age": True}, "records[1].age"),
        ({"age": 2**63}, "records[1].age"),
        ({"age": [1]}, "records[1].age"),
        ({"income": "1.5"}, "records[1].income"),
        ({"income": False}, "records[1].income"),
        ({"income": 10**400}, "records[1].income"),
        ({"city": 3}, "records[1].city"),
        ({"city": None}, "records[1].city"),
        ({"age": None}, "records[1].age"),
        ({"income": None}, "records[1].income"),
    ],
)
def test_refusals_by_type(change: dict[str, Any], field: str) -> None:
    refused(lambda: v1([person(), person(**change)], PEOPLE), field)


def test_other_bodies_name_the_field_their_way() -> None:
    def by_columns() -> Rows:
        decoded = decode_v1(
            json.dumps(
                {"columns": {"age": [1, "x"], "income": [1.0, 2.0], "city": ["a", "b"]}}
            ).encode(),
            JSON,
            max_rows=10,
        )
        return validate(decoded.rows, PEOPLE, where=decoded.where)

    refused(by_columns, "columns.age[1]")

    def by_split() -> Rows:
        data = {"dataframe_split": {"columns": ["city", "age", "income"], "data": [["a", 1, "x"]]}}
        decoded = decode_invocations(json.dumps(data).encode(), JSON, max_rows=10)
        return validate(decoded.rows, PEOPLE, where=decoded.where)

    refused(by_split, "dataframe_split.data[0][2]")

    def by_inputs(age: Any) -> Rows:
        data = {
            "inputs": [
                {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["a"]},
                {"name": "age", "shape": [1], "datatype": "INT64", "data": [age]},
            ]
        }
        decoded = decode_v2(json.dumps(data).encode(), JSON, max_rows=10)
        return validate(decoded.rows, PEOPLE, where=decoded.where)

    refused(lambda: by_inputs(1), "inputs", "takes a column 'income'")
    refused(lambda: validate(Rows(1, {"age": ["x"]}), PEOPLE), "age[0]")


def test_infinity_is_refused_and_nulls_with_large_numbers_are_checked() -> None:
    loose = columns(("x", "float", True, "float64"))
    refused(lambda: validate(Rows(2, {"x": [1.0, float("inf")]}), loose), "x[1]", "finite float")
    refused(lambda: validate(Rows(2, {"x": [None, 10**400]}), loose), "x[1]")
    narrow = columns(("x", "float", True, "float32"))
    refused(lambda: validate(Rows(2, {"x": [None, 1e39]}), narrow), "x[1]", "float32")
    # JSON's 1e999 is read as infinity.
    data = json.dumps({"records": [{"x": 1.0}]}).replace("1.0", "1e999").encode()
    decoded = decode_v1(data, JSON, max_rows=1)
    refused(lambda: decoded.validated(loose), "records[0].x", "finite float")
    rows = validate(Rows(3, {"x": [None, float("nan"), 2]}), loose)
    assert rows.columns == {"x": [None, None, 2.0]}


def test_narrow_floats_take_what_their_dtype_holds() -> None:
    narrow = columns(("x", "float", False, "float32"))
    rows = validate(Rows(2, {"x": [1, 3.0e38]}), narrow)
    assert frame([rows], narrow)["x"].dtype == np.float32
    refused(lambda: validate(Rows(2, {"x": [1.0, 1e39]}), narrow), "x[1]", "float32")


def test_integer_ranges_follow_the_dtype() -> None:
    small = columns(("n", "integer", False, "int8"), ("u", "integer", False, "uint8"))
    assert validate(Rows(1, {"n": [-128], "u": [255]}), small).columns == {"n": [-128], "u": [255]}
    refused(lambda: validate(Rows(1, {"n": [128], "u": [0]}), small), "n[0]")
    refused(lambda: validate(Rows(1, {"n": [0], "u": [-1]}), small), "u[0]")


def test_nullable_integers_keep_their_nulls_as_Int64() -> None:
    signature = infer_signature(pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}))
    rows = v1([{"n": 1}, {"n": None}, {"n": 3.0}], signature)
    assert rows.columns == {"n": [1, None, 3]}
    built = frame([rows], signature)
    assert isinstance(built, pd.DataFrame)
    assert str(built["n"].dtype) == "Int64"
    assert built["n"].isna().tolist() == [False, True, False]
    assert built["n"].sum() == 4
    # An object column of integers and None, as a signature records it, is Int64 too.
    loose = columns(("n", "integer", True, "object"))
    assert str(frame([validate(Rows(2, {"n": [1, None]}), loose)], loose)["n"].dtype) == "Int64"


def test_nan_is_a_missing_value() -> None:
    strict = columns(("x", "float", False, "float64"))
    refused(lambda: validate(Rows(2, {"x": [1.0, float("nan")]}), strict), "x[1]", "not nullable")
    loose = columns(("x", "float", True, "float64"))
    assert validate(Rows(2, {"x": [1.0, float("nan")]}), loose).count == 2
    text = columns(("s", "string", False, "object"))
    refused(lambda: validate(Rows(1, {"s": [float("nan")]}), text), "s[0]", "not nullable")


def test_datetimes_categories_binary_and_objects() -> None:
    signature = columns(
        ("at", "datetime", False, "datetime64[ns]"),
        ("kind", "category", False, "category"),
        ("raw", "binary", False, "object"),
        ("any", "object", True, "object"),
    )
    rows = validate(
        Rows(
            2,
            {
                "at": ["2024-01-02T03:04:05", "2024-02-03"],
                "kind": ["a", "b"],
                "raw": ["aGk=", "AA=="],
                "any": [[1], None],
            },
        ),
        signature,
    )
    built = frame([rows], signature)
    assert isinstance(built, pd.DataFrame)
    assert str(built["at"].dtype) == "datetime64[ns]"
    assert built["at"].tolist() == [pd.Timestamp("2024-01-02T03:04:05"), pd.Timestamp("2024-02-03")]
    assert isinstance(built["kind"].dtype, pd.CategoricalDtype)
    assert built["raw"].tolist() == [b"hi", b"\x00"]
    assert built["any"].tolist() == [[1], None]
    refused(
        lambda: validate(
            Rows(1, {"at": ["yesterday"], "kind": ["a"], "raw": [b""], "any": [1]}), signature
        ),
        "at[0]",
        "ISO 8601",
    )
    refused(
        lambda: validate(
            Rows(1, {"at": ["2024-01-01"], "kind": [[1]], "raw": [b""], "any": [1]}), signature
        ),
        "kind[0]",
    )
    refused(
        lambda: validate(
            Rows(1, {"at": ["2024-01-01"], "kind": ["a"], "raw": ["!!"], "any": [1]}), signature
        ),
        "raw[0]",
        "base64",
    )


def test_aware_datetimes_in_a_utc_column() -> None:
    signature = columns(("at", "datetime", False, "datetime64[ns, UTC]"))
    rows = validate(
        Rows(2, {"at": ["2024-01-02T03:00:00+02:00", "2024-01-02T01:00:00Z"]}), signature
    )
    built = frame([rows], signature)
    assert isinstance(built, pd.DataFrame)
    assert str(built["at"].dtype) == "datetime64[ns, UTC]"
    assert built["at"].nunique() == 1


def test_no_signature_passes_rows_as_given() -> None:
    rows = Rows(1, {"anything": [object()]})
    assert validate(rows, None) is rows


# -- tensors ------------------------------------------------------------------------------


def test_tensor_dtype_is_cast_where_values_allow() -> None:
    signature = tensor("float32", -1, 3)
    rows = validate(Rows(2, tensor=np.array([[1, 2, 3], [4, 5, 6]])), signature)
    assert rows.tensor is not None and rows.tensor.dtype == np.float32
    ints = tensor("int64", -1, 2)
    checked = validate(Rows(1, tensor=np.array([[1.0, 2.0]])), ints).tensor
    assert checked is not None and checked.dtype == np.int64


@pytest.mark.parametrize(
    ("sent", "signature", "field"),
    [
        (np.zeros((2, 4)), tensor("float64", -1, 3), "tensor.shape[1]"),
        (np.zeros((2, 3, 1)), tensor("float64", -1, 3), "tensor.shape"),
        (np.array([["a", "b", "c"]], dtype=object), tensor("float64", -1, 3), "tensor"),
        (np.array([[1.0, 2.5]]), tensor("int64", -1, 2), "tensor[0][1]"),
        (np.array([[1, 300]]), tensor("uint8", -1, 2), "tensor[0][1]"),
        (np.array([[True, False]]), tensor("float64", -1, 2), "tensor"),
        (np.array([[1.0, 1e300]]), tensor("float32", -1, 2), "tensor[0][1]"),
    ],
)
def test_tensor_refusals_name_the_dimension_or_cell(
    sent: np.ndarray, signature: Signature, field: str
) -> None:
    refused(
        lambda: validate(Rows(len(sent), tensor=sent), signature, where=Where(prefix="tensor")),
        field,
    )


def test_v2_tensor_refusal_names_the_input() -> None:
    data = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}
    decoded = decode_v2(json.dumps(data).encode(), JSON, max_rows=10)
    refused(
        lambda: validate(decoded.rows, tensor("float32", -1, 3), where=decoded.where),
        "inputs[0].shape[1]",
    )


def test_a_tensor_for_named_columns_maps_by_position_and_columns_for_a_tensor_stack() -> None:
    signature = columns(("a", "float", False, "float64"), ("b", "float", False, "float64"))
    rows = validate(Rows(2, tensor=np.array([[1.0, 2.0], [3.0, 4.0]])), signature)
    assert rows.columns == {"a": [1.0, 3.0], "b": [2.0, 4.0]}
    refused(
        lambda: validate(Rows(1, tensor=np.zeros((1, 3))), signature), "tensor.shape", "[rows, 2]"
    )
    stacked = validate(Rows(2, {"a": [1, 3], "b": [2, 4]}), tensor("float64", -1, 2))
    assert stacked.tensor is not None and stacked.tensor.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    mixed = columns(("age", "integer", False, "int64"), ("city", "string", True, "object"))
    data = json.dumps({"instances": [[31, "Oslo"], [40, None]]}).encode()
    decoded = decode_invocations(data, JSON, max_rows=10)
    assert validate(decoded.rows, mixed).columns == {"age": [31, 40], "city": ["Oslo", None]}
    refused(
        lambda: validate(decoded.rows, tensor("float64", -1, 2), where=decoded.where), "instances"
    )
    single = validate(Rows(2, {"a": [1.0, 3.0]}), tensor("float64", -1))
    assert single.tensor is not None and single.tensor.shape == (2,)


# -- frames -------------------------------------------------------------------------------


def _random_records(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [
        {
            "age": rng.randrange(-(2**40), 2**40),
            "income": rng.uniform(-1e6, 1e6),
            "city": rng.choice(["Oslo", "Lima", "", "\u00e9t\u00e9"]),
            "member": rng.random() < 0.5,
        }
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(8))
def test_records_to_rows_to_frame_equals_pandas_own_frame(seed: int) -> None:
    rng = random.Random(seed)
    requests = [_random_records(rng, rng.randrange(1, 5)) for _ in range(rng.randrange(1, 20))]
    everything = [r for request in requests for r in request]
    expected = pd.DataFrame(everything)
    signature = infer_signature(expected)
    batch = [v1(request, signature) for request in requests]
    built = frame(batch, signature)
    assert isinstance(built, pd.DataFrame)
    pd.testing.assert_frame_equal(built, expected)


def test_sixty_four_one_row_requests_make_one_frame() -> None:
    records = _random_records(random.Random(1), 64)
    signature = infer_signature(pd.DataFrame(records))
    built = frame([v1([r], signature) for r in records], signature)
    pd.testing.assert_frame_equal(built, pd.DataFrame(records))


def test_frame_without_a_signature_fills_a_column_some_requests_lack() -> None:
    built = frame([Rows(1, {"a": [1]}), Rows(2, {"a": [2, 3], "b": ["x", "y"]})], None)
    assert isinstance(built, pd.DataFrame)
    assert built["a"].tolist() == [1, 2, 3]
    assert built["b"].isna().tolist() == [True, False, False]


def test_frame_of_tensors_is_one_array() -> None:
    signature = tensor("float32", -1, 2)
    batch = [
        validate(Rows(1, tensor=np.array([[1, 2]])), signature),
        validate(Rows(2, tensor=np.array([[3, 4], [5, 6]])), signature),
    ]
    built = frame(batch, signature)
    assert isinstance(built, np.ndarray) and built.shape == (3, 2) and built.dtype == np.float32
    with pytest.raises(InvalidInput):
        frame([batch[0], Rows(1, {"a": [1]})], None)
    with pytest.raises(InvalidInput):
        frame([], None)


def test_frame_dtypes_follow_the_signature() -> None:
    signature = columns(
        ("i32", "integer", False, "int32"),
        ("f32", "float", False, "float32"),
        ("flag", "boolean", True, "boolean"),
        ("name", "string", True, "string"),
    )
    rows = validate(
        Rows(2, {"i32": [1, 2], "f32": [1, 2.5], "flag": [True, None], "name": ["a", None]}),
        signature,
    )
    built = frame([rows, rows], signature)
    assert isinstance(built, pd.DataFrame)
    assert [str(t) for t in built.dtypes] == ["int32", "float32", "boolean", "string"]
    assert len(built) == 4
