"""Artifacts of a run: list, describe, upload and download (streamed both ways).

The artifact path travels in the ``path`` query parameter and is normalized and confined
by the same rules as in the SDK (no ``..``, absolute paths, backslashes, NUL, control
characters, percent-encoded separators or dots). A file goes up and down as
``application/octet-stream``; a folder as ``application/x-tar`` (see
``artifacts/_tar.py``), stored as a tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import Services, get_services, get_tracking
from modelyard.api._uploads import stage_body
from modelyard.api.schemas._types import Text
from modelyard.api.schemas.artifacts import ArtifactPage, ArtifactPublic
from modelyard.artifacts import BlobReader, normalize_artifact_path
from modelyard.tracking.entities import TarArchive
from modelyard.tracking.service import TrackingService

__all__ = ["router"]

router = APIRouter(prefix="/runs/{run_id}/artifacts", tags=["artifacts"], route_class=Route)
Tracking = Annotated[TrackingService, Depends(get_tracking)]
ArtifactPath = Annotated[str, Query(description="The artifact's path inside the run.")]

_CHUNK = 1024 * 1024
_OCTETS = "application/octet-stream"
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_BODY_TYPES = {"application/octet-stream": _BINARY, "application/x-tar": _BINARY}
#: The types a file is served as with ``inline=true`` (by its name's suffix), so that the
#: web UI can show it in an ``<img>`` or a sandboxed ``<iframe>``; anything else stays
#: ``application/octet-stream``.
_INLINE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
#: Every file answer: whatever it holds runs sandboxed (an origin of its own, no script,
#: nothing loaded from elsewhere), so a report opened from a run cannot script the app.
_FILE_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:",
    "X-Content-Type-Options": "nosniff",
}


@router.get("", response_model=ArtifactPage)
def list_artifacts(
    run_id: str,
    tracking: Tracking,
    prefix: Annotated[Text | None, Query(description="Only this path and below it.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> ArtifactPage:
    """A run's artifacts by path, one page at a time."""
    items, next_cursor = page(
        tracking.list_artifacts(run_id, prefix), limit, cursor, "artifacts", run_id, prefix
    )
    return ArtifactPage(
        items=[ArtifactPublic.model_validate(a) for a in items], next_cursor=next_cursor
    )


@router.get("/info", response_model=ArtifactPublic)
def get_artifact(run_id: str, path: ArtifactPath, tracking: Tracking) -> ArtifactPublic:
    """What one artifact is: file or tree, digest, size."""
    return ArtifactPublic.model_validate(
        tracking.get_artifact(run_id, normalize_artifact_path(path))
    )


@router.get(
    "/content",
    response_class=StreamingResponse,
    responses={200: {"content": _BODY_TYPES, "description": "A file, or a tree as a tar."}},
)
def download_artifact(
    run_id: str,
    path: ArtifactPath,
    tracking: Tracking,
    services: Annotated[Services, Depends(get_services)],
    inline: Annotated[
        bool,
        Query(
            description="Serve a file as its type by its name's suffix (images, HTML, "
            "text, JSON) instead of application/octet-stream, to be shown in a page."
        ),
    ] = False,
) -> StreamingResponse:
    """The artifact's bytes, streamed and verified against their digest as they are read
    (the ``ETag`` is the digest; ``X-Modelyard-Kind`` says file or tree). A file is
    always answered with a Content-Security-Policy that sandboxes it (no script, nothing
    loaded from elsewhere) and ``nosniff``."""
    name = normalize_artifact_path(path)
    info = tracking.get_artifact(run_id, name)
    headers = {"ETag": f'"{info.digest}"', "X-Modelyard-Kind": info.kind}
    if info.kind == "tree":
        stream = services.blobs.tar_stream(info.digest)
        return StreamingResponse(stream, media_type="application/x-tar", headers=headers)
    reader = services.blobs.open(info.digest)
    headers["Content-Length"] = str(info.size)
    headers.update(_FILE_HEADERS)
    suffix = PurePosixPath(name).suffix.lower()
    return StreamingResponse(
        _read_chunks(reader),
        media_type=_INLINE_TYPES.get(suffix, _OCTETS) if inline else _OCTETS,
        headers=headers,
        background=BackgroundTask(reader.close),  # also when the client left before the body
    )


@router.put(
    "/content",
    status_code=201,
    response_model=ArtifactPublic,
    openapi_extra={"requestBody": {"required": True, "content": _BODY_TYPES}},
)
async def upload_artifact(
    run_id: str,
    path: ArtifactPath,
    request: Request,
    tracking: Tracking,
    services: Annotated[Services, Depends(get_services)],
) -> ArtifactPublic:
    """Store the request body as artifact ``path`` of the run: a file
    (``application/octet-stream``) or a folder sent as a tar (``application/x-tar``). The
    body is streamed to a staging file, never held in memory, then hashed and stored.
    A name is write-once (the same bytes again answer the artifact as stored; other bytes
    are 409), a file and a folder of others cannot share one, and an ended run takes no
    artifacts (409)."""
    name = normalize_artifact_path(path)
    is_tree = request.headers.get("content-type", "").lower().startswith("application/x-tar")
    # 404, 403, or 409 for a run that takes no artifacts, before a byte is staged
    await run_in_threadpool(tracking.check_artifact, run_id, name)
    staged = await stage_body(request, services.upload_dir)
    try:
        source = TarArchive(staged) if is_tree else staged
        recorded = await run_in_threadpool(tracking.store_artifact, run_id, name, source)
    finally:
        os.unlink(staged)
    return ArtifactPublic.model_validate(recorded)


def _read_chunks(reader: BlobReader) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(_CHUNK):
            yield chunk
