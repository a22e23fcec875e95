"""What the season predicts for a window's volume, from a training profile's time
behaviour (:class:`~modelyard.data.profile.TimeProfile`): the rows per period of its time
column, and the seasonality found in them.

The expectation of a period is the mean training volume of the periods at the same place
in the detected cycle of the row volume (period index since the epoch modulo the cycle's
length, UTC): hour-of-day for a daily cycle and hour-of-week for a weekly one in hourly
data, day-of-week in daily data, month-of-year in monthly data. Without a detected cycle
it is the mean of all periods. A window covers its periods in part or whole (an hour
window of daily data is a 24th of its day); the sum is scaled from the training data's
level to the deployment's traffic by ``scale`` (live rows per training row), which
:func:`traffic_scale` measures from recent live volume.

The monitoring pass calls these for a ``volume`` monitor when the same window a week
earlier has no rows to compare with (see ``docs/monitoring.md``, "Volume, latency and
errors").
"""

from __future__ import annotations

import math

import numpy as np

from modelyard import limits
from modelyard.data.profile import Profile, TimeProfile
from modelyard.errors import InvalidInput

__all__ = ["seasonal_expectation", "traffic_scale"]

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
#: The units a time profile's periods come in.
_UNITS = ("hour", "day", "week", "month")


def _index(ms: int, unit: str) -> int:
    """The period of ``unit`` holding ``ms`` (periods since the epoch's)."""
    if unit == "hour":
        return ms // _HOUR_MS
    if unit == "day":
        return ms // _DAY_MS
    if unit == "week":  # weeks start on Monday; 1970-01-01 was a Thursday
        return (ms // _DAY_MS + 3) // 7
    return int(np.datetime64(ms, "ms").astype("datetime64[M]").astype(np.int64))


def _bounds(index: int, unit: str) -> tuple[int, int]:
    """The start and end (ms) of period ``index`` of ``unit``."""
    if unit == "hour":
        return index * _HOUR_MS, (index + 1) * _HOUR_MS
    if unit == "day":
        return index * _DAY_MS, (index + 1) * _DAY_MS
    if unit == "week":
        start = (index * 7 - 3) * _DAY_MS
        return start, start + 7 * _DAY_MS
    months = np.array([index, index + 1], dtype="datetime64[M]")
    start, end = months.astype("datetime64[ms]").astype(np.int64).tolist()
    return int(start), int(end)


def _first_index(time: TimeProfile) -> int:
    """The period index of the profile's first period, from its label."""
    label = time.periods[0]
    if time.unit == "hour":
        return int(np.datetime64(label, "h").astype(np.int64))
    if time.unit == "day":
        return int(np.datetime64(label, "D").astype(np.int64))
    if time.unit == "week":  # labelled by its Monday
        return (int(np.datetime64(label, "D").astype(np.int64)) + 3) // 7
    return int(np.datetime64(label, "M").astype(np.int64))


def _cycle(time: TimeProfile) -> int:
    """The length of the row volume's detected cycle in periods (1: none)."""
    found = [s for s in time.seasonality if s.column is None and s.detected]
    return found[0].lag if found else 1


def _ms(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{name} must be ms since the epoch; got {limits.preview(value)}", field=name
        )
    return value


def seasonal_expectation(profile: Profile, start: int, end: int, scale: float) -> float | None:
    """The rows the season predicts in ``[start, end)`` (ms since the epoch, UTC): the
    training volume of the periods the window covers, each the mean of the training
    periods at the same place in the volume's detected cycle (see the module), times
    ``scale`` (live rows per training row). None when the profile has no time profile
    (it was made without a time column)."""
    start, end = _ms(start, "start"), _ms(end, "end")
    if end <= start:
        raise InvalidInput(f"end ({end}) must be after start ({start})", field="end")
    if (
        isinstance(scale, bool)
        or not isinstance(scale, int | float)
        or not math.isfinite(scale)
        or scale < 0
    ):
        raise InvalidInput(
            f"scale must be a number from 0; got {limits.preview(scale)}", field="scale"
        )
    time = profile.time
    if time is None or not time.volume or time.unit not in _UNITS:
        return None
    volume = np.asarray(time.volume, dtype=np.float64)
    cycle = _cycle(time)
    positions = (_first_index(time) + np.arange(volume.size)) % cycle
    means = np.bincount(positions, volume, minlength=cycle) / np.maximum(
        np.bincount(positions, minlength=cycle), 1
    )
    total = 0.0
    for index in range(_index(start, time.unit), _index(end - 1, time.unit) + 1):
        low, high = _bounds(index, time.unit)
        covered = (min(high, end) - max(low, start)) / (high - low)
        total += covered * float(means[index % cycle])
    return total * float(scale)


def traffic_scale(profile: Profile, rows: int, start: int, end: int) -> float | None:
    """Live rows per training row: the ``rows`` logged in ``[start, end)`` over what the
    season predicts there at the training data's level. None when that cannot be said
    (no time profile, or the season predicts no rows there). Measure it over a stretch
    before the window judged (the week before it), so that the window's own change does
    not set its expectation."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise InvalidInput(
            f"rows must be a whole number from 0; got {limits.preview(rows)}", field="rows"
        )
    expected = seasonal_expectation(profile, start, end, 1.0)
    if expected is None or expected <= 0:
        return None
    return rows / expected
