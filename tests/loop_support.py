"""What the closed loop's tests share: a retraining pipeline written to a file (scikit-learn
on generated data), a deployment whose champion learnt the old behaviour, a prediction log
of the new behaviour with its labels, an alert of a trigger monitor, and the monitors'
window values the monitoring pass would write."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from modelyard import Client
from modelyard._util import new_id, now_ms
from modelyard.monitoring._raise import raise_alert
from modelyard.registry.entities import ModelVersion
from modelyard.store.tables import deployments, monitor_values, monitors

PROJECT, DEPLOYMENT, MODEL = "ml", "churn-api", "churn"

#: ``retrain(shift, flip)``: a logistic regression of ``y = a + shift * b > 0`` (``flip``:
#: the labels inverted), registered as a version of ``churn`` by its step (never cached).
PIPES = """
import numpy as np
import pandas as pd

import modelyard as my
from modelyard.pipelines import pipeline, step


def rows(n, seed, shift):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return x, ((x["a"] + shift * x["b"]) > 0).astype(int)


@step(cache=False)
def fit(shift: float, flip: bool) -> str:
    from sklearn.linear_model import LogisticRegression

    x, y = rows(400, 1, shift)
    model = LogisticRegression().fit(x, 1 - y if flip else y)
    found = my.active_run().client.models.log(model, "churn", input_example=x[:3])
    return f"{found.name}/{found.version}"


@pipeline
def retrain(shift: float = 1.0, flip: bool = False):
    fit(shift, flip)


@pipeline
def broken(shift: float = 1.0):
    fit(shift, "not a flag")
"""


def rows(n: int, seed: int, shift: float) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return x, ((x["a"] + shift * x["b"]) > 0).astype(int)


def champion(client: Client) -> ModelVersion:
    """Version 1 of ``churn`` (the old behaviour: ``y = a > 0``), in production and the
    champion, served by ``churn-api``."""
    from sklearn.linear_model import LogisticRegression

    x, y = rows(400, 2, 0.0)
    client.create_project(PROJECT)
    with client.start_run(PROJECT, capture=False):
        found = client.models.log(LogisticRegression().fit(x, y), MODEL, input_example=x[:3])
    client.models.request(f"{MODEL}/1", to="production", project=PROJECT)
    client.models.set_alias(MODEL, "champion", 1, project=PROJECT)
    client.deployments.create(DEPLOYMENT, f"{MODEL}@champion", project=PROJECT)
    return found


def log_new_behaviour(client: Client, version: ModelVersion, n: int = 300) -> None:
    """``n`` predictions of ``version`` in the last minutes, labelled by the new
    behaviour (``y = a + b > 0``)."""
    x, y = rows(n, 3, 1.0)
    start = now_ms() - 600_000
    ids = [f"{i:032x}" for i in range(n)]
    table = pa.table(
        {
            "prediction_id": [f"{r}-0" for r in ids],
            "version_id": [version.id] * n,
            "time": pa.array([start + i for i in range(n)], pa.timestamp("ms", tz="UTC")),
            "input.a": x["a"].to_list(),
            "input.b": x["b"].to_list(),
            "output": [int(v) for v in x["a"] > 0],
        }
    )
    client.predictions.write_segment(PROJECT, DEPLOYMENT, table)
    client.predictions.add_labels(PROJECT, DEPLOYMENT, dict(zip(ids, y.to_list(), strict=True)))


def deployment_id(client: Client) -> str:
    with client.store.read() as conn:
        return str(
            conn.execute(
                deployments.select()
                .with_only_columns(deployments.c.id)
                .where(deployments.c.name == DEPLOYMENT)
            ).scalar()
        )


def open_alert(client: Client, monitor: str = "accuracy", severity: str = "critical") -> str:
    """An open alert of ``monitor`` on the deployment, as a monitoring pass opens one."""
    with client.store.write() as conn:
        raised = raise_alert(
            conn,
            project=PROJECT,
            subject_kind="deployment",
            subject_id=deployment_id(client),
            subject=f"deployment {DEPLOYMENT}",
            monitor=monitor,
            severity=severity,
            title=f"{monitor} under 0.8",
            details={"value": 0.55, "threshold": 0.8},
            at=now_ms(),
        )
    return raised.alert_id


def window_values(client: Client, values: dict[str, float], since: int, **kw: Any) -> None:
    """Window values of a ``performance`` monitor named ``accuracy`` per version id, one
    window from ``since`` (``status`` ok unless given), as the monitoring pass writes."""
    status = kw.get("status", "ok")
    dep = deployment_id(client)
    at = now_ms()
    with client.store.write() as conn:
        found = conn.execute(
            monitors.select()
            .with_only_columns(monitors.c.id)
            .where(monitors.c.deployment_id == dep, monitors.c.name == "accuracy")
        ).scalar()
        if found is None:
            found = new_id()
            conn.execute(
                monitors.insert().values(
                    id=found,
                    project_id=conn.execute(
                        deployments.select()
                        .with_only_columns(deployments.c.project_id)
                        .where(deployments.c.id == dep)
                    ).scalar(),
                    deployment_id=dep,
                    name="accuracy",
                    kind="performance",
                    config=json.dumps({"metric": "accuracy", "min": 0.8}),
                    window="hour",
                    slide=None,
                    severity="critical",
                    enabled=True,
                    created_by="test",
                    created_at=at,
                    updated_at=at,
                )
            )
        for version_id, value in values.items():
            conn.execute(
                monitor_values.insert().values(
                    monitor_id=found,
                    version_id=version_id,
                    window_start=since,
                    window_end=since + 3_600_000,
                    value=value,
                    threshold=0.8,
                    status=status,
                    rows=100,
                    details="{}",
                    computed_at=at,
                )
            )
