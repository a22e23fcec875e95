"""The operational checks (volume, latency, errors, data_load) on constructed windows, the
seasonal expectation of a training profile, and the data loads read from a real store
after real pipeline runs."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard import Client, InvalidInput
from modelyard.data.profile import Profile, profile
from modelyard.monitoring._parts import Reference, WindowInputs, WindowSummary
from modelyard.monitoring.checks import check_for
from modelyard.monitoring.checks_ops import (
    VOLUME_BASIS,
    VOLUME_SCALE,
    DataLoadCheck,
    ErrorsCheck,
    LatencyCheck,
    VolumeCheck,
)
from modelyard.monitoring.loads import STEP_RUNS, step_runs_in
from modelyard.monitoring.seasonal import seasonal_expectation, traffic_scale
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS
from pipeline_files import pipeline_file

HOUR = 3_600_000
DAY = 24 * HOUR


def at(text: str) -> int:
    """ms since the epoch of a UTC time."""
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


class Rows:
    """A window summary that only counts rows."""

    def __init__(self, rows: int) -> None:
        self._rows = rows

    @property
    def rows(self) -> int:
        return self._rows

    def merge(self, other: WindowSummary) -> WindowSummary:
        return Rows(self._rows + other.rows)

    def to_bytes(self) -> bytes:
        return str(self._rows).encode()


def window(start: int = 0, end: int = HOUR, **fields: Any) -> WindowInputs:
    fields.setdefault("reference", None)
    fields.setdefault("summary", None)
    return WindowInputs(start=start, end=end, **fields)


def hourly_profile(rows_of: Any, weeks: int = 8) -> Profile:
    """The profile of a table with ``rows_of(hour_of_day, day_of_week)`` rows each hour
    of ``weeks`` weeks from Monday 2024-01-01."""
    hours = pd.date_range("2024-01-01", periods=24 * 7 * weeks, freq="h", tz="UTC")
    counts = rows_of(hours.hour.to_numpy(), hours.day_of_week.to_numpy())
    stamps = np.repeat(hours.to_numpy(), counts)
    return profile(pd.DataFrame({"t": stamps, "x": np.ones(stamps.size)}), time_column="t")


def business(hour: Any, weekday: Any) -> Any:
    """10 rows an hour, 30 from 08:00 to 20:00, and 30 more on weekends."""
    return 10 + 20 * ((hour >= 8) & (hour < 20)) + 30 * (weekday >= 5)


@pytest.fixture(scope="module")
def weekly() -> Profile:
    return hourly_profile(business)


# -- the seasonal expectation ------------------------------------------------------------


def test_hourly_data_with_a_weekly_cycle_expects_the_same_hour_of_the_week(
    weekly: Profile,
) -> None:
    assert weekly.time is not None and weekly.time.unit == "hour"
    assert weekly.time.dominant_seasonality is not None
    assert weekly.time.dominant_seasonality.period == "weekly"
    monday, saturday = at("2025-03-03"), at("2025-03-08")  # long after the training data

    assert seasonal_expectation(weekly, monday + 3 * HOUR, monday + 4 * HOUR, 1.0) == 10
    assert seasonal_expectation(weekly, monday + 12 * HOUR, monday + 13 * HOUR, 1.0) == 30
    assert seasonal_expectation(weekly, saturday + 12 * HOUR, saturday + 13 * HOUR, 1.0) == 60
    assert seasonal_expectation(weekly, monday, monday + DAY, 1.0) == 12 * 10 + 12 * 30
    assert seasonal_expectation(weekly, saturday, saturday + DAY, 0.5) == (12 * 40 + 12 * 60) / 2
    # part of an hour is that part of its expectation
    quarter = (monday + 12 * HOUR, monday + 12 * HOUR + HOUR // 4)
    assert seasonal_expectation(weekly, *quarter, 1.0) == pytest.approx(7.5)


def test_hourly_data_with_a_daily_cycle_expects_the_same_hour_of_the_day() -> None:
    daily = hourly_profile(lambda hour, weekday: 5 + 45 * ((hour >= 6) & (hour < 12)), weeks=2)
    assert daily.time is not None and daily.time.dominant_seasonality is not None
    assert daily.time.dominant_seasonality.period == "daily"
    sunday = at("2025-03-09")

    assert seasonal_expectation(daily, sunday + 7 * HOUR, sunday + 8 * HOUR, 1.0) == 50
    assert seasonal_expectation(daily, sunday + 22 * HOUR, sunday + 23 * HOUR, 1.0) == 5


def test_daily_data_with_a_weekly_cycle_expects_the_same_day_of_the_week() -> None:
    days = pd.date_range("2022-01-03", periods=7 * 60, freq="D")  # from a Monday
    per_day = np.where(days.day_of_week.to_numpy() >= 5, 48, 240)
    frame = pd.DataFrame({"d": np.repeat(days.date, per_day), "x": 1.0})
    daily = profile(frame, time_column="d")
    assert daily.time is not None and daily.time.unit == "day"
    assert daily.time.dominant_seasonality is not None
    assert daily.time.dominant_seasonality.period == "weekly"
    tuesday, sunday = at("2025-03-04"), at("2025-03-09")

    assert seasonal_expectation(daily, tuesday, tuesday + DAY, 1.0) == 240
    assert seasonal_expectation(daily, sunday, sunday + DAY, 1.0) == 48
    # an hour of a day is a 24th of its day, wherever the day's rows fell
    assert seasonal_expectation(daily, sunday + 5 * HOUR, sunday + 6 * HOUR, 1.0) == 2


def test_weekly_and_monthly_periods_spread_over_the_hours_they_hold() -> None:
    days = pd.date_range("2000-01-03", periods=7 * 300, freq="D")  # Monday, 300 weeks
    weekly = profile(pd.DataFrame({"d": days.date.repeat(7)}), time_column="d")
    assert weekly.time is not None and weekly.time.unit == "week"
    monday = at("2025-03-03")
    assert seasonal_expectation(weekly, monday, monday + 7 * DAY, 1.0) == pytest.approx(49)
    assert seasonal_expectation(weekly, monday, monday + HOUR, 1.0) == pytest.approx(49 / 168)

    months = pd.date_range("1970-01-01", periods=12 * 50, freq="MS")
    per_month = np.where(months.month == 12, 100, 10)
    monthly = profile(pd.DataFrame({"d": months.date.repeat(per_month)}), time_column="d")
    assert monthly.time is not None and monthly.time.unit == "month"
    assert monthly.time.dominant_seasonality is not None
    assert monthly.time.dominant_seasonality.period == "yearly"
    december, june = at("2030-12-01"), at("2030-06-01")
    assert seasonal_expectation(monthly, december, at("2031-01-01"), 1.0) == pytest.approx(100)
    assert seasonal_expectation(monthly, december, december + DAY, 1.0) == pytest.approx(100 / 31)
    assert seasonal_expectation(monthly, june, june + DAY, 1.0) == pytest.approx(10 / 30)


def test_without_a_cycle_every_period_expects_the_mean() -> None:
    flat = hourly_profile(lambda hour, weekday: np.full(hour.shape, 7), weeks=1)
    assert flat.time is not None and flat.time.dominant_seasonality is None
    start = at("2025-06-01 13:00")

    assert seasonal_expectation(flat, start, start + 3 * HOUR, 2.0) == 42


def test_a_profile_without_time_has_no_seasonal_expectation(weekly: Profile) -> None:
    timeless = profile(pd.DataFrame({"x": [1.0, 2.0]}))

    assert seasonal_expectation(timeless, 0, HOUR, 1.0) is None
    assert traffic_scale(timeless, 10, 0, HOUR) is None
    with pytest.raises(InvalidInput, match=r"end \(3600000\) must be after start") as raised:
        seasonal_expectation(weekly, HOUR, HOUR, 1.0)
    assert raised.value.field == "end"
    with pytest.raises(InvalidInput, match="start must be ms since the epoch") as raised:
        seasonal_expectation(weekly, "noon", HOUR, 1.0)  # type: ignore[arg-type]
    assert raised.value.field == "start"
    with pytest.raises(InvalidInput, match="scale must be a number from 0") as raised:
        seasonal_expectation(weekly, 0, HOUR, float("nan"))
    assert raised.value.field == "scale"


def test_the_traffic_scale_is_live_rows_per_training_row(weekly: Profile) -> None:
    monday = at("2025-03-03")
    week = (monday - 7 * DAY, monday)
    at_training_level = seasonal_expectation(weekly, *week, 1.0)
    assert at_training_level == 5 * (12 * 10 + 12 * 30) + 2 * (12 * 40 + 12 * 60)

    scale = traffic_scale(weekly, 450, *week)
    assert scale == pytest.approx(450 / at_training_level)
    assert seasonal_expectation(weekly, monday + 12 * HOUR, monday + 13 * HOUR, scale) == (
        pytest.approx(30 * 450 / at_training_level)
    )
    with pytest.raises(InvalidInput, match="rows must be a whole number"):
        traffic_scale(weekly, -1, *week)


# -- volume ------------------------------------------------------------------------------


def test_volume_against_last_week_breaches_below_and_above_the_tolerance() -> None:
    check = VolumeCheck()
    config = check.configure({}, None)
    assert config == {"tolerance": 0.5, "direction": "both", "scale": None, "min_expected": 0.0}

    def judged(rows: int, cfg: dict[str, Any] = config) -> Any:
        return check.judge(cfg, window(summary=Rows(rows), expected_rows=100.0))

    low, ok, high = judged(49), judged(150), judged(151)
    assert (low.breached, ok.breached, high.breached) == (True, False, True)
    assert (low.value, low.threshold, low.rows) == (0.49, 0.5, 49)
    assert (high.value, high.threshold) == (1.51, 1.5)
    assert low.details == {
        "rows": 49,
        "expected": 100.0,
        "basis": "last_week",
        "ratio": 0.49,
        "lower": 50.0,
        "upper": 150.0,
        "direction": "both",
    }
    only_low = check.configure({"direction": "low", "tolerance": 0.2}, None)
    assert judged(1000, only_low).breached is False
    assert judged(79, only_low).breached is True
    assert judged(1000, only_low).threshold == 0.8
    only_high = check.configure({"direction": "high"}, None)
    assert judged(0, only_high).breached is False
    assert judged(151, only_high).breached is True


def test_an_empty_window_is_no_rows_against_the_expectation() -> None:
    check = VolumeCheck()
    found = check.judge(check.configure({}, None), window(expected_rows=40.0))

    assert (found.value, found.rows, found.breached, found.note) == (0.0, 0, True, None)


def test_volume_against_the_seasonal_profile_scales_it_to_the_traffic(weekly: Profile) -> None:
    check = VolumeCheck()
    reference = Reference("v1", "churn/1", ("x",), profile=weekly)
    monday = at("2025-03-03")
    noon = {"start": monday + 12 * HOUR, "end": monday + 13 * HOUR, "reference": reference}

    scaled = check.configure({"scale": 2}, reference)
    found = check.judge(scaled, window(summary=Rows(20), **noon))
    assert found.details["expected"] == 60 and found.details["basis"] == "seasonal_profile"
    assert found.details["scale"] == 2 and found.breached is True

    measured = check.configure({}, reference)
    found = check.judge(measured, window(summary=Rows(20), extra={VOLUME_SCALE: 0.5}, **noon))
    assert found.details["expected"] == 15 and found.breached is False
    # the pass's week-earlier value wins over the profile
    found = check.judge(
        scaled,
        window(
            summary=Rows(20), expected_rows=21.0, extra={VOLUME_BASIS: "seasonal_profile"}, **noon
        ),
    )
    assert found.details["expected"] == 21 and found.details["basis"] == "seasonal_profile"


def test_volume_without_an_expectation_is_not_judged(weekly: Profile) -> None:
    check = VolumeCheck()
    config = check.configure({}, None)
    reference = Reference("v1", "churn/1", ("x",), profile=weekly)

    for inputs in (
        window(summary=Rows(5)),
        window(summary=Rows(5), reference=reference),  # no traffic scale
        window(summary=Rows(5), expected_rows=0.0),
    ):
        found = check.judge(config, inputs)
        assert (found.value, found.breached, found.rows) == (None, False, 5)
        assert found.note

    few = check.judge(check.configure({"min_expected": 10}, None), window(expected_rows=10.0))
    assert few.value is None and few.note is not None and "min_expected 10" in few.note


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"tolerance": 0}, "config.tolerance", "over 0"),
        ({"tolerance": "half"}, "config.tolerance", "must be a number"),
        ({"direction": "up"}, "config.direction", "one of ['low', 'high', 'both']"),
        ({"scale": -1}, "config.scale", "over 0"),
        ({"min_expected": float("inf")}, "config.min_expected", "from 0"),
        ({"tolerence": 0.2}, "config.tolerence", "not a setting of volume monitors"),
    ],
)
def test_bad_volume_settings_are_refused(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words.replace("[", r"\[")) as raised:
        VolumeCheck().configure(config, None)
    assert raised.value.field == field


def test_an_unknown_basis_from_the_pass_is_refused() -> None:
    check = VolumeCheck()
    with pytest.raises(InvalidInput, match="volume_basis") as raised:
        check.judge(
            check.configure({}, None), window(expected_rows=5.0, extra={VOLUME_BASIS: "guess"})
        )
    assert raised.value.field == VOLUME_BASIS


# -- latency and errors ------------------------------------------------------------------


def histogram(**by_bound: int) -> tuple[int, ...]:
    """Counts per bucket from ``ms_<bound>=count`` (``ms_over`` past the last bound)."""
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for name, count in by_bound.items():
        bound = name.removeprefix("ms_")
        counts[-1 if bound == "over" else LATENCY_BUCKETS_MS.index(float(bound))] = count
    return tuple(counts)


def test_latency_breaches_when_the_quantile_passes_max_ms() -> None:
    check = LatencyCheck()
    config = check.configure({"max_ms": 100}, None)
    assert config == {"quantile": 0.99, "max_ms": 100.0, "min_requests": 100}

    fast = check.judge(config, window(latency_ms=histogram(ms_10=900, ms_50=95, ms_200=5)))
    assert (fast.value, fast.threshold, fast.breached, fast.rows) == (50, 100, False, 1000)
    assert fast.details["over_max_share"] == 0.005
    assert fast.details["compliance"] == 0.995

    slow = check.judge(config, window(latency_ms=histogram(ms_10=900, ms_50=85, ms_200=15)))
    assert (slow.value, slow.breached) == (200, True)
    assert slow.details["over_max_share"] == 0.015

    median = check.configure({"max_ms": 20, "quantile": 0.5}, None)
    assert check.judge(median, window(latency_ms=histogram(ms_10=900, ms_200=100))).value == 10


def test_a_quantile_past_the_last_bucket_breaches() -> None:
    check = LatencyCheck()
    config = check.configure({"max_ms": 10000}, None)
    found = check.judge(config, window(latency_ms=histogram(ms_10=980, ms_over=20)))

    assert found.breached is True and found.value == LATENCY_BUCKETS_MS[-1]
    assert found.details["past_last_bucket"] is True
    assert found.details["over_max_share"] == 0.02


def test_latency_of_too_few_requests_is_not_judged() -> None:
    check = LatencyCheck()
    config = check.configure({"max_ms": 100}, None)

    for counts in ((), histogram(ms_10=99)):
        found = check.judge(config, window(latency_ms=counts))
        assert (found.value, found.breached) == (None, False)
        assert found.note is not None and "min_requests 100" in found.note
    with pytest.raises(InvalidInput, match="must count 23 buckets"):
        check.judge(config, window(latency_ms=(1, 2, 3)))


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({}, "config.max_ms", "required"),
        ({"max_ms": 0}, "config.max_ms", "over 0"),
        ({"max_ms": 20000}, "config.max_ms", "to 10000"),
        ({"max_ms": 100, "quantile": 0}, "config.quantile", "over 0 to 1"),
        ({"max_ms": 100, "quantile": 1.5}, "config.quantile", "over 0 to 1"),
        ({"max_ms": 100, "min_requests": 1.5}, "config.min_requests", "whole number"),
        ({"max_ms": 100, "p99": 1}, "config.p99", "not a setting of latency monitors"),
    ],
)
def test_bad_latency_settings_are_refused(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as raised:
        LatencyCheck().configure(config, None)
    assert raised.value.field == field


def test_the_error_rate_breaches_over_max_rate() -> None:
    check = ErrorsCheck()
    config = check.configure({}, None)
    assert config == {"max_rate": 0.01, "min_requests": 100}

    ok = check.judge(config, window(requests=1000, errors=10))
    bad = check.judge(config, window(requests=1000, errors=11))
    assert (ok.value, ok.threshold, ok.breached, ok.rows) == (0.01, 0.01, False, 1000)
    assert (bad.value, bad.breached) == (0.011, True)
    assert bad.details == {"requests": 1000, "errors": 11, "rate": 0.011, "max_rate": 0.01}

    for requests in (0, 99):
        quiet = check.judge(config, window(requests=requests, errors=requests))
        assert (quiet.value, quiet.breached, quiet.rows) == (None, False, requests)
        assert quiet.note is not None and "too few requests" in quiet.note
    strict = check.configure({"max_rate": 0, "min_requests": 1}, None)
    assert check.judge(strict, window(requests=1, errors=1)).breached is True


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"max_rate": 1.5}, "config.max_rate"),
        ({"max_rate": -0.1}, "config.max_rate"),
        ({"min_requests": -1}, "config.min_requests"),
        ({"min_requests": True}, "config.min_requests"),
        ({"rate": 0.1}, "config.rate"),
    ],
)
def test_bad_error_settings_are_refused(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        ErrorsCheck().configure(config, None)
    assert raised.value.field == field


def test_the_checks_are_registered_by_kind() -> None:
    for kind, cls in (
        ("volume", VolumeCheck),
        ("latency", LatencyCheck),
        ("errors", ErrorsCheck),
        ("data_load", DataLoadCheck),
    ):
        check = check_for(kind)
        assert isinstance(check, cls) and check.needs_profile is False


# -- data loads --------------------------------------------------------------------------


def load(run_id: str, rows: int | None, duration_s: float, **flags: bool) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "pipeline_run_id": "p" + run_id,
        "pipeline": "ingest",
        "step": "fetch",
        "started_at": 0,
        "finished_at": int(duration_s * 1000),
        "duration_s": duration_s,
        "rows": rows,
        "dataset": None if rows is None else "trips:1",
        "cached": flags.get("cached", False),
        "failed": flags.get("failed", False),
    }


def test_data_loads_are_judged_by_runs_rows_failures_and_durations() -> None:
    check = DataLoadCheck()
    config = check.configure(
        {"pipeline": "ingest", "min_runs": 2, "min_rows": 100, "max_duration_s": 60}, None
    )
    assert config == {
        "pipeline": "ingest",
        "step": None,
        "min_runs": 2,
        "min_rows": 100,
        "max_duration_s": 60.0,
        "max_failures": 0,
    }

    good = [load("a", 500, 12.0), load("b", 300, 20.0), load("c", 500, 0.1, cached=True)]
    found = check.judge(config, window(extra={STEP_RUNS: good}))
    assert (found.value, found.threshold, found.breached, found.rows) == (2, 2, False, 800)
    assert found.details["cached"] == 1 and found.details["fewest_rows"] == 300
    assert found.details["longest_s"] == 20.0 and found.details["breaches"] == []
    assert [entry["run_id"] for entry in found.details["loads"]] == ["a", "b"]

    bad = [load("a", 50, 12.0), load("b", 300, 75.0), load("d", None, 3.0, failed=True)]
    found = check.judge(config, window(extra={STEP_RUNS: bad}))
    assert found.breached is True and found.value == 2 and found.details["failed"] == 1
    assert found.details["breaches"] == [
        "1 loads failed, more than max_failures 0",
        "run a (fetch) loaded 50 rows, under min_rows 100",
        "run b (fetch) took 75.0 s, over max_duration_s 60",
    ]

    few = check.judge(config, window(extra={STEP_RUNS: [load("a", 500, 1.0)]}))
    assert few.breached is True
    assert few.details["breaches"] == ["1 loads finished, fewer than min_runs 2"]


def test_a_window_without_loads() -> None:
    check = DataLoadCheck()
    nothing = window(extra={STEP_RUNS: [load("c", 500, 0.1, cached=True)]})

    expected = check.judge(check.configure({"step": "fetch"}, None), nothing)
    assert (expected.value, expected.breached) == (0, True)
    optional = check.judge(check.configure({"step": "fetch", "min_runs": 0}, None), nothing)
    assert (optional.value, optional.breached, optional.note) == (
        None,
        False,
        "no loads in the window",
    )
    with pytest.raises(InvalidInput, match="step runs in extra") as raised:
        check.judge(check.configure({"step": "fetch"}, None), window())
    assert raised.value.field == STEP_RUNS


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({}, "config.pipeline", "must name the loads"),
        ({"step": ""}, "config.step", "must be a name"),
        ({"pipeline": 3}, "config.pipeline", "must be a name"),
        ({"step": "x" * 300}, "config.step", "the limit is 255"),
        ({"step": "fetch", "min_runs": -1}, "config.min_runs", "whole number"),
        ({"step": "fetch", "max_duration_s": 0}, "config.max_duration_s", "over 0"),
        ({"step": "fetch", "rows": 5}, "config.rows", "not a setting of data_load"),
    ],
)
def test_bad_data_load_settings_are_refused(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as raised:
        DataLoadCheck().configure(config, None)
    assert raised.value.field == field


INGEST = """
import pandas as pd

