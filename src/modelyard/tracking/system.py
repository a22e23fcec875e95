"""System metrics for a run: periodic samples of CPU, memory, I/O and GPU, and a usage total.

``SystemSampler`` watches one process and its children on a daemon thread and hands each
sample to a callback as ``system/...`` metrics; ``stop()`` returns the run's
:class:`ResourceUsage`, which ``modelyard.tracking.cost`` turns into money. psutil is
imported when a sampler starts, not when this module is imported; GPU figures come from
NVML (``pip install nvidia-ml-py``) when it is installed and a GPU driver answers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import psutil

__all__ = ["ResourceUsage", "SamplingThread", "SystemSampler"]

_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ResourceUsage:
    """What a run consumed between ``start()`` and ``stop()``.

    ``cpu_time_s`` is user + system time of the process and its children; ``gpu_time_s``
    is GPU-seconds (utilization fraction x time, summed over GPUs and samples).
    ``peak_rss_bytes`` includes the kernel's peak for this process on Linux, which covers
    its whole life, not only the sampled span.
    """

    wall_time_s: float
    cpu_time_s: float
    peak_rss_bytes: int
    gpu_time_s: float = 0.0
    gpu_count: int = 0


@dataclass
class _Reading:
    """One look at a process and its live descendants, summed."""

    at: float
    rss_bytes: int = 0
    num_threads: int = 0
    io: dict[psutil.Process, tuple[int, int]] = field(default_factory=dict)
    #: CPU seconds (user + system, with reaped children's) of each process read.
    cpu: dict[psutil.Process, float] = field(default_factory=dict)

    def cpu_since(self, earlier: _Reading) -> float:
        """CPU seconds used since ``earlier``: each process's own increase, so a process
        that was already running then counts only what it used since (and one that
        started since, all of it)."""
        return sum(max(0.0, cpu - earlier.cpu.get(p, 0.0)) for p, cpu in self.cpu.items())


class SamplingThread:
    """One daemon thread that takes the samples of every sampler given to it, each when due.

    A sampler with a thread of its own starts it with its run and joins it at the end: two
    waits for the scheduler per run, milliseconds each on a busy machine, paid by every
    pipeline step. A :class:`~modelyard.Client` keeps one of these for all its runs. The
    thread starts with the first sampler (again after a fork) and ends at :meth:`close`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._samplers: dict[SystemSampler, None] = {}  # an ordered set
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, sampler: SystemSampler) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("SamplingThread is closed")
            self._samplers[sampler] = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="modelyard-system-metrics", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def discard(self, sampler: SystemSampler) -> None:
        with self._cond:
            self._samplers.pop(sampler, None)

    def close(self) -> None:
        """Stop the thread; samplers still added take no more samples."""
        with self._cond:
            self._closed = True
            self._samplers.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                due = [s for s in self._samplers if s._due <= now]
                if not due:
                    soonest = min((s._due for s in self._samplers), default=None)
                    self._cond.wait(None if soonest is None else soonest - now)
                    continue
            for sampler in due:
                if not sampler._tick():
                    self.discard(sampler)


