"""Small real implementations of the pass's parts for the monitor service's tests: a
window summary that counts rows and sums ``input.x``, a performance summary that counts
labelled rows and right answers, and checks that judge a window by its rows; the tests'
lab (``tests/monitoring/conftest.py`` builds it) and their clock."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from modelyard import Client
from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring.entities import Finding
from modelyard.monitoring.service import MonitorService


@dataclass
class CountSummary:
    count: int
    total: float

    @property
    def rows(self) -> int:
        return self.count

    def merge(self, other: Any) -> CountSummary:
        self.count += other.count
        self.total += other.total
        return self

    def to_bytes(self) -> bytes:
        return json.dumps([self.count, self.total]).encode()


class CountSummarizer:
    def summarize(self, table: pa.Table, reference: Reference) -> CountSummary:
        total = 0.0
        if "input.x" in table.column_names:
            total = float(sum(v for v in table.column("input.x").to_pylist() if v is not None))
        return CountSummary(table.num_rows, total)

    def load(self, data: bytes) -> CountSummary:
        count, total = json.loads(data)
        return CountSummary(count, total)


@dataclass
class Hits:
    count: int
    labels: int
    right: int

    @property
    def rows(self) -> int:
        return self.count

    @property
    def labelled(self) -> int:
        return self.labels

    def merge(self, other: Any) -> Hits:
        self.count += other.count
        self.labels += other.labels
        self.right += other.right
        return self

    def to_bytes(self) -> bytes:
        return json.dumps([self.count, self.labels, self.right]).encode()


class HitsSummarizer:
    def summarize(self, outputs: pa.Table, labels: Sequence[Any], reference: Reference) -> Hits:
        given = outputs.column("output").to_pylist()
        pairs = [(o, y) for o, y in zip(given, labels, strict=True) if y is not None]
        return Hits(outputs.num_rows, len(pairs), sum(1 for o, y in pairs if o == y))

    def load(self, data: bytes) -> Hits:
        return Hits(*json.loads(data))


class RowsCheck:
    """A window breaches when it holds more than ``max_rows`` rows."""

    needs_profile = False

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        unknown = set(config) - {"max_rows"}
        if unknown:
            raise InvalidInput(f"unknown keys {sorted(unknown)}", field=f"config.{min(unknown)}")
        bound = config.get("max_rows", 100)
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 0:
            raise InvalidInput("max_rows must be a count", field="config.max_rows")
        return {"max_rows": bound}

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        bound = float(config["max_rows"])
        if window.summary is None:
            return Finding(None, bound, False, 0, note="no rows")
        rows = window.summary.rows
        details: dict[str, Any] = {"sum": window.summary.total}  # type: ignore[attr-defined]
        if window.performance is not None:
            details["labelled"] = window.performance.labelled
            details["right"] = window.performance.right  # type: ignore[attr-defined]
        if window.expected_rows is not None:
            details["expected_rows"] = window.expected_rows
        return Finding(float(rows), bound, rows > bound, rows, details)


class ProfileRowsCheck(RowsCheck):
    """The same, needing the version's training profile (as drift does)."""

    needs_profile = True


#: 2026-11-02 00:00 UTC, a Monday: the log's first hour in these tests.
T0 = 1_793_577_600_000
HOUR = 3_600_000
SIGNATURE = {
    "inputs": {"columns": [{"name": "x", "type": "double", "nullable": False, "dtype": "float64"}]}
}


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Lab:
    client: Client
    monitors: MonitorService
    clock: Clock
    version: Any
    bare: Any
