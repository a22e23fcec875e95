"""Expectations: rules a table must satisfy, declared once and checked on every new batch of data.

Each kind is a small frozen dataclass; :mod:`modelyard.data.expect` has a constructor per
kind (``expect.not_null("age")``) and :mod:`modelyard.data.suite` reads and writes them as
YAML. Every expectation has a ``severity``: "critical" (the default; a failure makes the
validation report not ``ok``) or "warning" (reported, but the data passes).

======================  ===========================================================
kind                    passes when
======================  ===========================================================
``schema``              the columns are present (``exact``: and no others), each of
                        ``types`` with its type
``not_null``            at most ``max_share`` of the column's rows are null or NaN
``in_range``            every value is within ``[min, max]`` (``inclusive=False``:
                        ``(min, max)``); numbers, or ISO 8601 times for time columns
``in_set``              every value is one of ``values``
``unique``              no value occurs twice
``matches``             every value fully matches the regular expression ``pattern``
``row_count``           the table has between ``min`` and ``max`` rows
``fresh``               the newest time is at most ``max_age`` before ``now``
``max_outliers``        at most ``max_share`` of the values are outliers by the IQR
                        or MAD rule, counted as the profile counts them
``max_cardinality``     the column has at most ``max`` distinct values
======================  ===========================================================

Nulls (and NaN in float columns) are left to ``not_null``: the other column rules look at
the values that are present. ±inf are values: outside any finite range, but left out of
outlier counts, as in a profile.

Type names in ``schema``: the logical types of a profile (integer, float, boolean, string,
categorical, datetime, date, null, other) and "numeric" (integer or float). "string" and
"categorical" both accept text stored plainly or dictionary-encoded; a column of the null
type (nothing but nulls) has every type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from modelyard.data._fields import (
    bound,
    flag,
    format_duration,
    names,
    parse_duration,
    parse_time,
    regex_engine,
    share,
)
from modelyard.errors import InvalidInput

__all__ = [
    "KINDS",
    "SEVERITIES",
    "TYPE_NAMES",
    "ColumnExpectation",
    "Expectation",
    "Fresh",
    "InRange",
    "InSet",
    "Matches",
    "MaxCardinality",
    "MaxOutliers",
    "NotNull",
    "RowCount",
    "Schema",
    "Severity",
    "Unique",
]

Severity = Literal["warning", "critical"]
SEVERITIES: tuple[str, ...] = ("warning", "critical")
TYPE_NAMES: tuple[str, ...] = (
    "numeric",
    "integer",
    "float",
    "boolean",
    "string",
    "categorical",
    "datetime",
    "date",
    "null",
    "other",
)
OUTLIER_METHODS: tuple[str, ...] = ("iqr", "mad")

Scalar = str | int | float | bool
Bound = float | str | None  # a number, or a time as ISO 8601 text


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """The base of every kind. Construction checks and normalises the fields and raises
    :class:`~modelyard.errors.InvalidInput` naming the field that is wrong."""

    kind: ClassVar[str] = ""
    severity: Severity = "critical"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise InvalidInput(
                f"severity must be 'warning' or 'critical'; got {self.severity!r}",
                field="severity",
            )
        self._check()

    def _check(self) -> None:
        """Check and normalise the fields of the kind."""

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def target(self) -> str | None:
        """The column the expectation is about; None for table-wide ones."""
        return None

    def describe(self) -> str:
        """``kind`` and, for column expectations, the column: ``not_null 'age'``."""
        return self.kind if self.target is None else f"{self.kind} {self.target!r}"

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., field: value, ...}`` with plain YAML/JSON values; fields that
        hold their default are left out."""
        data: dict[str, Any] = {"kind": self.kind}
        for item in _fields(type(self)):
            value = getattr(self, item.name)
            if item.default is not dataclasses.MISSING and value == item.default:
                continue
            if item.default_factory is not dataclasses.MISSING and value == item.default_factory():
                continue
            data[item.name] = _plain(value)
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Expectation:
        """The expectation ``data`` (as :meth:`to_dict` writes it) describes."""
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"an expectation must be a mapping with a 'kind'; got {type(data).__name__}"
            )
        kind = data.get("kind")
        if kind is None:
            raise InvalidInput("missing field 'kind'", field="kind")
        cls = KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise InvalidInput(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}", field="kind")
        known = [item.name for item in _fields(cls)]
        unknown = [str(key) for key in data if key != "kind" and key not in known]
        if unknown:
            raise InvalidInput(
                f"unknown field {unknown[0]!r} for {kind}; its fields are {', '.join(known)}",
                field=unknown[0],
            )
        required = [
            item.name
            for item in _fields(cls)
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
        ]
        absent = [name for name in required if name not in data]
        if absent:
            raise InvalidInput(f"missing field {absent[0]!r} for {kind}", field=absent[0])
        return cls(**{str(key): value for key, value in data.items() if key != "kind"})


