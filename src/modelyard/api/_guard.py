"""The request guard: limits applied before any route runs (ASGI middleware).

- The Host header must be an allowed host (protection against DNS rebinding).
- The URL (path and query, percent-decoded) is UTF-8 and holds no control characters:
  the server would otherwise read invalid bytes as replacement characters and store them.
- Authentication first: a request with a body (POST, PUT, PATCH) to any path under the
  API prefix but the public ones is authenticated (the app's authenticator) before
  anything looks at its body or content type, so a caller without credentials gets 401
  from every route, not 415, 413 or 422. This asks only who is calling: the route is not
  known yet, so its own dependency (:func:`~modelyard.api.auth.get_actor`) authenticates
  again with every rule, MFA enrolment included. Other methods read no body: their
  route's dependency answers 401 before it validates anything.
- Uploads are at most ``max_upload_bytes``, counted as they stream in: artifacts
  (``PUT .../artifacts/content``) are ``application/octet-stream`` or
  ``application/x-tar``; dataset versions (``POST .../datasets/{name}/versions``) are an
  Arrow IPC stream, ``application/vnd.apache.arrow.stream``; model versions (``POST
  .../models/{name}/versions``) are a tar stream, ``application/x-tar``; the rows of an
  evaluation (``POST .../versions/{ref}/evaluations/data``) an Arrow IPC stream; a
  segment of a prediction log (``POST .../deployments/{name}/predictions/segments``)
  Parquet, ``application/vnd.apache.parquet`` (the route holds it to its own limit).
- Every other request body is JSON (``application/json``), at most ``max_body_bytes``
  and nested at most ``MAX_JSON_DEPTH`` deep; it is read here and handed on unchanged.

Refusals use the one error shape: 400 bad host, 401 no credentials (429 too many refused),
413 too large, 415 wrong content type, 422 bad URL or nesting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.api._errors import error_body, error_headers
from modelyard.api.auth import Authenticator, before_mfa_enrolment
from modelyard.datasets._ipc import ARROW_STREAM
from modelyard.errors import InvalidInput, ModelyardError, TooLarge, UnsupportedMediaType

__all__ = [
    "DATASET_UPLOAD_PATH",
    "EVALUATION_UPLOAD_PATH",
    "MAX_JSON_DEPTH",
    "MODEL_UPLOAD_PATH",
    "SEGMENT_UPLOAD_PATH",
    "UPLOAD_PATH",
    "RequestGuard",
]

MAX_JSON_DEPTH = 32
UPLOAD_PATH = re.compile(r"/api/v1/runs/[^/]+/artifacts/content$")
UPLOAD_TYPES = frozenset({"application/octet-stream", "application/x-tar"})
DATASET_UPLOAD_PATH = re.compile(r"/api/v1/projects/[^/]+/datasets/[^/]+/versions$")
MODEL_UPLOAD_PATH = re.compile(r"/api/v1/projects/[^/]+/models/[^/]+/versions$")
EVALUATION_UPLOAD_PATH = re.compile(
    r"/api/v1/projects/[^/]+/models/[^/]+/versions/[^/]+/evaluations/data$"
)
SEGMENT_UPLOAD_PATH = re.compile(r"/api/v1/projects/[^/]+/deployments/[^/]+/predictions/segments$")
PARQUET = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class _Upload:
    """A route whose body streams through (counted, not read here)."""

    method: str
    path: re.Pattern[str]
    types: frozenset[str]
    expected: str

    def matches(self, scope: Scope) -> bool:
        return bool(scope["method"] == self.method and self.path.search(scope["path"]))


_UPLOADS = (
    _Upload(
        "PUT",
        UPLOAD_PATH,
        UPLOAD_TYPES,
        "an upload is application/octet-stream (a file) or application/x-tar (a folder)",
    ),
    _Upload(
        "POST",
        DATASET_UPLOAD_PATH,
        frozenset({ARROW_STREAM}),
        f"a dataset version is uploaded as an Arrow IPC stream ({ARROW_STREAM})",
    ),
    _Upload(
        "POST",
        MODEL_UPLOAD_PATH,
        frozenset({"application/x-tar"}),
        "a model version's files are uploaded as a tar stream (application/x-tar)",
    ),
    _Upload(
        "POST",
        EVALUATION_UPLOAD_PATH,
        frozenset({ARROW_STREAM}),
        f"the rows of an evaluation are uploaded as an Arrow IPC stream ({ARROW_STREAM})",
    ),
    _Upload(
        "POST",
        SEGMENT_UPLOAD_PATH,
        frozenset({PARQUET}),
        f"a segment of a prediction log is uploaded as Parquet ({PARQUET})",
    ),
)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A JSON string, possessive so that no input makes it backtrack; an unterminated string
# runs to the end of the body.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_BRACKETS_ONLY = (bytes.maketrans(b"{}", b"[]"), bytes(b for b in range(256) if b not in b"[]{}"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f]")


class _BadHost(ModelyardError):
    code = "invalid_host"
    http_status = 400


class RequestGuard:
    """ASGI middleware enforcing the limits in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str],
        max_body_bytes: int,
        max_upload_bytes: int,
        protected_prefix: str,
        public_paths: frozenset[str],
    ) -> None:
        self.app = app
        self.protected_prefix = protected_prefix
        self.public_paths = public_paths
        self.allowed_hosts = [h.lower() for h in allowed_hosts]
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            headers = _headers(scope)
            self._check_host(headers.get("host", ""))
            _check_url(scope)
            if self._protected(scope):
                await run_in_threadpool(_identify, scope)
            upload = next((u for u in _UPLOADS if u.matches(scope)), None)
            if upload is not None:
                receive = self._upload(upload, headers, receive)
            elif scope["method"] in _BODY_METHODS:
                receive = _replay(await self._json_body(headers, receive), receive)
        except ModelyardError as exc:
            await _refuse(send, exc)
            return
        await self.app(scope, receive, send)

    def _protected(self, scope: Scope) -> bool:
        """Whether the request has a body that needs credentials first."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return (
            scope["method"] in _BODY_METHODS
            and path.startswith(self.protected_prefix + "/")
            and path not in self.public_paths
        )

    def _check_host(self, host_header: str) -> None:
        host = _host_name(host_header)
        for allowed in self.allowed_hosts:
            if allowed == "*" or host == allowed:
                return
            if allowed.startswith("*.") and host.endswith(allowed[1:]):
                return
        raise _BadHost(
            f"host {host_header!r} is not an allowed host of this server; its administrator "
            "lists the names clients use in server.allowed_hosts "
            "(MODELYARD_SERVER_ALLOWED_HOSTS)",
            field="host",
        )

    def _upload(self, upload: _Upload, headers: dict[str, str], receive: Receive) -> Receive:
        media = _media_type(headers)
        if media not in upload.types:
            raise UnsupportedMediaType(
                f"{upload.expected}, not {media or 'untyped'}", field="content-type"
            )
        limit = self.max_upload_bytes
        if _content_length(headers) > limit:
            raise _too_large("the upload", limit)
        total = 0

        async def counted() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    raise _too_large("the upload", limit)
            return message

        return counted

    async def _json_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        limit = self.max_body_bytes
        if _content_length(headers) > limit:
            raise _too_large("the request body", limit)
        media = _media_type(headers)
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large("the request body", limit)
            if chunk and media != "application/json" and not media.endswith("+json"):
                raise UnsupportedMediaType(
                    f"the body must be application/json, not {media or 'untyped'}",
                    field="content-type",
                )
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _nesting_exceeds(body, MAX_JSON_DEPTH):
            raise InvalidInput(
                f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels", field="body"
            )
        return body


@before_mfa_enrolment
def _identity_only() -> None:
    """Stands for the route while the guard asks only who is calling."""


def _identify(scope: Scope) -> None:
    """Authenticate the caller (raising as the app's authenticator does), nothing kept."""
    request = Request({**scope, "endpoint": _identity_only})
    authenticate: Authenticator = request.app.state.authenticate
    authenticate(request)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _host_name(header: str) -> str:
    host = header.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.rsplit(":", 1)[0]
    return host


def _check_url(scope: Scope) -> None:
    if _CONTROL.search(scope["path"]):
        raise InvalidInput("the URL path has control characters", field="url")
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is not None and not _utf8(unquote_to_bytes(raw_path)):
        raise InvalidInput("the URL path is not valid UTF-8 once percent-decoded", field="url")
    query: bytes = scope.get("query_string", b"")
    if not query:
        return
    decoded = unquote_to_bytes(query.replace(b"+", b" "))
    if _CONTROL_BYTES.search(decoded):
        raise InvalidInput("the URL query has control characters", field="url")
    if not _utf8(decoded):
        raise InvalidInput("the URL query is not valid UTF-8 once percent-decoded", field="url")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _content_length(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        raise InvalidInput("Content-Length is not a number", field="content-length") from None


def _too_large(what: str, limit: int) -> TooLarge:
    return TooLarge(f"{what} is larger than this server's limit of {limit} bytes", field="body")


def _nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether JSON ``body`` nests arrays/objects deeper than ``limit`` (strings ignored).

    With strings cut out and both kinds of bracket written ``[]``, each pass deletes the
    innermost pairs, one level; what is left after ``limit`` passes is nested deeper.
    Runs in C, without parsing; brackets that do not pair up are left to the JSON parser.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(*_BRACKETS_ONLY)
    if b"[" * (limit + 1) in brackets:
        return True
    for _ in range(limit):
        shorter = brackets.replace(b"[]", b"")
        if not shorter or shorter == brackets:
            return False
        brackets = shorter
    return True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, exc: ModelyardError) -> None:
    payload = json.dumps(error_body(exc.code, exc.message, exc.field)).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in error_headers(exc).items()),
    ]
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
