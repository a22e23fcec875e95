"""Profile a table in one streaming pass: per-column statistics, and time behaviour.

A :class:`Profile` is a frozen tree of dataclasses that round-trips through JSON
(:meth:`Profile.to_dict` / :meth:`Profile.from_dict`). It keeps each column's distribution
summary (quantile points for numbers, counts for categories) so that drift can be measured
later against the profile alone, without the raw data.

Accuracy: with at most 32,768 non-missing values in a column, every number is exact
(quantiles interpolate linearly, as numpy and pandas do). Beyond that, quantiles, histogram
counts and outlier counts come from the quantile sketch and are off by at most
``sketch.rank_error`` of the count in rank (reported per column, under 1e-4 at a million
rows); ``distinct`` is exact up to ``distinct_exact_limit`` and a HyperLogLog estimate
beyond (1.6 % relative standard error).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from modelyard.data._arrow import (
    as_source,
    category_values,
    kind_of,
    logical_type,
    numeric_values,
    temporal_values,
)
from modelyard.data._sketches import (
    DistinctCounter,
    FrequencySketch,
    Moments,
    QuantileSketch,
    even_edges,
    hash_numbers,
    hash_strings,
    sorted_unique,
)
from modelyard.errors import InvalidInput, NotFound

__all__ = [
    "CategoryCount",
    "ColumnProfile",
    "Frequencies",
    "Histogram",
    "Profile",
    "QuantileSummary",
    "Seasonality",
    "TimeProfile",
    "profile",
]

QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
HISTOGRAM_BINS = 30
SUMMARY_POINTS = 1001
STORED_CATEGORIES = 1000
CATEGORY_CAPACITY = 10_000
ID_LIKE_MIN_VALUES = 10
MAX_PERIODS = 2000
MAX_THREADS = 8
SEASONALITY_THRESHOLD = 0.3
TREND_FLAT_BAND = 0.1
FORMAT = "modelyard.profile/1"

Floats = npt.NDArray[np.float64]

_HOURS_PER = {"s": 3600, "ms": 3_600_000, "us": 3_600_000_000, "ns": 3_600_000_000_000}
_PERIOD_NAMES = {
    "hour": {24: "daily", 168: "weekly"},
    "day": {7: "weekly", 364: "yearly", 365: "yearly", 366: "yearly"},
    "week": {52: "yearly", 53: "yearly"},
    "month": {12: "yearly"},
}


@dataclass(frozen=True)
class Histogram:
    """Counts of values in ``len(edges) - 1`` bins; the last bin includes its right edge."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class QuantileSummary:
    """Points ``(values[i], cdf[i])`` of a column's cumulative distribution.

    ``interpolated=False``: an empirical CDF, a step at each value (exact when
    ``rank_error`` is 0). ``interpolated=True``: 1001 quantiles at ``cdf = 0, 0.001, ..., 1``;
    the CDF between points is linear, within 0.001 plus ``rank_error`` of the true one.
    """

    values: tuple[float, ...]
    cdf: tuple[float, ...]
    interpolated: bool
    rank_error: float


@dataclass(frozen=True)
class CategoryCount:
    value: str
    count: int
    frequency: float


@dataclass(frozen=True)
class Frequencies:
    """Counts of the (up to 1000) most frequent values; ``other`` counts the rest.

    ``exact`` is False when the column had more than 10,000 distinct values: counts are
    then low by at most ``present / 10,001`` each (Misra-Gries).
    """

    values: tuple[str, ...]
    counts: tuple[int, ...]
    other: int
    exact: bool


@dataclass(frozen=True)
class ColumnProfile:
    """Statistics of one column. ``missing`` counts nulls and NaN; ``infinite`` counts ±inf,
    which count, but are left out of every other statistic."""

    name: str
    type: str
    arrow_type: str
    count: int
    missing: int
    infinite: int = 0
    distinct: int | None = None
    distinct_exact: bool = True
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] | None = None
    histogram: Histogram | None = None
    top: tuple[CategoryCount, ...] = ()
    outliers_iqr: int | None = None
    outliers_mad: int | None = None
    constant: bool = False
    id_like: bool = False
    sketch: QuantileSummary | None = None
    frequencies: Frequencies | None = None

    @property
    def kind(self) -> str:
        """numeric, categorical, datetime, null or other."""
        return kind_of(self.type)

    @property
    def present(self) -> int:
        """Values that are not missing."""
        return self.count - self.missing


