"""The plans the server routes by: read from the control plane every ``plan_poll_s`` and
swapped in whole (one reference assignment), so a request routes by the snapshot it began
with; when the control plane cannot be read the last plans stay and the failure is kept
for ``/readyz``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from modelyard.serving._routing import RoutingTable
from modelyard.serving.contract import DeploymentContract
from modelyard.serving.entities import Deployment

__all__ = ["PlanWatcher", "Unreachable"]

logger = logging.getLogger("modelyard.serving")


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The control plane could not be read: since when (epoch seconds), how many reads in
    a row failed, and the last error."""

    since: float
    failures: int
    error: str


def _fingerprint(d: Deployment) -> tuple[object, ...]:
    """What makes a routing table stale: a new revision, or a route (an alias) resolving
    to another version, or a new sample rate."""
    routes = tuple((r.model, r.ref, r.weight, r.version_id) for r in d.plan.routes)
    shadows = tuple((r.model, r.ref, r.weight, r.version_id) for r in d.plan.shadows)
    return (d.id, d.revision, routes, shadows, d.plan.sticky_key, d.sample_rate)


class PlanWatcher:
    """Reads ``deployments.list_deployments(project)`` (only ``names`` when given) every
    ``poll_s`` seconds and keeps one routing table per deployment in :attr:`tables`."""

    def __init__(
        self,
        deployments: DeploymentContract,
        project: str,
        *,
        poll_s: float,
        names: Collection[str] = (),
        on_change: Callable[[Mapping[str, RoutingTable]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.deployments = deployments
        self.project = project
        self.poll_s = poll_s
        self.names = frozenset(names)
        self.on_change = on_change
        self.clock = clock
        self.tables: Mapping[str, RoutingTable] = MappingProxyType({})
        self.loaded = False  # a first read succeeded
        self.unreachable: Unreachable | None = None
        self.failures = 0  # every failed read since start
        self._seen: dict[str, tuple[object, ...]] = {}

    async def poll(self) -> bool:
        """Read the plans once; True when they were read (changed or not)."""
        try:
            found = await asyncio.to_thread(self.deployments.list_deployments, self.project)
        except Exception as exc:  # whatever the contract raises: the read failed
            self.failures += 1
            before = self.unreachable
            self.unreachable = Unreachable(
                since=before.since if before else self.clock(),
                failures=before.failures + 1 if before else 1,
                error=f"{type(exc).__name__}: {exc}",
            )
            if before is None:
                logger.warning("the control plane cannot be read (%s); serving the last plans", exc)
            return False
        if self.unreachable is not None:
            logger.warning("the control plane answers again; plans read")
        self.unreachable = None
        self.loaded = True
        wanted = [d for d in found if not self.names or d.name in self.names]
        seen = {d.name: _fingerprint(d) for d in wanted}
        if seen != self._seen:
            old = self.tables
            tables = {
                d.name: old[d.name]
                if self._seen.get(d.name) == seen[d.name]
                else RoutingTable.of(d)
                for d in wanted
            }
            self.tables = MappingProxyType(tables)  # the one swap: requests keep theirs
            self._seen = seen
            if self.on_change is not None:
                self.on_change(self.tables)
        return True

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.poll_s)
            await self.poll()

    def missing(self) -> list[str]:
        """Deployments named with ``--deployment`` that the control plane does not have."""
        return sorted(self.names - set(self.tables)) if self.loaded else sorted(self.names)
