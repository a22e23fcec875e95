"""Which version answers a request: a deployment's plan compiled once per revision into
cumulative weights, then one draw (canary) or one hash (A/B) per request."""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modelyard.errors import InvalidInput
from modelyard.serving.entities import Deployment, Route

__all__ = ["BUCKETS", "RoutingTable", "bucket_of"]

#: The hash of an A/B key lands in ``0 .. BUCKETS-1``; a route of weight w% owns w% of them.
BUCKETS = 10_000


def bucket_of(key: str) -> int:
    """The bucket an A/B key falls in: the same key always the same bucket."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """A deployment's plan ready to route: its live routes with their cumulative bucket
    bounds, its shadows, and the header an A/B plan is sticky by (lower case, as ASGI
    gives headers)."""

    deployment: Deployment
    routes: tuple[Route, ...]
    bounds: tuple[int, ...]
    shadows: tuple[Route, ...]
    sticky_header: bytes | None

    @classmethod
    def of(cls, deployment: Deployment) -> RoutingTable:
        plan = deployment.plan
        bounds: list[int] = []
        total = 0
        for route in plan.routes:
            total += route.weight * (BUCKETS // 100)
            bounds.append(total)
        sticky = plan.sticky_key.lower().encode("latin-1") if plan.sticky_key else None
        return cls(deployment, plan.routes, tuple(bounds), plan.shadows, sticky)

    @property
    def champion(self) -> Route:
        return self.routes[0]

    def pick(
        self,
        headers: Mapping[bytes, bytes],
        healthy: Callable[[str | None], bool],
        draw: Callable[[], float] = random.random,
    ) -> Route:
        """The live route for a request with ``headers``; the champion instead of a
        route whose version is known not to answer (``healthy`` false)."""
        if len(self.routes) == 1:
            return self.routes[0]
        if self.sticky_header is not None:
            key = headers.get(self.sticky_header)
            if key is None:
                name = self.deployment.plan.sticky_key
                raise InvalidInput(
                    f"deployment {self.deployment.name!r} splits traffic by the header "
                    f"{name}: send it (the same value always meets the same version)",
                    field=name,
                )
            bucket = bucket_of(key.decode("latin-1"))
        else:
            bucket = int(draw() * BUCKETS)
        index = min(bisect_right(self.bounds, bucket), len(self.routes) - 1)
        route = self.routes[index]
        if index and not healthy(route.version_id):
            return self.routes[0]
        return route

    def copies(self, draw: Callable[[], float] = random.random) -> list[Route]:
        """The shadow routes this request is copied to (each at its copy share)."""
        return [s for s in self.shadows if s.weight >= 100 or draw() * 100 < s.weight]
