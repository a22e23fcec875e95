"""One constructor per expectation kind: thin sugar over :mod:`modelyard.data.expectations`.

    from modelyard.data import expect, validate

    rules = [
        expect.schema(["id", "age", "plan"], types={"age": "numeric"}),
        expect.not_null("id"),
        expect.unique("id"),
        expect.in_range("age", 0, 120),
        expect.in_set("plan", ["free", "pro", "team"]),
        expect.matches("id", r"u-\\d+"),
        expect.row_count(min=1000),
        expect.fresh("created", max_age="1d"),
        expect.max_outliers("age", 0.01, severity="warning"),
        expect.max_cardinality("plan", 10),
    ]
    validate(frame, rules).raise_for_critical()

Every constructor takes ``severity="critical"`` (the default) or ``"warning"``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

from modelyard.data._fields import parse_duration
from modelyard.data.expectations import (
    Fresh,
    InRange,
    InSet,
    Matches,
    MaxCardinality,
    MaxOutliers,
    NotNull,
    RowCount,
    Scalar,
    Schema,
    Severity,
    Unique,
)
from modelyard.errors import InvalidInput

__all__ = [
    "fresh",
    "in_range",
    "in_set",
    "matches",
    "max_cardinality",
    "max_outliers",
    "not_null",
    "row_count",
    "schema",
    "unique",
]

TimeBound = float | str | dt.date | dt.datetime | None
T = TypeVar("T")


def schema(
    columns: Iterable[str] = (),
    *,
    exact: bool = False,
    types: Mapping[str, str] | None = None,
    severity: Severity = "critical",
) -> Schema:
    """``columns`` are present (``exact``: and no others); ``types`` maps columns to a
    type name (integer, float, numeric, boolean, string, categorical, datetime, date, ...)."""
    return Schema(_sequence(columns, "columns"), exact, dict(types or {}), severity=severity)


def not_null(column: str, max_share: float = 0.0, *, severity: Severity = "critical") -> NotNull:
    """At most ``max_share`` of the rows of ``column`` are null or NaN (default: none)."""
    return NotNull(column, max_share, severity=severity)


def in_range(
    column: str,
    min: TimeBound = None,
    max: TimeBound = None,
    *,
    inclusive: bool = True,
    severity: Severity = "critical",
) -> InRange:
    """Every value is within ``[min, max]`` (``inclusive=False``: ``(min, max)``); numbers,
    or times (ISO 8601 text, ``date`` or ``datetime``) for a time column."""
    return InRange(column, _iso(min), _iso(max), inclusive, severity=severity)


def in_set(column: str, values: Iterable[Scalar], *, severity: Severity = "critical") -> InSet:
    """Every value of ``column`` is one of ``values``."""
    return InSet(column, _sequence(values, "values"), severity=severity)


def unique(column: str, *, severity: Severity = "critical") -> Unique:
    """No value of ``column`` occurs twice."""
    return Unique(column, severity=severity)


def matches(column: str, pattern: str, *, severity: Severity = "critical") -> Matches:
    """Every value of the text column fully matches the regular expression ``pattern``."""
    return Matches(column, pattern, severity=severity)


def row_count(
    min: int | None = None, max: int | None = None, *, severity: Severity = "critical"
) -> RowCount:
    """The table has between ``min`` and ``max`` rows (either may be left out)."""
    return RowCount(min, max, severity=severity)


def fresh(
    column: str, max_age: dt.timedelta | float | str, *, severity: Severity = "critical"
) -> Fresh:
    """The newest time of ``column`` is at most ``max_age`` old at validation time;
    ``max_age`` is a ``timedelta``, seconds, or text like "36h" or "1d 12h"."""
    return Fresh(column, parse_duration(max_age), severity=severity)


def max_outliers(
    column: str,
    max_share: float,
    method: Literal["iqr", "mad"] = "iqr",
    *,
    severity: Severity = "critical",
) -> MaxOutliers:
    """At most ``max_share`` of the finite values of ``column`` are outliers by ``method``
    (Tukey's IQR fences, or a robust z-score over 3.5 with the MAD), as a profile counts."""
    return MaxOutliers(column, max_share, method, severity=severity)


def max_cardinality(column: str, max: int, *, severity: Severity = "critical") -> MaxCardinality:
    """``column`` has at most ``max`` distinct values."""
    return MaxCardinality(column, max, severity=severity)


def _sequence(items: Iterable[T], name: str) -> tuple[T, ...]:
    if isinstance(items, str | bytes):
        raise InvalidInput(f"{name} must be a list, not the text {items!r}", field=name)
    return tuple(items)


def _iso(bound: TimeBound) -> float | str | None:
    return bound.isoformat() if isinstance(bound, dt.date) else bound
