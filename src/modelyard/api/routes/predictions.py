"""A deployment's prediction log: segments written by the inference server, labels
given later, and reads of a window joined with the labels.

Every rule is the prediction service's; routes translate. A segment is a Parquet body
(``application/vnd.apache.parquet``) of at most ``limits.PREDICTION_SEGMENT_BYTES``;
reads come a page of whole segments at a time (at most ``limit`` rows, at least one
segment), as Parquet (the next page's cursor in ``Modelyard-Next-Cursor``, absent on
the last; the label as JSON text) or as JSON (``items`` and ``next_cursor``).
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from modelyard import limits
from modelyard.api._guard import PARQUET
from modelyard.api._routing import Route
from modelyard.api._services import get_predictions
from modelyard.api.schemas._types import ShortText
from modelyard.api.schemas.predictions import LabelsIn, LabelsOut, SegmentPublic
from modelyard.errors import TooLarge
from modelyard.predictions.service import PredictionService

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NEXT_CURSOR", "router"]

NEXT_CURSOR = "Modelyard-Next-Cursor"

router = APIRouter(tags=["predictions"], route_class=Route)
_IN_DEPLOYMENT = "/projects/{project}/deployments/{deployment}"
_PARQUET_BODY = {PARQUET: {"schema": {"type": "string", "format": "binary"}}}

Predictions = Annotated[PredictionService, Depends(get_predictions)]


@router.post(
    f"{_IN_DEPLOYMENT}/predictions/segments",
    status_code=201,
    response_model=SegmentPublic,
    openapi_extra={"requestBody": {"required": True, "content": _PARQUET_BODY}},
)
async def write_segment(
    project: str,
    deployment: str,
    request: Request,
    predictions: Predictions,
    deployment_id: Annotated[ShortText, Query(description="The deployment's id.")] = "",
    writer: Annotated[ShortText, Query(description="Which server wrote it.")] = "",
) -> SegmentPublic:
    """Keep a segment of the deployment's log: a Parquet file of answered predictions
    (its columns in docs/serving.md; anything else is 422) of at most
    ``limits.PREDICTION_SEGMENT_BYTES`` (413 beyond)."""
    data = await _body(request, limits.PREDICTION_SEGMENT_BYTES)
    found = await run_in_threadpool(
        predictions.write_segment,
        project,
        deployment,
        data,
        deployment_id=deployment_id,
        writer=writer,
    )
    return SegmentPublic.model_validate(found.as_dict())


@router.post(f"{_IN_DEPLOYMENT}/labels", response_model=LabelsOut)
def add_labels(
    project: str, deployment: str, body: LabelsIn, predictions: Predictions
) -> LabelsOut:
    """Keep the ground truth of predictions, by prediction id; a later label of a
    prediction replaces the earlier."""
    labels = {item.prediction_id: item.label for item in body.labels}
    return LabelsOut(labelled=predictions.add_labels(project, deployment, labels))


@router.get(
    f"{_IN_DEPLOYMENT}/predictions",
    response_class=Response,
    responses={
        200: {
            "content": {**_PARQUET_BODY, "application/json": {}},
            "description": "A page of the log: Parquet (the next cursor in the "
            f"{NEXT_CURSOR} header) or JSON (`items`, `next_cursor`).",
        }
    },
)
def read_predictions(
    project: str,
    deployment: str,
    predictions: Predictions,
    since: Annotated[
        int | None, Query(ge=0, le=limits.INTEGER, description="From (ms since the epoch).")
    ] = None,
    until: Annotated[
        int | None, Query(ge=0, le=limits.INTEGER, description="Before (ms since the epoch).")
    ] = None,
    version: Annotated[
        ShortText | None, Query(description="A model version's id, or its number.")
    ] = None,
    with_labels: bool = True,
    format: Literal["parquet", "json"] = "parquet",
    cursor: Annotated[ShortText | None, Query(description="Where the page starts.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=limits.PREDICTION_PAGE_ROWS, description="Rows in a page, at most.")
    ] = limits.PREDICTION_PAGE_ROWS,
) -> Response:
    """The predictions answered from ``since`` to ``until`` (by ``version`` or any),
    joined with their labels and the registry's model, version number and run."""
    wanted: str | int | None = version
    if version is not None and version.isdigit() and len(version) < 19:
        wanted = int(version)
    frame, next_cursor = predictions.page(
        project,
        deployment,
        since=since,
        until=until,
        version=wanted,
        with_labels=with_labels,
        after=cursor,
        max_rows=limit,
    )
    if format == "json":
        items = frame.to_json(orient="records", date_format="iso", date_unit="ms")
        body = f'{{"items":{items},"next_cursor":{json.dumps(next_cursor)}}}'
        return Response(body, media_type="application/json")
    headers = {NEXT_CURSOR: next_cursor} if next_cursor is not None else {}
    return Response(_parquet(frame), media_type=PARQUET, headers=headers)


async def _body(request: Request, most: int) -> bytes:
    """The request body, refused as soon as it is longer than ``most`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        raise TooLarge(f"a prediction segment is at most {most} bytes", field="body")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > most:
            raise TooLarge(f"a prediction segment is at most {most} bytes", field="body")
    return bytes(data)


def _parquet(frame: pd.DataFrame) -> bytes:
    """A page as Parquet: the label (any JSON value) as JSON text."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if "label" in frame.columns:
        texts = [None if v is None else json.dumps(v) for v in frame["label"].tolist()]
        frame = frame.assign(label=pd.Series(texts, index=frame.index, dtype=object))
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out, compression="zstd")
    return out.getvalue()
