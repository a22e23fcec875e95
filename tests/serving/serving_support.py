"""Test doubles of the inference server's parts, until the real ones merge (each names the
part it stands in for):

- :class:`DictPlans` for the control plane's DeploymentContract (s1's DeploymentService):
  ``list_deployments`` answers real ``Deployment`` entities from a dict; ``down`` makes it
  raise StorageError as an unreachable control plane does.
- :class:`SklearnPool` for ``serving/models.ModelPool`` (s3): real scikit-learn models by
  version id; ``broken`` ids raise ModelUnavailable.
- :func:`direct_batcher` for ``serving/batching`` (s5): predicts each request at once.
- :class:`ListSink` for ``serving/predlog.PredictionLog`` (s6): keeps records in a list.
- :class:`DictLabels` for ``client.predictions.add_labels`` (s6): labels in a dict.
- :class:`JsonCodecs` for ``serving/codecs`` + ``serving/validation`` (s4), with their
  signatures: JSON bodies only (v1 records/columns, v2 one input per column, MLflow
  records/split), decoded into :class:`Decoded` (``codecs.Decoded``'s fields).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import (
    InvalidInput,
    MalformedBody,
    ModelUnavailable,
    StorageError,
    UnsupportedMediaType,
)
from modelyard.registry.entities import ModelVersion
from modelyard.registry.signature import ColumnSpec, Schema, Signature
from modelyard.serving._parts import Rows
from modelyard.serving.entities import Deployment, Route, TrafficPlan
from modelyard.serving.rollouts import ServingReport

PROJECT = "default"
SIGNATURE = Signature(
    Schema(columns=(ColumnSpec("x1", "float", False, "float64"),
                    ColumnSpec("x2", "float", False, "float64")))
)  # fmt: skip


def version(name: str, number: int, signature: Signature | None = SIGNATURE) -> ModelVersion:
    return ModelVersion(
        id=f"{name}-v{number}", project=PROJECT, name=name, version=number,
        tree_digest="0" * 64, size_bytes=1, flavor="sklearn", flavor_config={},
        packages={}, signature=signature, input_example=None, run_id=None, metrics={},
        dataset_versions=[], code_commit=None, description="", created_by="t",
        created_at=0, aliases=[],
    )  # fmt: skip


def route(model: str, number: int, weight: int = 100) -> Route:
    return Route(model, str(number), weight, number, f"{model}-v{number}")


def deployment(
    name: str,
    routes: Sequence[Route],
    *,
    shadows: Sequence[Route] = (),
    sticky_key: str | None = None,
    revision: int = 1,
    sample_rate: float = 1.0,
) -> Deployment:
    plan = TrafficPlan(tuple(routes), tuple(shadows), sticky_key)
    return Deployment(
        id=f"dep-{name}", project=PROJECT, name=name, description="", plan=plan,
        revision=revision, sample_rate=sample_rate, created_by="t", created_at=0,
        updated_by="t", updated_at=0,
    )  # fmt: skip


class DictPlans:
    """The control plane's deployments (DeploymentContract.list_deployments, and report:
    the reports kept in ``reports``)."""

    def __init__(self, *deployments: Deployment) -> None:
        self.deployments = {d.name: d for d in deployments}
        self.down = False
        self.reads = 0
        self.reports: list[ServingReport] = []

    def report(self, project: str, report: ServingReport) -> None:
        if self.down:
            raise StorageError("the control plane cannot be reached: connection refused")
        self.reports.append(report)

    def set(self, d: Deployment) -> None:
        self.deployments[d.name] = d

    def list_deployments(self, project: str) -> list[Deployment]:
        self.reads += 1
        if self.down:
            raise StorageError("the control plane cannot be reached: connection refused")
        return [d for d in self.deployments.values() if d.project == project]


class Constant:
    """A model that answers a constant (its version number), after ``delay_s``."""

    def __init__(self, value: float, delay_s: float = 0.0) -> None:
        self.value = value
        self.delay_s = delay_s

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.delay_s:
            import time

            time.sleep(self.delay_s)
        return np.full(len(frame), self.value)


@dataclass
class Loaded:
    version: ModelVersion
    model: Any
    size_bytes: int = 1000

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.model.predict(frame)


class SklearnPool:
    """ModelPool over models given by version id (``broken``: ids that cannot load)."""

    def __init__(self, models: dict[str, Loaded], broken: dict[str, str] | None = None) -> None:
        self.models = models
        self.broken = dict(broken or {})
        self.gets = 0
        self.closed = False

    async def get(self, version_id: str) -> Loaded:
        self.gets += 1
        if version_id in self.broken:
            raise ModelUnavailable(f"version {version_id} cannot load: {self.broken[version_id]}")
        try:
            return self.models[version_id]
        except KeyError:
            raise ModelUnavailable(f"version {version_id} is unknown") from None

    def loaded(self) -> list[Loaded]:
        return list(self.models.values())

    async def close(self) -> None:
        self.closed = True


def pool_of(*specs: tuple[str, int, Any]) -> SklearnPool:
    return SklearnPool({f"{n}-v{v}": Loaded(version(n, v), m) for n, v, m in specs})


@dataclass
class DirectBatcher:
    """The Batcher: each request predicted alone, at once, off the event loop."""

    predict_batch: Callable[[list[Rows]], list[Sequence[Any]]]
    on_batch: Callable[[int, float], None]
    closed: bool = False

    async def submit(self, rows: Rows) -> Sequence[Any]:
        out = await asyncio.to_thread(self.predict_batch, [rows])
        self.on_batch(rows.count, 0.0)
        return out[0]

    @property
    def queue_rows(self) -> int:
        return 0

    async def close(self) -> None:
        self.closed = True


def direct_batcher(
    predict_batch: Callable[[list[Rows]], list[Sequence[Any]]],
    on_batch: Callable[[int, float], None],
) -> DirectBatcher:
    return DirectBatcher(predict_batch, on_batch)


@dataclass
class ListSink:
    """The PredictionSink: records kept in a list (every one: no sampling)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    tracked: dict[str, Deployment] = field(default_factory=dict)
    started: bool = False
    closed: bool = False

    def record(self, **row: Any) -> None:
        self.records.append(row)

    def track(self, deployment: Deployment) -> None:
        self.tracked[deployment.id] = deployment

    def forget(self, deployment_id: str) -> None:
        self.tracked.pop(deployment_id, None)

    @property
    def dropped(self) -> int:
        return 0

    @property
    def queue_rows(self) -> int:
        return 0

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True


