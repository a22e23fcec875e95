"""Datasets, versions, aliases, reports and lineage on the wire (a version's rows travel
as Arrow IPC streams, ``application/vnd.apache.arrow.stream``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from modelyard import limits
from modelyard.api.schemas._types import Public, RunId, ShortText

__all__ = [
    "AliasSet",
    "ColumnPublic",
    "DatasetPage",
    "DatasetPublic",
    "InputRecord",
    "LineageEdgePublic",
    "LineagePage",
    "RegisteredPublic",
    "ReportCreate",
    "ReportPage",
    "ReportPublic",
    "VersionPage",
    "VersionPublic",
]


class DatasetPublic(Public):
    id: str
    project: str
    name: str
    description: str
    created_at: int
    latest_version: int = Field(description="The number of the newest version.")
    updated_at: int = Field(description="When the newest version was registered.")


class DatasetPage(Public):
    items: list[DatasetPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class ColumnPublic(Public):
    name: str
    type: str = Field(description="Logical type: integer, float, string, datetime, ...")
    arrow_type: str = Field(description="The canonical Arrow type it is stored as.")
    nullable: bool


class VersionPublic(Public):
    id: str
    project: str
    dataset: str
    version: int
    digest: str = Field(description="BLAKE3 of the values (format modelyard.dataset/1).")
    tree_digest: str = Field(description="The blob tree of its Parquet parts.")
    columns: list[ColumnPublic]
    num_rows: int
    num_columns: int
    size_bytes: int = Field(description="Parquet bytes stored.")
    source: str
    description: str
    created_by: str
    created_at: int
    run_id: str | None = Field(description="The run that registered it, if any.")
    aliases: list[str] = Field(description="User aliases, and `latest` on the newest.")


class VersionPage(Public):
    items: list[VersionPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class RegisteredPublic(Public):
    """The answer to a registration: 201 with ``created: true``, or 200 with ``created:
    false`` when the same values were registered under this name before."""

    version: VersionPublic
    created: bool = Field(description="False: this data was already this version.")


class AliasSet(BaseModel):
    version: int = Field(ge=1, le=limits.INTEGER, description="The version number to point at.")


class ReportCreate(BaseModel):
    kind: ShortText = Field(description="A short lowercase word: validation, ...")
    data: dict[str, Any] = Field(description="The report as JSON (no NaN or infinity).")
    html: str | None = Field(None, description="An HTML rendering, optional.")


class ReportPublic(Public):
    id: str
    version_id: str
    kind: str
    data: dict[str, Any]
    html_digest: str | None = Field(description="Set when an HTML rendering is stored.")
    created_at: int


class ReportPage(Public):
    items: list[ReportPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class InputRecord(BaseModel):
    run_id: RunId = Field(description="The run that read the version.")


class LineageEdgePublic(Public):
    source_kind: str
    source_id: str
    target_kind: str
    target_id: str
    relation: str = Field(description="input (a run read it) or output (a run made it).")
    run_id: str | None
    created_at: int


class LineagePage(Public):
    items: list[LineageEdgePublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
