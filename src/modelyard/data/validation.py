"""Validate a table against expectations in one streaming pass: :func:`validate`.

Memory: the data is read one record batch (at most 65,536 rows) at a time — a CSV,
Parquet or Arrow file incrementally from disk (Parquet: only the columns the rules read),
never as a whole frame — and each rule keeps bounded state:

* ``schema``, ``row_count``, ``not_null``, ``in_range``, ``in_set``, ``matches``,
  ``fresh``: counters and at most 20 example values.
* ``max_outliers``: the profile's quantile sketch (exact up to 32,768 values, a few
  hundred kilobytes beyond).
* ``max_cardinality``: up to ``max + 1`` 64-bit hashes (at most a million; beyond, a 4 KiB
  HyperLogLog).
* ``unique``: every distinct value's key, exactly — 8 bytes for numbers, times and
  booleans (the key is the value's own bits, so there are no false duplicates) and 16
  bytes for text (two independent 64-bit hashes: a false duplicate needs both to collide,
  probability about n² / 2**129). Past ``unique_limit`` distinct values (10 million by
  default: at most 160 MB) the set stops growing: later values are still checked against
  the ones held, and the rule fails as not fully checked unless ``unique_limit`` is raised.

Numbers are compared as float64 (integers beyond 2**53 lose precision), as in a profile.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.data._arrow import open_source
from modelyard.data._checks import Batch, Check, plural
from modelyard.data._column_checks import make_check
from modelyard.data._fields import parse_time
from modelyard.data.expectations import ColumnExpectation, Expectation
from modelyard.data.suite import load_expectations
from modelyard.errors import DataValidationError, InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ExpectationResult", "ValidationReport", "Validator", "validate"]

FORMAT = "modelyard.validation/1"
UNIQUE_LIMIT = 10_000_000


@dataclass(frozen=True)
class ExpectationResult:
    """One rule's result. ``observed`` and ``expected`` are JSON values (numbers, text,
    lists, mappings); ``message`` reads "observed ...; expected ...". ``failing_rows``
    counts the rows that break a row-level rule (None for table-wide rules and where no
    rows were read); ``examples`` are up to 5 failing values (20 for ``in_set``) and
    ``example_rows`` the stream positions (from 0) of up to 5 failing rows. ``exact`` is
    False when a count is an estimate (sketched outliers, estimated cardinality, a
    ``unique`` past its limit)."""

    rule: Expectation
    passed: bool
    observed: Any
    expected: Any
    message: str
    failing_rows: int | None = None
    examples: tuple[Any, ...] = ()
    example_rows: tuple[int, ...] = ()
    exact: bool = True

    @property
    def kind(self) -> str:
        return self.rule.kind

    @property
    def column(self) -> str | None:
        return self.rule.target

    @property
    def severity(self) -> str:
        return self.rule.severity

    @property
    def critical_failure(self) -> bool:
        return not self.passed and self.rule.severity == "critical"

    def describe(self) -> str:
        """One line: kind, column and the message."""
        where = f" on column {self.column!r}" if self.column is not None else ""
        line = f"{self.kind}{where}: {self.message}"
        if self.failing_rows:
            noun = "row" if self.failing_rows == 1 else "rows"
            line += f" ({self.failing_rows:,} failing {noun}"
            if self.examples:
                line += ", e.g. " + ", ".join(_example(value) for value in self.examples)
            line += ")"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.to_dict(),
            "kind": self.kind,
            "column": self.column,
            "severity": self.severity,
            "passed": self.passed,
            "observed": _json(self.observed),
            "expected": _json(self.expected),
            "message": self.message,
            "failing_rows": self.failing_rows,
            "examples": _json(list(self.examples)),
            "example_rows": list(self.example_rows),
            "exact": self.exact,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExpectationResult:
        return cls(
            rule=Expectation.from_dict(data["rule"]),
            passed=_typed(data["passed"], bool),
            observed=_unjson(data["observed"]),
            expected=_unjson(data["expected"]),
            message=_typed(data["message"], str),
            failing_rows=data.get("failing_rows"),
            examples=tuple(_unjson(data.get("examples", []))),
            example_rows=tuple(int(row) for row in data.get("example_rows", [])),
            exact=_typed(data.get("exact", True), bool),
        )


@dataclass(frozen=True)
class ValidationReport:
    """Every rule's result, in the order of the rules, with the table's rows and columns and
    the time (ISO 8601, UTC) that freshness was measured against."""

    results: tuple[ExpectationResult, ...]
    rows: int
    columns: tuple[str, ...]
    now: str

    @property
    def ok(self) -> bool:
        """True when no critical expectation failed (failed warnings are allowed)."""
        return not any(result.critical_failure for result in self.results)

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    @property
    def critical_failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(result for result in self.results if result.critical_failure)

    @property
    def warnings(self) -> tuple[ExpectationResult, ...]:
        """Failed expectations of severity "warning"."""
        return tuple(
            result for result in self.results if not result.passed and result.severity == "warning"
        )

    def for_column(self, name: str) -> tuple[ExpectationResult, ...]:
        """The results of the rules about column ``name``."""
        return tuple(result for result in self.results if result.column == name)

    def summary(self) -> str:
        """One line: how many rules passed, failed critically, and warned."""
        passed = len(self.results) - len(self.failures)
        return (
            f"{passed} of {plural(len(self.results), 'expectation')} passed; "
            f"{plural(len(self.critical_failures), 'critical failure')}, "
            f"{plural(len(self.warnings), 'warning')} ({plural(self.rows, 'row')})"
        )

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<ValidationReport: {self.summary()}>"

    def raise_for_critical(self) -> None:
        """Raise :class:`~modelyard.errors.DataValidationError` listing every failed critical
        expectation (its column, observed value and expected bound) unless :attr:`ok`."""
        failed = self.critical_failures
        if not failed:
            return
        lines = [f"- {result.describe()}" for result in failed]
        noun = "expectation" if len(failed) == 1 else "expectations"
        raise DataValidationError(
            f"data validation failed: {len(failed)} critical {noun} of {len(self.results)} "
            f"failed on {self.rows:,} rows\n" + "\n".join(lines),
            report=self,
            field=failed[0].column,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; non-finite floats are written as ``{"$float": "inf"}`` (or "-inf",
        "nan") so that they read back as floats."""
        return {
            "format": FORMAT,
            "ok": self.ok,
            "rows": self.rows,
            "columns": list(self.columns),
            "now": self.now,
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"not a stored validation report: expected format {FORMAT!r}")
        try:
            return cls(
                results=tuple(ExpectationResult.from_dict(item) for item in data["results"]),
                rows=_typed(data["rows"], int),
                columns=tuple(_typed(name, str) for name in data["columns"]),
                now=_typed(data["now"], str),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"stored validation report is malformed: {exc!r}") from None

    def to_html(self) -> str:
        """A self-contained HTML report (inline CSS and SVG) that opens offline."""
        from modelyard.data._validation_html import validation_html

        return validation_html(self)


