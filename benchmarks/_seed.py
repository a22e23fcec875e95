"""Seeding a Modelyard store fast: runs (with params, tags and latest metrics) and a long
metric history inserted through the store's tables in one transaction, the way the
tracking benchmark copies MLflow's rows. Through the SDK, 100,000 runs take minutes;
this way, seconds.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import insert, select

from modelyard._util import new_id, now_ms
from modelyard.sdk.client import Client
from modelyard.store.tables import latest_metrics, metrics, params, projects, runs, tags

__all__ = ["seed_history", "seed_runs"]

FAMILIES = ("lr", "rf", "gbm")


def seed_runs(client: Client, project: str, n: int, seed: int = 42) -> list[str]:
    """``n`` finished runs in ``project`` (created when missing), newest first a second
    apart: params ``lr``, ``depth``, ``optimizer``; metrics ``auc``, ``loss``, ``acc`` at
    step 0; tag ``family``. Their ids, newest first."""
    rng = random.Random(seed)
    services = client.services
    services.projects.ensure(project)
    store = services.tracking.store
    end = now_ms()
    run_rows: list[dict[str, Any]] = []
    param_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    metric_rows: list[dict[str, Any]] = []
    with store.read() as conn:
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
    for i in range(n):
        run_id = new_id()
        start = end - (i + 1) * 1000
        run_rows.append(
            {
                "id": run_id,
                "project_id": project_id,
                "parent_id": None,
                "name": f"run-{i:06d}",
                "status": "finished",
                "start_time": start,
                "end_time": start + 900,
                "heartbeat_at": start + 900,
                "user_name": "bench",
                "host": "bench-host",
                "entry_point": "train.py",
            }
        )
        for key, value in (
            ("lr", f"{10 ** rng.uniform(-4, -1):.6g}"),
            ("depth", str(rng.randint(2, 12))),
            ("optimizer", rng.choice(["adam", "sgd"])),
        ):
            param_rows.append({"run_id": run_id, "key": key, "value": value})
        tag_rows.append({"run_id": run_id, "key": "family", "value": rng.choice(FAMILIES)})
        for key, value in (
            ("auc", rng.random()),
            ("loss", rng.random() * 3),
            ("acc", rng.random()),
        ):
            metric_rows.append(
                {"run_id": run_id, "key": key, "value": value, "step": 0, "timestamp": start}
            )
    with store.write() as conn:
        conn.execute(insert(runs), run_rows)
        conn.execute(insert(params), param_rows)
        conn.execute(insert(tags), tag_rows)
        conn.execute(insert(latest_metrics), metric_rows)
    return [r["id"] for r in run_rows]


def seed_history(client: Client, run_id: str, key: str, points: int, seed: int = 7) -> None:
    """A metric ``key`` of ``points`` steps on ``run_id`` (a decaying loss with noise), its
    latest value the last step's."""
    rng = random.Random(seed)
    store = client.services.tracking.store
    start = now_ms() - points
    values = [1.0 / (1 + s * 0.001) + rng.random() * 0.01 for s in range(points)]
    with store.write() as conn:
        series_id = conn.execute(
            insert(latest_metrics)
            .values(
                run_id=run_id,
                key=key,
                value=values[-1],
                step=points - 1,
                timestamp=start + points - 1,
            )
            .returning(latest_metrics.c.id)
        ).scalar_one()
        conn.execute(
            insert(metrics),
            [
                {"series_id": series_id, "value": v, "step": s, "timestamp": start + s}
                for s, v in enumerate(values)
            ],
        )
