"""Microseconds per call of the inference server's request path outside the model: a
request body read, checked against the signature and the answer written, for each
protocol, one row; 64 one-row requests gathered into one frame and their outputs split;
a 10,000-row Arrow IPC body. Pure functions, no server: the floor under every request.

    .venv/bin/python benchmarks/serving_codecs.py            # ~20 s
    .venv/bin/python benchmarks/serving_codecs.py --json     # one JSON line

Each figure is the best of 5 repeats (the least disturbed by other processes)."""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from modelyard.registry.signature import infer_signature
from modelyard.serving import codecs
from modelyard.serving.validation import frame, validate

ROW = {"age": 31, "income": 52000.5, "city": "Oslo", "member": True}
SIGNATURE = infer_signature(pd.DataFrame([ROW]), np.array([0.5]))
REQUEST_ID = "0" * 32
IDS = codecs.prediction_ids(REQUEST_ID, 1)
OUTPUT = np.array([0.25])


def best_us(call: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def v1() -> bytes:
    codecs.decode_v1(V1_BODY, codecs.JSON, max_rows=100_000).validated(SIGNATURE)
    return codecs.encode_v1(
        OUTPUT, deployment="churn", model="churn", version=3, prediction_ids=IDS
    )[0]


def v2() -> bytes:
    codecs.decode_v2(V2_BODY, codecs.JSON, max_rows=100_000).validated(SIGNATURE)
    return codecs.encode_v2(
        OUTPUT, model_name="churn", model_version=3, request_id=REQUEST_ID, prediction_ids=IDS
    )


def invocations() -> bytes:
    codecs.decode_invocations(MLFLOW_BODY, codecs.JSON, max_rows=100_000).validated(SIGNATURE)
    return codecs.encode_invocations(OUTPUT, prediction_ids=IDS)


V1_BODY = json.dumps({"records": [ROW]}).encode()
V2_BODY = json.dumps(
    {
        "inputs": [
            {"name": "age", "shape": [1], "datatype": "INT64", "data": [31]},
            {"name": "income", "shape": [1], "datatype": "FP64", "data": [52000.5]},
            {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["Oslo"]},
            {"name": "member", "shape": [1], "datatype": "BOOL", "data": [True]},
        ]
    }
).encode()
MLFLOW_BODY = json.dumps(
    {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}}
).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    one = validate(codecs.decode_v1(V1_BODY, codecs.JSON, max_rows=1).rows, SIGNATURE)
    batch = [one] * 64
    outputs = np.random.default_rng(0).random(64)
    rows = 10_000
    big = pd.DataFrame(
        {
            "age": np.arange(rows),
            "income": np.random.default_rng(1).random(rows) * 1e5,
            "city": ["Oslo", "Lima"] * (rows // 2),
            "member": [True, False] * (rows // 2),
        }
    )
    table = pa.Table.from_pandas(big, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    arrow = bytes(sink.getvalue())
    big_ids = codecs.prediction_ids(REQUEST_ID, rows)
    big_out = np.random.default_rng(2).random(rows)

    def arrow_read() -> Any:
        decoded = codecs.decode_v1(arrow, codecs.ARROW_STREAM, max_rows=100_000)
        return frame([decoded.validated(SIGNATURE)], SIGNATURE)

    def arrow_json() -> bytes:
        arrow_read()
        return codecs.encode_v1(
            big_out, deployment="d", model="m", version=1, prediction_ids=big_ids
        )[0]

    def arrow_arrow() -> bytes:
        arrow_read()
        return codecs.encode_v1(
            big_out,
            deployment="d",
            model="m",
            version=1,
            prediction_ids=big_ids,
            accept=codecs.ARROW_STREAM,
        )[0]

    results = {
        "v1_one_row_us": best_us(v1, 5000),
        "v2_one_row_us": best_us(v2, 5000),
        "invocations_one_row_us": best_us(invocations, 5000),
        "frame_64_one_row_us": best_us(lambda: frame(batch, SIGNATURE), 500),
        "split_64_us": best_us(lambda: codecs.split(outputs, [1] * 64), 2000),
        "arrow_10k_read_validate_frame_us": best_us(arrow_read, 10),
        "arrow_10k_with_json_answer_us": best_us(arrow_json, 10),
        "arrow_10k_with_arrow_answer_us": best_us(arrow_arrow, 10),
    }
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in results.items()}))
        return
    for name, value in results.items():
        print(f"{name:36} {value:12.1f}")


if __name__ == "__main__":
    main()
