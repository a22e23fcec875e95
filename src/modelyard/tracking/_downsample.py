"""Downsampling long metric series for charts and quick looks.

A series of more than ``max_points`` points is cut into :func:`bucket_count` buckets of
equal step ranges (:func:`bucket_edges`: a chart's x axis is the step, so each bucket is
an equal slice of it) and each bucket keeps its lowest and its highest value (NaN counts
as neither; a bucket of NaN alone keeps its first point), the first of equal values in
step order; the first and last points are always kept. The tracking service reads the
extremes of each bucket in SQL (``TrackingService.metric_history``) or, for many
buckets, cuts the points it read with :func:`downsample`: both keep the same points.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

__all__ = ["bucket_count", "bucket_edges", "downsample"]


def bucket_count(max_points: int) -> int:
    """How many buckets keep at most ``max_points`` points: two each, and the ends."""
    return max(1, (max_points - 2) // 2)


def bucket_edges(first: int, last: int, buckets: int) -> list[int]:
    """The first step of each of ``buckets`` equal ranges of the steps ``first`` to
    ``last``, then ``last + 1``: bucket ``b`` holds the steps from ``edges[b]`` up to
    ``edges[b + 1]`` (excluded); some are empty when there are fewer steps than buckets."""
    span = last - first + 1
    return [first - (-b * span // buckets) for b in range(buckets + 1)]


def downsample(rows: Sequence[Sequence[Any]], max_points: int) -> list[Sequence[Any]]:
    """Keep at most ``max_points`` rows of ``(step, value, ...)`` in step order (as
    read: by step, then by when they were logged), the module's way."""
    n = len(rows)
    if n <= max_points:
        return list(rows)
    edges = bucket_edges(rows[0][0], rows[-1][0], bucket_count(max_points))
    kept = {0, n - 1}
    start = 0
    for end in edges[1:]:
        stop = bisect_left(rows, end, lo=start, key=_step)
        if stop > start:
            kept.update(_extremes(rows, start, stop))
        start = stop
    return [rows[i] for i in sorted(kept)]


def _step(row: Sequence[Any]) -> Any:
    return row[0]


def _extremes(rows: Sequence[Sequence[Any]], start: int, stop: int) -> set[int]:
    """The positions of the first lowest and first highest value of ``rows[start:stop]``,
    or of its first row when every value is NaN."""
    finite = [i for i in range(start, stop) if rows[i][1] is not None and rows[i][1] == rows[i][1]]
    if not finite:
        return {start}
    return {min(finite, key=lambda i: rows[i][1]), max(finite, key=lambda i: rows[i][1])}
