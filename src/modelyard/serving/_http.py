"""The ASGI plumbing of the inference server: answers in the one JSON error shape,
headers read from the scope, request bodies read within a limit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelyard.errors import (
    MalformedBody,
    ModelyardError,
    Overloaded,
    TooLarge,
    Unauthenticated,
)

__all__ = [
    "Answer",
    "MethodNotAllowed",
    "error_answer",
    "event_time_ms",
    "header",
    "header_bytes",
    "json_answer",
    "read_body",
    "send_answer",
]

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    content_type: bytes = b"application/json"
    headers: Headers | None = None


class MethodNotAllowed(ModelyardError):
    code = "method_not_allowed"
    http_status = 405


def json_answer(status: int, data: Any) -> Answer:
    return Answer(status, json.dumps(data, separators=(",", ":")).encode())


def error_answer(exc: ModelyardError) -> Answer:
    """``exc`` in the one error shape, with the headers its status calls for."""
    answer = json_answer(exc.http_status, exc.to_dict())
    if isinstance(exc, Overloaded):
        answer.headers = [(b"retry-after", str(exc.retry_after).encode())]
    elif isinstance(exc, Unauthenticated):
        answer.headers = [(b"www-authenticate", b'Bearer realm="modelyard"')]
    return answer


async def send_answer(answer: Answer, send_message: Any) -> None:
    headers = [
        (b"content-type", answer.content_type),
        (b"content-length", str(len(answer.body)).encode()),
    ]
    if answer.headers:
        headers.extend(answer.headers)
    await send_message({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send_message({"type": "http.response.body", "body": answer.body})


def header_bytes(scope: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def header(scope: dict[str, Any], name: bytes) -> str | None:
    value = header_bytes(scope, name)
    return value.decode("latin-1") if value is not None else None


#: The request header that sets the logged time of a request's rows (a replay, a backfill).
EVENT_TIME = b"modelyard-event-time"
EVENT_TIME_NAME = "Modelyard-Event-Time"
#: How far ahead of the server's clock an event time may be (clocks drift; the future is not
#: replayed).
EVENT_TIME_AHEAD_MS = 5 * 60 * 1000


def event_time_ms(scope: dict[str, Any], accepted: bool, now_ms: int) -> int | None:
    """The request's ``Modelyard-Event-Time`` in ms since the epoch, or None without one.
    Its value is ms since the epoch or ISO 8601 with a zone; MalformedBody (400) when it is
    neither, when it is more than 5 minutes after ``now_ms``, or when the server does not
    accept it (``accepted``: ``serving.accept_event_time``), rather than logging the
    request at another time than its sender asked."""
    raw = header_bytes(scope, EVENT_TIME)
    if raw is None:
        return None
    if not accepted:
        raise MalformedBody(
            f"this server does not accept the {EVENT_TIME_NAME} header "
            "(serving.accept_event_time is off)",
            field=EVENT_TIME_NAME,
        )
    text = raw.decode("latin-1").strip()
    at_ms: int | None = None
    if text.isascii() and text.isdigit():
        at_ms = int(text)
    else:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            at_ms = round(parsed.timestamp() * 1000)
    if at_ms is None:
        raise MalformedBody(
            f"{EVENT_TIME_NAME} {text[:64]!r} is neither ms since the epoch nor ISO 8601 "
            "with a zone",
            field=EVENT_TIME_NAME,
        )
    if at_ms > now_ms + EVENT_TIME_AHEAD_MS:
        raise MalformedBody(
            f"{EVENT_TIME_NAME} {text[:64]!r} is more than 5 minutes in the future",
            field=EVENT_TIME_NAME,
        )
    return at_ms


async def read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    """The request's body; TooLarge (413) as soon as it is known to pass ``limit`` bytes:
    from its Content-Length before a byte is read, else while it streams in."""
    length = header(scope, b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(f"the body is over {limit} bytes (serving.max_body_bytes)", field="body")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over {limit} bytes (serving.max_body_bytes)", field="body")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
