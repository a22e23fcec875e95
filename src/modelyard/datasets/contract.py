"""The contract of the datasets service: one typed surface with two implementations,
in this process and through a server (mypy checks both; ``tests/remote/test_contracts.py``
checks that their signatures are the contract's)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.datasets.entities import Dataset, DatasetReport, DatasetVersion

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.data import Expectation, Profile
    from modelyard.datasets.service import Progress

__all__ = ["DatasetContract"]


class DatasetContract(Protocol):
    """The dataset service's surface: :class:`~modelyard.datasets.service.DatasetService` in
    this process and :class:`~modelyard.remote.datasets.RemoteDatasets` through a server
    both implement it."""

    def add_report(
        self,
        version: DatasetVersion,
        kind: str,
        data: dict[str, Any],
        html: str | None = None,
    ) -> DatasetReport:
        """Keep a report (its JSON, and optionally an HTML rendering) with a version."""

    def delete_alias(self, name: str, alias: str, *, project: str) -> None:
        """Remove a user alias (NotFound if the dataset has no such alias)."""

    def get(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> DatasetVersion:
        """One version: by number, by alias (``latest`` included), or the newest."""

    def get_by_id(self, version_id: str) -> DatasetVersion:
        """A version by its id (as lineage edges name it)."""

    def get_profile(self, version: DatasetVersion) -> Profile | None:
        """The profile computed when the version was registered (None if it was not)."""

    def get_reports(self, version: DatasetVersion, kind: str | None = None) -> list[DatasetReport]:
        """A version's reports, newest first (only those of ``kind`` when given)."""

    def iter_batches(
        self,
        version: DatasetVersion,
        columns: Sequence[str] | None = None,
        batch_rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The version's rows as record batches (of at most ``batch_rows`` rows when
        given), streamed from the blob store."""

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        """The datasets of a project (or of every project the actor may read), by name."""

    def list_versions(self, name: str, *, project: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""

    def read_table(self, version: DatasetVersion, columns: Sequence[str] | None = None) -> pa.Table:
        """The version's rows as one Arrow table."""

    def record_input(self, version: DatasetVersion, run_id: str) -> None:
        """Record that run ``run_id`` read ``version`` (lineage ``version -> run``)."""

    def register(
        self,
        name: str,
        data: object,
        *,
        project: str,
        description: str = "",
        aliases: Sequence[str] = (),
        encoding: str | None = None,
        user: str | None = None,
        run_id: str | None = None,
        profile: bool = True,
        progress: Progress | None = None,
        source: str | None = None,
        expectations: Iterable[Expectation] | str | os.PathLike[str] | None = None,
        derived_from: Sequence[tuple[str, str, str]] = (),
    ) -> DatasetVersion:
        """Register ``data`` (a frame, an Arrow table or reader, or the path of a CSV or Parquet
        file or a directory of them) as a version of dataset ``name``; ``derived_from``:
        ``(kind, id, relation)`` of the dataset and model versions it was made from."""

    def report_html(self, report: DatasetReport) -> str | None:
        """The HTML rendering stored with a report, if any."""

    def set_alias(self, name: str, alias: str, version: int, *, project: str) -> DatasetVersion:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