def validate(
    data: object,
    expectations: Iterable[Expectation] | str | os.PathLike[str],
    *,
    now: dt.datetime | str | None = None,
    raise_on_critical: bool = False,
    unique_limit: int = UNIQUE_LIMIT,
    encoding: str | None = None,
) -> ValidationReport:
    """Check ``data`` against ``expectations`` in one pass over its record batches.

    ``data`` is a pandas or polars DataFrame, a pyarrow Table, RecordBatch or
    RecordBatchReader, an iterable of RecordBatches, or the path of a CSV, Parquet or Arrow
    IPC file (or a directory of Parquet files). ``expectations`` are Expectation objects,
    or a YAML file or text for :func:`~modelyard.data.load_expectations`. ``now`` (default:
    the current time; naive means UTC) is what ``fresh`` measures ages against.
    ``raise_on_critical`` raises :class:`~modelyard.errors.DataValidationError` when a
    critical expectation fails (see :meth:`ValidationReport.raise_for_critical`).
    ``encoding`` is the text encoding of a CSV file (default UTF-8).
    """
    validator = Validator(expectations, now=now, unique_limit=unique_limit)
    source = open_source(data, "data", columns=validator.columns, encoding=encoding)
    validator.begin(source.schema, source.names)
    for batch in source.batches:
        validator.feed(batch)
    report = validator.report()
    if raise_on_critical:
        report.raise_for_critical()
    return report


