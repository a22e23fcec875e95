"""Versioned datasets: named, immutable, content-addressed snapshots of tables.

>>> import modelyard as my                                               # doctest: +SKIP
>>> v = my.datasets.register("bikes-train", "Bikeshare.csv", project="bikes")  # doctest: +SKIP
>>> df = my.datasets.load("bikes-train", version=v.version, project="bikes")   # doctest: +SKIP

These functions are thin sugar over ``Client.datasets`` (:class:`Datasets`): each uses the
active run's client, or a Client built from the settings (``settings=`` or the
environment). Importing this module is light; pyarrow is imported when data moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelyard.datasets._describe import Description, describe
from modelyard.datasets.entities import (
    ColumnSchema,
    Dataset,
    DatasetReport,
    DatasetVersion,
)
from modelyard.lineage.entities import LineageEdge
from modelyard.sdk.client import client_for

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.data import Profile, ValidationReport
    from modelyard.datasets.service import Progress
    from modelyard.lineage.edges import Direction
    from modelyard.sdk.datasets import Expectations, Format

__all__ = [
    "ColumnSchema",
    "Dataset",
    "DatasetReport",
    "DatasetVersion",
    "Description",
    "LineageEdge",
    "add_report",
    "delete_alias",
    "describe",
    "get",
    "get_profile",
    "get_reports",
    "lineage",
    "list_datasets",
    "list_versions",
    "load",
    "register",
    "set_alias",
    "validate",
    "validation_reports",
]


def register(
    name: str,
    data: object,
    *,
    project: str | None = None,
    description: str = "",
    aliases: Sequence[str] = (),
    encoding: str | None = None,
    profile: bool = True,
    progress: Progress | None = None,
    expectations: Expectations | None = None,
    settings: Settings | None = None,
) -> DatasetVersion:
    """Register a table or a CSV/Parquet file or directory as a version of ``name``
    (validated first against ``expectations`` when given)."""
    with client_for(settings) as client:
        return client.datasets.register(
            name,
            data,
            project=project,
            description=description,
            aliases=aliases,
            encoding=encoding,
            profile=profile,
            progress=progress,
            expectations=expectations,
        )


def validate(
    name: str,
    expectations: Expectations,
    *,
    version: int | None = None,
    alias: str | None = None,
    project: str | None = None,
    raise_on_critical: bool = False,
    settings: Settings | None = None,
) -> ValidationReport:
    """Validate a stored version against ``expectations``; the report is archived with it."""
    with client_for(settings) as client:
        return client.datasets.validate(
            name,
            expectations,
            version=version,
            alias=alias,
            project=project,
            raise_on_critical=raise_on_critical,
        )


def validation_reports(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> list[ValidationReport]:
    """The ValidationReports archived with a version, newest first."""
    with client_for(settings) as client:
        return client.datasets.validation_reports(name, version, alias, project=project)


def get_profile(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> Profile:
    """A version's profile (computed at registration)."""
    with client_for(settings) as client:
        return client.datasets.get_profile(name, version, alias, project=project)


def load(
    name: str,
    *,
    version: int | None = None,
    alias: str | None = None,
    project: str | None = None,
    format: Format = "pandas",
    columns: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> Any:
    """A version's data (the newest unless ``version`` or ``alias`` is given) as pandas,
    pyarrow (``format="arrow"``) or polars."""
    with client_for(settings) as client:
        return client.datasets.load(
            name, version=version, alias=alias, project=project, format=format, columns=columns
        )


def get(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> DatasetVersion:
    """One version's metadata: schema, rows, digest, aliases, source, run."""
    with client_for(settings) as client:
        return client.datasets.get(name, version, alias, project=project)


def list_datasets(project: str | None = None, *, settings: Settings | None = None) -> list[Dataset]:
    """The datasets of a project (of every project when None)."""
    with client_for(settings) as client:
        return client.datasets.list_datasets(project)


def list_versions(
    name: str, *, project: str | None = None, settings: Settings | None = None
) -> list[DatasetVersion]:
    """Every version of a dataset, oldest first."""
    with client_for(settings) as client:
        return client.datasets.list_versions(name, project=project)


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> DatasetVersion:
    """Point a movable alias (``prod``, ``baseline``...) at a version."""
    with client_for(settings) as client:
        return client.datasets.set_alias(name, alias, version, project=project)


def delete_alias(
    name: str, alias: str, *, project: str | None = None, settings: Settings | None = None
) -> None:
    """Remove an alias."""
    with client_for(settings) as client:
        client.datasets.delete_alias(name, alias, project=project)


def add_report(
    name: str,
    version: int | None,
    kind: str,
    data: dict[str, Any],
    html: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> DatasetReport:
    """Keep a report (``profile``, ``validation``...) with a version."""
    with client_for(settings) as client:
        return client.datasets.add_report(name, version, kind, data, html, project=project)


def get_reports(
    name: str,
    version: int | None = None,
    kind: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
) -> list[DatasetReport]:
    """A version's reports, newest first."""
    with client_for(settings) as client:
        return client.datasets.get_reports(name, version, kind, project=project)


def lineage(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    project: str | None = None,
    direction: Direction = "both",
    settings: Settings | None = None,
) -> list[LineageEdge]:
    """Lineage edges one hop around a version."""
    with client_for(settings) as client:
        return client.datasets.lineage(name, version, alias, project=project, direction=direction)
