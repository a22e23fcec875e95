"""Segments of a prediction log as the inference server writes them, for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa


def segment(
    request_ids: list[str],
    *,
    version_id: str,
    start_ms: int,
    step_ms: int = 1000,
    **columns: list[Any],
) -> pa.Table:
    """One row per request (prediction id ``<request>-0``), ``step_ms`` apart from
    ``start_ms``, with an input ``x`` and an output unless ``columns`` says otherwise."""
    n = len(request_ids)
    data: dict[str, Any] = {
        "prediction_id": [f"{r}-0" for r in request_ids],
        "version_id": [version_id] * n,
        "time": pa.array([start_ms + i * step_ms for i in range(n)], pa.timestamp("ms", tz="UTC")),
        "latency_ms": [0.5] * n,
        "shadow": [False] * n,
        "input.x": [float(i) for i in range(n)],
        "output": [i % 2 for i in range(n)],
    }
    data.update(columns)
    return pa.table(data)


def request_id(i: int) -> str:
    return f"{i:032x}"


def model_files(folder: Path, content: bytes) -> Path:
    """A folder as a flavor writes it (``model/``), with ``content`` as its one file."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(content)
    return folder
