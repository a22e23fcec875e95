"""The pipelines' data loads in a window, read from the store for ``data_load`` monitors.

A load is a step run of the step index (table ``step_runs``), timed by its tracking run
(table ``runs``): it started when its run did and is placed in the window when it was
recorded (when the step finished or failed). The rows it loaded are those of the dataset
version it registered (a step declared with ``dataset=``; its output names the version as
``name:version``), None for a step that registers none. A step run served from the cache
loaded nothing new: it is listed with ``cached`` True.

The monitoring pass puts :func:`step_runs_in`'s list in ``WindowInputs.extra`` under
:data:`STEP_RUNS` for the ``data_load`` check (see ``docs/monitoring.md``, "Data loads").
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from modelyard.store.tables import dataset_versions, datasets, runs, step_runs

__all__ = ["STEP_RUNS", "step_runs_in"]

#: The key of ``WindowInputs.extra`` holding the window's step runs.
STEP_RUNS = "step_runs"


def step_runs_in(
    conn: Connection,
    project_id: str,
    start: int,
    end: int,
    pipeline: str | None = None,
    step: str | None = None,
) -> list[dict[str, Any]]:
    """The step runs of project ``project_id`` recorded in ``[start, end)`` (ms), of
    ``pipeline`` and/or ``step`` (None: any), oldest first, as dicts: ``run_id``,
    ``pipeline_run_id``, ``pipeline``, ``step``, ``started_at``, ``finished_at`` (ms),
    ``duration_s``, ``rows`` (None: no dataset registered), ``dataset``
    (``name:version`` or None), ``cached`` and ``failed`` (no output recorded). Runs in
    the trash are left out. No access check: the caller (the pass, for a monitor of the
    project) has made it."""
    c = step_runs.c
    where = [c.project_id == project_id, c.created_at >= start, c.created_at < end]
    if pipeline is not None:
        where.append(c.pipeline == pipeline)
    if step is not None:
        where.append(c.step == step)
    found = conn.execute(
        select(
            c.run_id,
            c.pipeline_run_id,
            c.pipeline,
            c.step,
            c.cached,
            c.outputs,
            c.created_at,
            runs.c.start_time,
            runs.c.end_time,
        )
        .join(runs, runs.c.id == c.run_id)
        .where(*where, runs.c.deleted_at.is_(None))
        .order_by(c.created_at, c.run_id)
    ).all()
    loads = []
    for row in found:
        output = None if row.outputs is None else json.loads(row.outputs)
        finished = row.end_time if row.end_time is not None else row.created_at
        loads.append(
            {
                "run_id": row.run_id,
                "pipeline_run_id": row.pipeline_run_id,
                "pipeline": row.pipeline,
                "step": row.step,
                "started_at": row.start_time,
                "finished_at": row.created_at,
                "duration_s": max(finished - row.start_time, 0) / 1000,
                "rows": None,
                "dataset": None if output is None else output.get("dataset"),
                "cached": bool(row.cached),
                "failed": output is None,
            }
        )
    counts = _rows_of(conn, project_id, {load["dataset"] for load in loads} - {None})
    for load in loads:
        load["rows"] = counts.get(load["dataset"])
    return loads


def _rows_of(conn: Connection, project_id: str, names: set[str]) -> dict[str, int]:
    """The rows of each dataset version named ``name:version`` in the project."""
    wanted = {}
    for name in names:
        dataset, _, version = name.rpartition(":")
        if dataset and version.isdigit():
            wanted[(dataset, int(version))] = name
    if not wanted:
        return {}
    found = conn.execute(
        select(datasets.c.name, dataset_versions.c.version, dataset_versions.c.num_rows)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(
            datasets.c.project_id == project_id,
            datasets.c.name.in_({dataset for dataset, _ in wanted}),
            dataset_versions.c.version.in_({version for _, version in wanted}),
        )
    )
    return {
        wanted[(row.name, row.version)]: int(row.num_rows)
        for row in found
        if (row.name, row.version) in wanted
    }
