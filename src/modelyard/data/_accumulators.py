"""Per-column accumulators: each takes one column of a record batch at a time and finishes
as a :class:`~modelyard.data.profile.ColumnProfile`.

:func:`accumulator` picks the accumulator for a column's kind; :func:`consume` feeds a
stream of batches to several accumulators, columns in parallel threads. Drift and
validation reuse the same accumulators, so every statistic (quantiles, outliers, distinct
counts) is computed one way everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from modelyard.data._arrow import (
    category_values,
    coalesce,
    kind_of,
    logical_type,
    numeric_values,
    temporal_values,
)
from modelyard.data._profile_types import (
    CategoryCount,
    ColumnProfile,
    Frequencies,
    Histogram,
    QuantileSummary,
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

__all__ = [
    "CategoricalAccumulator",
    "ColumnAccumulator",
    "DatetimeAccumulator",
    "NumericAccumulator",
    "accumulator",
    "consume",
    "iqr_fences",
    "iso_time",
]

QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
HISTOGRAM_BINS = 30
SUMMARY_POINTS = 1001
STORED_CATEGORIES = 1000
CATEGORY_CAPACITY = 10_000
ID_LIKE_MIN_VALUES = 10
MAX_THREADS = 8
#: Batches with fewer rows are fed in the calling thread: a hand-off costs more than that.
INLINE_ROWS = 4_096
#: How many values of a batch are checked for order before all of them.
SORTED_SAMPLE = 64
IQR_REACH = 1.5
MAD_REACH = 3.5
MAD_SCALE = 1.4826

Floats = npt.NDArray[np.float64]


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
        with np.errstate(over="ignore", invalid="ignore"):
            sum_of_values = float(np.sum(values))
        total = sum_of_values if math.isfinite(sum_of_values) else None
        if total is None:  # NaN, ±inf, or finite values overflowing the sum
            finite = np.isfinite(values)
            finite_count = int(np.count_nonzero(finite))
            if finite_count < values.size:
                nan = int(np.count_nonzero(np.isnan(values)))
                self.missing += nan
                self.infinite += values.size - finite_count - nan
                values = values[finite]
        if values.size == 0:
            return
        ordered = values if _ascending(values) else np.sort(values)
        self.moments.update(ordered, presorted=True, total=total)
        self.sketch.update(ordered, presorted=True)
        if self.distinct is not None:
            # repeats change no HyperLogLog register: only the exact set needs them dropped
            distinct = sorted_unique(ordered, presorted=True) if self.distinct.exact else ordered
            self.distinct.update(hash_numbers(distinct))

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
        mad = self.mad_fences(median)
        return {
            "min": self.moments.min,
            "max": self.moments.max,
            "mean": self.moments.mean,
            "std": self.moments.std(ddof=1),
            "quantiles": named,
            "histogram": _histogram(self.sketch, self.logical == "integer"),
            "outliers_iqr": self.sketch.count_outside(*iqr_fences(q1, q3)),
            "outliers_mad": self.sketch.count_outside(*mad) if mad is not None else None,
            "id_like": _id_like(self.logical, n, distinct, distinct_exact),
            "sketch": self.summary(),
        }

    def quartiles(self) -> tuple[float, float, float]:
        """(Q1, median, Q3), interpolated as :meth:`QuantileSketch.quantiles`; needs values."""
        q1, median, q3 = self.sketch.quantiles(np.array([0.25, 0.5, 0.75])).tolist()
        return q1, median, q3

    def fences(self, method: Literal["iqr", "mad"]) -> tuple[float, float] | None:
        """The bounds outside which a finite value is an outlier by ``method``; None when
        there are no values, or for "mad" when the MAD is 0."""
        if not self.sketch.n:
            return None
        q1, median, q3 = self.quartiles()
        return iqr_fences(q1, q3) if method == "iqr" else self.mad_fences(median)

    def mad_fences(self, median: float) -> tuple[float, float] | None:
        """Values with ``|x - median| / (1.4826 * MAD) > 3.5`` are outliers; None when the MAD
        is 0."""
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
        reach = MAD_REACH * MAD_SCALE * mad
        return median - reach, median + reach


def _ascending(values: Floats) -> bool:
    """Whether NaN-free ``values`` are already sorted (row numbers, times, ids often are);
    a sparse sample turns most unsorted batches down after a few comparisons."""
    sample = values[:: max(1, values.size // SORTED_SAMPLE)]
    return bool(np.all(sample[1:] >= sample[:-1]) and np.all(values[1:] >= values[:-1]))


def iqr_fences(q1: float, q3: float) -> tuple[float, float]:
    """Tukey's fences: values below ``Q1 - 1.5 IQR`` or above ``Q3 + 1.5 IQR`` are outliers."""
    iqr = q3 - q1
    return q1 - IQR_REACH * iqr, q3 + IQR_REACH * iqr


class CategoricalAccumulator(ColumnAccumulator):
    """Value counts (exact up to 10,000 values) and a distinct counter."""

    def __init__(self, name: str, data_type: pa.DataType, distinct_limit: int | None) -> None:
        super().__init__(name, data_type)
        self.frequencies = FrequencySketch(CATEGORY_CAPACITY)
        self.distinct = DistinctCounter(distinct_limit) if distinct_limit is not None else None

    def update(self, array: pa.Array) -> None:
        super().update(array)
        values, counts = category_values(array)
        new = self.frequencies.update(values, counts)
        # a value the frequencies held was counted by the distinct counter when it was new
        if self.distinct is not None and len(new):
            self.distinct.update(hash_strings(new))

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
            min=iso_time(self.low, self.unit),
            max=iso_time(self.high, self.unit),
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
    Consecutive small batches are combined first (see :func:`coalesce`), and a batch of
    fewer than ``INLINE_ROWS`` rows is fed in the calling thread. Returns the number of rows.

    The calling thread feeds columns too, alongside ``workers - 1`` pool threads that take
    the next column as each finishes: a batch costs ``workers - 1`` thread hand-offs, not
    one per column.
    """
    workers = max(1, min(len(columns), os.cpu_count() or 1, MAX_THREADS))
    rows = 0
    with ThreadPoolExecutor(max(1, workers - 1), thread_name_prefix="modelyard-data") as pool:
        for batch in coalesce(batches):
            rows += batch.num_rows
            arrays = [batch.column(position) for position in positions]
            if workers == 1 or batch.num_rows < INLINE_ROWS:
                values = list(map(_feed, columns, arrays))
            else:
                values = _feed_in_parallel(pool, workers - 1, columns, arrays)
            if each_batch is not None:
                floats = {
                    column.name: found
                    for column, found in zip(columns, values, strict=True)
                    if found is not None
                }
                each_batch(batch, floats)
    return rows


def _feed_in_parallel(
    pool: ThreadPoolExecutor,
    helpers: int,
    columns: Sequence[ColumnAccumulator],
    arrays: Sequence[pa.Array],
) -> list[Floats | None]:
    """``_feed`` every column, by this thread and ``helpers`` pool threads sharing a queue."""
    values: list[Floats | None] = [None] * len(columns)
    queue = iter(range(len(columns)))  # next() on it is atomic: each column is fed once

    def work() -> None:
        for index in queue:
            values[index] = _feed(columns[index], arrays[index])

    started = [pool.submit(work) for _ in range(helpers)]
    work()
    for future in started:
        future.result()
    return values


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


def iso_time(value: int | None, unit: str) -> str | None:
    if value is None:
        return None
    return str(np.datetime_as_string(np.array(value).astype(f"datetime64[{unit}]"), unit="auto"))
