"""The column checks behind :func:`~modelyard.data.validate`, and :func:`make_check`, which
picks the check for a rule.

A rule about a column the data lacks, or whose type the rule cannot check, fails without
reading data. Nulls (and NaN in float columns) count only for ``not_null``; the other
checks look at the values present, and keep the first few failing values and row
positions as examples.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.data._accumulators import NumericAccumulator, iso_time
from modelyard.data._arrow import category_values
from modelyard.data._checks import (
    EXAMPLES,
    Batch,
    Check,
    Fixed,
    NoValues,
    Outcome,
    RowCountCheck,
    SchemaCheck,
    age_text,
    bound_of,
    listing,
    logical_of,
    percent,
    plain_value,
    plural,
    show_value,
)
from modelyard.data._fields import anchored, parse_time, regex_engine
from modelyard.data._seen import SeenKeys
from modelyard.data._sketches import DistinctCounter, hash_numbers, hash_strings, sorted_unique
from modelyard.data.expectations import (
    ColumnExpectation,
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

__all__ = ["make_check"]

SET_EXAMPLES = 20
CARDINALITY_EXACT_LIMIT = 1_000_000
CARDINALITY_EXACT_MIN = 100_000

_EPOCH = dt.datetime(1970, 1, 1)
_MICROS_PER = {
    "s": Fraction(1, 10**6),
    "ms": Fraction(1, 10**3),
    "us": Fraction(1),
    "ns": Fraction(1000),
    "D": Fraction(1, 86_400 * 10**6),
}
_INT64 = (-(2**63), 2**63 - 1)


def make_check(rule: Expectation, schema: pa.Schema, now: dt.datetime, unique_limit: int) -> Check:
    """The check of ``rule`` on data with ``schema``; ``now`` is naive UTC."""
    expected, text = bound_of(rule, now)
    if isinstance(rule, Schema):
        return SchemaCheck(rule, expected, text, schema)
    if isinstance(rule, RowCount):
        return RowCountCheck(rule, expected, text)
    assert isinstance(rule, ColumnExpectation)
    name = rule.column
    if name not in schema.names:
        shown = listing(schema.names)
        return Fixed(rule, expected, text, None, f"no column {name!r} (the columns: {shown})")
    field = schema.field(name)
    logical = logical_of(field.type)
    needs = _NEEDS[type(rule)]
    if isinstance(rule, InRange):
        needs = ("datetime", "date", "string") if rule.times else ("integer", "float")
    if logical != "null" and needs and logical not in needs:
        return Fixed(
            rule,
            expected,
            text,
            logical,
            f"column {name!r} of type {logical} ({field.type}), which {rule.kind} cannot "
            f"check: it takes {', '.join(needs)} columns",
        )
    if logical == "null" and not isinstance(rule, NotNull | Fresh):
        return NoValues(rule, expected, text)
    if isinstance(rule, Unique):
        return UniqueCheck(rule, expected, text, logical, unique_limit)
    if isinstance(rule, Fresh):
        return FreshCheck(rule, expected, text, logical, now)
    return _CHECKS[type(rule)](rule, expected, text, logical)


_ANY_VALUE = ("integer", "float", "boolean", "string", "datetime", "date")
_NEEDS: dict[type[Expectation], tuple[str, ...]] = {
    NotNull: (),
    InRange: (),
    InSet: _ANY_VALUE,
    Unique: _ANY_VALUE,
    Matches: ("string",),
    Fresh: ("datetime", "date", "string"),
    MaxOutliers: ("integer", "float"),
    MaxCardinality: _ANY_VALUE,
}


# -- column checks -------------------------------------------------------------------------


class ColumnCheck(Check):
    """Counts failing rows and keeps the first few failing values and row positions."""

    def __init__(self, rule: Expectation, expected: Any, text: str, logical: str) -> None:
        super().__init__(rule, expected, text)
        assert isinstance(rule, ColumnExpectation)
        self.column = rule.column
        self.logical = logical
        self.failing = 0
        self.values = 0
        self.examples: dict[Any, None] = {}
        self.example_rows: list[int] = []

    def note(
        self, batch: Batch, bad: npt.NDArray[np.bool_], values: pa.Array | None = None
    ) -> None:
        """Count the rows where ``bad`` is set; keep examples (``values``: the column)."""
        count = int(np.count_nonzero(bad))
        if not count:
            return
        self.failing += count
        if len(self.example_rows) < EXAMPLES or len(self.examples) < EXAMPLES:
            positions = np.flatnonzero(bad)
            need = EXAMPLES - len(self.example_rows)
            self.example_rows.extend((positions[:need] + batch.offset).tolist())
            if values is not None:
                self.remember(values.take(pa.array(positions[: 8 * EXAMPLES])).to_pylist())

    def remember(self, found: Any, limit: int = EXAMPLES) -> None:
        for value in found:
            if len(self.examples) >= limit:
                break
            self.examples.setdefault(plain_value(value), None)

    def counted(self, passed: bool, observed: Any, text: str, **extra: Any) -> Outcome:
        return self.outcome(
            passed,
            observed,
            text,
            failing_rows=self.failing,
            examples=tuple(self.examples)[:EXAMPLES],
            example_rows=tuple(self.example_rows),
            **extra,
        )


class NotNullCheck(ColumnCheck):
    def update(self, batch: Batch) -> None:
        self.values += batch.batch.num_rows
        array = batch.array(self.column)
        if self.logical == "float":
            missing = np.isnan(batch.floats(self.column))
        elif array.null_count:
            missing = ~np.asarray(pc.is_valid(array), dtype=bool)
        else:
            return
        self.note(batch, missing)

    def finish(self, rows: int) -> Outcome:
        rule = self.rule
        assert isinstance(rule, NotNull)
        share = self.failing / rows if rows else 0.0
        text = f"{plural(self.failing, 'null')} ({percent(share)} of {plural(rows, 'row')})"
        return self.counted(share <= rule.max_share, share, text)


class InRangeCheck(ColumnCheck):
    def __init__(self, rule: Expectation, *args: Any) -> None:
        super().__init__(rule, *args)
        assert isinstance(rule, InRange)
        self.range = rule
        self.low: float | int | None = None
        self.high: float | int | None = None
        self.unit = ""
        self.limits: tuple[float | None, float | None] = (
            None if rule.min is None or rule.times else float(rule.min),
            None if rule.max is None or rule.times else float(rule.max),
        )

    def update(self, batch: Batch) -> None:
        rule = self.range
        if rule.times:
            raw, valid, unit = batch.times(self.column)
            if unit != self.unit:
                self.unit = unit
                up, down = (math.ceil, math.floor) if rule.inclusive else (math.floor, math.ceil)
                self.limits = (_ticks(rule.min, unit, up), _ticks(rule.max, unit, down))
            values: npt.NDArray[Any] = raw
        else:
            values = batch.floats(self.column)
            valid = ~np.isnan(values)
        low, high = self.limits
        present = values[valid]
        if present.size == 0:
            return
        self.values += present.size
        low_seen, high_seen = present.min().item(), present.max().item()
        self.low = low_seen if self.low is None else min(self.low, low_seen)
        self.high = high_seen if self.high is None else max(self.high, high_seen)
        bad = np.zeros(values.size, dtype=bool)
        with np.errstate(invalid="ignore"):
            if low is not None:
                bad |= (values < low) if rule.inclusive else (values <= low)
            if high is not None:
                bad |= (values > high) if rule.inclusive else (values >= high)
        self.note(batch, bad & valid, batch.array(self.column))

    def finish(self, rows: int) -> Outcome:
        low, high = self._shown(self.low), self._shown(self.high)
        observed = {"min": low, "max": high}
        if not self.values:
            return self.counted(True, observed, f"no values in {plural(rows, 'row')}")
        span = f"min {show_value(low)}, max {show_value(high)}"
        if self.failing:
            text = f"{self.failing:,} of {plural(self.values, 'value')} out of range ({span})"
        else:
            text = f"all {plural(self.values, 'value')} in range ({span})"
        return self.counted(not self.failing, observed, text)

    def _shown(self, value: float | int | None) -> Any:
        if value is None or not self.range.times:
            return value
        return iso_time(int(value), self.unit)


def _ticks(
    bound: float | str | None, unit: str, rounding: Callable[[Fraction], int]
) -> float | None:
    """A time bound in the data's integer unit, rounded the way the comparison needs."""
    if bound is None:
        return None
    micros = (parse_time(str(bound)) - _EPOCH) // dt.timedelta(microseconds=1)
    ticks = rounding(Fraction(micros) * _MICROS_PER[unit])
    return min(max(ticks, _INT64[0]), _INT64[1])