@dataclass(frozen=True)
class ColumnExpectation(Expectation):
    """An expectation about one column."""

    column: str

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise InvalidInput(
                f"column must be a non-empty string; got {self.column!r}", field="column"
            )
        super().__post_init__()

    @property
    def target(self) -> str | None:
        return self.column


@dataclass(frozen=True)
class Schema(Expectation):
    """The columns are present (``exact``: and there are no others); each column named in
    ``types`` has that type (it need not be listed in ``columns`` too)."""

    kind: ClassVar[str] = "schema"
    columns: tuple[str, ...] = ()
    exact: bool = False
    types: dict[str, str] = field(default_factory=dict, hash=False)

    def _check(self) -> None:
        columns = names(self.columns, "columns")
        if not isinstance(self.types, Mapping):
            raise InvalidInput(
                f"types must be a mapping of column names to types; got {self.types!r}",
                field="types",
            )
        types: dict[str, str] = {}
        for name, type_name in self.types.items():
            if not isinstance(name, str) or not name:
                raise InvalidInput(f"types has a bad column name {name!r}", field="types")
            if type_name not in TYPE_NAMES:
                raise InvalidInput(
                    f"types[{name!r}] must be one of {', '.join(TYPE_NAMES)}; got {type_name!r}",
                    field="types",
                )
            types[name] = type_name
        flag(self.exact, "exact")
        if not columns and not types:
            raise InvalidInput("schema needs columns or types", field="columns")
        self._set("columns", columns)
        self._set("types", types)

    @property
    def required(self) -> tuple[str, ...]:
        """Every column that must be present: ``columns``, then the others of ``types``."""
        return self.columns + tuple(name for name in self.types if name not in self.columns)


@dataclass(frozen=True)
class NotNull(ColumnExpectation):
    """At most ``max_share`` (0 to 1; default 0) of the rows are null (or NaN)."""

    kind: ClassVar[str] = "not_null"
    max_share: float = 0.0

    def _check(self) -> None:
        self._set("max_share", share(self.max_share, "max_share"))


@dataclass(frozen=True)
class InRange(ColumnExpectation):
    """Every value is within ``[min, max]``, or ``(min, max)`` with ``inclusive=False``;
    either bound may be left out. Bounds are numbers for numeric columns, or times (ISO 8601
    text, ``datetime`` or ``date``; kept as ISO text; naive means UTC) for time columns."""

    kind: ClassVar[str] = "in_range"
    min: Bound = None
    max: Bound = None
    inclusive: bool = True

    def _check(self) -> None:
        low, high = bound(self.min, "min"), bound(self.max, "max")
        if low is None and high is None:
            raise InvalidInput("in_range needs min, max or both", field="min")
        if low is not None and high is not None:
            if isinstance(low, str) != isinstance(high, str):
                raise InvalidInput("min and max must both be numbers or both be times", field="max")
            above = (
                parse_time(low) > parse_time(high)
                if isinstance(low, str) and isinstance(high, str)
                else float(low) > float(high)
            )
            if above:
                raise InvalidInput(f"min {low!r} is above max {high!r}", field="min")
        flag(self.inclusive, "inclusive")
        self._set("min", low)
        self._set("max", high)

    @property
    def times(self) -> bool:
        """True when the bounds are times."""
        return isinstance(self.min, str) or isinstance(self.max, str)