class DictLabels:
    """Labels given to the server, by deployment and prediction id."""

    def __init__(self) -> None:
        self.labels: dict[str, dict[str, Any]] = {}

    def __call__(self, deployment: str, labels: dict[str, Any]) -> int:
        self.labels.setdefault(deployment, {}).update(labels)
        return len(labels)


def _json_body(body: bytes, content_type: str | None = "application/json") -> Any:
    if content_type is not None and not content_type.startswith("application/json"):
        raise UnsupportedMediaType(f"content type {content_type!r} is not taken", field="body")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}", field="body") from None


@dataclass(frozen=True)
class Decoded:
    rows: Rows
    where: str
    id: str | None = None
    outputs: tuple[str, ...] = ()


def _records(records: Any, where: str) -> Rows:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidInput(f"{where} must be a list of objects", field=where)
    names = list(dict.fromkeys(k for r in records for k in r))
    return Rows(len(records), {n: [r.get(n) for r in records] for n in names})


class JsonCodecs:
    """The codecs and validation, JSON only."""

    def decode_v1(self, body: bytes, content_type: str | None, *, max_rows: int) -> Decoded:
        data = _json_body(body, content_type or "application/json")
        if isinstance(data, dict) and "records" in data:
            return Decoded(_records(data["records"], "records"), "records")
        if isinstance(data, dict) and isinstance(data.get("columns"), dict):
            cols = data["columns"]
            rows = Rows(len(next(iter(cols.values()), [])), {k: list(v) for k, v in cols.items()})
            return Decoded(rows, "columns")
        raise InvalidInput("the body needs records or columns", field="records")

    def decode_v2(self, body: bytes, content_type: str | None, *, max_rows: int) -> Decoded:
        data = _json_body(body, content_type or "application/json")
        inputs = data.get("inputs") if isinstance(data, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise InvalidInput("inputs: a list of named inputs is needed", field="inputs")
        cols = {i["name"]: list(i["data"]) for i in inputs}
        return Decoded(Rows(len(next(iter(cols.values()))), cols), "inputs", data.get("id"))

    def decode_invocations(
        self, body: bytes, content_type: str | None, *, max_rows: int
    ) -> Decoded:
        data = _json_body(body, content_type or "application/json")
        if isinstance(data, dict) and "dataframe_records" in data:
            rows = _records(data["dataframe_records"], "dataframe_records")
            return Decoded(rows, "dataframe_records")
        if isinstance(data, dict) and "dataframe_split" in data:
            split = data["dataframe_split"]
            records = [dict(zip(split["columns"], r, strict=True)) for r in split["data"]]
            return Decoded(_records(records, "dataframe_split"), "dataframe_split")
        raise InvalidInput("the body needs dataframe_records or dataframe_split", field="body")

    def encode_v1(self, outputs: Sequence[Any], **kw: Any) -> tuple[bytes, str]:
        body = {"deployment": kw["deployment"], "model": kw["model"], "version": kw["version"],
                "prediction_ids": kw["prediction_ids"], "predictions": list(outputs)}  # fmt: skip
        return json.dumps(body).encode(), "application/json"

    def encode_v2(self, outputs: Sequence[Any], **kw: Any) -> bytes:
        body = {
            "model_name": kw["model_name"], "model_version": kw["model_version"],
            "id": kw["request_id"], "parameters": {"prediction_ids": kw["prediction_ids"]},
            "outputs": [{"name": "predict", "shape": [len(outputs)], "datatype": "FP64",
                         "data": list(outputs)}],
        }  # fmt: skip
        return json.dumps(body).encode()

    def encode_invocations(self, outputs: Sequence[Any], **kw: Any) -> bytes:
        body = {"predictions": list(outputs), "prediction_ids": kw["prediction_ids"]}
        return json.dumps(body).encode()

    def v2_metadata(self, name: str, versions: list[str], signature: Any) -> dict[str, Any]:
        return {"name": name, "versions": versions, "platform": "modelyard"}

    def validate(
        self, rows: Rows, signature: Signature | None, *, where: str, drop_extra: bool = False
    ) -> Rows:
        if signature is None or signature.inputs.columns is None:
            return rows
        names = {c.name for c in signature.inputs.columns}
        for extra in sorted(set(rows.columns or {}) - names):
            if not drop_extra:
                raise InvalidInput(f"{where}: the model takes no column {extra}", field=extra)
        for col in signature.inputs.columns:
            values = (rows.columns or {}).get(col.name)
            if values is None:
                raise InvalidInput(f"column {col.name} is missing", field=col.name)
            for i, v in enumerate(values):
                if not isinstance(v, int | float) or isinstance(v, bool):
                    raise InvalidInput(f"records[{i}].{col.name}: expected float", field=col.name)
        return rows

    def frame(self, batch: list[Rows], signature: Signature | None) -> pd.DataFrame:
        names = [c.name for c in signature.inputs.columns or ()] if signature else []
        names = names or list((batch[0].columns or {}).keys())
        return pd.DataFrame(
            {n: [v for rows in batch for v in (rows.columns or {})[n]] for n in names}
        )

    def split(self, outputs: Any, counts: list[int]) -> list[Sequence[Any]]:
        values = [float(v) for v in outputs]
        out, at = [], 0
        for n in counts:
            out.append(values[at : at + n])
            at += n
        return out
