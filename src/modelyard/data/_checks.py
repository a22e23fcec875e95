"""The parts of validation shared by every check: the :class:`Outcome` a check gives, the
:class:`Batch` it reads, the :class:`Check` base, the table-wide checks (``schema``,
``row_count``), each rule's expected bound, and the text of messages.

A check takes one record batch at a time (:meth:`Check.feed`) and holds bounded state;
:meth:`Check.result` gives its outcome, whose message reads "observed ...; expected ...".
A value a check cannot read (ISO text that is not a time, say) fails that rule with the
reason; the other rules go on. The column checks are in ``_column_checks.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from modelyard.data._arrow import logical_type, numeric_values, temporal_values
from modelyard.data._fields import format_duration
from modelyard.data.expectations import (
    Expectation,
    Fresh,
    InRange,
    InSet,
    Matches,
    MaxCardinality,
    MaxOutliers,
    NotNull,
    RowCount,
    Schema,
    Unique,
)
from modelyard.errors import InvalidInput

__all__ = ["Batch", "Check", "Outcome", "bound_of", "logical_of"]

EXAMPLES = 5
LISTED = 10
EXAMPLE_TEXT = 60

Floats = npt.NDArray[np.float64]


@dataclass
class Outcome:
    """What a check found: JSON-ready ``observed`` and ``expected`` values, a message, and
    where meaningful the failing rows and a few failing values and row positions."""

    passed: bool
    observed: Any
    expected: Any
    message: str
    failing_rows: int | None = None
    examples: tuple[Any, ...] = ()
    example_rows: tuple[int, ...] = ()
    exact: bool = True


class Batch:
    """One record batch, the stream position of its first row, and its columns converted
    once for all the checks that read them."""

    def __init__(self, batch: pa.RecordBatch, offset: int) -> None:
        self.batch = batch
        self.offset = offset
        self._cache: dict[tuple[str, str], Any] = {}

    def array(self, name: str) -> pa.Array:
        """The column, dictionaries decoded."""
        key = ("array", name)
        if key not in self._cache:
            array = self.batch.column(name)
            if pa.types.is_dictionary(array.type):
                array = array.dictionary_decode()
            self._cache[key] = array
        return self._cache[key]

    def floats(self, name: str) -> Floats:
        key = ("floats", name)
        if key not in self._cache:
            self._cache[key] = numeric_values(self.array(name))
        return self._cache[key]

    def times(self, name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], str]:
        key = ("times", name)
        if key not in self._cache:
            self._cache[key] = temporal_values(self.array(name), name)
        return self._cache[key]


class Check:
    """Base: a rule, what it expects, and the reason it stopped reading, if it did."""

    def __init__(self, rule: Expectation, expected: Any, expected_text: str) -> None:
        self.rule = rule
        self.expected = expected
        self.expected_text = expected_text
        self.broken: str | None = None

    def feed(self, batch: Batch) -> None:
        if self.broken is None:
            try:
                self.update(batch)
            except InvalidInput as exc:
                self.broken = exc.message

    def update(self, batch: Batch) -> None:
        """Take one batch (checks that read data override this)."""

    def result(self, rows: int) -> Outcome:
        if self.broken is not None:
            return self.outcome(False, None, f"values it cannot check ({self.broken})")
        return self.finish(rows)

    def finish(self, rows: int) -> Outcome:
        raise NotImplementedError

    def outcome(self, passed: bool, observed: Any, observed_text: str, **extra: Any) -> Outcome:
        message = f"observed {observed_text}; expected {self.expected_text}"
        return Outcome(passed, observed, self.expected, message, **extra)


class Fixed(Check):
    """A rule decided without reading data (a missing column, a type it cannot check)."""

    def __init__(
        self, rule: Expectation, expected: Any, expected_text: str, found: Any, text: str
    ) -> None:
        super().__init__(rule, expected, expected_text)
        self.found, self.text = found, text

    def finish(self, rows: int) -> Outcome:
        return self.outcome(False, self.found, self.text)


def logical_of(data_type: pa.DataType) -> str:
    """The logical type, dictionaries by their value type."""
    if pa.types.is_dictionary(data_type):
        return logical_type(data_type.value_type)
    return logical_type(data_type)


# -- expected bounds -----------------------------------------------------------------------


def bound_of(rule: Expectation, now: dt.datetime) -> tuple[Any, str]:
    """The rule's bound as a JSON-ready value and as text."""
    if isinstance(rule, Schema):
        text = f"columns {listing(rule.required)}" + (" and no others" if rule.exact else "")
        if rule.types:
            text += "; types " + listing([f"{k} {v}" for k, v in rule.types.items()], quote=False)
        return {"columns": list(rule.required), "exact": rule.exact, "types": rule.types}, text
    if isinstance(rule, RowCount):
        return {"min": rule.min, "max": rule.max}, between(rule.min, rule.max, True) + " rows"
    if isinstance(rule, NotNull):
        text = "no nulls" if rule.max_share == 0 else f"at most {percent(rule.max_share)} nulls"
        return rule.max_share, text
    if isinstance(rule, InRange):
        bound = {"min": rule.min, "max": rule.max, "inclusive": rule.inclusive}
        return bound, "values " + between(rule.min, rule.max, rule.inclusive)
    if isinstance(rule, InSet):
        return list(rule.values), f"only {listing(rule.values)}"
    if isinstance(rule, Unique):
        return 0, "no duplicates"
    if isinstance(rule, Matches):
        return rule.pattern, f"a full match of {rule.pattern!r} for every value"
    if isinstance(rule, Fresh):
        try:
            cutoff = (now - rule.max_age).isoformat()
        except OverflowError:
            cutoff = dt.datetime.min.isoformat()
        return cutoff, f"newest at or after {cutoff} (at most {format_duration(rule.max_age)} old)"
    if isinstance(rule, MaxOutliers):
        return (
            rule.max_share,
            f"at most {percent(rule.max_share)} outliers by {rule.method.upper()}",
        )
    if isinstance(rule, MaxCardinality):
        return rule.max, f"at most {plural(rule.max, 'distinct value')}"
    raise InvalidInput(f"{type(rule).__name__} is not an expectation kind")