class SystemSampler:
    """Samples a process (default: this one) and its children every ``interval_s`` seconds.

    Each sample is passed to ``sink_fn(values, step)`` with ``step`` = sample index (0, 1,
    ...); the first sample comes one interval after ``start()``. ``interval_s == 0`` takes
    no samples (no thread) but ``stop()`` still measures usage. The samples are taken on
    ``thread`` when one is given, else on a thread of the sampler's own. GPU metrics are
    device-wide figures for every GPU NVML reports (whoever uses them), named by NVML index.
    """

    def __init__(
        self,
        sink_fn: Callable[[dict[str, float], int], None],
        interval_s: float,
        pid: int | None = None,
        *,
        thread: SamplingThread | None = None,
    ) -> None:
        if interval_s < 0:
            raise InvalidInput(f"interval_s must be >= 0, got {interval_s}", field="interval_s")
        self._sink_fn = sink_fn
        self._interval_s = interval_s
        self._pid = pid
        self._shared = thread
        self._stopping = threading.Event()
        # Held while a sample is taken; stop() takes it, so no sample follows stop().
        self._tick_lock = threading.Lock()
        self._step = 0
        self._due = 0.0  # when the next sample is due (time.monotonic())
        self._gpus: _Gpus | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._usage: ResourceUsage | None = None
        self._proc: psutil.Process | None = None
        # Set by start(); updated by samples under self._lock.
        self._start: _Reading
        self._last: _Reading
        self._net_start: tuple[int, int] | None = None
        self._io_seen: dict[psutil.Process, tuple[int, int]] = {}
        self._io_retired = (0, 0)
        self._peak_rss = 0
        self._gpu_time_s = 0.0
        self._gpu_count = 0

    def start(self) -> None:
        """Take the baseline and, if ``interval_s > 0``, start the sampling thread."""
        import psutil

        if self._proc is not None:
            raise RuntimeError("SystemSampler already started")
        try:
            self._proc = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            raise NotFound(f"no process with pid {self._pid}", field="pid") from None
        # The baseline reads the children that are already running too, so that only what
        # they use from now on is counted (a test session's servers, a Ray instance, ...).
        self._start = self._last = _read(self._proc)
        self._io_seen = dict(self._start.io)
        self._peak_rss = self._start.rss_bytes
        self._net_start = _net_bytes()
        if self._interval_s > 0:
            self._due = self._next_due(0)
            if self._shared is not None:
                self._shared.add(self)
            else:
                self._thread = threading.Thread(
                    target=self._run, name="modelyard-system-metrics", daemon=True
                )
                self._thread.start()

    def stop(self) -> ResourceUsage:
        """Stop sampling and return the usage since ``start()``; later calls return the same."""
        import psutil

        with self._lock:
            if self._usage is not None:
                return self._usage
            if self._proc is None:
                raise RuntimeError("SystemSampler was not started")
        self._stopping.set()
        if self._shared is not None:
            self._shared.discard(self)
            with self._tick_lock:  # a sample being taken is finished first
                self._close_gpus()
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT_S)
        try:
            final = _read(self._proc)
        except psutil.Error:  # the watched process is gone: keep the last good reading
            final = self._last
        with self._lock:
            if self._usage is None:
                peak = max(self._peak_rss, final.rss_bytes, self._own_max_rss())
                self._usage = ResourceUsage(
                    wall_time_s=final.at - self._start.at,
                    cpu_time_s=final.cpu_since(self._start),
                    peak_rss_bytes=peak,
                    gpu_time_s=self._gpu_time_s,
                    gpu_count=self._gpu_count,
                )
            return self._usage

    def _run(self) -> None:
        """The sampler's own thread. Fixed-rate schedule; Event.wait lets stop() interrupt
        the wait at once."""
        try:
            while not self._stopping.wait(max(0.0, self._due - time.monotonic())):
                if not self._tick():
                    return
        finally:
            with self._tick_lock:
                self._close_gpus()

    def _tick(self) -> bool:
        """Take the sample that is due and hand it to the sink; False once sampling is over
        (stopped, or the watched process is gone)."""
        import psutil

        with self._tick_lock:
            if self._stopping.is_set():
                return False
            if self._gpus is None:
                self._gpus = _Gpus()
                with self._lock:
                    self._gpu_count = self._gpus.count
            try:
                values = self._sample(self._gpus)
            except psutil.NoSuchProcess:
                return False
            except Exception:  # a failed sample must never reach the user's program
                self._due = time.monotonic() + self._interval_s
                return True
            with contextlib.suppress(Exception):
                self._sink_fn(values, self._step)
            self._step += 1
            self._due = self._next_due(self._step)
            return True

    def _close_gpus(self) -> None:
        if self._gpus is not None:
            self._gpus.close()
            self._gpus = None

    def _next_due(self, step: int) -> float:
        return self._start.at + (step + 1) * self._interval_s

    def _sample(self, gpus: _Gpus) -> dict[str, float]:
        import psutil

        assert self._proc is not None
        now = _read(self._proc)
        gpu_readings = gpus.read()
        with self._lock:
            prev, self._last = self._last, now
            elapsed = now.at - prev.at
            self._peak_rss = max(self._peak_rss, now.rss_bytes)
            self._gpu_time_s += sum(util for _, util, _ in gpu_readings) * elapsed
            disk_read, disk_written = self._io_totals(now)
        values = {
            "system/cpu_percent": (100.0 * now.cpu_since(prev) / elapsed if elapsed else 0.0),
            "system/rss_bytes": float(now.rss_bytes),
            "system/num_threads": float(now.num_threads),
        }
        if now.io or self._start.io:
            values["system/disk_read_bytes"] = float(disk_read)
            values["system/disk_write_bytes"] = float(disk_written)
        net = _net_bytes()
        if net is not None and self._net_start is not None:
            values["system/net_sent_bytes"] = float(net[0] - self._net_start[0])
            values["system/net_recv_bytes"] = float(net[1] - self._net_start[1])
        values["system/host_memory_percent"] = float(psutil.virtual_memory().percent)
        for index, util, memory in gpu_readings:
            values[f"system/gpu{index}_utilization"] = 100.0 * util
            values[f"system/gpu{index}_memory_bytes"] = float(memory)
        return values

    def _io_totals(self, now: _Reading) -> tuple[int, int]:
        """Bytes read/written since start, keeping the share of children that have exited."""
        for proc in [p for p in self._io_seen if p not in now.io]:
            gone = self._io_seen.pop(proc)
            self._io_retired = (self._io_retired[0] + gone[0], self._io_retired[1] + gone[1])
        self._io_seen.update(now.io)
        base = self._start.io.values()
        read = self._io_retired[0] + sum(r for r, _ in self._io_seen.values())
        written = self._io_retired[1] + sum(w for _, w in self._io_seen.values())
        return read - sum(r for r, _ in base), written - sum(w for _, w in base)

    def _own_max_rss(self) -> int:
        """Peak RSS the kernel recorded for this process (Linux; 0 elsewhere or for a pid).

        Read from ``VmHWM``: ``ru_maxrss`` keeps the parent's high-water mark across fork
        and exec, so a small script started by a large process would report the parent's.
        """
        if not sys.platform.startswith("linux") or self._pid not in (None, os.getpid()):
            return 0
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024  # kB
        except (OSError, ValueError):
            return 0
        return 0