class InSetCheck(ColumnCheck):
    def __init__(self, rule: Expectation, *args: Any) -> None:
        super().__init__(rule, *args)
        self.allowed: pa.Array | None = None

    def update(self, batch: Batch) -> None:
        rule = self.rule
        assert isinstance(rule, InSet)
        array = batch.array(self.column)
        if self.allowed is None:
            try:
                self.allowed = pa.array(list(rule.values)).cast(array.type)
            except (pa.ArrowException, TypeError, ValueError):
                raise InvalidInput(
                    f"the allowed values cannot be compared with a column of type {array.type}"
                ) from None
        inside = np.asarray(pc.fill_null(pc.is_in(array, value_set=self.allowed), False))
        bad = ~inside & np.asarray(pc.is_valid(array), dtype=bool)
        if self.logical == "float":
            bad &= ~np.isnan(batch.floats(self.column))
        self.note(batch, bad)
        if bad.any() and len(self.examples) < SET_EXAMPLES:
            unexpected = pc.unique(array.filter(pa.array(bad))).to_pylist()
            self.remember(unexpected, SET_EXAMPLES)

    def finish(self, rows: int) -> Outcome:
        unexpected = list(self.examples)
        if self.failing:
            more = "" if len(unexpected) < SET_EXAMPLES else " and more"
            text = (
                f"{self.failing:,} {'row' if self.failing == 1 else 'rows'} with values "
                "outside the set: "
                f"{listing([show_value(v) for v in unexpected], quote=False)}{more}"
            )
        else:
            text = "every value in the set"
        return self.counted(not self.failing, unexpected, text)


