"""Downsampling long metric series for charts and quick looks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["downsample"]


def downsample(rows: Sequence[Sequence[Any]], max_points: int) -> list[Sequence[Any]]:
    """Keep at most ``max_points`` rows of ``(step, value, timestamp)``, in order.

    The series is cut into ``max_points // 2`` buckets and each keeps its lowest and its
    highest value (NaN counts as neither), so spikes and dips survive; the first and last
    points are always kept.
    """
    n = len(rows)
    if n <= max_points:
        return list(rows)
    buckets = max(1, (max_points - 2) // 2)
    inner = rows[1:-1]
    size = len(inner) / buckets
    kept: list[Sequence[Any]] = [rows[0]]
    for b in range(buckets):
        lo, hi = int(b * size), int((b + 1) * size)
        chunk = inner[lo:hi]
        if not chunk:
            continue
        finite = [(i, r) for i, r in enumerate(chunk) if r[1] is not None and r[1] == r[1]]
        if not finite:
            kept.append(chunk[0])
            continue
        i_min = min(finite, key=lambda ir: ir[1][1])[0]
        i_max = max(finite, key=lambda ir: ir[1][1])[0]
        for i in sorted({i_min, i_max}):
            kept.append(chunk[i])
    kept.append(rows[-1])
    return kept
