"""Runs as a pandas DataFrame (one row a run; params./metrics./tags. columns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelyard.tracking.entities import Run

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["runs_to_frame"]

_ATTRS = (
    "run_id",
    "project",
    "name",
    "status",
    "parent_id",
    "start_time",
    "end_time",
    "duration_s",
    "user",
    "host",
    "cost",
)


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run, columns in a stable order: attributes, then params, metrics, tags."""
    import pandas as pd

    param_keys = sorted({k for r in runs for k in r.params})
    metric_keys = sorted({k for r in runs for k in r.metrics})
    tag_keys = sorted({k for r in runs for k in r.tags})
    columns: dict[str, list[Any]] = {name: [] for name in _ATTRS}
    for name in param_keys:
        columns[f"params.{name}"] = []
    for name in metric_keys:
        columns[f"metrics.{name}"] = []
    for name in tag_keys:
        columns[f"tags.{name}"] = []
    for r in runs:
        columns["run_id"].append(r.id)
        for name in _ATTRS[1:]:
            columns[name].append(getattr(r, name))
        for name in param_keys:
            columns[f"params.{name}"].append(r.params.get(name))
        for name in metric_keys:
            columns[f"metrics.{name}"].append(r.metrics.get(name, float("nan")))
        for name in tag_keys:
            columns[f"tags.{name}"].append(r.tags.get(name))
    frame = pd.DataFrame(columns)
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], unit="ms", utc=True)
    return frame
