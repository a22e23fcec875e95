"""What an inference server tells the control plane: every ``serving.report_s`` seconds,
per deployment and version, the requests it answered since its last report, the errors
among them (5xx the version caused) and a latency histogram over fixed buckets, plus the
versions it found unhealthy (``DeploymentContract.report``), and what the server process
used meanwhile: its CPU-seconds (``time.process_time``: user + system time of all its
threads) and its memory-time (its RSS integrated over the window by the trapezoid rule,
in byte-seconds, from a sample every :data:`SAMPLE_S` seconds while it waits to report).
A window in which nothing was answered is not sent: its usage goes into the next report
(whose ``usage_start`` says from when), so the deployments served next pay for it.

Counting is a dictionary lookup and three additions on the event loop (usage costs
nothing per request: one RSS read per sample); the report is sent from a thread. A report
that cannot be sent is kept and added to the next one (its window grows, its usage too),
so a control plane that is down for a while loses no counts.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import socket
import time
from collections.abc import Callable

from modelyard.errors import ModelyardError
from modelyard.serving.contract import DeploymentContract
from modelyard.serving.rollouts import (
    LATENCY_BUCKETS_MS,
    REPORT_ENTRIES,
    ServingReport,
    UnhealthyVersion,
    VersionStats,
)

__all__ = ["SAMPLE_S", "Reporter", "Usage"]

#: Seconds between two reads of the server's RSS while it waits to report.
SAMPLE_S = 1.0

logger = logging.getLogger("modelyard.serving")


def _now_ms() -> int:
    return int(time.time() * 1000)


class Usage:
    """The CPU-seconds and memory-time (byte-seconds) this process used since the last
    :meth:`take`: the CPU time read at each take, the RSS integrated between samples."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._cpu = time.process_time()
        self._at = time.monotonic()
        self._rss = self._process.memory_info().rss
        self._memory = 0.0

    def sample(self) -> None:
        """Read the RSS now and add the area since the last read to the memory-time."""
        at, rss = time.monotonic(), self._process.memory_info().rss
        self._memory += (at - self._at) * (self._rss + rss) / 2
        self._at, self._rss = at, rss

    def take(self) -> tuple[float, float]:
        """CPU-seconds and byte-seconds since the last take; both start again."""
        self.sample()
        cpu = time.process_time()
        used = (max(0.0, cpu - self._cpu), self._memory)
        self._cpu, self._memory = cpu, 0.0
        return used

    def give_back(self, cpu_s: float, memory_byte_s: float) -> None:
        """Usage a report could not carry: it goes into the next take."""
        self._cpu -= cpu_s
        self._memory += memory_byte_s


class Reporter:
    """Counts answers per deployment and version and reports them (see the module)."""

    def __init__(
        self,
        deployments: DeploymentContract,
        project: str,
        *,
        report_s: float,
        unhealthy: Callable[[], list[UnhealthyVersion]],
        server: str | None = None,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.deployments = deployments
        self.project = project
        self.report_s = report_s
        self.unhealthy = unhealthy
        self.server = server or f"{socket.gethostname()}:{os.getpid()}"
        self.clock = clock
        self.sent = 0
        self.failures = 0
        self._counts: dict[tuple[str, str], list[int]] = {}
        self._since = clock()
        self._usage_since = self._since
        self.usage = Usage()

    def answered(self, deployment: str, version_id: str, seconds: float, error: bool) -> None:
        """Count one request a version answered (``error``: a 5xx it caused)."""
        counts = self._counts.get((deployment, version_id))
        if counts is None:  # requests, errors, then one count per latency bucket
            counts = self._counts[(deployment, version_id)] = [0] * (len(LATENCY_BUCKETS_MS) + 3)
        counts[0] += 1
        counts[1] += error
        counts[2 + bisect.bisect_left(LATENCY_BUCKETS_MS, seconds * 1000)] += 1

    def take(self) -> ServingReport:
        """The report of everything counted since the last one taken; counting starts
        again."""
        counts, self._counts = self._counts, {}
        start, end = self._since, max(self.clock(), self._since)
        usage_start, self._since = self._usage_since, end
        self._usage_since = end
        cpu_s, memory_byte_s = self.usage.take()
        stats = tuple(
            VersionStats(deployment, version_id, c[0], c[1], tuple(c[2:]))
            for (deployment, version_id), c in list(counts.items())[:REPORT_ENTRIES]
        )
        return ServingReport(
            self.server,
            start,
            end,
            stats,
            tuple(self.unhealthy()[:REPORT_ENTRIES]),
            cpu_s=cpu_s,
            memory_byte_s=memory_byte_s,
            usage_start=usage_start,
        )

    def _keep_usage(self, report: ServingReport) -> None:
        """The report's usage goes into the next one (from the report's usage start)."""
        self.usage.give_back(report.cpu_s, report.memory_byte_s)
        start = report.window_start if report.usage_start is None else report.usage_start
        self._usage_since = min(self._usage_since, start)

    def give_back(self, report: ServingReport) -> None:
        """A report that could not be sent: its counts go into the next one."""
        for s in report.stats:
            counts = self._counts.setdefault(
                (s.deployment, s.version_id), [0] * (len(LATENCY_BUCKETS_MS) + 3)
            )
            counts[0] += s.requests
            counts[1] += s.errors
            for i, n in enumerate(s.latency_ms):
                counts[2 + i] += n
        self._since = min(self._since, report.window_start)
        self._keep_usage(report)

    async def send(self) -> bool:
        """Take a report and send it (from a thread); False when it failed: its counts
        are kept for the next one when the control plane could not be reached, dropped
        when it refused them (a 4xx: a deployment deleted meanwhile, a token without
        ``contributor``)."""
        report = self.take()
        if not report.stats and not report.unhealthy:
            self._keep_usage(report)  # an idle window: the next report carries its usage
            return True
        try:
            await asyncio.to_thread(self.deployments.report, self.project, report)
        except Exception as exc:
            self.failures += 1
            refused = isinstance(exc, ModelyardError) and exc.http_status < 500
            if not refused:
                self.give_back(report)
            logger.warning(
                "reporting to the control plane failed%s: %s",
                " (the report is dropped)" if refused else "",
                exc,
            )
            return False
        self.sent += 1
        return True

    async def run(self) -> None:
        """Report every ``report_s`` seconds until cancelled, sampling the RSS every
        :data:`SAMPLE_S` seconds meanwhile."""
        while True:
            due = time.monotonic() + self.report_s
            while (left := due - time.monotonic()) > 0:
                await asyncio.sleep(min(left, SAMPLE_S))
                self.usage.sample()
            await self.send()
