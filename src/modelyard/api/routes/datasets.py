"""Datasets: list, register (an Arrow IPC stream in), read (an Arrow IPC stream out),
versions, aliases, reports, profiles and lineage.

A version is named in the path by ``{ref}``: its number, or an alias (``latest`` is the
newest). Every rule -- who may read or write, names, aliases, what a report is -- is the
dataset service's; routes translate. A version's rows travel as an Arrow IPC stream
(``application/vnd.apache.arrow.stream``) both ways: an upload is streamed to a staging
file (never held in memory) and read back one record batch at a time, each batch fully
validated; a download is written one record batch at a time from the blob store.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse

from modelyard import limits
from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import Services, get_datasets, get_lineage, get_services
from modelyard.api._uploads import stage_body
from modelyard.api.schemas._types import NUL_FREE, Description, ShortText
from modelyard.api.schemas.datasets import (
    AliasSet,
    DatasetPage,
    DatasetPublic,
    InputRecord,
    LineageEdgePublic,
    LineagePage,
    RegisteredPublic,
    ReportCreate,
    ReportPage,
    ReportPublic,
    VersionPage,
    VersionPublic,
)
from modelyard.datasets._ipc import ARROW_STREAM, ipc_chunks
from modelyard.datasets.entities import DatasetReport, DatasetVersion
from modelyard.datasets.service import DatasetService
from modelyard.errors import InvalidInput, NotFound
from modelyard.lineage.service import LineageService

if TYPE_CHECKING:
    from modelyard.data import Expectation

__all__ = ["ROWS_HEADER", "lineage_router", "router"]

router = APIRouter(prefix="/projects/{project}/datasets", tags=["datasets"], route_class=Route)
#: Routes that are not under one project: the list of datasets, a version by id, lineage.
lineage_router = APIRouter(tags=["datasets"], route_class=Route)

Datasets = Annotated[DatasetService, Depends(get_datasets)]
Lineage = Annotated[LineageService, Depends(get_lineage)]
Ref = Annotated[
    str, PathParam(description="A version number, or an alias (`latest`: the newest version).")
]
#: How many rows a data answer carries (the client checks it got them all).
ROWS_HEADER = "X-Modelyard-Rows"

_VERSION_NUMBER = re.compile(r"^[0-9]+$")
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_ARROW_BODY = {ARROW_STREAM: _BINARY}
# Reports are self-contained pages (inline CSS and SVG, no scripts); sandboxed, they get an
# origin of their own and run no script, so an uploaded page cannot act with the reader's
# session.
_HTML_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


# -- listing and reading ------------------------------------------------------------------


@lineage_router.get("/datasets", response_model=DatasetPage)
def list_datasets(
    datasets: Datasets,
    project: Annotated[ShortText | None, Query(description="Only this project.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> DatasetPage:
    """Datasets with their newest version, by project and name: those of ``project``,
    or of every project the caller may read."""
    items, next_cursor = page(datasets.list_datasets(project), limit, cursor, "datasets", project)
    return DatasetPage(
        items=[DatasetPublic.model_validate(d) for d in items], next_cursor=next_cursor
    )


@router.get("/{dataset}/versions", response_model=VersionPage)
def list_versions(
    project: str,
    dataset: str,
    datasets: Datasets,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> VersionPage:
    """Every version of a dataset, oldest first."""
    found = datasets.list_versions(dataset, project=project)
    items, next_cursor = page(found, limit, cursor, "dataset-versions", project, dataset)
    return VersionPage(items=[_version(v) for v in items], next_cursor=next_cursor)


@router.get("/{dataset}/versions/{ref}", response_model=VersionPublic)
def get_version(project: str, dataset: str, ref: Ref, datasets: Datasets) -> VersionPublic:
    """One version, by number or alias."""
    return _version(_get(datasets, project, dataset, ref))


@lineage_router.get("/dataset-versions/{version_id}", response_model=VersionPublic)
def get_version_by_id(version_id: str, datasets: Datasets) -> VersionPublic:
    """One version by its id (as lineage edges and reports name it)."""
    return _version(datasets.get_by_id(version_id))


@router.get(
    "/{dataset}/versions/{ref}/data",
    response_class=StreamingResponse,
    responses={200: {"content": _ARROW_BODY, "description": "The rows, as an Arrow IPC stream."}},
)
def read_data(
    project: str,
    dataset: str,
    ref: Ref,
    datasets: Datasets,
    columns: Annotated[
        list[ShortText] | None, Query(description="Only these columns (repeat the parameter).")
    ] = None,
    batch_rows: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="At most this many rows a batch.")
    ] = None,
) -> StreamingResponse:
    """The version's rows as an Arrow IPC stream, one record batch at a time from the
    blob store (``X-Modelyard-Rows`` says how many)."""
    import pyarrow as pa

    found = _get(datasets, project, dataset, ref)
    batches = datasets.iter_batches(found, columns, batch_rows)
    first = next(batches, None)  # a store failure is an error answer, not a cut stream
    schema = first.schema if first is not None else pa.schema([])
    return StreamingResponse(
        ipc_chunks(schema, chain([first] if first is not None else [], batches)),
        media_type=ARROW_STREAM,
        headers={ROWS_HEADER: str(found.num_rows)},
    )


@router.get("/{dataset}/versions/{ref}/profile", response_model=dict[str, Any] | None)
def get_profile(project: str, dataset: str, ref: Ref, datasets: Datasets) -> Any:
    """The profile computed at registration (``Profile.to_dict()``), or null when the
    version was registered without one."""
    found = datasets.get_profile(_get(datasets, project, dataset, ref))
    return None if found is None else found.to_dict()


# -- registering ----------------------------------------------------------------------------


@router.post(
    "/{dataset}/versions",
    status_code=201,
    response_model=RegisteredPublic,
    responses={200: {"model": RegisteredPublic, "description": "The data was registered."}},
    openapi_extra={"requestBody": {"required": True, "content": _ARROW_BODY}},
)
async def register_version(
    project: str,
    dataset: str,
    request: Request,
    response: Response,
    datasets: Datasets,
    services: Annotated[Services, Depends(get_services)],
    description: Annotated[Description, Query(description="What this version is.")] = "",
    aliases: Annotated[
        list[ShortText], Query(description="Aliases to point at it (repeat the parameter).")
    ] = [],  # noqa: B006 -- FastAPI copies defaults
    profile: Annotated[bool, Query(description="Compute and keep its profile.")] = True,
    run_id: Annotated[
        str | None, Query(pattern=r"^[0-9a-f]{32}$", description="The run that made it.")
    ] = None,
    source: Annotated[
        str | None,
        Query(max_length=limits.SOURCE, pattern=NUL_FREE, description="Where the data came from."),
    ] = None,
    user: Annotated[
        ShortText | None, Query(description="Who registers it (servers without sign-in).")
    ] = None,
    expectations: Annotated[
        str | None,
        Query(
            description="Rules to check the data against, as JSON: the list of "
            "expectations a suite file holds (`modelyard data suggest`)."
        ),
    ] = None,
    derived_from: Annotated[
        str | None,
        Query(
            max_length=limits.DESCRIPTION,
            description="What the data was made from, as JSON: a list of `[kind, id, "
            "relation]` (`dataset_version` or `model_version`), recorded as lineage edges.",
        ),
    ] = None,
) -> RegisteredPublic:
    """Register the body, an Arrow IPC stream, as a new version of the dataset (201), or
    find the version that already holds the same values (200, ``created: false``).

    The body is streamed to a staging file, never held in memory, then read one record
    batch at a time (each fully validated: a body that is not a valid Arrow IPC stream
    is 422). With ``expectations`` the data is validated on that same pass: a critical
    failure is 422 ``data_validation_failed`` and registers nothing; otherwise the
    ValidationReport is archived with the version (kind ``validation``).
    """
    rules = _expectations(expectations) if expectations is not None else None
    sources = _derived_from(derived_from) if derived_from is not None else []
    # 404, 403 or 422 before a byte is staged
    wanted = await run_in_threadpool(
        datasets.check_register,
        dataset,
        project=project,
        aliases=aliases,
        description=description,
        run_id=run_id,
        derived_from=sources,
    )
    staged = await stage_body(request, services.upload_dir)
    try:
        version, created = await run_in_threadpool(
            _register,
            datasets,
            staged,
            dataset,
            project=project,
            description=description,
            aliases=wanted,
            user=user,
            run_id=run_id,
            profile=profile,
            source=source,
            expectations=rules,
            derived_from=sources,
        )
    finally:
        os.unlink(staged)
    if not created:
        response.status_code = 200
    return RegisteredPublic(version=_version(version), created=created)


@router.post("/{dataset}/versions/{ref}/inputs", status_code=204, response_class=Response)
def record_input(
    project: str, dataset: str, ref: Ref, body: InputRecord, datasets: Datasets
) -> None:
    """Record that a run read the version (lineage ``dataset_version -> run``)."""
    datasets.record_input(_get(datasets, project, dataset, ref), body.run_id)


# -- aliases --------------------------------------------------------------------------------


@router.put("/{dataset}/aliases/{alias}", response_model=VersionPublic)
def set_alias(
    project: str, dataset: str, alias: str, body: AliasSet, datasets: Datasets
) -> VersionPublic:
    """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
    return _version(datasets.set_alias(dataset, alias, body.version, project=project))


