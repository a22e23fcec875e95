"""The dataset service over HTTP: what ``client.datasets.service`` is in remote mode.

``RemoteDatasets`` has the methods of :class:`~modelyard.datasets.service.DatasetService`
that ``client.datasets`` and the CLI use, with the same signatures, results and errors,
so ``Datasets`` runs unchanged against a server.

A version's rows travel as an Arrow IPC stream (``application/vnd.apache.arrow.stream``)
both ways. ``register`` reads the input here, with the same readers as embedded mode
(``datasets/_sources.py``: frames, tables, CSV and Parquet files and directories, the
``progress`` callback by source bytes), and sends its canonical record batches as they
are read, one batch at a time, in the request body; the server computes the digest,
profile and Parquet parts. The same values are the same version, so a failed upload is
sent again from the start like any upload (an input that can be read only once, a
RecordBatchReader or an iterator, is not retried). Reads come back batch by batch.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.datasets._ipc import ARROW_STREAM, ipc_chunks
from modelyard.datasets.entities import (
    ColumnSchema,
    Dataset,
    DatasetReport,
    DatasetVersion,
)
from modelyard.errors import InvalidInput, StorageError
from modelyard.remote._http import HttpSession, entity

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.data import Expectation, Profile
    from modelyard.datasets._sources import Input
    from modelyard.datasets.service import Progress

__all__ = ["RemoteDatasets"]
_ROWS_HEADER = "X-Modelyard-Rows"
_MAX_WIDENINGS = 256


class RemoteDatasets:
    """Datasets, versions, aliases, reports and lineage on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    # -- registering ----------------------------------------------------------------------

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
        """Register ``data`` as a version of dataset ``name`` (see the module docstring);
        the same values registered again return the existing version. ``expectations``
        (rules, or a YAML file or text, read here) travel as JSON and the server checks
        them on its one pass over the data (a DataValidationError from an HTTP answer
        carries the message, not the report)."""
        from collections.abc import Iterator as AnyIterator

        import pyarrow as pa

        from modelyard.data.validation import Validator
        from modelyard.datasets._sources import WidenColumn

        path = _dataset_path(project, name) + "/versions"
        params: dict[str, Any] = {
            "description": description,
            "aliases": [aliases] if isinstance(aliases, str) else list(aliases),
            "profile": bool(profile),
        }
        params |= _present(run_id=run_id, user=user)
        if expectations is not None:
            rules = Validator(expectations).rules
            params["expectations"] = json.dumps([rule.to_dict() for rule in rules])
        if derived_from:
            params["derived_from"] = json.dumps([list(item) for item in derived_from])
        one_pass = isinstance(data, pa.RecordBatchReader | AnyIterator)
        csv_types: dict[str, Any] = {}
        for _ in range(_MAX_WIDENINGS):
            try:
                upload = _Upload(data, encoding, csv_types, progress)
                answer = self.http.call(
                    "POST",
                    path,
                    params={**params, "source": source or upload.source},
                    content=upload,
                    headers={"Content-Type": ARROW_STREAM},
                    retry=not one_pass,
                )
            except WidenColumn as widen:  # a later CSV block needs a wider type: again
                if csv_types.get(widen.column) == widen.type:
                    break
                csv_types[widen.column] = widen.type
                continue
            return _version(answer.json()["version"])
        raise InvalidInput("the CSV column types did not settle; convert the file to Parquet first")

    # -- reading ----------------------------------------------------------------------------

    def get(
        self,
        name: str,
        *,
        project: str,
        version: int | None = None,
        alias: str | None = None,
    ) -> DatasetVersion:
        """One version: by number, by alias (``latest`` included), or the newest."""
        if version is not None and alias is not None:
            raise InvalidInput("give a version or an alias, not both", field="version")
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise InvalidInput(
                    f"version must be a positive integer; got {version!r}", field="version"
                )
            ref = str(version)
        else:
            ref = validate_name(alias, "alias") if alias is not None else "latest"
        path = f"{_dataset_path(project, name)}/versions/{_segment(ref)}"
        return _version(self.http.call("GET", path).json())

    def get_by_id(self, version_id: str) -> DatasetVersion:
        """A version by its id (as lineage edges name it)."""
        return _version(self.http.call("GET", f"/dataset-versions/{_segment(version_id)}").json())

    def list_versions(self, name: str, *, project: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        path = f"{_dataset_path(project, name)}/versions"
        return [_version(item) for item in self.http.all_pages(path, {})]

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        """The datasets of a project (or of every project the caller may read), by name."""
        if project is not None:
            validate_name(project, "project")
        return [
            _dataset(item) for item in self.http.all_pages("/datasets", _present(project=project))
        ]

    def iter_batches(
        self,
        version: DatasetVersion,
        columns: Sequence[str] | None = None,
        batch_rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The version's rows as record batches (of at most ``batch_rows`` rows when
        given), streamed from the server (the request is sent now: a bad column or a
        missing version raises here)."""
        stream = self._stream(version, columns, batch_rows)
        next(stream)  # the schema
        return cast("Iterator[pa.RecordBatch]", stream)

    def read_table(self, version: DatasetVersion, columns: Sequence[str] | None = None) -> pa.Table:
        """The version's rows as one Arrow table."""
        import pyarrow as pa

        stream = self._stream(version, columns)
        schema = next(stream)
        return pa.Table.from_batches(list(stream), schema=schema)

    def record_input(self, version: DatasetVersion, run_id: str) -> None:
        """Record that run ``run_id`` read ``version`` (lineage ``version -> run``)."""
        self.http.call("POST", f"{_version_path(version)}/inputs", json_body={"run_id": run_id})

    # -- aliases ----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, project: str) -> DatasetVersion:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
        path = _alias_path(project, name, alias)
        return _version(self.http.call("PUT", path, json_body={"version": version}).json())

    def delete_alias(self, name: str, alias: str, *, project: str) -> None:
        """Remove a user alias (NotFound if the dataset has no such alias)."""
        self.http.call("DELETE", _alias_path(project, name, alias))

    # -- reports ----------------------------------------------------------------------------

    def add_report(
        self,
        version: DatasetVersion,
        kind: str,
        data: dict[str, Any],
        html: str | None = None,
    ) -> DatasetReport:
        """Keep a report (its JSON, and optionally an HTML rendering) with a version."""
        from modelyard.datasets.reports import json_bytes

        if not isinstance(data, dict):
            raise InvalidInput(
                f"report data must be a dict; got {type(data).__name__}", field="data"
            )
        json_bytes(data, "report data")  # NaN and other non-JSON fail here, as embedded
        body = {"kind": kind, "data": data, "html": html}
        # Adding a report twice keeps two reports: only a request that never arrived is
        # sent again.
        answer = self.http.call(
            "POST", f"{_version_path(version)}/reports", json_body=body, idempotent=False
        )
        return _report(answer.json())

    def get_reports(self, version: DatasetVersion, kind: str | None = None) -> list[DatasetReport]:
        """A version's reports, newest first (only those of ``kind`` when given)."""
        path = f"{_version_path(version)}/reports"
        return [_report(item) for item in self.http.all_pages(path, _present(kind=kind))]

    def report_html(self, report: DatasetReport) -> str | None:
        """The HTML rendering stored with a report, if any."""
        if report.html_digest is None:
            return None
        version = self.get_by_id(report.version_id)
        path = f"{_version_path(version)}/reports/{_segment(report.id)}/html"
        return self.http.call("GET", path).text

    def get_profile(self, version: DatasetVersion) -> Profile | None:
        """The profile computed when the version was registered (None if it was not)."""
        from modelyard.data import Profile

        found = self.http.call("GET", f"{_version_path(version)}/profile").json()
        return None if found is None else Profile.from_dict(found)

    # -- helpers ----------------------------------------------------------------------------

    def _stream(
        self, version: DatasetVersion, columns: Sequence[str] | None, batch_rows: int | None = None
    ) -> Iterator[pa.Schema | pa.RecordBatch]:
        """The schema, then the record batches, of a version's data answer."""
        import pyarrow as pa

        params: dict[str, Any] = _present(batch_rows=batch_rows)
        if columns is not None:
            params["columns"] = [columns] if isinstance(columns, str) else list(columns)
        with self.http.stream(f"{_version_path(version)}/data", params) as response:
            from modelyard.remote.artifacts import _ChunkReader

            body = io.BufferedReader(_ChunkReader(response.iter_bytes()))
            rows = 0
            try:
                reader = pa.ipc.open_stream(body)
                yield reader.schema
                for batch in reader:
                    rows += batch.num_rows
                    yield batch
            except (pa.ArrowException, OSError) as exc:
                raise StorageError(
                    f"the data of dataset {version.ref} arrived damaged: {exc}"
                ) from exc
            expected = response.headers.get(_ROWS_HEADER)
            if expected is not None and rows != int(expected):
                raise StorageError(
                    f"the data of dataset {version.ref} arrived incomplete: {rows} of "
                    f"{expected} rows"
                )


class _Upload:
    """The request body of a registration: the input's canonical record batches as an
    Arrow IPC stream, read as they are sent. The input is opened now (so that its
    problems, and an empty input, are raised before anything is sent); each call makes
    the stream anew, reading the input again for a retry."""

    def __init__(
        self,
        data: object,
        encoding: str | None,
        csv_types: dict[str, Any],
        progress: Progress | None,
    ) -> None:
        self._args = (data, encoding, dict(csv_types), progress)
        self._opened: tuple[Input, pa.RecordBatch] | None = self._open()
        self.source = self._opened[0].source

    def _open(self) -> tuple[Input, pa.RecordBatch]:
        from modelyard.datasets._sources import open_input

        data, encoding, csv_types, progress = self._args
        opened = open_input(data, encoding=encoding, csv_types=csv_types, progress=progress)
        first = next(opened.batches, None)
        if first is None:
            raise InvalidInput(f"{opened.source} is empty: it has no rows", field="data")
        return opened, first

    def __call__(self) -> Iterator[bytes]:
        opened, first = self._opened if self._opened is not None else self._open()
        self._opened = None
        return ipc_chunks(opened.schema, chain([first], opened.batches))


def _segment(value: str) -> str:
    """``value`` as one URL path segment."""
    return quote(value, safe="")


def _dataset_path(project: str, name: str) -> str:
    validate_name(name, "dataset")
    validate_name(project, "project")
    return f"/projects/{_segment(project)}/datasets/{_segment(name)}"


def _version_path(version: DatasetVersion) -> str:
    return f"{_dataset_path(version.project, version.dataset)}/versions/{version.version}"


def _alias_path(project: str, name: str, alias: str) -> str:
    return f"{_dataset_path(project, name)}/aliases/{_segment(validate_name(alias, 'alias'))}"


def _present(**values: Any) -> dict[str, Any]:
    """The query parameters that have a value (httpx would send None as empty)."""
    return {key: value for key, value in values.items() if value is not None}


def _version(data: dict[str, Any]) -> DatasetVersion:
    return entity(
        DatasetVersion,
        data,
        columns=tuple(entity(ColumnSchema, c) for c in data["columns"]),
        aliases=tuple(data["aliases"]),
    )


def _dataset(data: dict[str, Any]) -> Dataset:
    return entity(Dataset, data)


def _report(data: dict[str, Any]) -> DatasetReport:
    return entity(DatasetReport, data)