class UniqueCheck(ColumnCheck):
    def __init__(
        self, rule: Expectation, expected: Any, text: str, logical: str, unique_limit: int
    ) -> None:
        super().__init__(rule, expected, text, logical)
        self.seen = SeenKeys(wide=logical == "string", limit=unique_limit)
        self.full_at: int | None = None

    def update(self, batch: Batch) -> None:
        array = batch.array(self.column)
        second = None
        if self.logical == "float":  # the bits of the value (-0.0 as 0.0) are the key
            floats = batch.floats(self.column)
            valid = ~np.isnan(floats)
            first = (floats[valid] + 0.0).view(np.uint64)
        elif self.logical in ("datetime", "date"):
            raw, valid, _ = batch.times(self.column)
            first = raw[valid].view(np.uint64)
        elif self.logical == "string":  # two 64-bit hashes
            valid = np.asarray(pc.is_valid(array), dtype=bool)
            first, second = hash_strings(array), hash_strings(array, seed=1)
        else:  # integer, boolean: the value itself is the key
            valid = np.asarray(pc.is_valid(array), dtype=bool)
            whole = pc.fill_null(pc.cast(array, pa.int64(), safe=False), 0)
            first = np.asarray(whole, dtype=np.int64)[valid].view(np.uint64)
        self.values += first.size
        repeated = self.seen.add(first, second)
        bad = np.zeros(valid.size, dtype=bool)
        bad[np.flatnonzero(valid)[repeated]] = True
        self.note(batch, bad, array)
        if self.seen.full and self.full_at is None:
            self.full_at = batch.offset + batch.batch.num_rows

    def finish(self, rows: int) -> Outcome:
        rule = self.rule
        limit = self.seen.limit
        if self.failing:
            text = f"{plural(self.failing, 'duplicate row')} among {plural(self.values, 'value')}"
        else:
            text = f"no duplicates among {plural(self.values, 'value')}"
        if self.full_at is not None:
            text += (
                f"; only the first {limit:,} distinct values were remembered (by row "
                f"{self.full_at:,}), so duplicates among later rows may be missed: raise "
                f"unique_limit to check {rule.describe()} fully"
            )
        complete = self.full_at is None
        return self.counted(not self.failing and complete, self.failing, text, exact=complete)


class MatchesCheck(ColumnCheck):
    def __init__(self, rule: Expectation, *args: Any) -> None:
        super().__init__(rule, *args)
        assert isinstance(rule, Matches)
        self.engine = regex_engine(rule.pattern)
        self.compiled = re.compile(rule.pattern) if self.engine == "python" else None
        self.pattern = anchored(rule.pattern)

    def update(self, batch: Batch) -> None:
        array = batch.array(self.column)
        valid = np.asarray(pc.is_valid(array), dtype=bool)
        self.values += int(np.count_nonzero(valid))
        if self.compiled is None:
            if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
                array = array.cast(pa.large_string())
            matched = pc.fill_null(pc.match_substring_regex(array, pattern=self.pattern), True)
            bad = ~np.asarray(matched, dtype=bool)
        else:
            fullmatch = self.compiled.fullmatch
            texts = array.to_pylist()
            bad = np.array([v is not None and fullmatch(v) is None for v in texts], dtype=bool)
        self.note(batch, bad & valid, array)

    def finish(self, rows: int) -> Outcome:
        if self.failing:
            text = f"{self.failing:,} of {plural(self.values, 'value')} that do not match"
        else:
            text = f"all {plural(self.values, 'value')} match"
        return self.counted(not self.failing, self.failing, text)


