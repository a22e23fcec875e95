"""The media types and the Open Inference Protocol datatypes the serving codecs speak."""

from __future__ import annotations

__all__ = ["ARROW_STREAM", "CSV", "JSON", "PARQUET", "V2_BY_DTYPE", "V2_DTYPES"]

JSON = "application/json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"

#: The Open Inference Protocol's datatypes, by the numpy dtype they stand for.
V2_DTYPES = {
    "BOOL": "bool",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
#: The datatype of each numpy dtype but text and objects (``BYTES``).
V2_BY_DTYPE = {v: k for k, v in V2_DTYPES.items() if k != "BYTES"}