@dataclass(frozen=True)
class InSet(ColumnExpectation):
    """Every value is one of ``values`` (text, numbers or booleans, compared in the
    column's type: ``[1, 2]`` works for a float column, ``["a"]`` for categories)."""

    kind: ClassVar[str] = "in_set"
    values: tuple[Scalar, ...]

    def _check(self) -> None:
        if isinstance(self.values, str | bytes | Mapping) or not isinstance(self.values, Iterable):
            raise InvalidInput(
                f"values must be a list of allowed values; got {self.values!r}", field="values"
            )
        seen: dict[tuple[type, Any], Scalar] = {}
        for value in self.values:
            if not isinstance(value, str | int | float | bool) or (
                isinstance(value, float) and math.isnan(value)
            ):
                raise InvalidInput(
                    f"values must hold text, numbers or booleans; got {value!r}", field="values"
                )
            seen.setdefault((type(value), value), value)
        if not seen:
            raise InvalidInput("values must not be empty", field="values")
        self._set("values", tuple(seen.values()))


@dataclass(frozen=True)
class Unique(ColumnExpectation):
    """No value occurs twice (nulls are not values)."""

    kind: ClassVar[str] = "unique"


@dataclass(frozen=True)
class Matches(ColumnExpectation):
    """Every value of a text column fully matches ``pattern`` (RE2 syntax, as Arrow uses;
    patterns RE2 cannot compile, such as lookarounds, run on Python's ``re``)."""

    kind: ClassVar[str] = "matches"
    pattern: str

    def _check(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern:
            raise InvalidInput(
                f"pattern must be a non-empty string; got {self.pattern!r}", field="pattern"
            )
        if regex_engine(self.pattern) is None:
            raise InvalidInput(
                f"pattern {self.pattern!r} is not a regular expression", field="pattern"
            )


@dataclass(frozen=True)
class RowCount(Expectation):
    """The table has at least ``min`` and at most ``max`` rows (either may be left out)."""

    kind: ClassVar[str] = "row_count"
    min: int | None = None
    max: int | None = None

    def _check(self) -> None:
        for name in ("min", "max"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise InvalidInput(
                    f"{name} must be a non-negative integer; got {value!r}", field=name
                )
        if self.min is None and self.max is None:
            raise InvalidInput("row_count needs min, max or both", field="min")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise InvalidInput(f"min {self.min} is above max {self.max}", field="min")


@dataclass(frozen=True)
class Fresh(ColumnExpectation):
    """The newest time in the column is no older than ``max_age`` at ``now`` (given to
    :func:`~modelyard.data.validate`; naive times are UTC). ``max_age`` is a ``timedelta``,
    seconds, or text such as "36h", "1d 12h", "2w", "90m", "45s"."""

    kind: ClassVar[str] = "fresh"
    max_age: dt.timedelta

    def _check(self) -> None:
        self._set("max_age", parse_duration(self.max_age, "max_age"))


@dataclass(frozen=True)
class MaxOutliers(ColumnExpectation):
    """At most ``max_share`` of the finite values are outliers: by "iqr", outside
    ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``; by "mad", ``|x - median| / (1.4826 MAD) > 3.5``."""

    kind: ClassVar[str] = "max_outliers"
    max_share: float
    method: Literal["iqr", "mad"] = "iqr"

    def _check(self) -> None:
        self._set("max_share", share(self.max_share, "max_share"))
        if self.method not in OUTLIER_METHODS:
            raise InvalidInput(
                f"method must be 'iqr' or 'mad'; got {self.method!r}", field="method"
            )


@dataclass(frozen=True)
class MaxCardinality(ColumnExpectation):
    """The column has at most ``max`` distinct values."""

    kind: ClassVar[str] = "max_cardinality"
    max: int

    def _check(self) -> None:
        if isinstance(self.max, bool) or not isinstance(self.max, int) or self.max < 1:
            raise InvalidInput(f"max must be a positive integer; got {self.max!r}", field="max")


KINDS: dict[str, type[Expectation]] = {
    cls.kind: cls
    for cls in (
        Schema,
        NotNull,
        InRange,
        InSet,
        Unique,
        Matches,
        RowCount,
        Fresh,
        MaxOutliers,
        MaxCardinality,
    )
}


# -- field checks --------------------------------------------------------------------------


def _fields(cls: type[Expectation]) -> list[dataclasses.Field[Any]]:
    """The init fields of ``cls``, ``severity`` last."""
    found = [item for item in dataclasses.fields(cls) if item.init]
    return sorted(found, key=lambda item: item.name == "severity")


def _plain(value: Any) -> Any:
    """A field's value as plain YAML/JSON."""
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
