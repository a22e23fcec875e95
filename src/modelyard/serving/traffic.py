"""What a deployment answered over time, read back from the servers' reports
(``deployment_stats``): per time bucket and per version, the requests, the errors among
them and the latency histogram's quantiles, for the web UI's charts and split by version.

A report counts in the bucket its window ends in (reports are seconds long); the reports
of every server add up, as the rollouts' guards add them up
(:class:`~modelyard.serving.rollouts.Totals`). A latency quantile is the upper bound of
the histogram bucket holding it (``None`` past the last bound, and where nothing was
answered).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelyard.serving.rollouts import Totals

__all__ = ["Traffic", "VersionTraffic", "summarize"]


@dataclass(frozen=True, slots=True)
class VersionTraffic:
    """One version's answers: per bucket (``None`` where it answered nothing) and in all."""

    version_id: str
    model: str | None
    version: int | None
    requests: list[int]
    errors: list[int]
    p50_ms: list[float | None]
    p95_ms: list[float | None]
    total_requests: int
    total_errors: int
    total_p50_ms: float | None
    total_p95_ms: float | None

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version}" if self.model else self.version_id[:12]


@dataclass(frozen=True, slots=True)
class Traffic:
    """A deployment's answers from ``since`` to ``until`` (ms) in buckets of ``step_ms``
    (``starts``: each bucket's start), all versions together (``total``) and each."""

    since: int
    until: int
    step_ms: int
    starts: list[int]
    total: VersionTraffic
    versions: list[VersionTraffic]


def _quantile(totals: Totals, quantile: float) -> float | None:
    if not totals.requests:
        return None
    bound = totals.quantile_ms(quantile)
    return None if math.isinf(bound) else bound


def _series(
    version_id: str, named: tuple[str, int] | None, buckets: list[Totals]
) -> VersionTraffic:
    whole = Totals()
    for bucket in buckets:
        whole.add(bucket.requests, bucket.errors, bucket.latency_ms)
    return VersionTraffic(
        version_id=version_id,
        model=named[0] if named else None,
        version=named[1] if named else None,
        requests=[b.requests for b in buckets],
        errors=[b.errors for b in buckets],
        p50_ms=[_quantile(b, 0.5) for b in buckets],
        p95_ms=[_quantile(b, 0.95) for b in buckets],
        total_requests=whole.requests,
        total_errors=whole.errors,
        total_p50_ms=_quantile(whole, 0.5),
        total_p95_ms=_quantile(whole, 0.95),
    )


def summarize(
    rows: Iterable[Any],
    names: dict[str, tuple[str, int]],
    *,
    since: int,
    until: int,
    step_ms: int,
) -> Traffic:
    """Add up report rows (``version_id``, ``window_end``, ``requests``, ``errors``,
    ``latency_ms`` as JSON) ending in ``[since, until)`` into buckets of ``step_ms``;
    ``names``: each version id's model and number (a deleted version keeps its id)."""
    count = max(1, math.ceil((until - since) / step_ms))
    per: dict[str, list[Totals]] = {}
    for row in rows:
        if not since <= row.window_end < until:
            continue
        buckets = per.get(row.version_id)
        if buckets is None:  # made once per version, not per row
            buckets = per[row.version_id] = [Totals() for _ in range(count)]
        at = (row.window_end - since) // step_ms
        buckets[at].add(row.requests, row.errors, json.loads(row.latency_ms))
    total = [Totals() for _ in range(count)]  # the versions' buckets added up
    for buckets in per.values():
        for into, bucket in zip(total, buckets, strict=True):
            into.add(bucket.requests, bucket.errors, bucket.latency_ms)
    versions = [_series(v, names.get(v), b) for v, b in per.items()]
    versions.sort(key=lambda s: (s.model or "", s.version or 0, s.version_id))
    return Traffic(
        since=since,
        until=until,
        step_ms=step_ms,
        starts=[since + i * step_ms for i in range(count)],
        total=_series("", None, total),
        versions=versions,
    )
