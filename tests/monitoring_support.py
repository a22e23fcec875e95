"""Small real implementations of the pass's parts for the monitor service's tests: a
window summary that counts rows and sums ``input.x``, a performance summary that counts
labelled rows and right answers, and checks that judge a window by its rows; the tests'
lab (``tests/monitoring/conftest.py`` builds it) and their clock; and writers of what a
pass leaves in the store (a monitor, a window's finding) for the tests that read it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection

from modelyard import Client
from modelyard._util import new_id
from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring.entities import Finding
from modelyard.monitoring.service import MonitorService
from modelyard.store.tables import monitor_values, monitors

HOUR = 3_600_000


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


def insert_monitor(
    conn: Connection,
    project_id: str,
    deployment_id: str,
    name: str,
    kind: str,
    config: Mapping[str, Any],
) -> str:
    """A monitor of the deployment as ``monitors create`` writes it (hour windows); its id."""
    monitor_id = new_id()
    conn.execute(
        monitors.insert().values(
            id=monitor_id,
            project_id=project_id,
            deployment_id=deployment_id,
            name=name,
            kind=kind,
            config=json.dumps(dict(config)),
            window="hour",
            slide=None,
            severity="warning",
            enabled=True,
            created_by="test",
            created_at=0,
            updated_at=0,
        )
    )
    return monitor_id


def insert_value(
    conn: Connection,
    monitor_id: str,
    end: int,
    value: float | None,
    *,
    version_id: str = "",
    status: str = "ok",
    rows: int = 100,
    threshold: float | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """One hour's finding of a monitor (over all versions, or ``version_id``'s), ending at
    ``end``, as the pass writes it."""
    conn.execute(
        monitor_values.insert().values(
            monitor_id=monitor_id,
            version_id=version_id,
            window_start=end - HOUR,
            window_end=end,
            value=value,
            threshold=threshold,
            status=status,
            rows=rows,
            details=json.dumps(dict(details or {})),
            computed_at=end,
        )
    )
