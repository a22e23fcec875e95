"""Plain value objects the dataset service returns (never table rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ColumnSchema", "Dataset", "DatasetReport", "DatasetVersion"]


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """One column of a dataset version: its name, logical type (integer, float, boolean,
    string, categorical, datetime, date, time, duration, binary, null, nested, other), the
    canonical Arrow type it is stored as, and whether it may hold nulls."""

    name: str
    type: str
    arrow_type: str
    nullable: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "arrow_type": self.arrow_type,
            "nullable": self.nullable,
        }


@dataclass(frozen=True, slots=True)
class Dataset:
    """A named series of versions in a project."""

    id: str
    project: str
    name: str
    description: str
    created_at: int
    latest_version: int
    updated_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
            "latest_version": self.latest_version,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """An immutable, content-addressed snapshot of a table.

    ``digest`` identifies the values (see ``modelyard.datasets.digest``): the same data
    registered again is this version. ``tree_digest`` is the blob tree of its Parquet
    files. ``aliases`` are the user aliases pointing here, plus ``latest`` on the newest.
    """

    id: str
    project: str
    dataset: str
    version: int
    digest: str
    tree_digest: str
    columns: tuple[ColumnSchema, ...]
    num_rows: int
    size_bytes: int
    source: str
    description: str
    created_by: str
    created_at: int
    run_id: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def num_columns(self) -> int:
        return len(self.columns)

    @property
    def ref(self) -> str:
        """``name:version``, as the command line takes it."""
        return f"{self.dataset}:{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "dataset": self.dataset,
            "version": self.version,
            "digest": self.digest,
            "tree_digest": self.tree_digest,
            "columns": [column.as_dict() for column in self.columns],
            "num_rows": self.num_rows,
            "num_columns": self.num_columns,
            "size_bytes": self.size_bytes,
            "source": self.source,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True, slots=True)
class DatasetReport:
    """A report kept with a dataset version: ``kind`` is ``profile`` or ``validation``
    (or another short name); ``data`` is its JSON; ``html_digest`` names the blob of an
    HTML rendering, when one was stored (read it with ``report_html``)."""

    id: str
    version_id: str
    kind: str
    data: dict[str, Any]
    html_digest: str | None
    created_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version_id": self.version_id,
            "kind": self.kind,
            "data": self.data,
            "html_digest": self.html_digest,
            "created_at": self.created_at,
        }