# -- table checks --------------------------------------------------------------------------


class SchemaCheck(Check):
    def __init__(self, rule: Schema, expected: Any, text: str, schema: pa.Schema) -> None:
        super().__init__(rule, expected, text)
        self.schema = schema

    def finish(self, rows: int) -> Outcome:
        rule = self.rule
        assert isinstance(rule, Schema)
        names = self.schema.names
        missing = [name for name in rule.required if name not in names]
        unexpected = [name for name in names if name not in rule.required] if rule.exact else []
        wrong = {
            name: logical_of(self.schema.field(name).type)
            for name, wanted in rule.types.items()
            if name in names and not _type_matches(wanted, self.schema.field(name).type)
        }
        parts = []
        if missing:
            parts.append(f"missing {listing(missing)}")
        if unexpected:
            parts.append(f"unexpected {listing(unexpected)}")
        if wrong:
            parts.append(listing([f"{k} is {v}" for k, v in wrong.items()], quote=False))
        observed = {"missing": missing, "unexpected": unexpected, "types": wrong}
        if parts:
            return self.outcome(False, observed, "; ".join(parts))
        text = f"all {plural(len(rule.required), 'column')} as expected"
        return self.outcome(True, observed, text)


def _type_matches(wanted: str, data_type: pa.DataType) -> bool:
    logical = logical_type(data_type)
    if logical == "null" or wanted == logical:
        return True
    if wanted == "numeric":
        return logical in ("integer", "float")
    if wanted == "categorical":
        return logical == "string"
    if wanted == "string":
        return logical == "categorical" and logical_of(data_type) == "string"
    return False


class RowCountCheck(Check):
    def finish(self, rows: int) -> Outcome:
        rule = self.rule
        assert isinstance(rule, RowCount)
        passed = (rule.min is None or rows >= rule.min) and (rule.max is None or rows <= rule.max)
        return self.outcome(passed, rows, plural(rows, "row"))


class NoValues(Check):
    """A column of the null type: nothing to check."""

    def finish(self, rows: int) -> Outcome:
        text = f"no values in {plural(rows, 'row')} (the column is all null)"
        return self.outcome(True, None, text)


# -- text ----------------------------------------------------------------------------------


def plain_value(value: Any) -> Any:
    """A failing value as JSON: times as ISO text, long text cut, odd types as text."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, str):
        return value if len(value) <= EXAMPLE_TEXT else value[: EXAMPLE_TEXT - 1] + "…"
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)[:EXAMPLE_TEXT]


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "none"
    return repr(value) if isinstance(value, str) else str(value)


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def percent(share: float) -> str:
    return f"{100 * share:.3g} %"


def listing(items: Any, quote: bool = True) -> str:
    """At most ten items, text quoted unless ``quote`` is False."""
    items = list(items)
    shown = [show_value(item) if quote else str(item) for item in items[:LISTED]]
    more = f" and {len(items) - LISTED:,} more" if len(items) > LISTED else ""
    return ", ".join(shown) + more if shown else "none"


def between(low: Any, high: Any, inclusive: bool) -> str:
    if low is not None and high is not None:
        left, right = ("[", "]") if inclusive else ("(", ")")
        return f"in {left}{show_value(low)}, {show_value(high)}{right}"
    if low is not None:
        return f"{'>=' if inclusive else '>'} {show_value(low)}"
    return f"{'<=' if inclusive else '<'} {show_value(high)}"


def age_text(micros: int) -> str:
    if micros < 0:
        return "in the future"
    try:
        return f"{format_duration(dt.timedelta(microseconds=micros))} old"
    except OverflowError:
        return f"{micros / 3.15576e13:.3g} years old"
