"""Adaptive micro-batching for one loaded version, with load shedding above its measured
capacity.

Requests queue on the event loop; one batch at a time is predicted off it (on one worker
thread of its own by default: a model predicts one batch at a time, and a second thread
on the same model only fights it for the GIL and the cores). The policy:

- A request that finds the batcher idle is predicted at once, with whatever arrived in
  the same turn of the event loop: a lone request waits for nothing.
- While a batch is predicting, arrivals gather; the next batch takes everything queued,
  oldest first, up to ``max_rows`` rows. A request's own rows count, and a request larger
  than ``max_rows`` is predicted alone, never split and never refused for its size.
- Past that, the next batch waits for more only when it pays: when the batcher is near
  capacity (it had work, or the process used a core, for 70% of the last 50 ms or more:
  bigger batches then cost less per row, and leave the CPU to the HTTP work),
  while the measured arrival rate says another row comes within ``max_wait_ms``, and only
  as long as rows keep coming (each arrival extends the wait by twice the expected gap,
  never past ``max_wait_ms`` after the batch could have started). With time to spare, the
  next batch goes at once; when every client is already queued, no more come, and the
  batch goes within two gaps.
- Capacity is the exponentially weighted rows per second that its batches were answered
  at, the first batch left out: it pays for the model's warm-up. A request whose wait,
  at that rate, behind the rows already queued would pass ``max_queue_ms`` is refused
  with :class:`~modelyard.errors.Overloaded` and a ``retry_after`` of that wait; before
  anything is measured, nothing is refused.

When a batch fails, each request in it is predicted again on its own, so that one request
with a value the model chokes on fails alone. A ModelyardError reaches the request as it
is; anything else becomes :class:`~modelyard.errors.PredictionFailed` (HTTP 500).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelUnavailable, ModelyardError, Overloaded, PredictionFailed
from modelyard.serving._parts import Rows

if TYPE_CHECKING:
    from modelyard.config import ServingSettings

__all__ = ["MicroBatcher"]

log = logging.getLogger("modelyard.serving")

PredictBatch = Callable[[list[Rows]], list[Sequence[Any]]]
#: Weight of the newest batch (or arrival) in the moving averages.
_ALPHA = 0.2
#: A wait for more rows lasts while one is expected within this many mean gaps.
_GAPS = 2.0
#: Waiting for rows pays only when the batcher had work (or the process a core's worth of
#: it) for at least this share of...
_BUSY = 0.7
#: ...as measured over the last stretch of at least this many seconds.
_LOAD_WINDOW_S = 0.05


class _Pending:
    __slots__ = ("future", "rows")

    def __init__(self, rows: Rows, future: asyncio.Future[Sequence[Any]]) -> None:
        self.rows = rows
        self.future = future


# What the worker thread hands back: one outcome per request, seconds, whether it all ran
# as one batch (only those runs measure capacity).
_Outcome = tuple[list[Sequence[Any] | BaseException], float, bool]


class MicroBatcher:
    """The :class:`~modelyard.serving._parts.Batcher` of one loaded version.

    ``predict_batch`` takes the requests' rows (``list[Rows]``) and returns one output
    sequence per request, one output per row; it runs on ``executor`` (by default a
    thread of the batcher's own, shut down by :meth:`close`). ``on_batch(rows, seconds)``
    is called on the event loop after each batch, for metrics.
    """

    def __init__(
        self,
        predict_batch: PredictBatch,
        *,
        max_rows: int,
        max_wait_ms: float,
        max_queue_ms: float,
        executor: concurrent.futures.Executor | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self._predict_batch = predict_batch
        self._max_rows = max_rows
        self._max_wait_s = max(max_wait_ms, 0.0) / 1000.0
        self._max_queue_s = max(max_queue_ms, 0.0) / 1000.0
        self._own_executor = executor is None
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="modelyard-batch"
        )
        self._on_batch = on_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._busy = False  # a batch is scheduled, waiting for rows, or predicting
        self._wait_deadline = 0.0
        self._wait_handle: asyncio.TimerHandle | None = None
        self._last_arrival = 0.0
        self._gap_s: float | None = None  # mean seconds between arriving rows
        self._gap_cap = max(4 * self._max_wait_s, 0.001)
        self._batches = 0  # whole batches answered
        self._ew_rows = 0.0
        self._ew_seconds = 0.0
        self._load = 0.0  # busy share of the last window: the worker's, or the process's CPU
        self._window_wall = time.perf_counter()
        self._window_cpu = time.process_time()
        self._window_busy = 0.0
        self._busy_since = 0.0
        self._closing = False
        self._drained: asyncio.Event | None = None

    @classmethod
    def from_settings(
        cls,
        predict_batch: PredictBatch,
        serving: ServingSettings,
        *,
        executor: concurrent.futures.Executor | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> MicroBatcher:
        """A batcher with ``settings.serving``'s max_batch_rows, max_wait_ms and
        max_queue_ms."""
        return cls(
            predict_batch,
            max_rows=serving.max_batch_rows,
            max_wait_ms=serving.max_wait_ms,
            max_queue_ms=serving.max_queue_ms,
            executor=executor,
            on_batch=on_batch,
        )

    @property
    def queue_rows(self) -> int:
        """Rows waiting for a batch (not those being predicted)."""
        return self._queued_rows

    @property
    def capacity(self) -> float | None:
        """Measured rows per second: the exponentially weighted rate of its batches, each
        from its dispatch to its answers (the hand-offs to the worker and back included).
        None until a batch after the first is answered: a model's first call pays for
        caches and lazy set-up, and is no measure of it."""
        return self._ew_rows / self._ew_seconds if self._ew_seconds > 0 else None

    async def submit(self, rows: Rows) -> Sequence[Any]:
        """The outputs for ``rows`` (one per row). Overloaded when the rows already queued
        would keep it past ``max_queue_ms`` at the measured capacity; ModelUnavailable
        once the batcher is closing."""
        if self._closing:
            raise ModelUnavailable("this model version is shutting down; send the request again")
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        capacity = self.capacity
        if capacity is not None and self._queued_rows:
            wait_s = self._queued_rows / capacity
            if wait_s > self._max_queue_s:
                raise Overloaded(
                    f"the model is over capacity ({self._queued_rows} rows queued at "
                    f"{capacity:.0f} rows/s would wait {wait_s * 1000:.0f} ms); retry later",
                    retry_after=max(1, math.ceil(wait_s)),
                )
        self._arrived(rows.count)
        future: asyncio.Future[Sequence[Any]] = loop.create_future()
        self._queue.append(_Pending(rows, future))
        self._queued_rows += rows.count
        if not self._busy:
            self._busy = True
            self._busy_since = time.perf_counter()
            loop.call_soon(self._dispatch)
        elif self._wait_handle is not None:
            self._extend_wait()
        return await future

    async def close(self) -> None:
        """Answer what is queued and being predicted, then refuse new requests."""
        self._closing = True
        if self._busy:
            if self._drained is None:
                self._drained = asyncio.Event()
            if self._wait_handle is not None:
                self._wait_handle.cancel()
                self._wait_handle = None
                self._dispatch()
            await self._drained.wait()
        if self._own_executor:
            self._executor.shutdown(wait=False)

    # --- on the event loop ---------------------------------------------------------------

    def _arrived(self, count: int) -> None:
        now = time.perf_counter()
        if self._last_arrival:
            # a gap past what any wait could use says only "none pays": capped, so that
            # the average comes back within a few arrivals once traffic resumes
            gap = min((now - self._last_arrival) / max(count, 1), self._gap_cap)
            self._gap_s = gap if self._gap_s is None else self._gap_s + _ALPHA * (gap - self._gap_s)
        self._last_arrival = now

    def _extend_wait(self) -> None:
        """A row arrived during a wait: go now if the batch is full, else wait on while
        more are expected."""
        assert self._wait_handle is not None and self._loop is not None
        self._wait_handle.cancel()
        self._wait_handle = None
        if self._queued_rows >= self._max_rows or self._gap_s is None:
            self._dispatch()
            return
        until = min(self._wait_deadline, time.perf_counter() + _GAPS * self._gap_s)
        self._wait_handle = self._loop.call_later(
            max(until - time.perf_counter(), 0.0), self._wait_over
        )

    def _wait_over(self) -> None:
        self._wait_handle = None
        self._dispatch()

    def _dispatch(self) -> None:
        """Start a batch of what is queued (up to ``max_rows`` rows, a larger first
        request alone); with nothing queued, go idle."""
        batch: list[_Pending] = []
        rows = 0
        queue = self._queue
        while queue:
            head = queue[0]
            if head.future.done():  # its caller went away while it queued
                queue.popleft()
                self._queued_rows -= head.rows.count
                continue
            if batch and rows + head.rows.count > self._max_rows:
                break
            queue.popleft()
            batch.append(head)
            rows += head.rows.count
            self._queued_rows -= head.rows.count
            if rows >= self._max_rows:
                break
        if not batch:
            self._idle()
            return
        loop = self._loop
        assert loop is not None
        try:
            done = self._executor.submit(self._run, [p.rows for p in batch])
        except RuntimeError as exc:  # an executor someone else shut down
            refused: concurrent.futures.Future[_Outcome] = concurrent.futures.Future()
            refused.set_exception(ModelUnavailable(f"this model version cannot predict: {exc}"))
            loop.call_soon(self._finished, batch, rows, 0.0, refused)
            return
        started = time.perf_counter()
        done.add_done_callback(
            lambda outcome: loop.call_soon_threadsafe(self._finished, batch, rows, started, outcome)
        )

    def _finished(
        self,
        batch: list[_Pending],
        rows: int,
        started: float,
        done: concurrent.futures.Future[_Outcome],
    ) -> None:
        try:
            outcomes, seconds, whole = done.result()
        except BaseException as exc:  # the worker itself died: every request is told
            outcomes, seconds, whole = [exc] * len(batch), 0.0, False
        # capacity counts the batch as the queue sees it: from its dispatch to its answers
        # back on the event loop (the hand-offs to and from the worker included)
        took = time.perf_counter() - started
        if whole and took > 0:
            self._batches += 1
            if self._batches == 2:
                self._ew_rows, self._ew_seconds = float(rows), took
            elif self._batches > 2:
                self._ew_rows += _ALPHA * (rows - self._ew_rows)
                self._ew_seconds += _ALPHA * (took - self._ew_seconds)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(_as_error(outcome))
            else:
                pending.future.set_result(outcome)
        self._measure_load()
        if self._on_batch is not None:
            try:
                self._on_batch(rows, seconds)
            except Exception:  # a metrics hook must not stop the batcher
                log.exception("on_batch failed")
        self._next()

    def _measure_load(self) -> None:
        """How busy things were over the last window: the share of it the batcher had work
        (a batch predicting, or rows queued or gathering: never idle for want of
        requests), or the CPU the whole process used (its HTTP work, other versions),
        whichever is higher. Time spent waiting for rows counts as busy, so that waiting
        does not talk itself out of being needed."""
        wall = time.perf_counter()
        span = wall - self._window_wall
        if span < _LOAD_WINDOW_S:
            return
        busy = self._window_busy + wall - max(self._busy_since, self._window_wall)
        cpu = time.process_time()
        self._load = max(busy / span, (cpu - self._window_cpu) / span)
        self._window_wall, self._window_cpu, self._window_busy = wall, cpu, 0.0

    def _next(self) -> None:
        """After a batch: the next one now, after a wait that pays, or idle."""
        if not self._queue:
            self._idle()
            return
        gap = self._gap_s
        if (
            self._closing
            or self._queued_rows >= self._max_rows
            or gap is None
            or gap > self._max_wait_s
            or self._load < _BUSY
        ):
            self._dispatch()
            return
        assert self._loop is not None
        now = time.perf_counter()
        self._wait_deadline = now + self._max_wait_s
        self._wait_handle = self._loop.call_later(
            min(self._max_wait_s, _GAPS * gap), self._wait_over
        )

    def _idle(self) -> None:
        self._busy = False
        now = time.perf_counter()
        self._window_busy += now - max(self._busy_since, self._window_wall)
        if self._drained is not None:
            self._drained.set()

    # --- on the worker thread ------------------------------------------------------------

    def _run(self, batch: list[Rows]) -> _Outcome:
        start = time.perf_counter()
        try:
            outputs = self._checked(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [exc], time.perf_counter() - start, False
            log.warning(
                "a batch of %d requests failed (%s); predicting them one by one", len(batch), exc
            )
            return [self._alone(rows) for rows in batch], time.perf_counter() - start, False
        return list(outputs), time.perf_counter() - start, True

    def _alone(self, rows: Rows) -> Sequence[Any] | BaseException:
        try:
            return self._checked([rows])[0]
        except Exception as exc:
            return exc

    def _checked(self, batch: list[Rows]) -> list[Sequence[Any]]:
        outputs = self._predict_batch(batch)
        if len(outputs) != len(batch) or any(
            len(out) != rows.count for out, rows in zip(outputs, batch, strict=False)
        ):
            raise PredictionFailed(
                "the model answered a different number of outputs than it was given rows"
            )
        return outputs


def _as_error(exc: BaseException) -> BaseException:
    if isinstance(exc, ModelyardError):
        return exc
    message = f"{type(exc).__name__}: {exc}"
    if len(message) > 300:
        message = message[:297] + "..."
    error = PredictionFailed(f"the model failed to predict: {message}")
    error.__cause__ = exc
    return error
