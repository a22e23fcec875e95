"""Batch scoring (``modelyard predict``, ``client.predict``): a model version's predictions
over a stored dataset version, registered as a version of another dataset with its
lineage.

The target is a deployment (the version its plan's champion route resolves to now) or a
model version (``model@alias``, ``model/3``). The version is loaded with the registry's
one loader, by the caller's ``load`` (the flavor's code-format and package checks, the
installation's trusted types). The input is read as a stream of Arrow record batches of
at most ``batch_rows`` rows. Before any is read, the signature's columns are looked for
in the input; each batch is then checked against the signature by the inference
server's own validation (a refused value names its column and its row in the whole
input), predicted, and written to a Parquet file in a temporary folder: the input
columns asked for, then ``prediction`` (``prediction_0``, ``prediction_1``... for
several values a row; ``prediction_<name>`` for a model that answers a table). Only
once every batch is written is the file registered, with the lineage edges input
dataset version -> output (``input``) and model version -> output (``model``) in the
transaction that registers it, so a failure registers nothing. Locally one batch is in
memory at a time; on Ray at most two per worker.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard._util import validate_name
from modelyard.errors import Conflict, InvalidInput, ModelyardError, NotFound, PredictionFailed
from modelyard.lineage.edges import DATASET_VERSION, INPUT, MODEL_VERSION
from modelyard.registry.signature import FLOAT, INTEGER, OBJECT, Signature

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.datasets.contract import DatasetContract
    from modelyard.datasets.entities import ColumnSchema, DatasetVersion
    from modelyard.registry.contract import ModelContract
    from modelyard.registry.entities import ModelVersion
    from modelyard.serving.contract import DeploymentContract

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "MODEL",
    "PREDICTION",
    "BatchScorer",
    "Plan",
    "Runner",
    "Scored",
    "score_batch",
]

#: Rows a batch holds unless asked otherwise.
DEFAULT_BATCH_ROWS = 10_000
#: The name of the prediction column (and the prefix of several).
PREDICTION = "prediction"
#: The lineage relation from the model version to the dataset version it scored into.
MODEL = "model"
#: The dataset types each signature type takes (anything else is refused before a batch
#: is read); a type missing here takes any.
_TAKES = {
    INTEGER: {"integer", "float", "null"},
    FLOAT: {"integer", "float", "null"},
    "boolean": {"boolean", "null"},
    "string": {"string", "categorical", "null"},
    "datetime": {"datetime", "date", "string", "null"},
    "binary": {"binary", "string", "null"},
}

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Plan:
    """What scoring a batch needs besides the model (picklable: a Ray worker gets it):
    the version's signature, the input columns the model takes (in its order) and those
    copied to the output."""

    signature: Signature | None
    features: tuple[str, ...]
    carry: tuple[str, ...]
    flavor: str


@dataclass(frozen=True, slots=True)
class Scored:
    """A finished batch scoring: the output version registered, what it was made from,
    and how: ``batches`` scored, ``peak_rows`` the most input rows held at once."""

    output: DatasetVersion
    input: DatasetVersion
    model: ModelVersion
    deployment: str | None
    rows: int
    batches: int
    peak_rows: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": self.output.as_dict(),
            "input": {"id": self.input.id, "ref": self.input.ref},
            "model": {"id": self.model.id, "ref": f"{self.model.name}/{self.model.version}"},
            "deployment": self.deployment,
            "rows": self.rows,
            "batches": self.batches,
            "peak_rows": self.peak_rows,
            "seconds": self.seconds,
        }


class Runner(Protocol):
    """Where batches are scored: in this process, or on Ray workers. ``scored`` answers
    one output batch per input batch, in their order; ``held`` is called with the input
    rows it holds whenever that changes."""

    def scored(
        self,
        plan: Plan,
        version: ModelVersion,
        batches: Iterator[tuple[int, pa.RecordBatch]],
        held: Callable[[int], None],
    ) -> Iterator[pa.RecordBatch]: ...


class LocalRunner:
    """Scores in this process: the model loaded once, one batch at a time."""

    def __init__(self, load: Callable[[ModelVersion], Any]) -> None:
        self._load = load

    def scored(
        self,
        plan: Plan,
        version: ModelVersion,
        batches: Iterator[tuple[int, pa.RecordBatch]],
        held: Callable[[int], None],
    ) -> Iterator[pa.RecordBatch]:
        from modelyard.registry.flavors import FLAVORS, predict

        model = self._load(version)
        flavor = FLAVORS.get(version.flavor)
        for start, batch in batches:
            held(batch.num_rows)
            out = score_batch(plan, lambda frame: predict(flavor, model, frame), batch, start)
            held(-batch.num_rows)
            yield out


class BatchScorer:
    """Batch scoring over the services' contracts (embedded or through a server): see
    the module docstring. ``load(version)``: the model object, loaded by the registry's
    rules of this installation."""

    def __init__(
        self,
        datasets: DatasetContract,
        models: ModelContract,
        deployments: DeploymentContract,
        load: Callable[[ModelVersion], Any],
    ) -> None:
        self.datasets = datasets
        self.models = models
        self.deployments = deployments
        self.load = load

    def resolve(self, target: str, *, project: str) -> tuple[ModelVersion, str | None]:
        """The version ``target`` names, and the deployment when it names one: a
        ``model@alias`` or ``model/3``, else a deployment's name (its champion route)."""
        if not isinstance(target, str) or not target:
            raise InvalidInput(
                "name a deployment, MODEL@ALIAS or MODEL/VERSION to predict with", field="target"
            )
        if "@" in target or "/" in target:
            return self.models.resolve(target, project=project), None
        try:
            deployment = self.deployments.get(target, project=project)
        except NotFound as exc:
            raise NotFound(
                f"{exc} (a model version is named MODEL@ALIAS or MODEL/VERSION)", field="target"
            ) from None
        champion = deployment.plan.champion
        if champion.version_id is None:
            raise NotFound(
                f"deployment {target!r}: its champion route {champion.model}@{champion.ref} "
                "names no version",
                field="target",
            )
        return self.models.get_version_by_id(champion.version_id), deployment.name

    def input(self, source: DatasetVersion | str, *, project: str) -> DatasetVersion:
        """The dataset version ``source`` names: ``dataset:NAME`` (the newest),
        ``dataset:NAME@ALIAS``, ``dataset:NAME@VERSION`` or ``dataset:NAME/VERSION``
        (``dataset:`` may be left out), or the version itself."""
        from modelyard.datasets.entities import DatasetVersion
        from modelyard.registry.service import parse_ref

        if isinstance(source, DatasetVersion):
            return source
        if not isinstance(source, str):
            raise InvalidInput(
                "the input is a dataset version or dataset:NAME@VERSION", field="input"
            )
        try:
            name, version, alias = parse_ref(source.removeprefix("dataset:"))
        except InvalidInput as exc:
            raise InvalidInput(
                f"the input must be dataset:NAME[@ALIAS|@VERSION|/VERSION]: {exc}", field="input"
            ) from None
        if alias is not None and alias.isdigit():
            version, alias = int(alias), None
        return self.datasets.get(name, project=project, version=version, alias=alias)

    def plan(self, version: ModelVersion, source: DatasetVersion, columns: Sequence[str]) -> Plan:
        """What each batch is scored with; refuses, before a batch is read, an input that
        lacks a column the model takes or holds it as a type it cannot take, and copied
        columns the input does not have."""
        known = {c.name: c for c in source.columns}
        carry = tuple(dict.fromkeys(columns))
        for name in carry:
            if name not in known:
                raise InvalidInput(
                    f"dataset {source.ref} has no column {name!r} to copy (its columns: "
                    f"{', '.join(known)})",
                    field="columns",
                )
            if name == PREDICTION or name.startswith(f"{PREDICTION}_"):
                raise InvalidInput(
                    f"column {name!r} would clash with the predictions: copy another",
                    field="columns",
                )
        signature = version.signature
        specs = signature.inputs.columns if signature is not None else None
        if specs is None:  # a tensor, or no signature: every column not only copied
            features = tuple(name for name in known if name not in carry)
        else:
            for spec in specs:
                found = known.get(spec.name)
                if found is None:
                    raise InvalidInput(
                        f"dataset {source.ref} has no column {spec.name!r}, which model "
                        f"{version.name}/{version.version} takes",
                        field=spec.name,
                    )
                _check_type(found, spec.type, spec.name, source)
            features = tuple(spec.name for spec in specs)
        if not features:
            raise InvalidInput(f"dataset {source.ref} has no column to predict from", field="input")
        return Plan(signature, features, carry, version.flavor)

    def score(
        self,
        target: str,
        source: DatasetVersion | str,
        *,
        output: str,
        project: str,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        columns: Sequence[str] = (),
        runner: Runner | None = None,
        progress: Progress | None = None,
        description: str = "",
    ) -> Scored:
        """Score ``source`` with ``target`` and register the predictions as a version of
        dataset ``output`` (see the module docstring); ``progress(rows done, total)`` is
        called after each batch."""
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise InvalidInput(
                f"batch_rows must be a positive integer; got {batch_rows!r}", field="batch_rows"
            )
        validate_name(output, "output")
        began = time.monotonic()
        version, deployment = self.resolve(target, project=project)
        found = self.input(source, project=project)
        plan = self.plan(version, found, columns)
        before = self._existing_columns(output, project)
        holding = _Held()
        batches = self._batches(found, plan, batch_rows)
        chosen = runner if runner is not None else LocalRunner(self.load)
        with tempfile.TemporaryDirectory(prefix="modelyard-predict-") as tmp:
            path = Path(tmp) / "predictions.parquet"
            rows, count = _write(
                chosen.scored(plan, version, batches, holding),
                path,
                found,
                before,
                output,
                progress,
            )
            if count == 0:
                raise InvalidInput(f"dataset {found.ref} has no rows to predict", field="input")
            made = self.datasets.register(
                output,
                path,
                project=project,
                description=description,
                source=_source(version, found, deployment),
                derived_from=[
                    (DATASET_VERSION, found.id, INPUT),
                    (MODEL_VERSION, version.id, MODEL),
                ],
            )
        return Scored(
            output=made,
            input=found,
            model=version,
            deployment=deployment,
            rows=rows,
            batches=count,
            peak_rows=holding.peak,
            seconds=time.monotonic() - began,
        )

    def _existing_columns(self, output: str, project: str) -> list[str] | None:
        try:
            return [c.name for c in self.datasets.get(output, project=project).columns]
        except NotFound:
            return None

    def _batches(
        self, found: DatasetVersion, plan: Plan, batch_rows: int
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        wanted = list(dict.fromkeys([*plan.carry, *plan.features]))
        start = 0
        for batch in self.datasets.iter_batches(found, wanted, batch_rows):
            if batch.num_rows:
                yield start, batch
                start += batch.num_rows


class _Held:
    """Input rows held at once, and the most ever held."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __call__(self, change: int) -> None:
        self.now += change
        self.peak = max(self.peak, self.now)


def _check_type(column: ColumnSchema, kind: str, name: str, source: DatasetVersion) -> None:
    takes = _TAKES.get(kind)
    if kind == OBJECT or takes is None or column.type in takes:
        return
    raise InvalidInput(
        f"column {name!r} of dataset {source.ref} holds {column.type} values; the model takes "
        f"{kind}",
        field=name,
    )


def _write(
    scored: Iterator[pa.RecordBatch],
    path: Path,
    found: DatasetVersion,
    before: list[str] | None,
    output: str,
    progress: Progress | None,
) -> tuple[int, int]:
    """Write the scored batches to one Parquet file; returns the rows and batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    rows = count = 0
    try:
        for batch in scored:
            table = pa.Table.from_batches([batch])
            if writer is None:
                if before is not None and before != table.column_names:
                    raise Conflict(
                        f"dataset {output!r} holds the columns {before}; these predictions "
                        f"have {table.column_names}: name another output",
                        field="output",
                    )
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            elif table.schema != writer.schema:
                table = _cast(table, writer.schema, rows)
            writer.write_table(table)
            rows += table.num_rows
            count += 1
            if progress is not None:
                progress(rows, found.num_rows)
    finally:
        if writer is not None:
            writer.close()
    return rows, count


def _cast(table: pa.Table, schema: pa.Schema, start: int) -> pa.Table:
    import pyarrow as pa

    try:
        return table.cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise PredictionFailed(
            f"rows {start} to {start + table.num_rows - 1}: the model's outputs changed type "
            f"from the first batch's ({exc})"
        ) from None


def _source(version: ModelVersion, found: DatasetVersion, deployment: str | None) -> str:
    through = f" (deployment {deployment})" if deployment is not None else ""
    return (
        f"predictions of model {version.project}/{version.name}/{version.version}{through}, "
        f"version id {version.id}, on dataset {found.project}/{found.ref}, version id {found.id}"
    )


def score_batch(
    plan: Plan, predict: Callable[[Any], Any], batch: pa.RecordBatch, start: int
) -> pa.RecordBatch:
    """One input batch (whose first row is row ``start`` of the input) checked against
    the signature, predicted and answered as the output's batch: the copied columns, then
    the predictions. A refused value is InvalidInput naming its column and row; a model
    that fails is PredictionFailed naming the batch's rows."""
    import pyarrow as pa

    from modelyard.serving.codecs import table_rows
    from modelyard.serving.validation import Where, frame, validate

    end = start + batch.num_rows - 1
    features = pa.Table.from_batches([batch.select(list(plan.features))])
    if plan.signature is None:
        data: Any = features.to_pandas()
    else:
        checked = validate(table_rows(features), plan.signature, where=Where(offset=start))
        data = frame([checked], plan.signature)
    try:
        outputs = predict(data)
        predicted = _prediction_columns(outputs, batch.num_rows)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ModelyardError) else exc
        raise PredictionFailed(f"rows {start} to {end}: the model failed: {detail}") from None
    columns = {name: batch.column(name) for name in plan.carry}
    return pa.RecordBatch.from_pydict({**columns, **predicted})


def _prediction_columns(outputs: Any, rows: int) -> dict[str, pa.Array]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(outputs, pd.DataFrame):
        if len(outputs) != rows:
            raise ValueError(f"it gave {len(outputs)} outputs for {rows} rows")
        table = pa.Table.from_pandas(outputs, preserve_index=False)
        return {
            f"{PREDICTION}_{name}": column.combine_chunks()
            for name, column in zip(table.column_names, table.columns, strict=True)
        }
    array = outputs.to_numpy() if isinstance(outputs, pd.Series) else np.asarray(outputs)
    if array.ndim == 0 or len(array) != rows:
        raise ValueError(f"it gave {array.size if array.ndim else 'a scalar'} for {rows} rows")
    if array.ndim == 1:
        return {PREDICTION: pa.array(array if array.dtype.kind != "O" else array.tolist())}
    if array.ndim == 2:
        return {f"{PREDICTION}_{i}": pa.array(array[:, i]) for i in range(array.shape[1])}
    raise ValueError(f"it gave outputs of shape {list(array.shape)}: one value or a row each")
