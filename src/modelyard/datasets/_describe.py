"""Describe data without registering it: its schema, rows, digest and profile.

``describe(data)`` reads a frame, an Arrow table or a CSV/Parquet file or directory the
way registration does -- one streaming pass -- and returns what a version of it would
record. Its ``digest`` is the version's identity: equal digests, equal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.datasets.entities import ColumnSchema

if TYPE_CHECKING:
    from modelyard.data import Profile
    from modelyard.datasets._ingest import Progress

__all__ = ["Description", "describe"]


@dataclass(frozen=True, slots=True)
class Description:
    """What a dataset version of this data would record."""

    source: str
    columns: tuple[ColumnSchema, ...]
    num_rows: int
    digest: str
    profile: Profile | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "columns": [column.as_dict() for column in self.columns],
            "num_rows": self.num_rows,
            "digest": self.digest,
        }


def describe(
    data: object,
    *,
    encoding: str | None = None,
    profile: bool = True,
    progress: Progress | None = None,
) -> Description:
    """Schema, row count, content digest and (unless ``profile=False``) the profile of
    ``data``, in one streaming pass; nothing is stored."""
    from modelyard.datasets._ingest import ingest
    from modelyard.datasets.digest import schema_columns

    found = ingest(data, encoding=encoding, progress=progress, with_profile=profile)
    return Description(
        source=found.source,
        columns=tuple(ColumnSchema(**c) for c in schema_columns(found.schema)),
        num_rows=found.rows,
        digest=found.digest,
        profile=found.profile,
    )
