"""Time behaviour: volume per period, trend, seasonality and gaps."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.data import profile
from modelyard.errors import InvalidInput


def _daily_rows_with_a_weekly_cycle(days: int = 730) -> pd.DataFrame:
    """Rows spread over each day; weekends have 50 % more rows than weekdays."""
    rng = np.random.default_rng(11)
    dates = pd.date_range("2022-01-03", periods=days, freq="D")
    per_day = 100 + 50 * (dates.day_of_week >= 5) + rng.poisson(5, days)
    stamps = np.repeat(dates.values, per_day) + rng.integers(0, 86_400, per_day.sum()).astype(
        "timedelta64[s]"
    )
    return pd.DataFrame({"ts": stamps, "amount": rng.gamma(2, 10, stamps.size)})


def test_weekly_period_of_a_daily_series() -> None:
    result = profile(_daily_rows_with_a_weekly_cycle(), time_column="ts").time
    assert result is not None
    assert result.unit == "day" and len(result.volume) == len(result.periods) == 730
    assert result.periods[0] == "2022-01-03" and result.missing == 0
    volume = result.seasonality[0]
    assert volume.column is None and volume.lag == 7 and volume.period == "weekly"
    assert volume.detected and volume.autocorrelation > 0.8
    assert result.dominant_seasonality == volume
    assert result.trend == "flat" and result.empty_periods == 0 and result.longest_gap == 0
    amount = next(item for item in result.seasonality if item.column == "amount")
    assert not amount.detected  # per-day means of i.i.d. values have no cycle


def test_daily_period_of_hourly_data_with_a_gap() -> None:
    rng = np.random.default_rng(12)
    hours = pd.date_range("2024-03-01", periods=24 * 42, freq="h")
    load = 50 + 20 * np.sin(2 * np.pi * hours.hour / 24) + rng.normal(0, 3, hours.size)
    frame = pd.DataFrame({"ts": hours, "load": load}).drop(index=range(200, 230))
    result = profile(frame, time_column="ts").time
    assert result is not None and result.unit == "hour"
    load_season = next(item for item in result.seasonality if item.column == "load")
    assert (load_season.lag, load_season.period, load_season.detected) == (24, "daily", True)
    assert result.empty_periods == 30 and result.longest_gap == 30
    assert result.longest_gap_start == str(hours[200])[:16].replace(" ", "T")
    assert sum(result.volume) == len(frame)


def test_yearly_period_and_rising_trend_of_dates() -> None:
    days = pd.date_range("2019-01-01", periods=4 * 365, freq="D")
    position = np.arange(days.size)
    per_day = (60 + 25 * np.sin(2 * np.pi * position / 365.25) + 0.03 * position).astype(int)
    frame = pd.DataFrame({"day": np.repeat(days.date, per_day)})
    result = profile(frame, time_column="day").time
    assert result is not None and result.unit == "day"
    volume = result.seasonality[0]
    assert volume.period == "yearly" and volume.detected and 364 <= volume.lag <= 366
    assert result.trend == "increasing" and result.trend_slope > 0
    slope = np.polyfit(np.arange(len(result.volume)), result.volume, 1)[0]
    assert result.trend_slope == pytest.approx(slope, rel=1e-9)


def test_units_follow_the_span() -> None:
    def unit_of(start: str, periods: int, freq: str) -> str:
        frame = pd.DataFrame({"t": pd.date_range(start, periods=periods, freq=freq)})
        result = profile(frame, time_column="t").time
        assert result is not None
        return result.unit

    assert unit_of("2024-01-01", 100, "h") == "hour"
    assert unit_of("2024-01-01", 500, "D") == "day"
    assert unit_of("2000-01-01", 3000, "D") == "week"
    assert unit_of("1900-01-01", 1500, "W") == "week"
    assert unit_of("1800-01-01", 3000, "MS") == "month"


def test_text_and_zoned_time_columns() -> None:
    text = pa.table({"when": ["2024-01-01T00:30:00", None, "2024-01-01T05:10:00"]})
    result = profile(text, time_column="when").time
    assert result is not None and result.unit == "hour" and result.missing == 1
    assert result.volume == (1, 0, 0, 0, 0, 1) and result.periods[-1] == "2024-01-01T05:00"
    zoned = pd.DataFrame(
        {"t": pd.date_range("2024-01-01", periods=48, freq="h", tz="Europe/Paris")}
    )
    zoned_result = profile(zoned, time_column="t").time
    assert zoned_result is not None and zoned_result.periods[0] == "2023-12-31T23:00"
    dates = pa.table({"d": pa.array([datetime.date(2024, 1, 1), datetime.date(2024, 1, 3)])})
    dates_result = profile(dates, time_column="d").time
    assert dates_result is not None and dates_result.unit == "day"
    assert dates_result.volume == (1, 0, 1) and dates_result.periods[1] == "2024-01-02"


def test_bad_time_columns() -> None:
    frame = pd.DataFrame({"t": ["2024-01-01", "not a date"], "n": [1, 2]})
    with pytest.raises(InvalidInput, match="time_column 'missing' is not a column"):
        profile(frame, time_column="missing")
    with pytest.raises(InvalidInput, match="'n' must hold timestamps or dates"):
        profile(frame, time_column="n")
    with pytest.raises(InvalidInput, match="not an ISO 8601 timestamp"):
        profile(frame, time_column="t")
    with pytest.raises(InvalidInput, match="has no timestamps"):
        profile(pd.DataFrame({"t": pd.to_datetime([None, None])}), time_column="t")
