"""Data drift between a reference and a current table, from raw data or stored profiles.

Each side is data (anything :func:`modelyard.data.profile` accepts) or a
:class:`~modelyard.data.profile.Profile`. Data is streamed into the same summaries a profile
stores: exact while a column has at most 32,768 values, sketched beyond.

Numeric tests (missing values, NaN and ±inf left out):

* ``ks``: two-sample Kolmogorov-Smirnov statistic with its p-value (exact distribution when
  both sides have at most 10,000 values, else Smirnov's asymptotic one, as scipy does).
* ``wasserstein``: Wasserstein-1 distance divided by the reference's population standard
  deviation (or, when that is 0, its IQR / 1.349; a zero-spread reference scores 0 for an
  identical current and infinity otherwise).
* ``psi``: population stability index on the reference's deciles.
* ``jensenshannon``: Jensen-Shannon distance (natural log) on 20 reference-quantile bins.

Categorical tests: ``chisquare`` (chi-square test of homogeneity of the 2 x k counts, with
Yates' correction when k = 2, as ``scipy.stats.chi2_contingency``), ``psi`` and
``jensenshannon`` on the category shares. New and missing categories are listed.

Default rule, with ``n`` the smaller count of compared values of the two sides:
numeric ``ks`` (drift when p < 0.05) if n <= 1000, else ``wasserstein`` (drift when > 0.1);
categorical ``chisquare`` (drift when p < 0.05) if n <= 1000, else ``jensenshannon``
(drift when > 0.1). ``psi`` drifts when > 0.1. The dataset drifts when the share of
drifted features among those tested is at least ``drift_share`` (0.5).

Accuracy: a column with at most 32,768 values on both sides is compared exactly (the
statistics equal scipy's). A larger raw column is compared through its sketch, as 10,001
quantile points: its CDF is within 1e-4 plus the sketch's ``rank_error`` (under 2e-4 at a
million rows) of the data's. From a stored profile the reference distribution is 1001
quantile points (or the exact step CDF when the column has at most 1001 distinct values):
its CDF is within 0.001 plus ``rank_error``. KS statistics move by at most the sum of both
sides' CDF errors, Wasserstein distances by at most that times the value range. A
categorical column with more than 10,000 values (1000 in a profile) compares its most
frequent ones and pools the rest as "(other)".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from modelyard.data._accumulators import (
    CategoricalAccumulator,
    ColumnAccumulator,
    NumericAccumulator,
    accumulator,
    consume,
)
from modelyard.data._arrow import Source, as_source, kind_of, logical_type
from modelyard.data._checks import plural
from modelyard.data._codec import decode, encode
from modelyard.data._sketches import even_edges, sorted_unique
from modelyard.data.profile import ColumnProfile, Profile
from modelyard.errors import InvalidInput, NotFound

__all__ = [
    "DriftChart",
    "DriftReport",
    "FeatureDrift",
    "compare_side",
    "drift",
    "drift_of_summaries",
    "side_of_counts",
    "side_of_points",
    "thresholds_of",
]

Floats = npt.NDArray[np.float64]

NUMERIC_TESTS = ("ks", "wasserstein", "psi", "jensenshannon")
CATEGORICAL_TESTS = ("chisquare", "psi", "jensenshannon")
P_VALUE_TESTS = frozenset({"ks", "chisquare"})
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "psi": 0.1,
    "jensenshannon": 0.1,
}
SMALL_SAMPLE = 1000
SKETCH_POINTS = 10_001
KS_EXACT_MAX = 10_000
PSI_BINS = 10
JS_BINS = 20
PSI_FLOOR = 1e-4
CHART_BINS = 30
CHART_CATEGORIES = 20
FORMAT = "modelyard.drift/1"


@dataclass(frozen=True)
class DriftChart:
    """Shares of reference and current values per bin (``edges``) or category (``labels``)."""

    labels: tuple[str, ...]
    edges: tuple[float, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's result. ``statistic`` is what the test computes (KS D, chi-square,
    normalised Wasserstein, PSI or JS distance); p-value tests drift when ``p_value <
    threshold``, the others when ``statistic > threshold``. ``test`` is None when the
    feature could not be tested (``note`` says why). Counts are of compared values;
    missing shares are of rows."""

    column: str
    kind: str
    test: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    reference_count: int
    current_count: int
    reference_missing: float
    current_missing: float
    new_categories: tuple[str, ...] = ()
    missing_categories: tuple[str, ...] = ()
    note: str | None = None
    chart: DriftChart | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line: the test, its statistic and the cut-off it was held to (or why the
        feature was not tested)."""
        if self.test is None or self.statistic is None or self.threshold is None:
            return f"{self.column}: not tested ({self.note})"
        if self.p_value is not None:
            compared = "<" if self.drifted else ">="
            result = (
                f"statistic {self.statistic:.4g}, p-value {self.p_value:.3g} {compared} "
                f"{self.threshold:g}"
            )
        else:
            compared = ">" if self.drifted else "<="
            result = f"{self.statistic:.4g} {compared} {self.threshold:g}"
        verdict = "drifted" if self.drifted else "no drift"
        return f"{self.column}: {verdict} ({self.test} {result})"


@dataclass(frozen=True)
class DriftReport:
    """Per-feature results and the dataset verdict."""

    features: tuple[FeatureDrift, ...]
    reference_rows: int
    current_rows: int
    drift_share: float
    share_drifted: float
    dataset_drifted: bool

    @property
    def drifted(self) -> tuple[str, ...]:
        """Names of the drifted features."""
        return tuple(feature.column for feature in self.features if feature.drifted)

    def feature(self, name: str) -> FeatureDrift:
        for feature in self.features:
            if feature.column == name:
                return feature
        raise NotFound(f"the drift report has no feature {name!r}", field=name)

    def __getitem__(self, name: str) -> FeatureDrift:
        return self.feature(name)

    def summary(self) -> str:
        """The verdict on the first line (drifted features among those tested, against
        ``drift_share``), the rows compared, then each drifted feature with its test,
        statistic and threshold, and the features that could not be tested."""
        tested = [feature for feature in self.features if feature.test is not None]
        verdict = "dataset drifted" if self.dataset_drifted else "no dataset drift"
        lines = [
            f"{verdict}: {len(self.drifted)} of {plural(len(tested), 'tested feature')} "
            f"drifted ({self.share_drifted:.0%}; the dataset drifts at "
            f"{self.drift_share:.0%} or more)",
            f"{plural(self.reference_rows, 'reference row')} against "
            f"{plural(self.current_rows, 'current row')}",
        ]
        lines += [f"- {feature.describe()}" for feature in self.features if feature.drifted]
        lines += [f"- {feature.describe()}" for feature in self.features if feature.test is None]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<DriftReport: {len(self.drifted)} of {plural(len(self.features), 'feature')} "
            f"drifted, dataset_drifted={self.dataset_drifted}>"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite floats become the strings "nan", "inf" and "-inf"."""
        return {"format": FORMAT, **encode(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"not a stored drift report: expected format {FORMAT!r}")
        return decode(cls, {key: value for key, value in data.items() if key != "format"})

    def to_html(self) -> str:
        """A self-contained HTML report with overlaid distributions per feature."""
        from modelyard.data._report import drift_html

        return drift_html(self)


# -- distributions -------------------------------------------------------------------------


@dataclass
class _Distribution:
    """A CDF through points (values, cdf): steps, or linear between points."""

    values: Floats
    cdf: Floats
    interpolated: bool

    def at(self, x: Floats, side: Literal["left", "right"] = "right") -> Floats:
        """F(x) with side="right", the left limit F(x-) with side="left"."""
        index = np.searchsorted(self.values, x, side=side)
        if not self.interpolated:
            return np.concatenate([[0.0], self.cdf])[index]
        size = self.values.size
        low, high = np.clip(index - 1, 0, size - 1), np.clip(index, 0, size - 1)
        x0, x1 = self.values[low], self.values[high]
        with np.errstate(over="ignore", invalid="ignore"):
            width = x1 - x0
            fraction = np.divide(x - x0, width, out=np.zeros(x.size), where=width > 0)
        result = self.cdf[low] + fraction * (self.cdf[high] - self.cdf[low])
        result[index == 0] = 0.0
        result[index == size] = 1.0
        return result

    def quantile(self, probabilities: Floats) -> Floats:
        if self.interpolated:
            return np.interp(probabilities, self.cdf, self.values)
        index = np.searchsorted(self.cdf, probabilities, side="left")
        return self.values[np.minimum(index, self.values.size - 1)]

    def shares(self, edges: Floats) -> Floats:
        """Shares in (-inf, e1], (e1, e2], ..., (ek, inf)."""
        return np.diff(np.concatenate([[0.0], self.at(edges), [1.0]]))


@dataclass
class _Side:
    """What one side tells about one column."""

    kind: str
    rows: int
    missing: int
    count: int
    distribution: _Distribution | None = None
    spread: float | None = None
    categories: dict[str, int] | None = None
    other: int = 0

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


def _from_accumulator(column: ColumnAccumulator) -> _Side:
    kind = kind_of(column.logical)
    if isinstance(column, NumericAccumulator):
        values, cdf, interpolated = column.distribution(
            None if column.sketch.exact else SKETCH_POINTS
        )
        return _Side(
            kind,
            column.count,
            column.missing,
            column.sketch.n,
            _Distribution(values, cdf, interpolated) if values.size else None,
            column.moments.std(ddof=0),
        )
    if isinstance(column, CategoricalAccumulator):
        counts = dict(column.frequencies.most_common())
        present = column.count - column.missing
        return _Side(
            kind,
            column.count,
            column.missing,
            present,
            categories=counts,
            other=present - sum(counts.values()),
        )
    return _Side(kind, column.count, column.missing, column.count - column.missing)


def _from_profile(column: ColumnProfile) -> _Side:
    if column.kind == "numeric":
        count = column.count - column.missing - column.infinite
        sketch = column.sketch
        distribution = (
            _Distribution(np.array(sketch.values), np.array(sketch.cdf), sketch.interpolated)
            if sketch is not None and sketch.values
            else None
        )
        spread = column.std * math.sqrt((count - 1) / count) if column.std is not None else None
        if spread is None and count == 1:
            spread = 0.0
        return _Side("numeric", column.count, column.missing, count, distribution, spread)
    if column.kind == "categorical" and column.frequencies is not None:
        frequencies = column.frequencies
        return _Side(
            "categorical",
            column.count,
            column.missing,
            column.present,
            categories=dict(zip(frequencies.values, frequencies.counts, strict=True)),
            other=frequencies.other,
        )
    return _Side(column.kind, column.count, column.missing, column.present)


def _open(data: object, role: str) -> Profile | Source:
    return data if isinstance(data, Profile) else as_source(data, role)


def _kinds(side: Profile | Source) -> dict[str, str]:
    if isinstance(side, Profile):
        return {column.name: column.kind for column in side.columns}
    return {field.name: kind_of(logical_type(field.type)) for field in side.schema}


def _summarise(side: Profile | Source, columns: list[str]) -> tuple[dict[str, _Side], int]:
    if isinstance(side, Profile):
        return {name: _from_profile(side.column(name)) for name in columns}, side.rows
    positions = [side.names.index(name) for name in columns]
    accumulators = []
    for position in positions:
        field = side.schema.field(position)
        if kind_of(logical_type(field.type)) in ("numeric", "categorical"):
            accumulators.append(accumulator(field, None))
        else:
            accumulators.append(ColumnAccumulator(field.name, field.type))
    rows = consume(side.batches, accumulators, positions)
    return {column.name: _from_accumulator(column) for column in accumulators}, rows


# -- statistics ----------------------------------------------------------------------------


def ks_statistic(reference: _Distribution, current: _Distribution) -> float:
    """sup |F_ref - F_cur| over every point and left limit where either CDF changes."""
    points = sorted_unique(np.concatenate([reference.values, current.values]))
    right = np.abs(reference.at(points) - current.at(points)).max()
    left = np.abs(reference.at(points, "left") - current.at(points, "left")).max()
    return float(max(right, left))


def ks_p_value(statistic: float, n1: int, n2: int) -> tuple[float, float]:
    """(statistic rounded to a multiple of 1/lcm(n1, n2), two-sided p-value), as scipy."""
    if max(n1, n2) <= KS_EXACT_MAX:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        h = round(statistic * lcm)
        if h == 0:
            return 0.0, 1.0
        return h / lcm, _ks_exact_sf(n1, n2, h * g)
    from scipy.stats import kstwo

    return statistic, float(np.clip(kstwo.sf(statistic, round(n1 * n2 / (n1 + n2))), 0.0, 1.0))


def _ks_exact_sf(m: int, n: int, bound: int) -> float:
    """P(max |i*n - j*m| >= bound) over a random lattice path from (0, 0) to (m, n).

    Counts the paths that stay strictly inside the band (Hodges 1958), one row of the
    lattice at a time, rescaling each row to avoid overflow.
    """
    if m > n:
        m, n = n, m
    row = np.zeros(n + 1)
    high = min(n, (bound - 1) // m)
    row[: high + 1] = 1.0
    low, log_scale = 0, 0.0
    for i in range(1, m + 1):
        new_low = max(0, (i * n - bound) // m + 1)
        high = min(n, (i * n + bound - 1) // m)
        row[low:new_low] = 0.0
        low = new_low
        if low > high:
            return 1.0
        band = np.cumsum(row[low : high + 1])
        top = band[-1]
        if top == 0:
            return 1.0
        row[low : high + 1] = band / top
        log_scale += math.log(top)
    if row[n] == 0:
        return 1.0
    log_paths = math.lgamma(m + n + 1) - math.lgamma(m + 1) - math.lgamma(n + 1)
    log_inside = math.log(row[n]) + log_scale - log_paths
    return min(1.0, max(0.0, -math.expm1(log_inside)))


def wasserstein(reference: _Distribution, current: _Distribution) -> float:
    """The integral of |F_ref - F_cur| (exact for step and piecewise-linear CDFs)."""
    points = sorted_unique(np.concatenate([reference.values, current.values]))
    if points.size < 2:
        return 0.0
    start = (reference.at(points) - current.at(points))[:-1]
    end = reference.at(points[1:], "left") - current.at(points[1:], "left")
    with np.errstate(over="ignore", invalid="ignore"):
        width = np.diff(points)
        magnitude = np.abs(start) + np.abs(end)
        crossing = (start * end < 0) & (magnitude > 0)
        area = np.where(
            crossing,
            (start * start + end * end) / (2 * np.where(crossing, magnitude, 1.0)),
            magnitude / 2,
        )
        return float(np.sum(area * width))


def psi(reference: Floats, current: Floats) -> float:
    """Population stability index of two share vectors (zero shares count as 1e-4)."""
    reference = np.where(reference == 0, PSI_FLOOR, reference)
    current = np.where(current == 0, PSI_FLOOR, current)
    return float(np.sum((current - reference) * np.log(current / reference)))


def jensen_shannon(reference: Floats, current: Floats) -> float:
    """Jensen-Shannon distance (natural log), as ``scipy.spatial.distance.jensenshannon``."""
    p = reference / reference.sum()
    q = current / current.sum()
    middle = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / middle), 0.0)
        right = np.where(q > 0, q * np.log(q / middle), 0.0)
    return math.sqrt(max(float(left.sum() + right.sum()) / 2, 0.0))


def chi_square(reference: Floats, current: Floats) -> tuple[float, float]:
    """Chi-square test of homogeneity of two count vectors: (statistic, p-value)."""
    observed = np.array([reference, current], dtype=np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    dof = observed.shape[1] - 1
    if dof < 1:
        return 0.0, 1.0
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    if dof == 1:
        difference = expected - observed
        observed = observed + np.minimum(0.5, np.abs(difference)) * np.sign(difference)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    from scipy.special import chdtrc

    return statistic, float(chdtrc(dof, statistic))


# -- per feature ---------------------------------------------------------------------------


def _numeric(test: str, reference: _Side, current: _Side) -> tuple[float, float | None]:
    ref, cur = reference.distribution, current.distribution
    assert ref is not None and cur is not None
    if test == "ks":
        return ks_p_value(ks_statistic(ref, cur), reference.count, current.count)
    if test == "wasserstein":
        distance = wasserstein(ref, cur)
        scale = reference.spread or 0.0
        if not scale or not math.isfinite(scale):
            quartiles = ref.quantile(np.array([0.25, 0.75]))
            scale = float(quartiles[1] - quartiles[0]) / 1.349
        if scale > 0 and math.isfinite(scale):
            return distance / scale, None
        return (0.0 if distance == 0 else math.inf), None
    bins = PSI_BINS if test == "psi" else JS_BINS
    edges = np.unique(ref.quantile(np.arange(1, bins) / bins))
    shares = ref.shares(edges), cur.shares(edges)
    return (psi(*shares) if test == "psi" else jensen_shannon(*shares)), None


def _aligned(
    reference: _Side, current: _Side
) -> tuple[list[str], Floats, Floats, list[str], list[str]]:
    """Category labels with reference and current counts, new and missing categories.

    A category one side does not list is in that side's ``other`` bucket when it has one,
    so such categories are pooled into an "(other)" bin instead of being compared.
    """
    ref, cur = reference.categories or {}, current.categories or {}
    labels: list[str] = []
    ref_counts: list[float] = []
    cur_counts: list[float] = []
    other_ref, other_cur = float(reference.other), float(current.other)
    for label in sorted(ref.keys() | cur.keys()):
        in_ref, in_cur = label in ref, label in cur
        if (not in_ref and reference.other) or (not in_cur and current.other):
            other_ref += ref.get(label, 0)
            other_cur += cur.get(label, 0)
            continue
        labels.append(label)
        ref_counts.append(ref.get(label, 0))
        cur_counts.append(cur.get(label, 0))
    if other_ref or other_cur:
        labels.append("(other)")
        ref_counts.append(other_ref)
        cur_counts.append(other_cur)
    new = sorted(label for label in cur if label not in ref) if not reference.other else []
    gone = sorted(label for label in ref if label not in cur) if not current.other else []
    return labels, np.array(ref_counts), np.array(cur_counts), new, gone


def _chart_numeric(reference: _Distribution, current: _Distribution) -> DriftChart:
    tails = np.array([0.005, 0.995])
    low_ref, high_ref = reference.quantile(tails)
    low_cur, high_cur = current.quantile(tails)
    low, high = float(min(low_ref, low_cur)), float(max(high_ref, high_cur))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = even_edges(low, high, CHART_BINS)
    return DriftChart(
        labels=(),
        edges=tuple(edges.tolist()),
        reference=tuple(reference.shares(edges[1:-1]).tolist()),
        current=tuple(current.shares(edges[1:-1]).tolist()),
    )


def _chart_categories(labels: list[str], reference: Floats, current: Floats) -> DriftChart:
    ref_shares = reference / reference.sum() if reference.sum() else reference
    cur_shares = current / current.sum() if current.sum() else current
    order = np.argsort(-(ref_shares + cur_shares), kind="stable")[:CHART_CATEGORIES]
    return DriftChart(
        labels=tuple(labels[i] for i in order),
        edges=(),
        reference=tuple(ref_shares[order].tolist()),
        current=tuple(cur_shares[order].tolist()),
    )


def _compare(
    name: str,
    reference: _Side,
    current: _Side,
    tests: tuple[str | None, str | None],
    thresholds: dict[str, float],
) -> FeatureDrift:
    kind = reference.kind if reference.kind != "null" else current.kind
    base: dict[str, Any] = {
        "column": name,
        "kind": kind,
        "reference_count": reference.count,
        "current_count": current.count,
        "reference_missing": reference.missing_share,
        "current_missing": current.missing_share,
    }
    if kind in ("datetime", "other"):
        return _untested(base, f"{kind} columns are not compared")
    empty = [
        role for role, side in (("reference", reference), ("current", current)) if not side.count
    ]
    if empty:
        return _untested(base, f"no values to compare in {' and '.join(empty)}")
    chosen = tests[0] if kind == "numeric" else tests[1]
    small = min(reference.count, current.count) <= SMALL_SAMPLE
    if kind == "numeric":
        test = chosen or ("ks" if small else "wasserstein")
        statistic, p_value = _numeric(test, reference, current)
        assert reference.distribution is not None and current.distribution is not None
        chart = _chart_numeric(reference.distribution, current.distribution)
        new: list[str] = []
        gone: list[str] = []
    else:
        test = chosen or ("chisquare" if small else "jensenshannon")
        labels, ref_counts, cur_counts, new, gone = _aligned(reference, current)
        if test == "chisquare":
            statistic, p_value = chi_square(ref_counts, cur_counts)
        else:
            shares = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
            statistic = psi(*shares) if test == "psi" else jensen_shannon(*shares)
            p_value = None
        chart = _chart_categories(labels, ref_counts, cur_counts)
    threshold = thresholds[test]
    drifted = p_value < threshold if p_value is not None else statistic > threshold
    return FeatureDrift(
        **base,
        test=test,
        statistic=statistic,
        p_value=p_value,
        threshold=threshold,
        drifted=bool(drifted),
        new_categories=tuple(new),
        missing_categories=tuple(gone),
        chart=chart,
    )


def _untested(base: dict[str, Any], note: str) -> FeatureDrift:
    return FeatureDrift(
        **base, test=None, statistic=None, p_value=None, threshold=None, drifted=False, note=note
    )


def _thresholds(threshold: float | Mapping[str, float] | None) -> dict[str, float]:
    thresholds = dict(DEFAULT_THRESHOLDS)
    if threshold is None:
        return thresholds
    given = (
        dict(threshold)
        if isinstance(threshold, Mapping)
        else dict.fromkeys(DEFAULT_THRESHOLDS, threshold)
    )
    for test, value in given.items():
        if test not in DEFAULT_THRESHOLDS:
            raise InvalidInput(
                f"threshold names an unknown test {test!r}; tests are {sorted(DEFAULT_THRESHOLDS)}",
                field="threshold",
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidInput(
                f"threshold for {test} must be a positive number; got {value!r}", field="threshold"
            )
        if test in P_VALUE_TESTS and not value < 1:
            raise InvalidInput(
                f"threshold for {test} is a p-value cut-off in (0, 1); got {value!r}",
                field="threshold",
            )
        thresholds[test] = float(value)
    return thresholds


def _columns(
    requested: Sequence[str] | None, reference: dict[str, str], current: dict[str, str]
) -> list[str]:
    if requested is not None:
        if isinstance(requested, str) or not requested:
            raise InvalidInput("columns must be a non-empty list of column names", field="columns")
        names = list(dict.fromkeys(requested))
        for role, kinds in (("reference", reference), ("current", current)):
            absent = [name for name in names if name not in kinds]
            if absent:
                raise InvalidInput(f"{role} has no column {absent[0]!r}", field=absent[0])
        for name in names:
            kinds_found = {reference[name], current[name]} - {"null"}
            if kinds_found and not kinds_found <= {"numeric", "categorical"}:
                raise InvalidInput(
                    f"column {name!r} is {'/'.join(sorted(kinds_found))}; drift compares numeric "
                    "and categorical columns",
                    field=name,
                )
    else:
        only_ref = [name for name in reference if name not in current]
        only_cur = [name for name in current if name not in reference]
        if only_ref or only_cur:
            parts = []
            if only_ref:
                parts.append(f"only reference has {only_ref}")
            if only_cur:
                parts.append(f"only current has {only_cur}")
            raise InvalidInput(
                f"reference and current have different columns: {'; '.join(parts)}; "
                "pass columns=[...] to compare the ones they share",
                field="columns",
            )
        names = list(reference)
    for name in names:
        kinds_found = {reference[name], current[name]} - {"null"}
        if len(kinds_found) > 1:
            raise InvalidInput(
                f"column {name!r} is {reference[name]} in reference but {current[name]} in current",
                field=name,
            )
    return names


def drift(
    reference: object,
    current: object,
    *,
    columns: Sequence[str] | None = None,
    numeric_test: str | None = None,
    categorical_test: str | None = None,
    threshold: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    """Compare ``current`` with ``reference`` feature by feature.

    Each side is data or a :class:`Profile`. ``numeric_test`` is one of ks, wasserstein, psi,
    jensenshannon; ``categorical_test`` one of chisquare, psi, jensenshannon; None picks by
    sample size: with n the smaller side's count of values, ks (p < 0.05) or chisquare
    (p < 0.05) when n <= 1000, else wasserstein (> 0.1) or jensenshannon (> 0.1).
    ``threshold`` overrides the cut-off of every test (a number) or of the named ones (a
    mapping); for ks and chisquare it is the p-value cut-off. The dataset drifts when at
    least ``drift_share`` of the tested features drift. Columns default to all, and then
    both sides must have the same ones.
    """
    _check_options(numeric_test, categorical_test, drift_share)
    thresholds = _thresholds(threshold)
    ref_side, cur_side = _open(reference, "reference"), _open(current, "current")
    names = _columns(columns, _kinds(ref_side), _kinds(cur_side))
    ref_columns, ref_rows = _summarise(ref_side, names)
    cur_columns, cur_rows = _summarise(cur_side, names)
    for role, rows in (("reference", ref_rows), ("current", cur_rows)):
        if rows == 0:
            raise InvalidInput(f"{role} has no rows; drift needs at least one row on each side")
    features = tuple(
        _compare(
            name, ref_columns[name], cur_columns[name], (numeric_test, categorical_test), thresholds
        )
        for name in names
    )
    return _report(features, ref_rows, cur_rows, drift_share)


def drift_of_summaries(
    reference: Profile,
    current: Mapping[str, ColumnAccumulator],
    current_rows: int,
    *,
    numeric_test: str | None = None,
    categorical_test: str | None = None,
    threshold: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    """:func:`drift` of columns already accumulated (a monitoring window's summaries, by
    column name) against a stored profile: the same tests, rule and thresholds. Each
    column must be in ``reference``; one whose kind differs from the reference's (numbers
    in training, text in the logs) is not tested, with a note."""
    _check_options(numeric_test, categorical_test, drift_share)
    thresholds = _thresholds(threshold)
    features = tuple(
        compare_side(
            name,
            _from_profile(reference.column(name)),
            column,
            (numeric_test, categorical_test),
            thresholds,
        )
        for name, column in current.items()
    )
    return _report(features, reference.rows, current_rows, drift_share)


def side_of_counts(counts: Mapping[str, int]) -> _Side:
    """A categorical reference side from value counts (a confusion matrix's predictions)."""
    total = int(sum(counts.values()))
    return _Side("categorical", total, 0, total, categories=dict(counts))


def side_of_points(
    values: Sequence[float],
    cdf: Sequence[float],
    interpolated: bool,
    spread: float | None,
    count: int,
) -> _Side:
    """A numeric reference side of ``count`` values from points of their CDF (as a
    profile's QuantileSummary stores them) and their population standard deviation."""
    distribution = (
        _Distribution(np.array(values, dtype=np.float64), np.array(cdf), interpolated)
        if len(values)
        else None
    )
    return _Side("numeric", count, 0, count, distribution, spread)


def compare_side(
    name: str,
    reference: _Side,
    current: ColumnAccumulator,
    tests: tuple[str | None, str | None],
    thresholds: Mapping[str, float],
) -> FeatureDrift:
    """One column as accumulated against a reference side, by :func:`drift`'s rule
    (``tests``: the numeric and categorical test, None for the default; ``thresholds``
    checked by :func:`thresholds_of`). A column whose kind differs from the reference's
    (numbers there, text here) is not tested, with a note."""
    side = _from_accumulator(current)
    kinds = {reference.kind, side.kind} - {"null"}
    if len(kinds) > 1:
        return _untested(
            {
                "column": name,
                "kind": reference.kind,
                "reference_count": reference.count,
                "current_count": side.count,
                "reference_missing": reference.missing_share,
                "current_missing": side.missing_share,
            },
            f"{reference.kind} in the reference but {side.kind} in current",
        )
    return _compare(name, reference, side, tests, dict(thresholds))


def thresholds_of(threshold: float | Mapping[str, float] | None) -> dict[str, float]:
    """Every test's cut-off: the defaults, overridden by ``threshold`` (a number for all,
    a mapping per test); InvalidInput naming ``threshold`` when it is wrong."""
    return _thresholds(threshold)


def _check_options(
    numeric_test: str | None, categorical_test: str | None, drift_share: float
) -> None:
    if numeric_test is not None and numeric_test not in NUMERIC_TESTS:
        raise InvalidInput(
            f"numeric_test must be one of {', '.join(NUMERIC_TESTS)}; got {numeric_test!r}",
            field="numeric_test",
        )
    if categorical_test is not None and categorical_test not in CATEGORICAL_TESTS:
        raise InvalidInput(
            f"categorical_test must be one of {', '.join(CATEGORICAL_TESTS)}; "
            f"got {categorical_test!r}",
            field="categorical_test",
        )
    if (
        isinstance(drift_share, bool)
        or not isinstance(drift_share, int | float)
        or not 0 < drift_share <= 1
    ):
        raise InvalidInput(
            f"drift_share must be in (0, 1]; got {drift_share!r}", field="drift_share"
        )


def _report(
    features: tuple[FeatureDrift, ...], ref_rows: int, cur_rows: int, drift_share: float
) -> DriftReport:
    tested = [feature for feature in features if feature.test is not None]
    share = sum(feature.drifted for feature in tested) / len(tested) if tested else 0.0
    return DriftReport(
        features=features,
        reference_rows=ref_rows,
        current_rows=cur_rows,
        drift_share=float(drift_share),
        share_drifted=share,
        dataset_drifted=bool(tested) and share >= drift_share,
    )