@dataclass(frozen=True)
class Seasonality:
    """The dominant period of a per-period series, found by autocorrelation.

    ``column`` is None for the row volume, else the numeric column whose per-period mean
    was analysed. ``lag`` is in periods of the time profile's ``unit``; ``period`` names it
    (daily, weekly, yearly) when the unit allows. ``detected``: autocorrelation >= 0.3.
    """

    column: str | None
    lag: int
    autocorrelation: float
    period: str | None
    detected: bool


@dataclass(frozen=True)
class TimeProfile:
    """Rows per period of ``column``, with trend, seasonality and gaps.

    ``unit`` is the finest of hour (not for dates), day, week (starting Monday) and month
    that gives at most 2000 periods. ``trend_slope`` is the least-squares slope of volume
    in rows per period; ``trend_change`` the fitted change over the whole span relative to
    the mean volume; ``trend`` is increasing or decreasing beyond ±10 % of it, else flat.
    ``seasonality`` has one entry per series that has an autocorrelation peak: the row
    volume first, then each numeric column's per-period mean.
    """

    column: str
    unit: str
    periods: tuple[str, ...]
    volume: tuple[int, ...]
    missing: int
    trend_slope: float
    trend_change: float
    trend: str
    seasonality: tuple[Seasonality, ...]
    empty_periods: int
    longest_gap: int
    longest_gap_start: str | None

    @property
    def dominant_seasonality(self) -> Seasonality | None:
        """The detected seasonality with the highest autocorrelation, if any."""
        found = [item for item in self.seasonality if item.detected]
        return max(found, key=lambda item: item.autocorrelation) if found else None


