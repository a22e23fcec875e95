"""The prediction log's writer in the inference server: :class:`PredictionLog`, the
:class:`~modelyard.serving._parts.PredictionSink` that ``modelyard serve`` records each
answer in.

``record`` is on the request path, so it only decides whether to keep the request and
appends one tuple to a queue (a few microseconds; no I/O, no DataFrame, no thread). A
request is kept with its deployment's ``sample_rate``: the log holds the deployments it
serves (:meth:`PredictionLog.track`, called with each plan the server reads: their
names, sample rates and the model and version number behind each version id), and the
draw is the request id's own first 32 bits (a uuid4's are uniform), so the live answer
and the shadow copies of one request are kept or left together, on every replica.

A task on the server's event loop gathers the queue every ``flush_s`` seconds, or as
soon as ``flush_rows`` rows wait, and hands it to one writer thread (never the event
loop), which turns each deployment's rows into one Arrow table (the columns of
:mod:`modelyard.predictions._segments`) and calls ``write_segment``. While the store is
down (``StorageError``) the tables wait and are written again at the next flush, merged
up to ``flush_rows`` rows; rows accepted and not yet written never pass
``max_queue_rows``: beyond it new requests are dropped and counted in ``dropped``, as
are rows the service refuses (they would be refused again) and those of a deployment the
log was not told of. ``close`` writes what is queued (once more if the store is down,
then counts what is left as dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.errors import ModelyardError, StorageError

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.predictions.entities import Segment
    from modelyard.serving._parts import Rows
    from modelyard.serving.entities import Deployment

__all__ = ["PredictionLog", "SegmentWriter"]

log = logging.getLogger(__name__)


class SegmentWriter(Protocol):
    """The part of the prediction service (``PredictionContract``) the log writes through."""

    def write_segment(
        self,
        project: str,
        deployment: str,
        table: bytes | pa.Table,
        *,
        deployment_id: str = "",
        writer: str = "",
    ) -> Segment: ...


_ALL = 1 << 32


@dataclass(frozen=True, slots=True)
class _Target:
    """A deployment the log writes for: its name, the share of requests it keeps (out of
    2**32) and the model and number of each version id its plan names."""

    name: str
    threshold: int
    versions: dict[str, tuple[str | None, int | None]]


#: What ``record`` queues: deployment id, its target, version id, prediction ids, inputs,
#: outputs, latency, time, shadow.
_Record = tuple[str, _Target, str, Sequence[str], "Rows", Sequence[Any], float, int, bool]


@dataclass(slots=True)
class _Batch:
    """One deployment's rows as a table, written or waiting to be."""

    deployment_id: str
    name: str
    table: pa.Table
    rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = self.table.num_rows


