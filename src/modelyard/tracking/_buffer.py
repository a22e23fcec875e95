"""The write-behind buffer: logging calls enqueue, one background thread writes batches.

``log_metric`` costs a tuple and a deque append (well under a microsecond of our own
work). A daemon thread drains the deques every ``flush_interval_s`` and hands each batch
to the writer, which stores it in one transaction. It is not woken early during a burst
(on two cores it would only fight the logging loop for the interpreter lock): when a
deque reaches its bound, the caller flushes synchronously instead (back-pressure:
nothing is ever dropped). A process killed with SIGKILL
therefore loses at most what was logged in the last flush interval, and because every
batch is one transaction, never leaves a half-written batch behind.

Each batch gets a random id when it is taken from the queues. A write that fails with
StorageError is retried later with the same rows under the same id (with backoff and
jitter), so a batch that was stored although the caller saw a failure (a lost answer from
the tracking server, a dropped connection at commit) is skipped, never stored twice.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from modelyard.errors import ModelyardError, StorageError
from modelyard.limits import BATCH_ROWS

__all__ = ["Batch", "LogBuffer"]

MetricRow = tuple[str, str, float, int, int]  # run_id, key, value, step, timestamp_ms
KeyValueRow = tuple[str, str, str]  # run_id, key, value

_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(slots=True)
class Batch:
    metrics: list[MetricRow] = field(default_factory=list)
    params: list[KeyValueRow] = field(default_factory=list)
    tags: list[KeyValueRow] = field(default_factory=list)
    heartbeats: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.metrics or self.params or self.tags or self.heartbeats)


class LogBuffer:
    """Bounded queues of pending writes plus the thread that flushes them."""

    def __init__(
        self,
        writer: Callable[[Batch, str], ModelyardError | None],
        *,
        flush_interval_s: float = 1.0,
        max_size: int = 100_000,
        heartbeat_interval_s: float = 5.0,
        exit_flush_timeout_s: float = 10.0,
    ) -> None:
        self.metrics: deque[MetricRow] = deque()
        self.params: deque[KeyValueRow] = deque()
        self.tags: deque[KeyValueRow] = deque()
        self.max_size = max_size
        self._writer = writer
        self._interval = flush_interval_s
        self._heartbeat_interval = heartbeat_interval_s
        self._exit_timeout = exit_flush_timeout_s
        self._live_runs: set[str] = set()
        self._inflight: tuple[Batch, str] | None = None
        self._last_heartbeat = time.monotonic()
        self._drain_lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._failure: ModelyardError | None = None
        self._thread = threading.Thread(target=self._loop, name="modelyard-flusher", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # -- producer side ------------------------------------------------------------

    def full(self) -> None:
        """A deque reached its bound: write synchronously before accepting more."""
        self.flush()

    def add_live_run(self, run_id: str) -> None:
        self._live_runs.add(run_id)

    def remove_live_run(self, run_id: str) -> None:
        self._live_runs.discard(run_id)

    @property
    def pending(self) -> int:
        """Values waiting to be written (a batch in flight counts one more, for its
        heartbeats)."""
        queued = len(self.metrics) + len(self.params) + len(self.tags)
        if self._inflight is not None:
            batch = self._inflight[0]
            queued += len(batch.metrics) + len(batch.params) + len(batch.tags) + 1
        return queued

    # -- consumer side ------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Write everything enqueued so far; raise StorageError if it cannot be stored."""
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt = 0
        while True:
            with self._drain_lock:
                self._raise_failure()
                try:
                    while self.pending:
                        self._write_one_batch()
                    self._raise_failure()
                    return
                except StorageError as exc:
                    last = exc
            if deadline is not None and time.monotonic() >= deadline:
                raise StorageError(
                    f"could not store {self.pending} pending values within {timeout:.1f} s: "
                    f"{last.message}"
                )
            time.sleep(_backoff(attempt))
            attempt += 1

    def close(self, timeout: float | None = None) -> None:
        """Flush (bounded by ``timeout``) and stop the thread."""
        if self._closed:
            return
        timeout = self._exit_timeout if timeout is None else timeout
        try:
            self.flush(timeout=timeout)
        finally:
            self._closed = True
            self._stop.set()
            self._thread.join(timeout=max(timeout, 0.1))
            atexit.unregister(self._at_exit)

    def _loop(self) -> None:
        attempt = 0
        while not self._closed:
            self._stop.wait(self._interval if attempt == 0 else _backoff(attempt - 1))
            self._stop.clear()
            if self._closed:
                return
            try:
                with self._drain_lock:
                    if self._failure is None:
                        self._write_due()
                attempt = 0
            except StorageError:
                attempt = min(attempt + 1, len(_RETRY_DELAYS))
            except ModelyardError as exc:
                self._failure = exc

    def _write_due(self) -> None:
        heartbeat_due = time.monotonic() - self._last_heartbeat >= self._heartbeat_interval
        if heartbeat_due and self._live_runs:
            self._write_one_batch(heartbeats=list(self._live_runs))
        while self.pending:
            self._write_one_batch()

    def _write_one_batch(self, heartbeats: list[str] | None = None) -> None:
        """Write the batch that failed last time, else take a new one from the queues."""
        if self._inflight is None:
            batch = Batch(
                metrics=_take(self.metrics, BATCH_ROWS),
                params=_take(self.params, BATCH_ROWS),
                tags=_take(self.tags, BATCH_ROWS),
                heartbeats=heartbeats or [],
            )
            if not batch:
                return
            self._inflight = (batch, secrets.token_hex(12))
        batch, batch_id = self._inflight
        try:
            deferred = self._writer(batch, batch_id)
        except BaseException as exc:
            if not isinstance(exc, StorageError):  # refused for good, not a passing failure
                self._inflight = None
            raise  # a StorageError keeps the batch in flight: retried with the same id
        self._inflight = None
        if batch.heartbeats:
            self._last_heartbeat = time.monotonic()
        if deferred is not None:
            self._failure = deferred

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _at_exit(self) -> None:
        with contextlib.suppress(ModelyardError):
            try:
                self.close(timeout=self._exit_timeout)
            except StorageError as exc:
                print(f"modelyard: {exc.message}", file=sys.stderr)


def _take(queue: deque, limit: int) -> list:
    n = min(len(queue), limit)
    pop = queue.popleft
    return [pop() for _ in range(n)]


def _backoff(attempt: int) -> float:
    """The wait before retry ``attempt`` (0-based): growing, with jitter so that many
    clients retrying against one server do not do it in step."""
    delay = _RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)]
    return delay * random.uniform(0.5, 1.0)
