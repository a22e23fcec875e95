"""What an inference server tells the control plane: every ``serving.report_s`` seconds,
per deployment and version, the requests it answered since its last report, the errors
among them (5xx the version caused) and a latency histogram over fixed buckets, plus the
versions it found unhealthy (``DeploymentContract.report``).

Counting is a dictionary lookup and three additions on the event loop; the report is sent
from a thread. A report that cannot be sent is kept and added to the next one (its window
grows), so a control plane that is down for a while loses no counts.
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

__all__ = ["Reporter"]

logger = logging.getLogger("modelyard.serving")


def _now_ms() -> int:
    return int(time.time() * 1000)


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
        self._since = end
        stats = tuple(
            VersionStats(deployment, version_id, c[0], c[1], tuple(c[2:]))
            for (deployment, version_id), c in list(counts.items())[:REPORT_ENTRIES]
        )
        return ServingReport(
            self.server, start, end, stats, tuple(self.unhealthy()[:REPORT_ENTRIES])
        )

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

    async def send(self) -> bool:
        """Take a report and send it (from a thread); False when it failed: its counts
        are kept for the next one when the control plane could not be reached, dropped
        when it refused them (a 4xx: a deployment deleted meanwhile, a token without
        ``contributor``)."""
        report = self.take()
        if not report.stats and not report.unhealthy:
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
        """Report every ``report_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.report_s)
            await self.send()
