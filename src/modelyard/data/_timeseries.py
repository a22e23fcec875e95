"""Time behaviour of a table: rows per period of a time column, trend, seasonality and gaps.

:class:`TimeAccumulator` keeps, per hour of the time column, the row count and the sum and
count of each numeric column (sparse: only hours that occur), merging its parts as they
grow. :meth:`TimeAccumulator.finish` picks the period unit, then derives the trend (a
least-squares line), the seasonality (autocorrelation peaks, by FFT) and the longest run of
empty periods, as a :class:`~modelyard.data.profile.TimeProfile`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from modelyard.data._arrow import temporal_values
from modelyard.data._profile_types import Seasonality, TimeProfile
from modelyard.errors import InvalidInput

__all__ = ["TimeAccumulator"]

MAX_PERIODS = 2000
SEASONALITY_THRESHOLD = 0.3
TREND_FLAT_BAND = 0.1

Floats = npt.NDArray[np.float64]

_HOURS_PER = {"s": 3600, "ms": 3_600_000, "us": 3_600_000_000, "ns": 3_600_000_000_000}
_PERIOD_NAMES = {
    "hour": {24: "daily", 168: "weekly"},
    "day": {7: "weekly", 364: "yearly", 365: "yearly", 366: "yearly"},
    "week": {52: "yearly", 53: "yearly"},
    "month": {12: "yearly"},
}


class TimeAccumulator:
    """Rows, and sums of each numeric column, per hour of the time column (sparse)."""

    def __init__(self, column: str, numeric: list[str]) -> None:
        self.column = column
        self.numeric = numeric
        self.missing = 0
        self.dates = False
        self._parts: list[tuple[npt.NDArray[Any], Floats]] = []
        self._pending = 0
        self._merged = 0

    def update(self, array: pa.Array, floats: dict[str, npt.NDArray[np.float64]]) -> None:
        raw, valid, unit = temporal_values(array, self.column)
        self.dates = unit == "D"
        self.missing += int(valid.size - np.count_nonzero(valid))
        times = raw[valid]
        if times.size == 0:
            return
        hours = times * 24 if unit == "D" else np.floor_divide(times, _HOURS_PER[unit])
        keys, inverse = np.unique(hours, return_inverse=True)
        # rows of `table`: row count, then (sum, count) of finite values per numeric column
        table = np.zeros((1 + 2 * len(self.numeric), keys.size))
        table[0] = np.bincount(inverse, minlength=keys.size)
        for i, name in enumerate(self.numeric):
            values = floats[name][valid]
            finite = np.isfinite(values)
            table[1 + 2 * i] = np.bincount(inverse[finite], values[finite], minlength=keys.size)
            table[2 + 2 * i] = np.bincount(inverse[finite], minlength=keys.size)
        self._parts.append((keys, table))
        self._pending += keys.size
        if self._pending > max(2 * self._merged, 100_000):
            self._merge()

    def _merge(self) -> None:
        if len(self._parts) > 1:
            keys, inverse = np.unique(
                np.concatenate([k for k, _ in self._parts]), return_inverse=True
            )
            rows = np.concatenate([t for _, t in self._parts], axis=1)
            table = np.asarray(
                [np.bincount(inverse, row, minlength=keys.size) for row in rows], dtype=np.float64
            )
            self._parts = [(keys, table)]
        self._merged = self._parts[0][0].size if self._parts else 0
        self._pending = 0

    def finish(self) -> TimeProfile:
        self._merge()
        if not self._parts:
            raise InvalidInput(
                f"time column {self.column!r} has no timestamps to profile", field=self.column
            )
        hours, table = self._parts[0]
        unit, index = _choose_unit(hours, finest="day" if self.dates else "hour")
        first = int(index.min())
        position = index - first
        size = int(position.max()) + 1
        per_period = np.stack([np.bincount(position, row, minlength=size) for row in table])
        volume = per_period[0]
        slope, change = _trend(volume)
        series: list[tuple[str | None, npt.NDArray[np.float64]]] = [(None, volume)]
        for i, name in enumerate(self.numeric):
            sums, counts = per_period[1 + 2 * i], per_period[2 + 2 * i]
            seen = counts > 0
            if np.count_nonzero(seen) >= 8:
                means = np.divide(sums, counts, out=np.zeros(size), where=seen)
                means[~seen] = means[seen].mean()
                series.append((name, means))
        found = [_seasonality(values, unit, name) for name, values in series]
        labels = _period_labels(first, size, unit)
        gap, gap_start = _longest_gap(volume)
        return TimeProfile(
            column=self.column,
            unit=unit,
            periods=labels,
            volume=tuple(np.rint(volume).astype(np.int64).tolist()),
            missing=self.missing,
            trend_slope=slope,
            trend_change=change,
            trend="flat"
            if abs(change) <= TREND_FLAT_BAND
            else ("increasing" if change > 0 else "decreasing"),
            seasonality=tuple(item for item in found if item is not None),
            empty_periods=int(np.count_nonzero(volume == 0)),
            longest_gap=gap,
            longest_gap_start=labels[gap_start] if gap else None,
        )


def _choose_unit(hours: npt.NDArray[np.int64], finest: str) -> tuple[str, npt.NDArray[np.int64]]:
    """The finest unit with at most MAX_PERIODS periods, and each hour's period index."""
    if finest == "hour" and _span(hours) <= MAX_PERIODS:
        return "hour", hours
    days = np.floor_divide(hours, 24)
    if _span(days) <= MAX_PERIODS:
        return "day", days
    weeks = np.floor_divide(days + 3, 7)  # weeks start on Monday; 1970-01-01 was a Thursday
    if _span(weeks) <= MAX_PERIODS:
        return "week", weeks
    return "month", days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _span(index: npt.NDArray[np.int64]) -> int:
    return int(index.max() - index.min()) + 1


