"""``Client.datasets``: the SDK's side of the dataset service.

It fills in what the Python caller leaves out -- the project (the active run's, else
``default``), the user, the active run for lineage -- and converts tables to the format
asked for. Remote clients (``tracking.uri`` set) call the server instead of the stores:
``service`` is then a :class:`~modelyard.remote.datasets.RemoteDatasets`, with the same
methods.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from modelyard.datasets.reports import VALIDATION
from modelyard.errors import InvalidInput, MissingDependency
from modelyard.lineage.edges import DATASET_VERSION, Direction
from modelyard.lineage.entities import LineageEdge

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.data import Expectation, Profile, ValidationReport
    from modelyard.datasets.contract import DatasetContract
    from modelyard.datasets.entities import (
        Dataset,
        DatasetReport,
        DatasetVersion,
    )
    from modelyard.datasets.service import Progress
    from modelyard.sdk.client import Client

    Expectations: TypeAlias = Iterable[Expectation] | str | os.PathLike[str]

__all__ = ["Datasets"]

Format = Literal["pandas", "arrow", "polars"]


class Datasets:
    """Versioned datasets of one :class:`~modelyard.Client` (``client.datasets``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def service(self) -> DatasetContract:
        """The dataset service: in this process, or on the server in remote mode (the
        same methods either way)."""
        return self._client.dataset_service

    def _run_id(self) -> str | None:
        """The active run, when it tracks into this client's store (or server)."""
        from modelyard.sdk.run import active_run

        run = active_run()
        if run is None:
            return None
        other, mine = run.client, self._client
        if other is mine:
            return str(run.id)
        if other.is_remote or mine.is_remote:
            same = other.is_remote == mine.is_remote and (
                other.settings.tracking.uri == mine.settings.tracking.uri
            )
        else:
            same = other.settings.store_url == mine.settings.store_url
        return str(run.id) if same else None

    def _project(self, project: str | None) -> str:
        if project is not None:
            return project
        from modelyard.sdk.client import DEFAULT_PROJECT
        from modelyard.sdk.run import active_run

        run = active_run()
        if run is not None and self._run_id() is not None:
            return str(run.project)
        return DEFAULT_PROJECT

    # -- registering and loading ------------------------------------------------------------

    def register(
        self,
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
    ) -> DatasetVersion:
        """Register a table (pandas, polars, pyarrow) or a CSV/Parquet file or directory as
        a new version of ``name`` -- or return the version that already holds the same
        values. Inside an active run, the run is recorded as its maker.

        With ``expectations`` (rules, or a YAML file or text) the data is validated by the
        service on the same pass that stores it (the input is read once): a critical
        failure raises :class:`~modelyard.DataValidationError` and registers nothing;
        otherwise the ValidationReport is archived with the version."""
        from modelyard.sdk.client import _user

        return self.service.register(
            name,
            data,
            project=self._project(project),
            description=description,
            aliases=aliases,
            encoding=encoding,
            user=_user(),
            run_id=self._run_id(),
            profile=profile,
            progress=progress,
            expectations=expectations,
        )

    def validate(
        self,
        name: str,
        expectations: Expectations,
        *,
        version: int | None = None,
        alias: str | None = None,
        project: str | None = None,
        raise_on_critical: bool = False,
    ) -> ValidationReport:
        """Validate a stored version against ``expectations`` (streaming its batches) and
        archive the ValidationReport (JSON and HTML) with it; ``raise_on_critical`` then
        raises :class:`~modelyard.DataValidationError` on a critical failure."""
        from modelyard.data import validate

        found = self.get(name, version=version, alias=alias, project=project)
        report = validate(self.service.iter_batches(found), expectations)
        self.service.add_report(found, VALIDATION, report.to_dict(), report.to_html())
        if raise_on_critical:
            report.raise_for_critical()
        return report

    def validation_reports(
        self,
        name: str,
        version: int | None = None,
        alias: str | None = None,
        *,
        project: str | None = None,
    ) -> list[ValidationReport]:
        """The ValidationReports archived with a version, newest first."""
        from modelyard.data import ValidationReport

        found = self.get(name, version=version, alias=alias, project=project)
        return [
            ValidationReport.from_dict(r.data) for r in self.service.get_reports(found, VALIDATION)
        ]

    def load(
        self,
        name: str,
        *,
        version: int | None = None,
        alias: str | None = None,
        project: str | None = None,
        format: Format = "pandas",
        columns: Sequence[str] | None = None,
    ) -> Any:
        """A version's data as a pandas DataFrame, a pyarrow Table or a polars DataFrame
        (the newest version unless ``version`` or ``alias`` says otherwise). Inside an
        active run, the run is recorded as having read it."""
        if format not in {"pandas", "arrow", "polars"}:
            raise InvalidInput(
                f"format must be 'pandas', 'arrow' or 'polars'; got {format!r}", field="format"
            )
        found = self.get(name, version=version, alias=alias, project=project)
        table = self.service.read_table(found, columns)
        run_id = self._run_id()
        if run_id is not None:
            self.service.record_input(found, run_id)
        return _convert(table, format)

    def iter_batches(
        self,
        name: str,
        *,
        version: int | None = None,
        alias: str | None = None,
        project: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """A version's rows as a stream of Arrow record batches (for data larger than
        memory)."""
        found = self.get(name, version=version, alias=alias, project=project)
        run_id = self._run_id()
        if run_id is not None:
            self.service.record_input(found, run_id)
        return self.service.iter_batches(found, columns)

    def export(
        self,
        name: str,
        dest: str | os.PathLike[str],
        *,
        version: int | None = None,
        alias: str | None = None,
        project: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> int:
        """Write a version to a ``.parquet`` or ``.csv`` file, streaming; returns the
        number of rows written."""
        from modelyard.datasets._parquet import export

        found = self.get(name, version=version, alias=alias, project=project)
        batches = self.service.iter_batches(found, columns)
        first = next(batches)
        return export(chain([first], batches), first.schema, Path(dest))

    # -- versions and aliases ---------------------------------------------------------------

    def get(
        self,
        name: str,
        version: int | None = None,
        alias: str | None = None,
        *,
        project: str | None = None,
    ) -> DatasetVersion:
        """One version: by number, by alias (``latest`` included), or the newest."""
        return self.service.get(name, project=self._project(project), version=version, alias=alias)

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        """The datasets of ``project`` (every project when None)."""
        return self.service.list_datasets(project)

    def list_versions(self, name: str, *, project: str | None = None) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        return self.service.list_versions(name, project=self._project(project))

    def set_alias(
        self, name: str, alias: str, version: int, *, project: str | None = None
    ) -> DatasetVersion:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
        return self.service.set_alias(name, alias, version, project=self._project(project))

    def delete_alias(self, name: str, alias: str, *, project: str | None = None) -> None:
        """Remove a user alias."""
        self.service.delete_alias(name, alias, project=self._project(project))

    # -- reports and lineage ----------------------------------------------------------------

    def add_report(
        self,
        name: str,
        version: int | None,
        kind: str,
        data: dict[str, Any],
        html: str | None = None,
        *,
        project: str | None = None,
    ) -> DatasetReport:
        """Keep a report (JSON, optionally HTML) with a version (None: the newest)."""
        found = self.get(name, version=version, project=project)
        return self.service.add_report(found, kind, data, html)

    def get_reports(
        self,
        name: str,
        version: int | None = None,
        kind: str | None = None,
        *,
        project: str | None = None,
    ) -> list[DatasetReport]:
        """A version's reports, newest first."""
        found = self.get(name, version=version, project=project)
        return self.service.get_reports(found, kind)

    def report_html(self, report: DatasetReport) -> str | None:
        """The HTML stored with a report, if any."""
        return self.service.report_html(report)

    def get_profile(
        self,
        name: str,
        version: int | None = None,
        alias: str | None = None,
        *,
        project: str | None = None,
    ) -> Profile:
        """The profile computed at registration (computed now, from the data, if the
        version was registered without one)."""
        found = self.get(name, version=version, alias=alias, project=project)
        stored = self.service.get_profile(found)
        if stored is not None:
            return stored
        from modelyard.data import profile

        return profile(self.service.iter_batches(found))

    def lineage(
        self,
        name: str,
        version: int | None = None,
        alias: str | None = None,
        *,
        project: str | None = None,
        direction: Direction = "both",
    ) -> list[LineageEdge]:
        """Lineage edges one hop around a version: ``up`` (what made it), ``down`` (what
        read it) or ``both``."""
        found = self.get(name, version=version, alias=alias, project=project)
        return self._client.lineage_service.edges(DATASET_VERSION, found.id, direction)


def _convert(table: pa.Table, format: Format) -> Any:
    if format == "arrow":
        return table
    if format == "pandas":
        return table.to_pandas()
    try:
        import polars as pl
    except ModuleNotFoundError:
        raise MissingDependency(
            "'polars' is not installed; install it with: pip install polars"
        ) from None
    return pl.from_arrow(table)
