"""Upload bodies (artifacts, dataset versions) staged to a file as they stream in."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from modelyard.errors import InvalidInput

__all__ = ["stage_body"]

_CHUNK = 1024 * 1024


async def stage_body(request: Request, folder: Path) -> Path:
    """The request body, streamed to a new staging file in ``folder`` (never held in
    memory; removed by the caller). A body the client cuts short is InvalidInput, and
    whatever goes wrong while it streams, no staging file is left."""
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=".tmp")
    try:
        with open(fd, "wb") as out:
            pending = bytearray()
            async for chunk in request.stream():
                pending += chunk
                if len(pending) >= _CHUNK:
                    await run_in_threadpool(out.write, bytes(pending))
                    pending.clear()
            await run_in_threadpool(out.write, bytes(pending))
    except BaseException as exc:
        os.unlink(name)
        if isinstance(exc, ClientDisconnect):  # the client gave up (or reads its input again)
            raise InvalidInput("the upload was cut short by the client", field="body") from None
        raise
    return Path(name)
