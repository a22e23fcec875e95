"""What changed between two tables: their schemas and their profiles, column by column.

Schema: columns added, removed, retyped (a different stored type) and whose nullability
changed. Profile: for each column both sides have, the row count, missing share, mean,
standard deviation, min, max, distinct count and most frequent categories of each side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.datasets.entities import ColumnSchema

if TYPE_CHECKING:
    from modelyard.data import Profile

__all__ = ["ColumnChange", "ColumnStats", "DatasetDiff", "diff"]

TOP_CATEGORIES = 5


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """A column present on both sides whose type or nullability differs."""

    name: str
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """One column's statistics on one side (None where they do not apply)."""

    count: int
    missing_share: float
    mean: float | None
    std: float | None
    min: float | str | None
    max: float | str | None
    distinct: int | None
    top: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "missing_share": self.missing_share,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "distinct": self.distinct,
            "top": list(self.top),
        }


@dataclass(frozen=True)
class DatasetDiff:
    a: str
    b: str
    rows: tuple[int | None, int | None]
    added: tuple[ColumnSchema, ...] = ()
    removed: tuple[ColumnSchema, ...] = ()
    retyped: tuple[ColumnChange, ...] = ()
    nullability: tuple[ColumnChange, ...] = ()
    columns: dict[str, tuple[ColumnStats | None, ColumnStats | None]] = field(default_factory=dict)

    @property
    def schema_changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped or self.nullability)

    def changed_columns(self) -> list[str]:
        """Columns on both sides whose statistics differ."""
        return [name for name, (a, b) in self.columns.items() if a != b]

    def as_dict(self) -> dict[str, Any]:
        def change(c: ColumnChange) -> dict[str, str]:
            return {"name": c.name, "a": c.a, "b": c.b}

        return {
            "a": self.a,
            "b": self.b,
            "rows": {"a": self.rows[0], "b": self.rows[1]},
            "schema": {
                "added": [c.as_dict() for c in self.added],
                "removed": [c.as_dict() for c in self.removed],
                "retyped": [change(c) for c in self.retyped],
                "nullability": [change(c) for c in self.nullability],
            },
            "columns": {
                name: {
                    "a": a.as_dict() if a is not None else None,
                    "b": b.as_dict() if b is not None else None,
                    "changed": a != b,
                }
                for name, (a, b) in self.columns.items()
            },
        }


def diff(
    a: tuple[str, Sequence[ColumnSchema], Profile | None],
    b: tuple[str, Sequence[ColumnSchema], Profile | None],
) -> DatasetDiff:
    """Compare two sides, each ``(label, columns, profile)``."""
    label_a, columns_a, profile_a = a
    label_b, columns_b, profile_b = b
    by_a = {c.name: c for c in columns_a}
    by_b = {c.name: c for c in columns_b}
    both = [name for name in by_a if name in by_b]
    stats = {
        name: (_stats(profile_a, name), _stats(profile_b, name))
        for name in both
        if profile_a is not None or profile_b is not None
    }
    return DatasetDiff(
        a=label_a,
        b=label_b,
        rows=(
            profile_a.rows if profile_a is not None else None,
            profile_b.rows if profile_b is not None else None,
        ),
        added=tuple(c for name, c in by_b.items() if name not in by_a),
        removed=tuple(c for name, c in by_a.items() if name not in by_b),
        retyped=tuple(
            ColumnChange(n, by_a[n].arrow_type, by_b[n].arrow_type)
            for n in both
            if by_a[n].arrow_type != by_b[n].arrow_type
        ),
        nullability=tuple(
            ColumnChange(n, _nullable(by_a[n]), _nullable(by_b[n]))
            for n in both
            if by_a[n].nullable != by_b[n].nullable
        ),
        columns=stats,
    )


def _nullable(column: ColumnSchema) -> str:
    return "nullable" if column.nullable else "not null"


def _stats(found: Profile | None, name: str) -> ColumnStats | None:
    if found is None or name not in found.names:
        return None
    column = found[name]
    return ColumnStats(
        count=column.count,
        missing_share=column.missing / column.count if column.count else 0.0,
        mean=column.mean,
        std=column.std,
        min=column.min,
        max=column.max,
        distinct=column.distinct,
        top=tuple(c.value for c in column.top[:TOP_CATEGORIES]),
    )
