"""The frozen dataclasses of a profile: :class:`Profile`, its columns and its time behaviour.

They are public through :mod:`modelyard.data.profile` (and :mod:`modelyard.data`); this
module holds them apart from the code that computes them, so that the accumulators
(``_accumulators.py``, ``_timeseries.py``) and :func:`~modelyard.data.profile.profile`
can all build them without importing each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.data._arrow import kind_of
from modelyard.data._codec import decode, encode
from modelyard.errors import InvalidInput, NotFound

__all__ = [
    "FORMAT",
    "CategoryCount",
    "ColumnProfile",
    "Frequencies",
    "Histogram",
    "Profile",
    "QuantileSummary",
    "Seasonality",
    "TimeProfile",
]

FORMAT = "modelyard.profile/1"


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
