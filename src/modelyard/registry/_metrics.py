"""Streaming accumulators for model evaluation: bounded memory, fed one batch at a time.

Every accumulator here is additive (counts and sums), so the result does not depend on how
the rows were cut into batches. Three kinds:

* exact sums: a confusion matrix, log loss, Brier score, calibration bins, errors and
  their squares, the target's mean and spread (Chan's pairwise merge);
* :class:`ScoreHistogram`: a fixed number of equal-width bins over [0, 1] per class and
  per "is this class / is not", from which ROC AUC and PR AUC are computed with a stated
  bound on their error (pairs of scores in the same bin are the only ones whose order is
  not known);
* :class:`GrowingHistogram`: bins of width 2**k over any real values, the width doubled
  (two neighbouring bins merged) whenever the values span more than ``max_bins`` bins, so
  the number of bins stays bounded whatever the range; each bin holds a vector of sums.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "GrowingHistogram",
    "ScoreHistogram",
    "binned_average_precision",
    "binned_roc_auc",
]


class GrowingHistogram:
    """Vectors of sums in bins ``[i * w, (i + 1) * w)`` with ``w`` a power of two, at most
    ``max_bins`` of them from the lowest to the highest occupied one."""

    def __init__(self, width: int, max_bins: int = 256) -> None:
        self.width_stats = width
        self.max_bins = max_bins
        self.exponent: int | None = None
        self.bins: dict[int, np.ndarray] = {}

    @property
    def bin_width(self) -> float:
        return 0.0 if self.exponent is None else math.ldexp(1.0, self.exponent)

    def add(self, values: np.ndarray, stats: np.ndarray) -> None:
        """Add rows: ``values`` (finite floats) and their ``stats`` (rows x width)."""
        if len(values) == 0:
            return
        lo, hi = float(values.min()), float(values.max())
        if self.exponent is None:
            span = hi - lo
            scale = span / self.max_bins if span > 0 else max(abs(lo), 1.0) / self.max_bins
            self.exponent = math.frexp(scale)[1]
        while True:
            w = self.bin_width
            low = min([math.floor(lo / w), *self.bins])
            high = max([math.floor(hi / w), *self.bins])
            if high - low < self.max_bins:
                break
            self._double()
        index = np.floor(values / self.bin_width).astype(np.int64)
        keys, inverse = np.unique(index, return_inverse=True)
        sums = np.zeros((len(keys), self.width_stats))
        np.add.at(sums, inverse, stats)
        for key, row in zip(keys.tolist(), sums, strict=True):
            current = self.bins.get(key)
            self.bins[key] = row if current is None else current + row

    def _double(self) -> None:
        assert self.exponent is not None
        self.exponent += 1
        merged: dict[int, np.ndarray] = {}
        for key, row in self.bins.items():
            half = key >> 1
            merged[half] = merged[half] + row if half in merged else row
        self.bins = merged

    def sorted(self) -> list[tuple[float, float, np.ndarray]]:
        """``(lower edge, upper edge, sums)`` of each occupied bin, in order."""
        w = self.bin_width
        return [(k * w, (k + 1) * w, self.bins[k]) for k in sorted(self.bins)]

    def quantile(self, q: float, count_column: int = 0) -> float:
        """The ``q`` quantile, to within one bin width: the middle of the bin holding it."""
        rows = self.sorted()
        total = sum(r[2][count_column] for r in rows)
        seen = 0.0
        for lower, upper, sums in rows:
            seen += sums[count_column]
            if seen >= q * total:
                return (lower + upper) / 2
        return rows[-1][1] if rows else float("nan")


class ScoreHistogram:
    """Counts of scores in ``bins`` equal bins over [0, 1]: ``counts[k, 1, b]`` rows of
    class ``k`` whose score for ``k`` fell in bin ``b``, ``counts[k, 0, b]`` the others;
    and the lowest and highest score in each bin, so a bin whose scores are all one value
    (exact ties, as a forest's votes give) is known to add no error."""

    def __init__(self, classes: int, bins: int) -> None:
        self.nbins = bins
        self.counts = np.zeros((classes, 2, bins), dtype=np.int64)
        self.low = np.full((classes, bins), np.inf)
        self.high = np.full((classes, bins), -np.inf)

    def mixed(self, k: int) -> np.ndarray:
        """Which bins of class ``k`` hold more than one distinct score."""
        return np.asarray(self.low[k] < self.high[k])

    def merge(self, other: ScoreHistogram) -> None:
        """Add ``other``'s counts (the same classes and bins)."""
        self.counts += other.counts
        np.minimum(self.low, other.low, out=self.low)
        np.maximum(self.high, other.high, out=self.high)

    def add(self, proba: np.ndarray, truth: np.ndarray) -> None:
        """``proba``: rows x classes; ``truth``: each row's class index (-1: none of them)."""
        index = np.clip((proba * self.nbins).astype(np.int64), 0, self.nbins - 1)
        for k in range(self.counts.shape[0]):
            positive = truth == k
            self.counts[k, 1] += np.bincount(index[positive, k], minlength=self.nbins)
            self.counts[k, 0] += np.bincount(index[~positive, k], minlength=self.nbins)
            np.minimum.at(self.low[k], index[:, k], proba[:, k])
            np.maximum.at(self.high[k], index[:, k], proba[:, k])


def binned_roc_auc(
    negative: np.ndarray, positive: np.ndarray, mixed: np.ndarray | None = None
) -> tuple[float, float]:
    """ROC AUC from per-bin counts, scores in one bin counted as ties, and the bound on
    its distance from the exact AUC: half the share of positive-negative pairs that share
    a bin whose scores differ (``mixed``; None: any bin may), the only pairs whose order
    is unknown. NaN when a class is absent."""
    neg, pos = negative.astype(float), positive.astype(float)
    total = neg.sum() * pos.sum()
    if total == 0:
        return float("nan"), float("nan")
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    auc = float(((below + neg / 2) * pos).sum() / total)
    shared = pos * neg if mixed is None else pos * neg * mixed
    return auc, float(shared.sum() / 2 / total)


def binned_average_precision(
    negative: np.ndarray, positive: np.ndarray, mixed: np.ndarray | None = None
) -> tuple[float, float]:
    """Average precision (scikit-learn's definition, the area under the step PR curve)
    with each bin a tie group, thresholds from the highest bin down, and the bound on its
    distance from the exact value: in each bin whose scores differ (``mixed``; None: any
    bin may), every precision the exact curve can take lies between the lowest and
    highest a reordering of the bin's rows gives; a bin of one score is exact."""
    p_total = float(positive.sum())
    if p_total == 0:
        return float("nan"), float("nan")
    ap = bound = 0.0
    tp_above = fp_above = 0.0
    for b in range(len(positive) - 1, -1, -1):
        pos, neg = float(positive[b]), float(negative[b])
        if pos:
            ap += pos * (tp_above + pos) / (tp_above + fp_above + pos + neg)
        if pos and (mixed is None or mixed[b]):
            highest = (tp_above + pos) / (tp_above + fp_above + pos)
            lowest = (tp_above + 1) / (tp_above + fp_above + 1 + neg)
            bound += pos / p_total * (highest - lowest)
        tp_above += pos
        fp_above += neg
    return ap / p_total, bound


def roc_points(negative: np.ndarray, positive: np.ndarray, most: int = 101) -> list[list[float]]:
    """The binned ROC curve ``[[fpr, tpr], ...]`` from (0, 0) to (1, 1), thinned to about
    ``most`` points (for the report's chart)."""
    n_total, p_total = float(negative.sum()), float(positive.sum())
    if not n_total or not p_total:
        return []
    fpr = np.concatenate([[0.0], np.cumsum(negative[::-1]) / n_total])
    tpr = np.concatenate([[0.0], np.cumsum(positive[::-1]) / p_total])
    keep = np.unique(np.linspace(0, len(fpr) - 1, most).round().astype(int))
    return [[round(float(fpr[i]), 6), round(float(tpr[i]), 6)] for i in keep]


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON takes (NaN and infinities as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