class PredictionLog:
    """Answered predictions, written off the request path as Parquet segments through
    ``predictions`` (the service, or its remote twin), for deployments of ``project``.

    ``writer``: who writes, kept with each segment (the server's ``host:port``);
    ``deployments``: the deployments to log from the start (more with :meth:`track`).
    """

    def __init__(
        self,
        predictions: SegmentWriter,
        *,
        project: str,
        flush_rows: int = 10_000,
        flush_s: float = 1.0,
        max_queue_rows: int = 200_000,
        writer: str = "",
        deployments: Iterable[Deployment] = (),
    ) -> None:
        if flush_rows < 1 or max_queue_rows < 1 or flush_s <= 0:
            raise ValueError("flush_rows, max_queue_rows and flush_s must be above 0")
        self.predictions = predictions
        self.project = project
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self.max_queue_rows = max_queue_rows
        self.writer = writer
        self._targets: dict[str, _Target] = {}
        self._lock = threading.Lock()
        self._queue: list[_Record] = []
        self._queued = 0  # accepted, not yet written (queued, or waiting to be written again)
        self._dropped = 0
        self._written = 0
        self._waking = False
        self._failed: list[_Batch] = []  # the writer thread's only
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelyard-predlog")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        for deployment in deployments:
            self.track(deployment)

    # -- what the log writes for ----------------------------------------------------------

    def track(self, deployment: Deployment) -> None:
        """Log ``deployment`` from now on (or again, with its new plan and sample rate)."""
        versions: dict[str, tuple[str | None, int | None]] = {}
        for route in (*deployment.plan.routes, *deployment.plan.shadows):
            if route.version_id is not None:
                versions[route.version_id] = (route.model, route.version)
        rate = min(max(float(deployment.sample_rate), 0.0), 1.0)
        self._targets = {
            **self._targets,
            deployment.id: _Target(deployment.name, int(rate * _ALL), versions),
        }

    def forget(self, deployment_id: str) -> None:
        """Stop logging a deployment (rows already queued are still written)."""
        self._targets = {k: v for k, v in self._targets.items() if k != deployment_id}

    # -- the request path -----------------------------------------------------------------

    def record(
        self,
        *,
        deployment_id: str,
        version_id: str,
        prediction_ids: Sequence[str],
        inputs: Rows,
        outputs: Sequence[Any],
        latency_ms: float,
        at_ms: int,
        shadow: bool = False,
    ) -> None:
        """Queue one answered request (never blocks, never raises)."""
        n = len(prediction_ids)
        target = self._targets.get(deployment_id)
        if target is None:
            with self._lock:
                self._dropped += n
            return
        if target.threshold < _ALL and not _kept(prediction_ids, target.threshold):
            return
        item = (
            deployment_id,
            target,
            version_id,
            prediction_ids,
            inputs,
            outputs,
            latency_ms,
            at_ms,
            shadow,
        )
        with self._lock:
            if self._queued + n > self.max_queue_rows:
                self._dropped += n
                return
            self._queued += n
            self._queue.append(item)
            wake = not self._waking and self._queued >= self.flush_rows
            if wake:
                self._waking = True
        if wake:
            self._wake_writer()

    def _wake_writer(self) -> None:
        loop, event = self._loop, self._wake
        if loop is None or event is None:
            return
        if threading.get_ident() == self._loop_thread:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: close() writes the rest
                loop.call_soon_threadsafe(event.set)

    @property
    def dropped(self) -> int:
        """Rows not logged: the queue was full, the service refused them, or their
        deployment was not tracked."""
        return self._dropped

    @property
    def queue_rows(self) -> int:
        """Rows accepted and not yet written."""
        return self._queued

    @property
    def written(self) -> int:
        """Rows written to the log."""
        return self._written

    # -- the writer -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the flushing task on the running event loop."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="modelyard-prediction-log")

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the log outlives a bug in one flush; its rows were counted
                log.exception("the prediction log could not flush")

    async def flush(self) -> None:
        """Write what is queued now (in the writer thread), and what waits from a failed
        write."""
        with self._lock:
            taken, self._queue = self._queue, []
            self._waking = False
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._write, taken)

    async def close(self) -> None:
        """Write what is queued, then stop; rows the store still could not take are
        counted as dropped."""
        self._closing = True
        if self._task is not None:
            if self._wake is not None:
                self._wake.set()
            await self._task
            self._task = None
        await self.flush()
        with self._lock:
            lost = self._queued
            self._queued = 0
            self._dropped += lost
        self._failed = []
        if lost:
            log.warning("the prediction log could not write %d rows before it closed", lost)
        self._executor.shutdown(wait=True)

    def _write(self, taken: list[_Record]) -> None:
        """In the writer thread: build one table per deployment, then write every table
        that waits, oldest first."""
        waiting = self._failed + self._tables(taken)
        self._failed = []
        for batch in _merged(waiting, self.flush_rows):
            if self._failed:  # the store is down: keep the rest for the next flush
                self._failed.append(batch)
                continue
            try:
                self.predictions.write_segment(
                    self.project,
                    batch.name,
                    batch.table,
                    deployment_id=batch.deployment_id,
                    writer=self.writer,
                )
            except StorageError as exc:
                log.warning("the prediction log waits for the store: %s", exc)
                self._failed.append(batch)
                continue
            except ModelyardError as exc:  # refused: it would be refused again
                log.error("the prediction log dropped %d rows: %s", batch.rows, exc)
                self._done(batch.rows, written=False)
                continue
            except Exception:  # a bug must not hold the rows behind it for ever
                log.exception("the prediction log dropped %d rows", batch.rows)
                self._done(batch.rows, written=False)
                continue
            self._done(batch.rows, written=True)

    def _done(self, rows: int, *, written: bool) -> None:
        with self._lock:
            self._queued -= rows
            if written:
                self._written += rows
            else:
                self._dropped += rows

    def _tables(self, taken: list[_Record]) -> list[_Batch]:
        by_deployment: dict[str, list[_Record]] = {}
        for item in taken:
            by_deployment.setdefault(item[0], []).append(item)
        batches = []
        for deployment_id, items in by_deployment.items():
            good = [i for i in items if _matches(i)]
            bad = sum(len(i[3]) for i in items) - sum(len(i[3]) for i in good)
            if bad:
                log.error("the prediction log dropped %d rows whose outputs do not match", bad)
                self._done(bad, written=False)
            if not good:
                continue
            try:
                table = _table(good)
            except Exception:  # a value Arrow cannot hold must not stop the log
                log.exception("the prediction log could not build a segment")
                self._done(sum(len(i[3]) for i in good), written=False)
                continue
            batches.append(_Batch(deployment_id, good[-1][1].name, table))
        return batches