import modelyard as my


@my.step(dataset="trips")
def fetch(n: int) -> pd.DataFrame:
    if n < 0:
        raise ValueError("the source is down")
    return pd.DataFrame({"trip": range(n)})


@my.step
def count(trips: pd.DataFrame) -> int:
    return len(trips)


@my.pipeline
def ingest(n: int):
    count(fetch(n))
"""


@pytest.fixture
def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    with pipeline_file(tmp_path, "ops_ingest", INGEST):
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()
        yield importlib.import_module("ops_ingest")


def test_the_loads_of_real_pipeline_runs_are_read_from_the_store(
    client: Client, ingest: ModuleType
) -> None:
    start = 0
    first = ingest.ingest.run(n=30, client=client, project="rides")
    again = ingest.ingest.run(n=30, client=client, project="rides")  # served from the cache
    second = ingest.ingest.run(n=45, client=client, project="rides")
    with pytest.raises(ValueError, match="the source is down"):
        ingest.ingest.run(n=-1, client=client, project="rides")
    project_id = client.services.projects.get("rides").id
    end = at("2100-01-01")

    with client.services.store.read() as conn:
        fetched = step_runs_in(conn, project_id, start, end, step="fetch")
        everything = step_runs_in(conn, project_id, start, end, pipeline="ingest")
        other = step_runs_in(conn, project_id, start, end, pipeline="other")
        before = step_runs_in(conn, project_id, 0, fetched[0]["finished_at"])

    assert [e["run_id"] for e in fetched[:3]] == [
        first.steps["fetch"].run_id,
        again.steps["fetch"].run_id,
        second.steps["fetch"].run_id,
    ]
    assert [(e["rows"], e["dataset"], e["cached"], e["failed"]) for e in fetched] == [
        (30, "trips:1", False, False),
        (30, "trips:1", True, False),
        (45, "trips:2", False, False),
        (None, None, False, True),
    ]
    for entry in fetched:
        run = client.get_run(entry["run_id"])
        assert entry["pipeline"] == "ingest" and entry["step"] == "fetch"
        assert entry["started_at"] == run.start_time
        assert entry["finished_at"] >= entry["started_at"]
        assert entry["duration_s"] == pytest.approx(run.duration_s)
    assert {e["step"] for e in everything} == {"fetch", "count"} and len(everything) == 7
    assert other == [] and before == []

    check = DataLoadCheck()
    config = check.configure({"step": "fetch", "min_rows": 40, "max_failures": 1}, None)
    found = check.judge(config, window(start, end, extra={STEP_RUNS: fetched}))
    assert (found.value, found.rows, found.breached) == (2, 75, True)
    assert found.details["cached"] == 1 and found.details["failed"] == 1
    assert found.details["breaches"] == [
        f"run {first.steps['fetch'].run_id} (fetch) loaded 30 rows, under min_rows 40"
    ]