def _read(proc: psutil.Process) -> _Reading:
    """Read ``proc`` and its live descendants; raises psutil.Error if ``proc`` is gone."""
    import psutil

    reading = _Reading(at=time.monotonic())
    family = [proc]
    with contextlib.suppress(psutil.Error):
        family += _descendants(proc)
    for p in family:
        try:
            with p.oneshot():
                times = p.cpu_times()
                rss = p.memory_info().rss
                threads = p.num_threads()
                io = _io_counters(p)
        except psutil.Error:
            if p is proc:
                raise
            continue  # a child that exited meanwhile
        reading.cpu[p] = (
            times.user
            + times.system
            + getattr(times, "children_user", 0.0)
            + getattr(times, "children_system", 0.0)
        )
        reading.rss_bytes += rss
        reading.num_threads += threads
        if io is not None:
            reading.io[p] = io
    return reading


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    """The live descendants of ``proc``. On Linux they are read from the kernel's list of
    each thread's children (``/proc/PID/task/TID/children``), a few small files, where
    psutil reads the status of every process on the host (~1.5 ms with 100 processes,
    at the end of every run)."""
    import psutil

    if not _kernel_lists_children():
        return proc.children(recursive=True)
    found: list[psutil.Process] = []
    queue = [proc.pid]
    while queue:
        pid = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:  # exited meanwhile
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as listing:
                    kids = [int(child) for child in listing.read().split()]
            except OSError:  # the thread ended meanwhile
                continue
            for kid in kids:
                with contextlib.suppress(psutil.Error):
                    found.append(psutil.Process(kid))
                    queue.append(kid)
    return found


@functools.cache
def _kernel_lists_children() -> bool:
    """Whether the kernel keeps ``/proc/PID/task/TID/children`` (Linux 3.5+ built with
    CONFIG_PROC_CHILDREN)."""
    return os.path.exists(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/children")


def _io_counters(proc: psutil.Process) -> tuple[int, int] | None:
    import psutil

    if not hasattr(proc, "io_counters"):  # macOS
        return None
    try:
        counters = proc.io_counters()
    except psutil.AccessDenied:
        return None
    return counters.read_bytes, counters.write_bytes


def _net_bytes() -> tuple[int, int] | None:
    import psutil

    counters = psutil.net_io_counters()
    return None if counters is None else (counters.bytes_sent, counters.bytes_recv)


class _Gpus:
    """NVML handles for all GPUs of the host; none when NVML is missing or fails."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # not installed, no driver, no GPU
            return
        self._nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:
            self.close()

    @property
    def count(self) -> int:
        return len(self._handles)

    def read(self) -> list[tuple[int, float, int]]:
        """(index, utilization fraction, memory used in bytes) per GPU; [] if NVML fails."""
        try:
            return [
                (
                    index,
                    self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100.0,
                    int(self._nvml.nvmlDeviceGetMemoryInfo(handle).used),
                )
                for index, handle in enumerate(self._handles)
            ]
        except Exception:
            return []

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None
            self._handles = []
