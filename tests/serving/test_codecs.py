"""The three protocols' bodies read into Rows and answers written from a model's outputs:
every shape, every refusal by its field and status, and random bytes that never escape as
anything but Modelyard's errors."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.errors import (
    InvalidInput,
    MalformedBody,
    ModelyardError,
    TooLarge,
    UnsupportedMediaType,
)
from modelyard.registry.signature import ColumnSpec, Schema, Signature, TensorSpec, infer_signature
from modelyard.serving import codecs
from modelyard.serving.codecs import (
    ARROW_STREAM,
    CSV,
    JSON,
    PARQUET,
    decode_invocations,
    decode_v1,
    decode_v2,
    encode_invocations,
    encode_v1,
    encode_v2,
    split,
    v2_metadata,
)
from modelyard.serving.validation import frame, validate

RECORDS = [{"age": 31, "city": "Oslo"}, {"age": 40, "city": "Lima"}]
COLUMNS = {"age": [31, 40], "city": ["Oslo", "Lima"]}


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def refused(exc: pytest.ExceptionInfo[ModelyardError], status: int, field: str) -> None:
    assert exc.value.http_status == status, exc.value
    assert exc.value.field == field, exc.value


def arrow_stream(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


# -- v1 -----------------------------------------------------------------------------------


def test_v1_records_and_columns_are_the_same_rows() -> None:
    by_records = decode_v1(body({"records": RECORDS}), JSON, max_rows=10)
    by_columns = decode_v1(
        body({"columns": COLUMNS}), "application/json; charset=utf-8", max_rows=10
    )
    assert by_records.rows.count == by_columns.rows.count == 2
    assert by_records.rows.columns == by_columns.rows.columns == COLUMNS
    assert by_records.where.cell("age", 1) == "records[1].age"
    assert by_columns.where.cell("age", 1) == "columns.age[1]"


def test_v1_one_record_and_no_content_type() -> None:
    decoded = decode_v1(body({"records": [{"x": 1.5}]}), None, max_rows=1)
    assert decoded.rows.count == 1 and decoded.rows.columns == {"x": [1.5]}


def test_v1_records_with_other_keys_leave_the_absent_values_null() -> None:
    decoded = decode_v1(body({"records": [{"a": 1}, {"b": 2}]}), JSON, max_rows=10)
    assert decoded.rows.columns == {"a": [1, None], "b": [None, 2]}


def test_v1_tensor() -> None:
    decoded = decode_v1(body({"tensor": [[1.0, 2.0], [3.0, 4.0]]}), JSON, max_rows=10)
    assert decoded.rows.count == 2
    assert decoded.rows.tensor is not None and decoded.rows.tensor.shape == (2, 2)
    assert decoded.where.tensor(".shape[1]") == "tensor.shape[1]"


@pytest.mark.parametrize("kind", [ARROW_STREAM, PARQUET, "application/x-parquet"])
def test_v1_arrow_and_parquet_bodies_are_the_same_rows_as_json(kind: str) -> None:
    frame = pd.DataFrame(
        {
            "age": [31, 40],
            "city": ["Oslo", "Lima"],
            "score": [0.5, None],
            "ok": [True, False],
            "n": pd.array([1, None], dtype="Int64"),
        }
    )
    data = arrow_stream(frame) if kind == ARROW_STREAM else parquet(frame)
    rows = decode_v1(data, kind, max_rows=10).rows
    assert rows.count == 2
    assert rows.columns is not None
    assert rows.columns["age"] == [31, 40] and rows.columns["city"] == ["Oslo", "Lima"]
    assert rows.columns["ok"] == [True, False] and rows.columns["n"] == [1, None]
    assert rows.columns["score"][0] == 0.5 and rows.columns["score"][1] is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"records": []}, "records"),
        ({"records": {"a": 1}}, "records"),
        ({"records": [{"a": 1}, 3]}, "records[1]"),
        ({"columns": {"a": [1, 2], "b": [1]}}, "columns.b"),
        ({"columns": {"a": 1}}, "columns.a"),
        ({"columns": {}}, "columns"),
        ({"records": [{"a": 1}], "columns": {"a": [1]}}, "body"),
        ({}, "body"),
        ({"records": [{"a": 1}], "extra": 1}, "extra"),
        ({"tensor": [[1, 2], [3]]}, "tensor"),
        ({"tensor": [[1, {"a": 1}]]}, "tensor"),
        ({"tensor": 3}, "tensor"),
        ({"tensor": [[]]}, "tensor"),
        ({"records": [{}]}, "records[0]"),
        ({"records": [{}, {}]}, "records[0]"),
    ],
)
def test_v1_refusals_name_the_field(data: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_v1(body(data), JSON, max_rows=10)
    refused(exc, 422, field)


def test_v1_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_v1(b"[1, 2]", JSON, max_rows=10)
    refused(exc, 422, "body")


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b'{"records": [{"a": 1}]}}',
        b'{"records": [{"a": 1, "a": 2}]}',
        b'{"records": [{"a": NaN}]}',
        b'{"records": [{"a": Infinity}]}',
        b'{"records": [{"a": -Infinity}]}',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"records": [{"a": ' + b"1" * 5000 + b"}]}",
        b"",
    ],
)
def test_malformed_json_is_400(data: bytes) -> None:
    for decode in (decode_v1, decode_v2, decode_invocations):
        with pytest.raises(MalformedBody) as exc:
            decode(data, JSON, max_rows=10)
        refused(exc, 400, "body")
        assert exc.value.code == "malformed_body"


def test_duplicate_keys_and_constants_say_what_is_wrong() -> None:
    with pytest.raises(MalformedBody, match="key 'a' twice"):
        decode_v1(b'{"records": [{"a": 1, "a": 2}]}', JSON, max_rows=10)
    with pytest.raises(MalformedBody, match="NaN is not JSON"):
        decode_v1(b'{"records": [{"a": NaN}]}', JSON, max_rows=10)


@pytest.mark.parametrize("kind", [ARROW_STREAM, PARQUET])
@pytest.mark.parametrize(
    "data", [b"", b"not arrow at all", b"PAR1" + b"\x00" * 64 + b"PAR1", b"\xff" * 1000]
)
def test_bytes_that_are_no_arrow_or_parquet_are_400(kind: str, data: bytes) -> None:
    with pytest.raises(MalformedBody) as exc:
        decode_v1(data, kind, max_rows=10)
    refused(exc, 400, "body")


@pytest.mark.parametrize("kind", [ARROW_STREAM, PARQUET])
def test_a_body_whose_data_is_too_big_once_read_is_413(kind: str) -> None:
    frame = pd.DataFrame({"text": ["x" * 1000] * 100})
    data = arrow_stream(frame) if kind == ARROW_STREAM else parquet(frame)
    assert decode_v1(data, kind, max_rows=1000).rows.count == 100
    with pytest.raises(TooLarge) as exc:
        decode_v1(data, kind, max_rows=1000, max_bytes=50_000)
    refused(exc, 413, "body")


def test_arrow_timestamps_are_utc_datetimes() -> None:
    table = pa.table(
        {
            "at": pa.array([0, None], pa.timestamp("ns", "Europe/Oslo")),
            "day": pa.array([86_400_000_000, 0], pa.timestamp("us")),
        }
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    rows = decode_v1(bytes(sink.getvalue()), ARROW_STREAM, max_rows=10).rows
    assert rows.columns == {
        "at": [dt.datetime(1970, 1, 1), None],
        "day": [dt.datetime(1970, 1, 2), dt.datetime(1970, 1, 1)],
    }


def test_a_table_without_columns_is_refused() -> None:
    table = pa.table({"a": [1, 2]}).drop_columns(["a"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    with pytest.raises(InvalidInput) as exc:
        decode_v1(bytes(sink.getvalue()), ARROW_STREAM, max_rows=10)
    refused(exc, 422, "body")


def test_a_truncated_arrow_stream_is_400() -> None:
    data = arrow_stream(pd.DataFrame({"a": list(range(100))}))
    with pytest.raises(MalformedBody):
        decode_v1(data[: len(data) // 2], ARROW_STREAM, max_rows=1000)


@pytest.mark.parametrize(
    "kind", ["application/x-www-form-urlencoded", "text/plain", "application/xml", CSV]
)
def test_v1_other_content_types_are_415(kind: str) -> None:
    with pytest.raises(UnsupportedMediaType) as exc:
        decode_v1(body({"records": RECORDS}), kind, max_rows=10)
    refused(exc, 415, "Content-Type")


def test_more_rows_than_allowed_are_413_in_every_shape() -> None:
    three = [{"a": 1}] * 3
    frame = pd.DataFrame({"a": [1, 2, 3]})
    attempts = [
        lambda: decode_v1(body({"records": three}), JSON, max_rows=2),
        lambda: decode_v1(body({"columns": {"a": [1, 2, 3]}}), JSON, max_rows=2),
        lambda: decode_v1(body({"tensor": [[1], [2], [3]]}), JSON, max_rows=2),
        lambda: decode_v1(arrow_stream(frame), ARROW_STREAM, max_rows=2),
        lambda: decode_v1(parquet(frame), PARQUET, max_rows=2),
        lambda: decode_v2(
            body({"inputs": [{"name": "a", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}]}),
            JSON,
            max_rows=2,
        ),
        lambda: decode_invocations(body({"dataframe_records": three}), JSON, max_rows=2),
        lambda: decode_invocations(b"a\n1\n2\n3\n", CSV, max_rows=2),
    ]
    for attempt in attempts:
        with pytest.raises(TooLarge) as exc:
            attempt()
        assert exc.value.http_status == 413


# -- Open Inference Protocol v2 ------------------------------------------------------------


def v2(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return body({"inputs": list(inputs), **extra})


def test_v2_named_inputs_are_columns_and_the_id_comes_back() -> None:
    decoded = decode_v2(
        v2(
            {"name": "age", "shape": [2], "datatype": "INT64", "data": [31, 40]},
            {"name": "city", "shape": [2, 1], "datatype": "BYTES", "data": [["Oslo"], ["Lima"]]},
            id="req-1",
            parameters={"content_type": "pd"},
            outputs=[{"name": "predict"}],
        ),
        JSON,
        max_rows=10,
    )
    assert decoded.rows.columns == COLUMNS and decoded.rows.count == 2
    assert decoded.id == "req-1" and decoded.parameters == {"content_type": "pd"}
    assert decoded.outputs == ("predict",)
    assert decoded.where.cell("city", 1) == "inputs[1].data[1]"


@pytest.mark.parametrize("data", [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [[1, 2, 3], [4, 5, 6]]])
def test_v2_one_input_of_two_dimensions_is_the_tensor(data: list[Any]) -> None:
    decoded = decode_v2(
        v2({"name": "input-0", "shape": [2, 3], "datatype": "FP32", "data": data}),
        JSON,
        max_rows=10,
    )
    tensor = decoded.rows.tensor
    assert tensor is not None and tensor.dtype == np.float32 and tensor.shape == (2, 3)
    assert tensor.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert decoded.id is None and decoded.rows.count == 2


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"name": "a", "shape": [3], "datatype": "INT64", "data": [1, 2]}, "inputs[0].data"),
        (
            {"name": "a", "shape": [2, 2], "datatype": "INT64", "data": [[1, 2], [3]]},
            "inputs[0].data",
        ),
        ({"name": "a", "shape": [2], "datatype": "INT64", "data": [1, "x"]}, "inputs[0].data"),
        ({"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2.5]}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "INT8", "data": [300]}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "BOOL", "data": [1]}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "BYTES", "data": [1]}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "FP32", "data": ["1"]}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "FP32", "data": [1e300]}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "FP64", "data": [10**400]}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "FP99", "data": [1]}, "inputs[0].datatype"),
        ({"name": "a", "shape": [-1], "datatype": "FP32", "data": [1]}, "inputs[0].shape"),
        ({"name": "a", "shape": [0], "datatype": "FP32", "data": []}, "inputs[0].shape"),
        ({"name": "a", "shape": [1, 0], "datatype": "FP32", "data": []}, "inputs[0].shape"),
        ({"name": "a", "shape": "1", "datatype": "FP32", "data": [1]}, "inputs[0].shape"),
        ({"name": "a", "datatype": "FP32", "data": [1]}, "inputs[0].shape"),
        ({"name": "", "shape": [1], "datatype": "FP32", "data": [1]}, "inputs[0].name"),
        ({"name": "a", "shape": [1], "datatype": "FP32", "data": 1}, "inputs[0].data"),
        ({"name": "a", "shape": [1], "datatype": "FP32", "data": [1], "x": 1}, "inputs[0].x"),
        ("a", "inputs[0]"),
    ],
)
def test_v2_refusals_name_the_input(item: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_v2(v2(item), JSON, max_rows=10)
    refused(exc, 422, field)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"inputs": []}, "inputs"),
        ({}, "inputs"),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}], "id": 3}, "id"),
        ({"inputs": [], "parameters": []}, "parameters"),
        ({"inputs": [], "outputs": [{"nom": "x"}]}, "outputs"),
        ({"inputs": [], "model": "x"}, "model"),
    ],
)
def test_v2_request_refusals(data: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_v2(body(data), JSON, max_rows=10)
    refused(exc, 422, field)


def test_v2_several_inputs_must_be_columns_of_one_length_and_names() -> None:
    a = {"name": "a", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]}
    cases = [
        ({"name": "b", "shape": [1], "datatype": "FP64", "data": [1.0]}, "inputs[1].shape"),
        ({"name": "b", "shape": [2, 2], "datatype": "FP64", "data": [1.0] * 4}, "inputs[1].shape"),
        ({**a}, "inputs[1].name"),
    ]
    for other, field in cases:
        with pytest.raises(InvalidInput) as exc:
            decode_v2(v2(a, other), JSON, max_rows=10)
        refused(exc, 422, field)


def test_v2_takes_json_only() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_v2(b"", ARROW_STREAM, max_rows=10)


# -- MLflow's /invocations -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"dataframe_split": {"columns": ["age", "city"], "data": [[31, "Oslo"], [40, "Lima"]]}},
        {
            "dataframe_split": {
                "index": [5, 6],
                "columns": ["age", "city"],
                "data": [[31, "Oslo"], [40, "Lima"]],
            }
        },
        {"dataframe_records": RECORDS},
        {"instances": RECORDS},
        {"inputs": RECORDS},
        {"instances": COLUMNS},
        {"inputs": COLUMNS, "params": {"temperature": 0.5}},
    ],
)
def test_invocations_shapes_are_the_same_rows(data: dict[str, Any]) -> None:
    decoded = decode_invocations(body(data), JSON, max_rows=10)
    assert decoded.rows.columns == COLUMNS and decoded.rows.count == 2


def test_invocations_one_row_as_an_object_and_tensors() -> None:
    one = decode_invocations(body({"inputs": {"age": 31, "city": "Oslo"}}), JSON, max_rows=10)
    assert one.rows.columns == {"age": [31], "city": ["Oslo"]}
    tensor = decode_invocations(body({"instances": [[1, 2], [3, 4]]}), JSON, max_rows=10)
    assert tensor.rows.tensor is not None and tensor.rows.tensor.tolist() == [[1, 2], [3, 4]]
    flat = decode_invocations(body({"inputs": [1.5, 2.5]}), JSON, max_rows=10)
    assert flat.rows.tensor is not None and flat.rows.tensor.shape == (2,)
    split_where = decode_invocations(
        body({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}), JSON, max_rows=1
    ).where
    assert split_where.cell("b", 0) == "dataframe_split.data[0][1]"


def test_invocations_csv() -> None:
    decoded = decode_invocations(
        b"age,city\n31,Oslo\n40,Lima\n", "text/csv; charset=utf-8", max_rows=10
    )
    assert decoded.rows.columns == COLUMNS


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"dataframe_split": {"columns": ["a"], "data": [[1], [1, 2]]}}, "dataframe_split.data[1]"),
        ({"dataframe_split": {"data": [[1]]}}, "dataframe_split.columns"),
        ({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}, "dataframe_split.columns"),
        ({"dataframe_split": {"columns": ["a"], "data": {}}}, "dataframe_split.data"),
        ({"dataframe_split": [1]}, "dataframe_split"),
        ({"dataframe_records": [{"a": 1}], "instances": [1]}, "body"),
        ({"params": {}}, "body"),
        ({"instances": [1], "params": 3}, "params"),
        ({"columns": {"a": [1]}}, "columns"),
        ({"instances": []}, "instances"),
        ({"inputs": {"a": [1, 2], "b": [1]}}, "inputs.b"),
    ],
)
def test_invocations_refusals(data: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_invocations(body(data), JSON, max_rows=10)
    refused(exc, 422, field)


def test_invocations_refuses_other_content_types_and_bad_csv() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_invocations(b"x", "application/octet-stream", max_rows=10)
    with pytest.raises(MalformedBody):
        decode_invocations(b"", CSV, max_rows=10)
    with pytest.raises(MalformedBody):
        decode_invocations(b'a,b\n"1,2\n', CSV, max_rows=10)


# -- answers --------------------------------------------------------------------------------


def test_v1_answer_carries_ids_and_version_with_nan_as_null() -> None:
    data, kind = encode_v1(
        np.array([0.5, np.nan, np.inf]),
        deployment="churn",
        model="churn-model",
        version=3,
        prediction_ids=["r-0", "r-1", "r-2"],
    )
    assert kind == JSON
    assert json.loads(data) == {
        "deployment": "churn",
        "model": "churn-model",
        "version": 3,
        "prediction_ids": ["r-0", "r-1", "r-2"],
        "predictions": [0.5, None, None],
    }


def test_answers_encode_numpy_scalars_datetimes_and_records() -> None:
    stamps = np.array(["2024-01-02T03:04:05", "NaT"], dtype="datetime64[s]")
    data, _ = encode_v1(stamps, deployment="d", model="m", version=1, prediction_ids=["a", "b"])
    assert json.loads(data)["predictions"] == ["2024-01-02T03:04:05", None]
    outputs = pd.DataFrame(
        {
            "label": np.array([1, 2], dtype=np.int32),
            "p": [0.25, np.nan],
            "at": pd.to_datetime(["2024-01-02", None]),
            "raw": [b"ok", b"\xff"],
        }
    )
    (records,) = split(outputs, [2])
    data = encode_invocations(records, prediction_ids=["a", "b"])
    assert json.loads(data) == {
        "predictions": [
            {"label": 1, "p": 0.25, "at": "2024-01-02T00:00:00", "raw": "ok"},
            {"label": 2, "p": None, "at": None, "raw": "/w=="},
        ],
        "prediction_ids": ["a", "b"],
    }
    listed = encode_invocations(
        [np.float32(0.5), np.int64(2), dt.date(2024, 1, 2)], prediction_ids=["a", "b", "c"]
    )
    assert json.loads(listed)["predictions"] == [0.5, 2, "2024-01-02"]


@pytest.mark.parametrize("outputs", [[object()], [10**5000], [10**5000, float("nan")]])
def test_outputs_that_have_no_json_form_are_an_error_of_the_server(outputs: list[Any]) -> None:
    with pytest.raises(ModelyardError) as exc:
        encode_invocations(outputs, prediction_ids=["a"])
    assert exc.value.http_status == 500


def test_v1_arrow_answer() -> None:
    data, kind = encode_v1(
        np.array([[0.1, 0.9], [0.8, 0.2]]),
        deployment="d",
        model="m",
        version=2,
        prediction_ids=["r-0", "r-1"],
        accept="application/json, application/vnd.apache.arrow.stream",
    )
    assert kind == ARROW_STREAM
    table = pa.ipc.open_stream(data).read_all()
    assert table.column("prediction_id").to_pylist() == ["r-0", "r-1"]
    assert table.column("prediction").to_pylist() == [[0.1, 0.9], [0.8, 0.2]]
    assert table.schema.metadata[b"version"] == b"2"
    (records,) = split(pd.DataFrame({"a": [1], "b": ["x"]}), [1])
    data, _ = encode_v1(
        records, deployment="d", model="m", version=2, prediction_ids=["r-0"], accept=ARROW_STREAM
    )
    assert pa.ipc.open_stream(data).read_all().to_pydict() == {
        "prediction_id": ["r-0"],
        "a": [1],
        "b": ["x"],
    }
    data, _ = encode_v1(
        np.array(["yes"]),
        deployment="d",
        model="m",
        version=2,
        prediction_ids=["r-0"],
        accept=ARROW_STREAM,
    )
    assert pa.ipc.open_stream(data).read_all().column("prediction").to_pylist() == ["yes"]


def test_v2_answer() -> None:
    answer = json.loads(
        encode_v2(
            np.array([[0.1, 0.9], [0.8, 0.2]], dtype=np.float32),
            model_name="churn",
            model_version=3,
            request_id="req-1",
            prediction_ids=["x-0", "x-1"],
        )
    )
    assert answer["model_name"] == "churn" and answer["model_version"] == "3"
    assert answer["id"] == "req-1"
    assert answer["parameters"] == {"prediction_ids": ["x-0", "x-1"]}
    (output,) = answer["outputs"]
    assert output["name"] == "output-0" and output["shape"] == [2, 2]
    assert output["datatype"] == "FP32" and len(output["data"]) == 4
    named = json.loads(
        encode_v2(
            ["a", "b"],
            model_name="m",
            model_version=1,
            request_id="r",
            prediction_ids=["r-0", "r-1"],
            names=["label"],
        )
    )
    assert named["outputs"] == [
        {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}
    ]
    (records,) = split(pd.DataFrame({"label": [True, False], "p": [0.5, 0.25]}), [2])
    columns = json.loads(
        encode_v2(
            records,
            model_name="m",
            model_version=1,
            request_id="r",
            prediction_ids=["r-0", "r-1"],
            names=["p"],
        )
    )
    assert columns["outputs"] == [
        {"name": "p", "shape": [2], "datatype": "FP64", "data": [0.5, 0.25]}
    ]
    (numbered,) = split(pd.DataFrame(np.array([[0.1, 0.9]])), [1])
    by_position = json.loads(
        encode_v2(numbered, model_name="m", model_version=1, request_id="r", prediction_ids=["r-0"])
    )
    assert [(o["name"], o["data"]) for o in by_position["outputs"]] == [("0", [0.1]), ("1", [0.9])]
    both = json.loads(
        encode_v2(
            records, model_name="m", model_version=1, request_id="r", prediction_ids=["r-0", "r-1"]
        )
    )
    assert [(o["name"], o["datatype"]) for o in both["outputs"]] == [
        ("label", "BOOL"),
        ("p", "FP64"),
    ]


@pytest.mark.parametrize(
    ("dtype", "datatype"),
    [
        ("bool", "BOOL"),
        ("int8", "INT8"),
        ("uint16", "UINT16"),
        ("int64", "INT64"),
        ("float16", "FP16"),
        ("float64", "FP64"),
    ],
)
def test_v2_datatypes_from_numpy(dtype: str, datatype: str) -> None:
    answer = json.loads(
        encode_v2(
            np.zeros(1, dtype=dtype),
            model_name="m",
            model_version=1,
            request_id="r",
            prediction_ids=["r-0"],
        )
    )
    assert answer["outputs"][0]["datatype"] == datatype


def test_v2_metadata_from_the_signature() -> None:
    frame = pd.DataFrame(
        {"age": np.array([1], dtype=np.int32), "city": ["x"], "ok": [True], "p": [0.5]}
    )
    meta = v2_metadata("churn", [3, 4], infer_signature(frame, np.array([0.5], dtype=np.float32)))
    assert meta["name"] == "churn" and meta["versions"] == ["3", "4"]
    assert meta["inputs"] == [
        {"name": "age", "datatype": "INT32", "shape": [-1]},
        {"name": "city", "datatype": "BYTES", "shape": [-1]},
        {"name": "ok", "datatype": "BOOL", "shape": [-1]},
        {"name": "p", "datatype": "FP64", "shape": [-1]},
    ]
    assert meta["outputs"] == [{"name": "output-0", "datatype": "FP32", "shape": [-1]}]
    tensor = v2_metadata("img", [1], infer_signature(np.zeros((2, 28, 28), dtype=np.uint8)))
    assert tensor["inputs"] == [{"name": "input-0", "datatype": "UINT8", "shape": [-1, 28, 28]}]
    assert tensor["outputs"] == []
    assert v2_metadata("bare", [1], None)["inputs"] == []


def test_split_cuts_each_kind_of_output_per_request() -> None:
    array = split(np.arange(6), [1, 3, 2])
    assert [a.tolist() for a in array] == [[0], [1, 2, 3], [4, 5]]
    assert split([1, 2, 3], [2, 1]) == [[1, 2], [3]]
    series = split(pd.Series(["a", "b"]), [1, 1])
    assert [s.tolist() for s in series] == [["a"], ["b"]]
    frames = split(pd.DataFrame({"a": [1, 2, 3]}), [2, 1])
    assert frames == [[{"a": 1}, {"a": 2}], [{"a": 3}]]
    two_d = split(np.zeros((3, 2)), [1, 2])
    assert [a.shape for a in two_d] == [(1, 2), (2, 2)]
    with pytest.raises(ModelyardError, match="2 outputs for 3 rows"):
        split(np.arange(2), [1, 2])
    with pytest.raises(ModelyardError, match="a scalar"):
        split(np.float64(1.0), [1])


def test_prediction_ids() -> None:
    assert codecs.prediction_ids("ab", 2) == ["ab-0", "ab-1"]


# -- fuzz ---------------------------------------------------------------------------------


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 4 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 3, 2**70, 10**400, 1.5, -0.0, 1e308, 70000.0])
    if choice == 3:
        return rng.choice(["", "a", "records", "inputs", "BYTES", "FP32", "\u00e9"])
    if choice == 4:
        return rng.choice([[], {}, [[]], [{}]])
    if choice in (5, 6):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "records",
        "columns",
        "tensor",
        "inputs",
        "name",
        "shape",
        "datatype",
        "data",
        "dataframe_split",
        "dataframe_records",
        "instances",
        "id",
        "outputs",
        "params",
        "a",
    ]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_random_bodies_raise_only_modelyard_errors() -> None:
    rng = random.Random(13)
    sample = arrow_stream(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    sample_parquet = parquet(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    bodies: list[bytes] = []
    for _ in range(400):
        bodies.append(json.dumps(_random_json(rng)).encode())
        bodies.append(rng.randbytes(rng.randrange(64)))
    for source in (sample, sample_parquet):
        for _ in range(150):
            mutated = bytearray(source)
            for _ in range(rng.randrange(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            bodies.append(bytes(mutated[: rng.randrange(1, len(mutated) + 1)]))
    decoders = [
        (decode_v1, (JSON, ARROW_STREAM, PARQUET)),
        (decode_v2, (JSON,)),
        (decode_invocations, (JSON, CSV)),
    ]
    for data in bodies:
        for decode, kinds in decoders:
            for kind in kinds:
                try:
                    decode(data, kind, max_rows=100)
                except ModelyardError as exc:
                    assert 400 <= exc.http_status < 500, (data, kind, exc)


VALID = [
    (
        decode_v1,
        {"records": [{"age": 31, "income": 1.5, "city": "Oslo", "at": "2024-01-02", "n": None}]},
    ),
    (
        decode_v1,
        {
            "columns": {
                "age": [31, 40],
                "income": [1.5, 2],
                "city": ["a", "b"],
                "at": ["2024-01-02", "2024-01-03"],
                "n": [1, None],
            }
        },
    ),
    (decode_v1, {"tensor": [[1.0, 2.0, 3.0, 4.0, 5.0]]}),
    (
        decode_v2,
        {
            "id": "x",
            "inputs": [
                {"name": "age", "shape": [1], "datatype": "INT64", "data": [31]},
                {"name": "income", "shape": [1, 1], "datatype": "FP64", "data": [[1.5]]},
                {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["a"]},
                {"name": "at", "shape": [1], "datatype": "BYTES", "data": ["2024-01-02"]},
                {"name": "n", "shape": [1], "datatype": "INT32", "data": [2]},
            ],
        },
    ),
    (
        decode_v2,
        {"inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}]},
    ),
    (
        decode_invocations,
        {
            "dataframe_split": {
                "columns": ["age", "income", "city", "at", "n"],
                "data": [[31, 1.5, "a", "2024-01-02", None]],
            }
        },
    ),
    (decode_invocations, {"instances": [[1, 2, 3, 4, 5]]}),
]
SIGNATURES = [
    Signature(
        Schema(
            columns=(
                ColumnSpec("age", "integer", False, "int64"),
                ColumnSpec("income", "float", False, "float64"),
                ColumnSpec("city", "string", False, "object"),
                ColumnSpec("at", "datetime", False, "datetime64[ns]"),
                ColumnSpec("n", "integer", True, "Int64"),
            )
        )
    ),
    Signature(
        Schema(
            columns=(
                ColumnSpec("age", "integer", True, "int8"),
                ColumnSpec("income", "float", True, "float32"),
                ColumnSpec("city", "category", False, "category"),
                ColumnSpec("at", "datetime", True, "datetime64[ns, UTC]"),
                ColumnSpec("n", "boolean", True, "boolean"),
            )
        )
    ),
    Signature(
        Schema(
            columns=(
                ColumnSpec("age", "object", False, "object"),
                ColumnSpec("income", "float", False, "Float64"),
                ColumnSpec("city", "binary", True, "object"),
                ColumnSpec("at", "string", True, "str"),
                ColumnSpec("n", "integer", False, "uint8"),
            )
        )
    ),
    Signature(Schema(tensor=TensorSpec("float32", (-1, 5)))),
    Signature(Schema(tensor=TensorSpec("int8", (1, -1)))),
    None,
]


def _mutate(rng: random.Random, doc: Any) -> Any:
    """``doc`` with one value somewhere in it replaced by random JSON."""
    if isinstance(doc, dict) and doc and rng.random() < 0.8:
        key = rng.choice(list(doc))
        return {**doc, key: _mutate(rng, doc[key])}
    if isinstance(doc, list) and doc and rng.random() < 0.8:
        i = rng.randrange(len(doc))
        return [*doc[:i], _mutate(rng, doc[i]), *doc[i + 1 :]]
    return _random_json(rng, 2)


def test_mutated_requests_are_refused_or_make_a_frame() -> None:
    """Whatever a caller sends, decoding and validation refuse it with a 4xx or hand the
    batcher rows that make a frame: bad input never reaches the model as a 500."""
    rng = random.Random(7)
    for _ in range(1500):
        decode, doc = rng.choice(VALID)
        data = json.dumps(_mutate(rng, doc)).encode()
        for signature in SIGNATURES:
            try:
                decoded = decode(data, JSON, max_rows=100)
                rows = validate(decoded.rows, signature, where=decoded.where)
            except ModelyardError as exc:
                assert 400 <= exc.http_status < 500, (data, exc)
                continue
            if signature is not None:
                frame([rows, rows], signature)
