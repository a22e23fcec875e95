"""A metric history downsampled to ``max_points`` (``tracking/_downsample.py``): each
bucket of steps keeps its lowest and highest value, whether the tracking service reads
the extremes in SQL (a few hundred points, a chart's) or cuts every point it read in
Python (many buckets), and both keep the same points."""

from __future__ import annotations

import math

import pytest

from modelyard import Client
from modelyard.tracking import service as tracking_service
from modelyard.tracking._downsample import bucket_count, bucket_edges, downsample
from modelyard.tracking.entities import MetricHistory

MAX_POINTS = 20  # 9 buckets of 10,000 steps over the steps 0 to 89,999
INF = math.inf


def _points() -> list[tuple[int, float]]:
    """(step, value) in the order logged: a dense wave with a spike and a step logged twice
    (its second value the lowest), a bucket of NaN alone, an empty bucket, a bucket of
    one value repeated, infinities, sparse points with a dip, and a last point."""
    points = [(s, math.sin(s / 50)) for s in range(3000)]
    points[1234] = (1234, 50.0)
    points.insert(8, (7, -60.0))
    points += [(s, math.nan) for s in range(10_000, 10_100, 10)]
    points += [(s, 0.25) for s in range(30_000, 30_100)]
    points += [(40_000, 1.0), (40_010, INF), (40_020, -INF), (40_030, 2.0)]
    points += [(s, (s % 7) / 10) for s in range(50_000, 89_000, 1000)]
    points += [(77_777, -50.0), (89_999, 0.5)]
    return sorted(points, key=lambda p: p[0])  # stable: step 7's two values stay in order


@pytest.fixture
def logged(client: Client) -> tuple[str, list[tuple[int, float]]]:
    points = _points()
    with client.start_run("p", capture=False) as run:
        for step, value in points:
            run.log_metric("loss", value, step=step)
    return run.id, points


def _expected(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The points each bucket of 10,000 steps keeps, worked out plainly: the first lowest
    and first highest value that is not NaN (the first point if all are), and the ends."""
    assert bucket_edges(0, 89_999, bucket_count(MAX_POINTS)) == list(range(0, 90_001, 10_000))
    kept = {0, len(points) - 1}
    for lo in range(0, 90_000, 10_000):
        inside = [i for i, (s, _) in enumerate(points) if lo <= s < lo + 10_000]
        numbers = [i for i in inside if not math.isnan(points[i][1])]
        if numbers:
            kept.add(min(numbers, key=lambda i: points[i][1]))
            kept.add(max(numbers, key=lambda i: points[i][1]))
        elif inside:
            kept.add(inside[0])
    return [points[i] for i in sorted(kept)]


def _pairs(history: MetricHistory) -> list[tuple[int, float]]:
    return list(zip(history.steps, history.values, strict=True))


def _same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> bool:
    """Equal, NaN equal to NaN."""
    return len(got) == len(want) and all(
        s == t and (v == w or (math.isnan(v) and math.isnan(w)))
        for (s, v), (t, w) in zip(got, want, strict=True)
    )


@pytest.fixture(params=["sql", "python"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the service cuts the series: in SQL (every series long enough for it) or in
    Python from every point (no series long enough)."""
    least = 0 if request.param == "sql" else 10**9
    monkeypatch.setattr(tracking_service, "SQL_POINTS", {"sqlite": least, "postgresql": least})
    return str(request.param)


def test_each_bucket_keeps_its_lowest_and_highest_value(
    client: Client, logged: tuple[str, list[tuple[int, float]]], way: str
) -> None:
    run_id, points = logged
    small = client.get_metric_history(run_id, "loss", max_points=MAX_POINTS)
    assert small.total_points == len(points) and small.downsampled
    assert len(small) <= MAX_POINTS
    assert _same(_pairs(small), _expected(points))
    kept = _pairs(small)
    assert (7, -60.0) in kept and (1234, 50.0) in kept and (77_777, -50.0) in kept
    assert (40_010, INF) in kept and (40_020, -INF) in kept
    nan_bucket = [p for p in kept if 10_000 <= p[0] < 20_000]
    assert len(nan_bucket) == 1 and nan_bucket[0][0] == 10_000 and math.isnan(nan_bucket[0][1])
    assert [p for p in kept if 30_000 <= p[0] < 40_000] == [(30_000, 0.25)]
    assert kept[0] == (0, 0.0) and kept[-1] == (89_999, 0.5)


def test_sql_and_python_keep_the_same_points_and_their_timestamps(
    client: Client, logged: tuple[str, list[tuple[int, float]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, points = logged
    monkeypatch.setattr(tracking_service, "SQL_POINTS", {"sqlite": 0, "postgresql": 0})
    in_sql = client.get_metric_history(run_id, "loss", max_points=MAX_POINTS)
    monkeypatch.setattr(tracking_service, "SQL_BUCKETS", 1)  # 9 buckets: too many for SQL
    in_python = client.get_metric_history(run_id, "loss", max_points=MAX_POINTS)
    assert in_python.total_points == in_sql.total_points == len(points)
    assert _same(_pairs(in_python), _pairs(in_sql))
    assert in_python.timestamps == in_sql.timestamps
    full = client.get_metric_history(run_id, "loss")
    rows = list(zip(full.steps, full.values, full.timestamps, strict=True))
    assert _same([(r[0], r[1]) for r in downsample(rows, MAX_POINTS)], _pairs(in_sql))
    assert downsample(rows, len(rows)) == rows


def test_a_series_within_max_points_comes_whole(client: Client, way: str) -> None:
    with client.start_run("p", capture=False) as run:
        for step in range(MAX_POINTS):
            run.log_metric("acc", step / 100, step=step)
    history = client.get_metric_history(run.id, "acc", max_points=MAX_POINTS)
    assert history.steps == list(range(MAX_POINTS)) and not history.downsampled