@router.delete("/{dataset}/aliases/{alias}", status_code=204, response_class=Response)
def delete_alias(project: str, dataset: str, alias: str, datasets: Datasets) -> None:
    """Remove an alias."""
    datasets.delete_alias(dataset, alias, project=project)


# -- reports --------------------------------------------------------------------------------


@router.get("/{dataset}/versions/{ref}/reports", response_model=ReportPage)
def list_reports(
    project: str,
    dataset: str,
    ref: Ref,
    datasets: Datasets,
    kind: Annotated[ShortText | None, Query(description="Only reports of this kind.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> ReportPage:
    """A version's reports, newest first."""
    found = _get(datasets, project, dataset, ref)
    items, next_cursor = page(datasets.get_reports(found, kind), limit, cursor, "reports", found.id)
    return ReportPage(items=[_report(r) for r in items], next_cursor=next_cursor)


@router.post("/{dataset}/versions/{ref}/reports", status_code=201, response_model=ReportPublic)
def add_report(
    project: str, dataset: str, ref: Ref, body: ReportCreate, datasets: Datasets
) -> ReportPublic:
    """Keep a report (its JSON, and optionally an HTML rendering) with a version."""
    found = _get(datasets, project, dataset, ref)
    return _report(datasets.add_report(found, body.kind, body.data, body.html))


@router.get(
    "/{dataset}/versions/{ref}/reports/{report_id}/html",
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
def report_html(
    project: str, dataset: str, ref: Ref, report_id: str, datasets: Datasets
) -> HTMLResponse:
    """A report's HTML rendering (404 when it has none), served sandboxed: it runs in an
    origin of its own, without the API's cookies."""
    found = _get(datasets, project, dataset, ref)
    report = next((r for r in datasets.get_reports(found) if r.id == report_id), None)
    html = datasets.report_html(report) if report is not None else None
    if html is None:
        raise NotFound(
            f"dataset {found.ref} has no report {report_id!r} with HTML", field="report_id"
        )
    return HTMLResponse(
        html,
        headers={"Content-Security-Policy": _HTML_POLICY, "X-Content-Type-Options": "nosniff"},
    )


# -- lineage --------------------------------------------------------------------------------


@lineage_router.get("/lineage", response_model=LineagePage)
def lineage(
    lineage: Lineage,
    kind: Annotated[
        ShortText, Query(description="run, dataset_version, model_version or artifact.")
    ],
    id: Annotated[ShortText, Query(description="The object's id.")],
    direction: Annotated[
        Literal["up", "down", "both"],
        Query(description="up (what made it), down (what was made from it), or both."),
    ] = "both",
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> LineagePage:
    """Lineage edges one hop around an object the caller may read, oldest first."""
    edges = lineage.edges(kind, id, direction)
    items, next_cursor = page(edges, limit, cursor, "lineage", kind, id, direction)
    return LineagePage(
        items=[LineageEdgePublic.model_validate(e) for e in items], next_cursor=next_cursor
    )


# -- helpers --------------------------------------------------------------------------------


def _get(datasets: DatasetService, project: str, dataset: str, ref: str) -> DatasetVersion:
    """The version ``ref`` names: digits are a version number, anything else an alias."""
    if _VERSION_NUMBER.match(ref):
        if len(ref) > 18:
            raise InvalidInput(f"version {ref} is out of range", field="ref")
        return datasets.get(dataset, project=project, version=int(ref))
    return datasets.get(dataset, project=project, alias=ref)


def _version(version: DatasetVersion) -> VersionPublic:
    return VersionPublic.model_validate(version)


def _report(report: DatasetReport) -> ReportPublic:
    return ReportPublic.model_validate(report)


def _register(
    datasets: DatasetService,
    staged: Path,
    dataset: str,
    *,
    project: str,
    description: str,
    aliases: Sequence[str],
    user: str | None,
    run_id: str | None,
    profile: bool,
    source: str | None,
    expectations: list[Expectation] | None,
    derived_from: Sequence[tuple[str, str, str]],
) -> tuple[DatasetVersion, bool]:
    """Register the staged stream; also says whether the version is new."""
    import pyarrow as pa

    try:
        before = {v.id for v in datasets.list_versions(dataset, project=project)}
    except NotFound:
        before = set()
    # Batches read from a memory map keep the mapping alive for as long as they live.
    with pa.memory_map(str(staged)) as mapped:
        version = datasets.register(
            dataset,
            _read_stream(mapped),
            project=project,
            description=description,
            aliases=aliases,
            user=user,
            run_id=run_id,
            profile=profile,
            source=source if source is not None else "Arrow IPC stream",
            expectations=expectations,
            derived_from=derived_from,
        )
    return version, version.id not in before


def _derived_from(text: str) -> list[tuple[str, str, str]]:
    """The ``derived_from`` parameter: a JSON list of ``[kind, id, relation]``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"derived_from must be JSON: {exc}", field="derived_from") from None
    if not isinstance(data, list) or not all(
        isinstance(item, list) and len(item) == 3 and all(isinstance(p, str) for p in item)
        for item in data
    ):
        raise InvalidInput(
            "derived_from must be a JSON list of [kind, id, relation] (three strings)",
            field="derived_from",
        )
    return [(kind, object_id, relation) for kind, object_id, relation in data]


def _expectations(text: str) -> list[Expectation]:
    """The rules of the ``expectations`` parameter: JSON, a list of expectations or a
    suite mapping (never a path: the server reads no file a request names). A ``matches``
    pattern must be one RE2 runs (in linear time): the server runs no backtracking
    pattern a request sends over an upload."""
    from modelyard.data._fields import regex_engine  # NumPy and Arrow: on first use
    from modelyard.data.expectations import Matches
    from modelyard.data.suite import load_expectations

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"expectations must be JSON: {exc}", field="expectations") from None
    if not isinstance(data, list | dict):
        raise InvalidInput(
            "expectations must be a JSON list of expectations or a suite mapping",
            field="expectations",
        )
    rules = load_expectations(data)
    for number, rule in enumerate(rules, 1):
        if isinstance(rule, Matches) and regex_engine(rule.pattern) != "re2":
            raise InvalidInput(
                f"expectation {number} (matches): over HTTP a pattern must be RE2 syntax "
                f"(no lookarounds or backreferences); got {limits.preview(rule.pattern)}",
                field="expectations",
            )
    return rules


def _read_stream(source: Any) -> Iterator[Any]:
    """The record batches of an Arrow IPC stream, each fully validated; anything that is
    not a valid stream is InvalidInput."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(source)
        for batch in reader:
            batch.validate(full=True)
            yield batch
    except (pa.ArrowException, OSError, ValueError, MemoryError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(
            f"the body is not a valid Arrow IPC stream ({ARROW_STREAM}): {detail}", field="body"
        ) from None
