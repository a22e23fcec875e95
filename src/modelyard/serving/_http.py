"""The ASGI plumbing of the inference server: answers in the one JSON error shape,
headers read from the scope, request bodies read within a limit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelyard.errors import ModelyardError, Overloaded, TooLarge, Unauthenticated

__all__ = [
    "Answer",
    "MethodNotAllowed",
    "error_answer",
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