def _matches(item: _Record) -> bool:
    """Whether a record's ids, inputs and outputs have as many rows."""
    try:
        return len(item[3]) == item[4].count == len(item[5])
    except TypeError:  # outputs without a length
        return False


def _kept(prediction_ids: Sequence[str], threshold: int) -> bool:
    """Whether a request is in its deployment's sample: the first 32 bits of its id."""
    try:
        return int(prediction_ids[0][:8], 16) < threshold
    except (ValueError, IndexError):
        return random.random() * _ALL < threshold


def _merged(batches: list[_Batch], most_rows: int) -> list[_Batch]:
    """Consecutive tables of one deployment as one, up to ``most_rows`` rows."""
    import pyarrow as pa

    out: list[_Batch] = []
    for batch in batches:
        last = out[-1] if out else None
        if (
            last is not None
            and last.deployment_id == batch.deployment_id
            and last.rows + batch.rows <= most_rows
        ):
            table = pa.concat_tables([last.table, batch.table], promote_options="permissive")
            out[-1] = _Batch(batch.deployment_id, batch.name, table)
        else:
            out.append(batch)
    return out


def _values(outputs: Any) -> list[Any]:
    tolist = getattr(outputs, "tolist", None)
    if callable(tolist):
        return list(tolist())
    to_dict = getattr(outputs, "to_dict", None)
    if callable(to_dict):  # a DataFrame: one mapping per row
        return list(to_dict("records"))
    return list(outputs)


def _column(values: list[Any]) -> pa.Array:
    """An Arrow column of ``values``; mixed or odd values are kept as JSON text."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in values], pa.string()
        )


def _table(items: list[_Record]) -> pa.Table:
    """One deployment's rows as a segment table."""
    import pyarrow as pa

    ids: list[str] = []
    version_ids: list[str] = []
    times: list[int] = []
    latencies: list[float] = []
    shadows: list[bool] = []
    inputs: dict[str, list[Any]] = {}
    outputs: dict[str, list[Any]] = {}
    named: list[tuple[str | None, int | None]] = []
    for _, target, version_id, prediction_ids, rows, answer, latency_ms, at_ms, shadow in items:
        n = len(prediction_ids)
        done = len(ids)
        ids.extend(prediction_ids)
        version_ids.extend([version_id] * n)
        times.extend([at_ms] * n)
        latencies.extend([latency_ms] * n)
        shadows.extend([shadow] * n)
        named.extend([target.versions.get(version_id, (None, None))] * n)
        given = rows.columns if rows.columns is not None else {}
        if rows.tensor is not None:
            given = {"": rows.tensor.tolist()}
        _extend(inputs, given, done, n)
        answered = _values(answer)
        if answered and all(isinstance(o, dict) for o in answered):
            named_outputs = {
                k: [o.get(k) for o in answered]
                for k in dict.fromkeys(k for o in answered for k in o)
            }
            _extend(outputs, named_outputs, done, n)
        else:
            _extend(outputs, {"": answered}, done, n)
    data: dict[str, pa.Array] = {
        "prediction_id": pa.array(ids, pa.string()),
        "version_id": pa.array(version_ids, pa.string()),
        "model": pa.array([m for m, _ in named], pa.string()),
        "version": pa.array([v for _, v in named], pa.int64()),
        "time": pa.array(times, pa.timestamp("ms", tz="UTC")),
        "latency_ms": pa.array(latencies, pa.float64()),
        "shadow": pa.array(shadows, pa.bool_()),
    }
    for name, values in inputs.items():
        data[f"input.{name}" if name else "input"] = _column(values)
    for name, values in outputs.items():
        data[f"output.{name}" if name else "output"] = _column(values)
    return pa.table(data)


def _extend(columns: dict[str, list[Any]], given: dict[str, list[Any]], done: int, n: int) -> None:
    """Append one request's ``n`` rows of ``given`` to ``columns`` (``done`` rows long so
    far): a column new here starts with nulls, one missing here gets nulls. Linear in
    the rows: no list is built for a column that exists, and the columns are walked for
    gaps only when this request lacks one."""
    for name, values in given.items():
        column = columns.get(name)
        if column is None:
            column = columns[name] = [None] * done
        column.extend(values)
    if len(given) == len(columns):
        return
    for column in columns.values():
        if len(column) < done + n:
            column.extend([None] * (done + n - len(column)))