@dataclass(frozen=True)
class Profile:
    """A table's profile: row count, one :class:`ColumnProfile` per column, time behaviour."""

    rows: int
    columns: tuple[ColumnProfile, ...]
    time: TimeProfile | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFound(f"the profile has no column {name!r}", field=name)

    def __getitem__(self, name: str) -> ColumnProfile:
        return self.column(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite floats become the strings "nan", "inf" and "-inf"."""
        return {"format": FORMAT, **encode(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"not a stored profile: expected format {FORMAT!r}")
        return decode(cls, {key: value for key, value in data.items() if key != "format"})

    def to_html(self) -> str:
        """A self-contained HTML report (inline CSS and SVG) that opens offline."""
        from modelyard.data._report import profile_html

        return profile_html(self)


def encode(value: Any) -> Any:
    """Dataclasses to plain JSON values; non-finite floats to strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: encode(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def decode(cls: type[Any], data: Any) -> Any:
    """The inverse of :func:`encode` for dataclass ``cls``; bad data raises InvalidInput."""
    try:
        return _decode_value(cls, data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"stored {cls.__name__} is malformed: {exc!r}") from None


def _decode_value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [option for option in get_args(hint) if option is not type(None)]
        return _decode_value(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        return tuple(_decode_value(get_args(hint)[0], item) for item in value)
    if origin is dict:
        return {str(key): _decode_value(get_args(hint)[1], item) for key, item in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint)
        names = {field.name for field in dataclasses.fields(hint) if field.init}
        unknown = set(value) - names
        if unknown:
            raise KeyError(f"unknown fields {sorted(unknown)} for {hint.__name__}")
        return hint(**{name: _decode_value(hints[name], item) for name, item in value.items()})
    if hint is float:
        return float(value)
    if hint is int:
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if hint in (str, bool) and not isinstance(value, hint):
        raise TypeError(f"expected {hint.__name__}, got {value!r}")
    return value


# -- accumulators: one per column, fed one batch at a time ---------------------------------


class ColumnAccumulator:
    """Counts rows and missing values; subclasses add the statistics of their kind."""

    def __init__(self, name: str, data_type: pa.DataType) -> None:
        self.name = name
        self.arrow_type = str(data_type)
        self.logical = logical_type(data_type)
        self.count = 0
        self.missing = 0

    def update(self, array: pa.Array) -> None:
        self.count += len(array)
        self.missing += array.null_count

    def finish(self, top_k: int) -> ColumnProfile:
        return ColumnProfile(
            name=self.name,
            type=self.logical,
            arrow_type=self.arrow_type,
            count=self.count,
            missing=self.missing,
            constant=self.logical == "null",
        )


class NumericAccumulator(ColumnAccumulator):
    """Moments, a quantile sketch and (optionally) a distinct counter of finite values."""

    def __init__(self, name: str, data_type: pa.DataType, distinct_limit: int | None) -> None:
        super().__init__(name, data_type)
        self.infinite = 0
        self.moments = Moments()
        self.sketch = QuantileSketch()
        self.distinct = DistinctCounter(distinct_limit) if distinct_limit is not None else None

    def update(self, array: pa.Array) -> None:
        self.add(numeric_values(array))

    def add(self, values: npt.NDArray[np.float64]) -> None:
        """Add float values: NaN counts as missing, ±inf as infinite."""
        self.count += values.size
        finite = np.isfinite(values)
        finite_count = int(np.count_nonzero(finite))
        if finite_count < values.size:
            nan = int(np.count_nonzero(np.isnan(values)))
            self.missing += nan
            self.infinite += values.size - finite_count - nan
            values = values[finite]
        if values.size == 0:
            return
        ordered = np.sort(values)
        self.moments.update(ordered)
        self.sketch.update(ordered, presorted=True)
        if self.distinct is not None:
            unique = ordered[np.append(True, ordered[1:] != ordered[:-1])]
            self.distinct.update(hash_numbers(unique))

    def distribution(self, points: int | None) -> tuple[Floats, Floats, bool]:
        """(values, cdf, interpolated): the step CDF of the sketch, or, when it has more than
        ``points`` distinct values, that many quantiles at evenly spaced probabilities."""
        values, cdf = self.sketch.ecdf()
        if points is None or values.size <= points:
            return values, cdf, False
        grid = np.linspace(0.0, 1.0, points)
        index = np.minimum(np.searchsorted(cdf, grid, side="left"), values.size - 1)
        return values[index], grid, True

    def summary(self) -> QuantileSummary:
        """The stored distribution: the exact step CDF, or 1001 quantiles when larger."""
        values, cdf, interpolated = self.distribution(SUMMARY_POINTS)
        return QuantileSummary(
            values=tuple(values.tolist()),
            cdf=tuple(cdf.tolist()),
            interpolated=interpolated,
            rank_error=self.sketch.rank_error,
        )

    def finish(self, top_k: int) -> ColumnProfile:
        base = super().finish(top_k)
        distinct = self.distinct.count() if self.distinct is not None else None
        extra: dict[str, Any] = {
            "infinite": self.infinite,
            "distinct": distinct,
            "distinct_exact": self.distinct.exact if self.distinct is not None else True,
            "constant": distinct is not None and distinct <= 1,
        }
        n = self.sketch.n
        if n:
            with np.errstate(over="ignore", invalid="ignore"):  # values near ±1e308
                extra |= self._distribution_statistics(n, distinct, bool(extra["distinct_exact"]))
        return dataclasses.replace(base, **extra)

    def _distribution_statistics(
        self, n: int, distinct: int | None, distinct_exact: bool
    ) -> dict[str, Any]:
        quantiles = self.sketch.quantiles(np.array(list(QUANTILES.values())))
        named = dict(zip(QUANTILES, quantiles.tolist(), strict=True))
        q1, median, q3 = named["p25"], named["p50"], named["p75"]
        iqr = q3 - q1
        return {
            "min": self.moments.min,
            "max": self.moments.max,
            "mean": self.moments.mean,
            "std": self.moments.std(ddof=1),
            "quantiles": named,
            "histogram": _histogram(self.sketch, self.logical == "integer"),
            "outliers_iqr": self.sketch.count_outside(q1 - 1.5 * iqr, q3 + 1.5 * iqr),
            "outliers_mad": self._mad_outliers(median),
            "id_like": _id_like(self.logical, n, distinct, distinct_exact),
            "sketch": self.summary(),
        }

    def _mad_outliers(self, median: float) -> int | None:
        """Values with ``|x - median| / (1.4826 * MAD) > 3.5``; None when the MAD is 0."""
        values, weights = self.sketch.items()
        deviations = np.abs(values - median)
        order = np.argsort(deviations, kind="stable")
        if self.sketch.exact:
            mad = float(np.median(deviations))
        else:
            cumulative = np.cumsum(weights[order])
            mad = float(deviations[order][np.searchsorted(cumulative, self.sketch.n / 2)])
        if mad == 0:
            return None
        reach = 3.5 * 1.4826 * mad
        return self.sketch.count_outside(median - reach, median + reach)


class CategoricalAccumulator(ColumnAccumulator):
    """Value counts (exact up to 10,000 values) and a distinct counter."""

    def __init__(self, name: str, data_type: pa.DataType, distinct_limit: int | None) -> None:
        super().__init__(name, data_type)
        self.frequencies = FrequencySketch(CATEGORY_CAPACITY)
        self.distinct = DistinctCounter(distinct_limit) if distinct_limit is not None else None

    def update(self, array: pa.Array) -> None:
        super().update(array)
        values, counts = category_values(array)
        self.frequencies.update(values, counts)
        if self.distinct is not None:
            self.distinct.update(hash_strings(values))

    def stored(self) -> Frequencies:
        pairs = self.frequencies.most_common(STORED_CATEGORIES)
        kept = sum(count for _, count in pairs)
        return Frequencies(
            values=tuple(value for value, _ in pairs),
            counts=tuple(count for _, count in pairs),
            other=self.count - self.missing - kept,
            exact=self.frequencies.exact,
        )

    def finish(self, top_k: int) -> ColumnProfile:
        base = super().finish(top_k)
        present = self.count - self.missing
        distinct = self.distinct.count() if self.distinct is not None else None
        exact = self.distinct.exact if self.distinct is not None else True
        top = tuple(
            CategoryCount(value, count, count / present)
            for value, count in self.frequencies.most_common(top_k)
        )
        return dataclasses.replace(
            base,
            distinct=distinct,
            distinct_exact=exact,
            top=top,
            constant=distinct is not None and distinct <= 1,
            id_like=_id_like(self.logical, present, distinct, exact),
            frequencies=self.stored(),
        )


class DatetimeAccumulator(ColumnAccumulator):
    """Earliest and latest time and a distinct counter."""

    def __init__(self, name: str, data_type: pa.DataType, distinct_limit: int | None) -> None:
        super().__init__(name, data_type)
        self.low: int | None = None
        self.high: int | None = None
        self.unit = "D"
        self.distinct = DistinctCounter(distinct_limit) if distinct_limit is not None else None

    def update(self, array: pa.Array) -> None:
        super().update(array)
        raw, valid, self.unit = temporal_values(array, self.name)
        values = raw[valid]
        if values.size == 0:
            return
        low, high = int(values.min()), int(values.max())
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)
        if self.distinct is not None:
            self.distinct.update(hash_numbers(sorted_unique(values)))

    def finish(self, top_k: int) -> ColumnProfile:
        base = super().finish(top_k)
        distinct = self.distinct.count() if self.distinct is not None else None
        return dataclasses.replace(
            base,
            distinct=distinct,
            distinct_exact=self.distinct.exact if self.distinct is not None else True,
            min=_iso(self.low, self.unit),
            max=_iso(self.high, self.unit),
            constant=distinct is not None and distinct <= 1,
        )


def consume(
    batches: Iterable[pa.RecordBatch],
    columns: Sequence[ColumnAccumulator],
    positions: Sequence[int],
    each_batch: Callable[[pa.RecordBatch, dict[str, Floats]], None] | None = None,
) -> int:
    """Feed batch column ``positions[i]`` to ``columns[i]``, columns in parallel threads
    (numpy and Arrow release the GIL); ``each_batch`` gets each batch and its numeric values.
    Returns the number of rows."""
    workers = max(1, min(len(columns), os.cpu_count() or 1, MAX_THREADS))
    rows = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="modelyard-data") as pool:
        for batch in batches:
            rows += batch.num_rows
            arrays = [batch.column(position) for position in positions]
            values = list(pool.map(_feed, columns, arrays))
            if each_batch is not None:
                floats = {
                    column.name: found
                    for column, found in zip(columns, values, strict=True)
                    if found is not None
                }
                each_batch(batch, floats)
    return rows


def _feed(column: ColumnAccumulator, array: pa.Array) -> Floats | None:
    if isinstance(column, NumericAccumulator):
        values = numeric_values(array)
        column.add(values)
        return values
    column.update(array)
    return None


def accumulator(field: pa.Field, distinct_limit: int | None) -> ColumnAccumulator:
    """The accumulator for a column's kind; ``distinct_limit=None`` skips distinct counting."""
    kind = kind_of(logical_type(field.type))
    if kind == "numeric":
        return NumericAccumulator(field.name, field.type, distinct_limit)
    if kind == "categorical":
        return CategoricalAccumulator(field.name, field.type, distinct_limit)
    if kind == "datetime":
        return DatetimeAccumulator(field.name, field.type, distinct_limit)
    return ColumnAccumulator(field.name, field.type)


def _id_like(logical: str, present: int, distinct: int | None, exact: bool) -> bool:
    """Integer or text with (almost) every value different: 99 %, or 95 % when estimated."""
    if logical not in ("integer", "string") or distinct is None or present < ID_LIKE_MIN_VALUES:
        return False
    return distinct >= (0.99 if exact else 0.95) * present


def _histogram(sketch: QuantileSketch, integer: bool) -> Histogram:
    values, weights = sketch.items()
    low, high = float(values[0]), float(values[-1])
    if low == high:
        edges = np.array([low - 0.5, high + 0.5])
    elif integer and high - low < HISTOGRAM_BINS:  # one bin per integer
        edges = np.arange(low - 0.5, high + 1.0, 1.0)
    else:
        edges = even_edges(low, high, HISTOGRAM_BINS)
    counts, _ = np.histogram(values, bins=edges, weights=weights)
    return Histogram(tuple(edges.tolist()), tuple(np.rint(counts).astype(np.int64).tolist()))


def _iso(value: int | None, unit: str) -> str | None:
    if value is None:
        return None
    return str(np.datetime_as_string(np.array(value).astype(f"datetime64[{unit}]"), unit="auto"))


# -- time behaviour ------------------------------------------------------------------------


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


# -- the entry point -----------------------------------------------------------------------


def profile(
    data: object,
    *,
    time_column: str | None = None,
    top_k: int = 10,
    distinct_exact_limit: int = 100_000,
) -> Profile:
    """Profile ``data`` (a pandas or polars DataFrame, pyarrow Table, RecordBatchReader or
    iterable of RecordBatches) in one streaming pass.

    ``time_column`` (timestamps, dates or ISO 8601 text) adds a :class:`TimeProfile`;
    ``top_k`` is how many most frequent categories to list; distinct counts are exact up to
    ``distinct_exact_limit`` values and HyperLogLog estimates beyond.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise InvalidInput(f"top_k must be a non-negative integer; got {top_k!r}", field="top_k")
    if (
        isinstance(distinct_exact_limit, bool)
        or not isinstance(distinct_exact_limit, int)
        or distinct_exact_limit < 0
    ):
        raise InvalidInput(
            f"distinct_exact_limit must be a non-negative integer; got {distinct_exact_limit!r}",
            field="distinct_exact_limit",
        )
    source = as_source(data)
    if time_column is not None and time_column not in source.names:
        raise InvalidInput(
            f"time_column {time_column!r} is not a column; the columns are {source.names}",
            field="time_column",
        )
    columns = [accumulator(field, distinct_exact_limit) for field in source.schema]
    numeric = [column.name for column in columns if isinstance(column, NumericAccumulator)]
    timeline = TimeAccumulator(time_column, numeric) if time_column is not None else None
    time_index = source.names.index(time_column) if time_column is not None else -1
    rows = consume(
        source.batches,
        columns,
        range(len(columns)),
        None
        if timeline is None
        else lambda batch, floats: timeline.update(batch[time_index], floats),
    )
    return Profile(
        rows=rows,
        columns=tuple(column.finish(top_k) for column in columns),
        time=timeline.finish() if timeline is not None else None,
    )