class Validator:
    """Expectations checked one record batch at a time, as a stream goes by: what
    :func:`validate` does over a source it opens, and what the dataset service does on
    the one pass that also digests and stores the data it registers.

    The rules, ``now`` and ``unique_limit`` are checked when it is made (before any data
    is read); :meth:`begin` starts a pass over a stream of a schema (again from the start
    when the stream is read again), :meth:`feed` takes its batches in order and
    :meth:`report` gives the result of the pass.
    """

    def __init__(
        self,
        expectations: Iterable[Expectation] | str | os.PathLike[str],
        *,
        now: dt.datetime | str | None = None,
        unique_limit: int = UNIQUE_LIMIT,
    ) -> None:
        self.rules = _rules(expectations)
        self.now = _now(now)
        if isinstance(unique_limit, bool) or not isinstance(unique_limit, int) or unique_limit < 1:
            raise InvalidInput(
                f"unique_limit must be a positive integer; got {unique_limit!r}",
                field="unique_limit",
            )
        self.unique_limit = unique_limit
        self._checks: list[Check] = []
        self._rows = 0
        self._names: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The columns the rules read."""
        return sorted({rule.column for rule in self.rules if isinstance(rule, ColumnExpectation)})

    def begin(self, schema: pa.Schema, names: Iterable[str] | None = None) -> None:
        """Start a pass over a stream of ``schema``; ``names``: the table's columns, when
        the stream holds only those the rules read."""
        limit = self.unique_limit
        self._checks = [make_check(rule, schema, self.now, limit) for rule in self.rules]
        self._rows = 0
        self._names = tuple(schema.names if names is None else names)

    def feed(self, batch: pa.RecordBatch) -> None:
        view = Batch(batch, self._rows)
        for check in self._checks:
            check.feed(view)
        self._rows += batch.num_rows

    def report(self) -> ValidationReport:
        """Every rule's result over the batches fed since :meth:`begin`."""
        rows = self._rows
        return ValidationReport(
            results=tuple(
                ExpectationResult(rule, **vars(check.result(rows)))
                for rule, check in zip(self.rules, self._checks, strict=True)
            ),
            rows=rows,
            columns=self._names,
            now=self.now.isoformat() + "Z",
        )


def _rules(expectations: object) -> list[Expectation]:
    if isinstance(expectations, str | os.PathLike):
        return load_expectations(expectations)
    if isinstance(expectations, Expectation):
        return [expectations]
    if not isinstance(expectations, Iterable):
        raise InvalidInput(
            "expectations must be a list of Expectation objects or a YAML file or text; "
            f"got {type(expectations).__name__}",
            field="expectations",
        )
    rules = list(expectations)
    for number, rule in enumerate(rules, 1):
        if not isinstance(rule, Expectation):
            raise InvalidInput(
                f"expectation {number} is a {type(rule).__name__}, not an Expectation "
                "(build one with modelyard.data.expect)",
                field="expectations",
            )
    return rules


def _now(now: object) -> dt.datetime:
    """``now`` as a naive UTC datetime."""
    if now is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if isinstance(now, str):
        try:
            return parse_time(now)
        except ValueError:
            raise InvalidInput(f"now must be an ISO 8601 time; got {now!r}", field="now") from None
    if isinstance(now, dt.datetime):
        if now.tzinfo is not None:
            now = now.astimezone(dt.UTC).replace(tzinfo=None)
        return now
    raise InvalidInput(f"now must be a datetime or ISO 8601 text; got {now!r}", field="now")


# -- JSON for untyped values ---------------------------------------------------------------


def _json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json(item) for key, item in value.items()}
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$float"}:
            return float(value["$float"])
        return {key: _unjson(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unjson(item) for item in value]
    return value


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def _example(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