def _period_labels(first: int, size: int, unit: str) -> tuple[str, ...]:
    index = np.arange(first, first + size, dtype=np.int64)
    if unit == "hour":
        stamps = np.datetime_as_string(index.astype("datetime64[h]"), unit="m")
    elif unit == "day":
        stamps = np.datetime_as_string(index.astype("datetime64[D]"))
    elif unit == "week":
        stamps = np.datetime_as_string((index * 7 - 3).astype("datetime64[D]"))
    else:
        stamps = np.datetime_as_string(index.astype("datetime64[M]"))
    return tuple(str(stamp) for stamp in stamps)


def _trend(volume: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Least-squares slope (rows per period) and fitted change over the span / mean."""
    if volume.size < 2:
        return 0.0, 0.0
    x = np.arange(volume.size, dtype=np.float64)
    x -= x.mean()
    slope = float(np.dot(x, volume - volume.mean()) / np.dot(x, x))
    return slope, slope * (volume.size - 1) / float(volume.mean())


def _seasonality(
    values: npt.NDArray[np.float64], unit: str, column: str | None
) -> Seasonality | None:
    """The lag (>= 2) of the highest local peak of the autocorrelation of detrended values."""
    size = values.size
    if size < 8:
        return None
    x = np.arange(size, dtype=np.float64)
    fit = np.polyfit(x, values, 1)
    residual = values - np.polyval(fit, x)
    energy = float(np.dot(residual, residual))
    if energy <= 1e-12 * max(1.0, float(np.dot(values, values))):
        return None
    length = 1 << (2 * size - 1).bit_length()
    spectrum = np.fft.rfft(residual, length)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), length)[:size] / energy
    lags = np.arange(2, size // 2 + 1)
    peaks = lags[(acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1])]
    if peaks.size == 0:
        return None
    best = int(peaks[np.argmax(acf[peaks])])
    value = float(acf[best])
    return Seasonality(
        column=column,
        lag=best,
        autocorrelation=value,
        period=_PERIOD_NAMES[unit].get(best),
        detected=value >= SEASONALITY_THRESHOLD,
    )


def _longest_gap(volume: npt.NDArray[np.float64]) -> tuple[int, int]:
    """Length and start index of the longest run of empty periods."""
    empty = np.concatenate([[0], (volume == 0).astype(np.int8), [0]])
    steps = np.diff(empty)
    starts, ends = np.flatnonzero(steps == 1), np.flatnonzero(steps == -1)
    if starts.size == 0:
        return 0, 0
    longest = int(np.argmax(ends - starts))
    return int(ends[longest] - starts[longest]), int(starts[longest])
