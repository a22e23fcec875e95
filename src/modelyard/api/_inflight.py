"""The body budget: how many bytes of JSON request bodies the server holds at once
(ASGI middleware, outside the request guard, so bytes are counted as they stream in,
before any body is buffered or parsed).

A JSON body costs memory from its first byte until its answer is sent: its bytes, then
the objects parsed from them (several times as many). When its first bytes are read (by
the request guard, once it knows the caller has credentials: a request refused before
its body is read takes nothing), a request takes its whole ``Content-Length`` from a
server-wide budget of ``server.max_body_bytes_in_flight`` bytes (a body without
``Content-Length`` takes its bytes as they arrive) and gives them back when its answer
has been sent. A request that does not fit is answered 503 ``server_busy`` with
``Retry-After``, before the rest of its body is read, unless nothing else is in flight:
a body up to ``server.max_body_bytes`` (the request guard's limit, 413 above it) always
gets through alone. Uploads (artifacts, dataset versions) stream to a staging file, not
into memory, and are not counted.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.api._errors import error_body
from modelyard.api._guard import DATASET_UPLOAD_PATH, UPLOAD_PATH

__all__ = ["RETRY_AFTER_S", "BodyBudget"]

#: Seconds a refused client is asked to wait (a large body is answered within seconds).
RETRY_AFTER_S = 1
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _OverBudget(Exception):
    """Raised from ``receive`` when a streamed body no longer fits the budget."""


class BodyBudget:
    """ASGI middleware enforcing the budget in the module docstring."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_body_bytes = max_body_bytes
        #: Bytes held by requests now (one event loop: no lock needed).
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or _streams(scope):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self.app(scope, receive, send)  # the request guard answers 413 at once
            return
        held = received = 0
        started = False

        async def counted() -> Message:
            nonlocal held, received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                needed = max(received, declared or 0)
                if needed > held:
                    if not self._take(needed - held):
                        raise _OverBudget
                    held = needed
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _OverBudget:
            if started:
                raise
            await _busy(send)
        finally:
            self.in_flight -= held

    def _take(self, size: int) -> bool:
        """Hold ``size`` more bytes when they fit, or when nothing else is held."""
        if self.in_flight and self.in_flight + size > self.max_in_flight:
            return False
        self.in_flight += size
        return True


def _streams(scope: Scope) -> bool:
    """Whether the request is an upload, streamed to a staging file by its route."""
    path: str = scope["path"]
    return (scope["method"] == "PUT" and bool(UPLOAD_PATH.search(path))) or (
        scope["method"] == "POST" and bool(DATASET_UPLOAD_PATH.search(path))
    )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key.lower() == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None  # the request guard refuses it
            return length if length >= 0 else None
    return None


async def _busy(send: Send) -> None:
    payload = json.dumps(
        error_body(
            "server_busy",
            "the server is receiving as many request bytes as it holds at once; retry after "
            f"{RETRY_AFTER_S} s",
        )
    ).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
