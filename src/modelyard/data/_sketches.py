"""Mergeable summaries of a stream of values: moments, quantiles, distinct counts, frequencies.

Every summary here takes values one Arrow batch at a time, holds a bounded amount of memory,
and merges with another summary of the same kind. Their errors:

* :class:`QuantileSketch` is exact while it holds at most ``k`` values (``SKETCH_SIZE``,
  32,768). Beyond that it is a KLL-style compactor: each compaction of a level whose items
  weigh ``w`` shifts any rank by at most ``w``, so the sketch adds those weights up into
  ``rank_error``, a worst-case bound on the rank error of every quantile and CDF value it
  answers (about ``levels / k`` of the count: under 1e-4 at a million values).
* :class:`HyperLogLog` has 2**12 registers over a 64-bit hash and Ertl's improved raw
  estimator: relative standard error ``1.04 / sqrt(4096)`` = 1.6 %.
* :class:`DistinctCounter` is exact up to a limit (it keeps the set of 64-bit hashes; two
  distinct values collide with probability about ``d**2 / 2**65``, 3e-10 at 100,000), then
  switches to HyperLogLog.
* :class:`FrequencySketch` counts exactly up to ``capacity`` distinct values, then keeps a
  mergeable Misra-Gries summary: every kept count is low by at most ``n / (capacity + 1)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "HLL_RELATIVE_ERROR",
    "SKETCH_SIZE",
    "DistinctCounter",
    "FrequencySketch",
    "HyperLogLog",
    "Moments",
    "QuantileSketch",
    "even_edges",
    "hash_numbers",
    "hash_strings",
    "sorted_unique",
]

Floats = npt.NDArray[np.float64]
Hashes = npt.NDArray[np.uint64]

SKETCH_SIZE = 32_768
HLL_PRECISION = 12
HLL_RELATIVE_ERROR = 1.04 / math.sqrt(2**HLL_PRECISION)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SHIFT1, _SHIFT2, _SHIFT3 = np.uint64(30), np.uint64(27), np.uint64(31)
_STRING_CHUNK_BYTES = 1 << 22


def _mix64(x: Hashes, out: Hashes | None = None) -> Hashes:
    """The splitmix64 finaliser, vectorised (uint64 arithmetic wraps), into ``out`` if given.

    In place but for one scratch array: fresh temporaries of a batch's size cost page
    faults that can take longer than the arithmetic.
    """
    z = np.add(x, _GOLDEN, out=out)
    shifted = np.empty_like(z)
    for shift, multiplier in ((_SHIFT1, _MIX1), (_SHIFT2, _MIX2)):
        np.right_shift(z, shift, out=shifted)
        z ^= shifted
        z *= multiplier
    np.right_shift(z, _SHIFT3, out=shifted)
    z ^= shifted
    return z


def sorted_unique(values: npt.NDArray[Any], *, presorted: bool = False) -> npt.NDArray[Any]:
    """The distinct values, sorted (faster than ``np.unique``'s hash path in numpy 2.4);
    ``presorted`` values skip the sort."""
    ordered = values if presorted else np.sort(values)
    if ordered.size < 2:
        return ordered
    first = np.empty(ordered.size, dtype=np.bool_)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def even_edges(low: float, high: float, bins: int) -> Floats:
    """``bins + 1`` evenly spaced edges from ``low`` to ``high`` (no overflow near ±1e308)."""
    steps = np.linspace(0.0, 1.0, bins + 1)
    return np.maximum.accumulate(low * (1 - steps) + high * steps)


def hash_numbers(values: npt.NDArray[np.float64] | npt.NDArray[np.int64]) -> Hashes:
    """64-bit hashes of numbers by their bits (``-0.0`` and ``0.0`` hash alike)."""
    if values.dtype.kind == "f":
        bits = np.add(values, 0.0, dtype=np.float64).view(np.uint64)  # a new array: mix in place
        return _mix64(bits, out=bits)
    return _mix64(np.ascontiguousarray(values, dtype=np.int64).view(np.uint64))


def hash_strings(array: pa.Array, seed: int = 0) -> Hashes:
    """64-bit hashes of the non-null strings in ``array``, vectorised over 8-byte words.

    Each word is mixed with its index in the string, the mixed words are summed per string
    and the sum is mixed again with the length. A different ``seed`` gives a different hash
    function (mixing the indices and the length with another key), for 128-bit keys made
    of two hashes.
    """
    array = pc.drop_null(array).cast(pa.large_string())
    if len(array) == 0:
        return np.empty(0, dtype=np.uint64)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    data_buffer = array.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.empty(0, dtype=np.uint8)
    )
    pieces, lo = [], 0
    while lo < len(array):  # pieces of at most _STRING_CHUNK_BYTES bytes bound the temporaries
        hi = int(np.searchsorted(offsets, offsets[lo] + _STRING_CHUNK_BYTES, side="right")) - 1
        hi = min(max(hi, lo + 1), len(array))
        pieces.append(_hash_string_piece(offsets[lo : hi + 1], data, _seed_key(seed)))
        lo = hi
    return np.concatenate(pieces)


def _seed_key(seed: int) -> np.uint64:
    return np.uint64((seed * 0xD1B54A32D192ED03) % 2**64)


def _hash_string_piece(
    offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8], key: np.uint64
) -> Hashes:
    start, end = int(offsets[0]), int(offsets[-1])
    lengths = offsets[1:] - offsets[:-1]
    words_per_string = (lengths + 7) // 8
    total_words = int(words_per_string.sum())
    prefix = np.zeros(total_words + 1, dtype=np.uint64)
    if total_words:
        padded = np.concatenate([data[start:end], np.zeros(8, dtype=np.uint8)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, 8)
        first_word = np.cumsum(words_per_string) - words_per_string
        word_index = np.arange(total_words) - np.repeat(first_word, words_per_string)
        word_start = np.repeat(offsets[:-1] - start, words_per_string) + 8 * word_index
        words = np.ascontiguousarray(windows[word_start]).view("<u8").ravel()
        remaining = np.repeat(lengths, words_per_string) - 8 * word_index
        short = remaining < 8
        words[short] &= (np.uint64(1) << (8 * remaining[short]).astype(np.uint64)) - np.uint64(1)
        prefix[1:] = np.cumsum(_mix64(words ^ _mix64(word_index.astype(np.uint64) + key)))
    ends = np.cumsum(words_per_string)
    per_string = prefix[ends] - prefix[ends - words_per_string]
    return _mix64(per_string ^ _mix64(lengths.astype(np.uint64) ^ key))


class Moments:
    """Count, mean, sum of squared deviations, min and max (Chan's parallel update)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def update(
        self, values: Floats, *, presorted: bool = False, total: float | None = None
    ) -> None:
        """Add finite values (any order; with ``presorted`` the ends are the min and max);
        ``total`` is their sum when the caller has it already."""
        if values.size == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            batch_mean = (float(np.sum(values)) if total is None else total) / values.size
            if not math.isfinite(batch_mean):  # the sum overflowed: average scaled values
                batch_mean = float(np.sum(values / values.size))
            deviations = values - batch_mean
            batch_m2 = float(np.einsum("i,i->", deviations, deviations))  # no BLAS threads
        low, high = (values[0], values[-1]) if presorted else (values.min(), values.max())
        self._combine(values.size, batch_mean, batch_m2, float(low), float(high))

    def merge(self, other: Moments) -> None:
        if other.n:
            self._combine(other.n, other.mean, other.m2, other.min, other.max)

    def _combine(self, n: int, mean: float, m2: float, lo: float, hi: float) -> None:
        if self.n == 0:
            self.n, self.mean, self.m2, self.min, self.max = n, mean, m2, lo, hi
            return
        total = self.n + n
        delta = mean - self.mean  # Python floats overflow to inf without raising
        self.mean = self.mean * (self.n / total) + mean * (n / total)
        self.m2 += m2 + delta * delta * (self.n / total) * n
        self.n = total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    def std(self, ddof: int = 1) -> float | None:
        """Standard deviation, or None with fewer than ``ddof + 1`` values."""
        if self.n <= ddof:
            return None
        return math.sqrt(max(self.m2, 0.0) / (self.n - ddof))


class QuantileSketch:
    """Sorted levels of items; an item on level ``h`` stands for ``2**h`` values.

    A level holding more than ``k`` items is compacted: a random half (every other sorted
    item, even or odd positions) moves up a level with twice the weight.
    """

    def __init__(self, k: int = SKETCH_SIZE, seed: int = 0) -> None:
        self.k = k
        self.n = 0
        self.error = 0
        self.levels: list[Floats] = [np.empty(0)]
        self._seed = seed
        # made at the first compaction: a generator costs more than a small sketch's update
        self._rng: np.random.Generator | None = None
        self._items: tuple[Floats, npt.NDArray[np.int64]] | None = None

    @property
    def exact(self) -> bool:
        """True while no compaction has happened: the sketch holds every value."""
        return self.error == 0

    @property
    def rank_error(self) -> float:
        """Worst-case rank error of any answer, as a fraction of the count."""
        return self.error / self.n if self.n else 0.0

    def update(self, values: Floats, *, presorted: bool = False) -> None:
        """Add finite values; with ``presorted`` the sketch may keep ``values`` itself."""
        if values.size == 0:
            return
        self.n += values.size
        self._items = None
        self.levels[0] = _merge(self.levels[0], values if presorted else np.sort(values))
        self._compact()

    def merge(self, other: QuantileSketch) -> None:
        while len(self.levels) < len(other.levels):
            self.levels.append(np.empty(0))
        for h, level in enumerate(other.levels):
            self.levels[h] = _merge(self.levels[h], level)
        self.n += other.n
        self.error += other.error
        self._items = None
        self._compact()

    def _compact(self) -> None:
        h = 0
        while h < len(self.levels):
            level = self.levels[h]
            if level.size > self.k:
                if self._rng is None:
                    self._rng = np.random.default_rng(self._seed)
                even = level.size - level.size % 2
                start = int(self._rng.integers(2))
                promoted = level[start:even:2]
                self.levels[h] = level[even:].copy()
                if h + 1 == len(self.levels):
                    self.levels.append(np.empty(0))
                above = self.levels[h + 1]
                # copied, never kept as a view: that would hold on to the whole old level
                self.levels[h + 1] = _merge(above, promoted) if above.size else promoted.copy()
                self.error += 2**h
            h += 1

    def items(self) -> tuple[Floats, npt.NDArray[np.int64]]:
        """Sorted item values and their integer weights (summing to ``n``)."""
        if self._items is None:
            if len(self.levels) == 1:
                self._items = self.levels[0], np.ones(self.levels[0].size, dtype=np.int64)
            else:
                values = np.concatenate(self.levels)
                weights = np.concatenate(
                    [
                        np.full(level.size, 2**h, dtype=np.int64)
                        for h, level in enumerate(self.levels)
                    ]
                )
                order = np.argsort(values, kind="stable")
                self._items = values[order], weights[order]
        return self._items

    def quantiles(self, probabilities: Floats) -> Floats:
        """Quantiles with linear interpolation (numpy's and pandas' default when exact)."""
        values, weights = self.items()
        if self.exact:
            return np.quantile(values, probabilities)
        centres = (np.cumsum(weights) - weights / 2) / self.n
        return np.interp(probabilities, centres, values)

    def count_outside(self, low: float, high: float) -> int:
        """How many values are below ``low`` or above ``high``."""
        values, weights = self.items()
        cumulative = np.concatenate([[0], np.cumsum(weights)])
        below = cumulative[np.searchsorted(values, low, side="left")]
        above = self.n - cumulative[np.searchsorted(values, high, side="right")]
        return int(below + above)

    def ecdf(self) -> tuple[Floats, Floats]:
        """Distinct values and the share of values at or below each (a step CDF)."""
        values, weights = self.items()
        if values.size == 0:
            return values, np.empty(0)
        last = np.flatnonzero(np.append(values[1:] != values[:-1], True))
        return values[last], np.cumsum(weights)[last] / self.n


def _merge(first: npt.NDArray[Any], second: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Merge two sorted arrays (numpy's stable sort runs in linear time on two sorted runs).

    Sorted in place: ``np.sort`` would copy the concatenation into yet another array.
    """
    if not first.size:
        return second
    if not second.size:
        return first
    merged = np.concatenate([first, second])
    merged.sort(kind="stable")
    return merged


class HyperLogLog:
    """HyperLogLog with ``2**12`` registers; ``estimate`` uses Ertl's improved estimator."""

    p = HLL_PRECISION
    m = 2**HLL_PRECISION
    q = 64 - HLL_PRECISION

    def __init__(self) -> None:
        self.registers = np.zeros(self.m, dtype=np.uint8)

    def update(self, hashes: Hashes) -> None:
        floor = int(self.registers.min())
        if floor:  # only a rank above the lowest register can raise one: skip the rest
            if floor > self.q:
                return
            # rank > floor  <=>  the low q bits are below 2**(q - floor)
            high_bits = ((1 << self.q) - 1) & ~((1 << (self.q - floor)) - 1)
            hashes = hashes[(hashes & np.uint64(high_bits)) == 0]
        if hashes.size == 0:
            return
        index = (hashes >> np.uint64(self.q)).view(np.int64)
        # rest < 2**53 converts exactly; its float's biased exponent is 1022 + its bit length
        # (0 for rest 0), so rank = leading zeros + 1 = q + 1023 - exponent, at most q + 1
        rest = (hashes & np.uint64((1 << self.q) - 1)).view(np.int64).astype(np.float64)
        rank = rest.view(np.int64)
        rank >>= 52
        np.subtract(self.q + 1023, rank, out=rank)
        np.minimum(rank, self.q + 1, out=rank)
        np.maximum.at(self.registers, index, rank.astype(np.uint8))

    def merge(self, other: HyperLogLog) -> None:
        np.maximum(self.registers, other.registers, out=self.registers)

    def estimate(self) -> float:
        m, q = self.m, self.q
        counts = np.bincount(self.registers, minlength=q + 2).astype(np.float64)
        z = m * _tau(1.0 - counts[q + 1] / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + counts[k])
        z += m * _sigma(counts[0] / m)
        return 0.0 if math.isinf(z) else m * m / (2 * math.log(2)) / z


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0


class DistinctCounter:
    """Exact distinct count (a set of 64-bit hashes) up to ``limit``, HyperLogLog beyond."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._exact: Hashes | None = np.empty(0, dtype=np.uint64)
        self._hll: HyperLogLog | None = None

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def update(self, hashes: Hashes) -> None:
        if self._exact is None:
            assert self._hll is not None
            self._hll.update(hashes)
            return
        # merging the sorted batch into the sorted set beats sorting their concatenation
        merged = sorted_unique(_merge(self._exact, np.sort(hashes)), presorted=True)
        if merged.size <= self.limit:
            self._exact = merged
        else:
            self._exact = None
            self._hll = HyperLogLog()
            self._hll.update(merged)

    def merge(self, other: DistinctCounter) -> None:
        if other._exact is not None:
            self.update(other._exact)
            return
        assert other._hll is not None
        if self._exact is not None:
            self._hll = HyperLogLog()
            self._hll.update(self._exact)
            self._exact = None
        assert self._hll is not None
        self._hll.merge(other._hll)

    def count(self) -> int:
        if self._exact is not None:
            return int(self._exact.size)
        assert self._hll is not None
        return round(self._hll.estimate())


class FrequencySketch:
    """Counts per string value: exact up to ``capacity`` values, Misra-Gries beyond."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.values: pa.Array = pa.array([], type=pa.large_string())
        self.counts: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.n = 0
        self.decrement = 0

    @property
    def exact(self) -> bool:
        return self.decrement == 0

    def update(self, values: pa.Array, counts: npt.NDArray[np.int64]) -> pa.Array:
        """Add distinct non-null ``values`` seen ``counts`` times; returns those of them that
        had no count here before (all of them when nothing is held)."""
        if len(values) == 0:
            return values
        self.n += int(counts.sum())
        return self._absorb(values.cast(pa.large_string()), counts)

    def merge(self, other: FrequencySketch) -> None:
        self.n += other.n
        self.decrement += other.decrement
        self._absorb(other.values, other.counts)

    def _absorb(self, values: pa.Array, counts: npt.NDArray[np.int64]) -> pa.Array:
        """Add the counts of distinct large-string ``values``; returns those not held before."""
        counts = np.asarray(counts, dtype=np.int64)
        if len(self.values):
            index = pc.index_in(values, value_set=self.values)
            held = pc.is_valid(index)
            held_mask = held.to_numpy(zero_copy_only=False)
            self.counts[pc.drop_null(index).to_numpy()] += counts[held_mask]
            values, counts = values.filter(pc.invert(held)), counts[~held_mask]
            if not len(values):
                return values
            self.values = pa.concat_arrays([self.values, values])
            self.counts = np.concatenate([self.counts, counts])
        else:
            self.values, self.counts = values, counts.copy()  # counted in place later
        if len(self.values) > self.capacity:
            cut = int(np.partition(self.counts, -(self.capacity + 1))[-(self.capacity + 1)])
            keep = self.counts > cut
            self.values = self.values.filter(pa.array(keep))
            self.counts = self.counts[keep] - cut
            self.decrement += cut
        return values

    def most_common(self, limit: int | None = None) -> list[tuple[str, int]]:
        """(value, count) pairs, most frequent first, ties by value."""
        pairs = sorted(
            zip(self.values.to_pylist(), self.counts.tolist(), strict=True),
            key=lambda pair: (-pair[1], pair[0]),
        )
        return pairs if limit is None else pairs[:limit]