class FreshCheck(ColumnCheck):
    def __init__(
        self, rule: Expectation, expected: Any, text: str, logical: str, now: dt.datetime
    ) -> None:
        super().__init__(rule, expected, text, logical)
        self.now = now
        self.newest: int | None = None
        self.unit = "us"

    def update(self, batch: Batch) -> None:
        if self.logical == "null":
            return
        raw, valid, self.unit = batch.times(self.column)
        present = raw[valid]
        if present.size:
            top = int(present.max())
            self.newest = top if self.newest is None else max(self.newest, top)

    def finish(self, rows: int) -> Outcome:
        rule = self.rule
        assert isinstance(rule, Fresh)
        if self.newest is None:
            return self.outcome(False, None, f"no times in {plural(rows, 'row')}")
        newest = iso_time(self.newest, self.unit)
        micros = math.floor(Fraction(self.newest) / _MICROS_PER[self.unit])
        now = (self.now - _EPOCH) // dt.timedelta(microseconds=1)
        age = now - micros
        cutoff = now - rule.max_age // dt.timedelta(microseconds=1)
        return self.outcome(micros >= cutoff, newest, f"newest {newest} ({age_text(age)})")


class MaxOutliersCheck(ColumnCheck):
    def __init__(self, rule: Expectation, *args: Any) -> None:
        super().__init__(rule, *args)
        self.numbers = NumericAccumulator(self.column, pa.float64(), None)

    def update(self, batch: Batch) -> None:
        self.numbers.add(batch.floats(self.column))

    def finish(self, rows: int) -> Outcome:
        rule = self.rule
        assert isinstance(rule, MaxOutliers)
        sketch = self.numbers.sketch
        if not sketch.n:
            text = f"no finite values in {plural(rows, 'row')}"
            return self.outcome(True, 0.0, text, failing_rows=0)
        fences = self.numbers.fences(rule.method)
        if fences is None:
            text = "a MAD of 0 (half the values or more are equal): no outliers by MAD"
            return self.outcome(True, None, text, failing_rows=0)
        low, high = fences
        count = sketch.count_outside(low, high)
        share = count / sketch.n
        values, _ = sketch.items()
        outside = sorted_unique(values[(values < low) | (values > high)])
        extremes = outside[np.argsort(-np.abs(outside - (low + high) / 2), kind="stable")]
        self.remember(extremes[:EXAMPLES].tolist())
        approx = "" if sketch.exact else f", estimated: rank error {sketch.rank_error:.1e}"
        text = (
            f"{percent(share)} outliers ({count:,} of {plural(sketch.n, 'value')} outside "
            f"[{show_value(low)}, {show_value(high)}]{approx})"
        )
        examples = tuple(self.examples)
        passed = share <= rule.max_share
        return self.outcome(
            passed, share, text, failing_rows=count, examples=examples, exact=sketch.exact
        )


class MaxCardinalityCheck(ColumnCheck):
    def __init__(self, rule: Expectation, *args: Any) -> None:
        super().__init__(rule, *args)
        assert isinstance(rule, MaxCardinality)
        exact = max(rule.max + 1, CARDINALITY_EXACT_MIN)
        self.distinct = DistinctCounter(min(exact, CARDINALITY_EXACT_LIMIT))

    def update(self, batch: Batch) -> None:
        if self.logical in ("integer", "float"):
            floats = batch.floats(self.column)
            self.distinct.update(hash_numbers(sorted_unique(floats[np.isfinite(floats)])))
        elif self.logical in ("datetime", "date"):
            raw, valid, _ = batch.times(self.column)
            self.distinct.update(hash_numbers(sorted_unique(raw[valid])))
        else:
            values, _ = category_values(batch.array(self.column))
            self.distinct.update(hash_strings(values))

    def finish(self, rows: int) -> Outcome:
        rule = self.rule
        assert isinstance(rule, MaxCardinality)
        count = self.distinct.count()
        if self.distinct.exact:
            return self.outcome(count <= rule.max, count, plural(count, "distinct value"))
        limit = self.distinct.limit
        if rule.max < limit:  # more than the limit, so more than max for sure
            count = max(count, limit + 1)
            text = f"about {count:,} distinct values (more than {limit:,})"
            return self.outcome(False, count, text, exact=False)
        text = f"about {count:,} distinct values (estimated)"
        return self.outcome(count <= rule.max, count, text, exact=False)


_CHECKS: dict[type[Expectation], type[ColumnCheck]] = {
    NotNull: NotNullCheck,
    InRange: InRangeCheck,
    InSet: InSetCheck,
    Matches: MatchesCheck,
    MaxOutliers: MaxOutliersCheck,
    MaxCardinality: MaxCardinalityCheck,
}
