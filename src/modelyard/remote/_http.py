"""One HTTP session with a Modelyard server: keep-alive, timeouts, retries, typed errors.

Retries use exponential backoff with full jitter, within ``tracking.retry_timeout_s``
(30 s by default), then fail with StorageError naming the server and the setting. The
first failure of a call that will be retried is logged at once as a warning on the
``modelyard.remote`` logger (on stderr when logging is not configured; the CLI prints it
as a ``warning:`` line), with the deadline. What is retried:

- connection failures before the request was sent (refused, DNS, connect timeout), and
  503 answers (the server stored nothing): always;
- other transport failures (reset, read timeout) and 500/502/504: only for requests that
  are safe to repeat (reads, PUT, DELETE, ending a run, and batches, which carry an id).

Creating a project or a run is not repeated after the server may have acted on it.
Errors come back as the same typed exceptions the embedded SDK raises: the error shape's
``code`` picks the class, the status when the code is unknown.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from modelyard import errors
from modelyard.errors import ModelyardError, StorageError

__all__ = ["HttpSession", "dumps", "entity", "error_from_response"]

T = TypeVar("T")

log = logging.getLogger("modelyard.remote")

API_PREFIX = "/api/v1"
_CONNECT_TIMEOUT_S = 5.0
_IO_TIMEOUT_S = 60.0
# Idle connections are dropped before the server drops them (uvicorn: 5 s by default),
# so a request is not sent on a connection the server is closing.
_KEEPALIVE_S = 4.0
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_BACKOFF_BASE_S = 0.1
_BACKOFF_CAP_S = 5.0
# Failures that prove the request never reached the server.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_BY_STATUS: dict[int, type[ModelyardError]] = {
    400: errors.InvalidInput,
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    405: errors.InvalidInput,
    409: errors.Conflict,
    413: errors.TooLarge,
    415: errors.UnsupportedMediaType,
    422: errors.InvalidInput,
}

Content = bytes | Iterable[bytes] | Callable[[], bytes | Iterable[bytes]]


def _error_classes() -> dict[str, type[ModelyardError]]:
    found: dict[str, type[ModelyardError]] = {ModelyardError.code: ModelyardError}
    stack = [ModelyardError]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__ == errors.__name__:
                found.setdefault(sub.code, sub)
            stack.append(sub)
    return found


def error_from_response(response: httpx.Response) -> ModelyardError:
    """The typed error an error answer stands for."""
    status = response.status_code
    try:
        detail = response.json()["error"]
        code, message, field = detail["code"], str(detail["message"]), detail.get("field")
    except (ValueError, KeyError, TypeError):
        code, message, field = "", f"HTTP {status}: {response.text[:200]}", None
    cls = _error_classes().get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = StorageError if status >= 500 else errors.InvalidInput
    return cls(message, field=field if isinstance(field, str) else None)


#: Items asked for per page when a listing is read whole.
LIST_PAGE = 1000


class HttpSession:
    """A keep-alive connection pool to one server's ``/api/v1``."""

    def __init__(self, base_url: str, *, token: str | None, retry_timeout_s: float) -> None:
        from modelyard._version import __version__

        self.base_url = base_url
        self.retry_timeout_s = retry_timeout_s
        headers = {"User-Agent": f"modelyard/{__version__}"}
        self.has_token = bool(token)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url + API_PREFIX,
            headers=headers,
            timeout=httpx.Timeout(_IO_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=_KEEPALIVE_S),
            # Certificates are checked for https://; plain http:// needs no TLS context
            # (building one costs ~40 ms).
            verify=base_url.startswith("https://"),
        )

    def close(self) -> None:
        self._client.close()

    def all_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged listing (``GET path``), following ``next_cursor``."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**(params or {}), "limit": LIST_PAGE, **({"cursor": cursor} if cursor else {})}
            answer = self.call("GET", path, params=query).json()
            items += answer["items"]
            cursor = answer["next_cursor"]
            if cursor is None:
                return items

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: Content | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
        retry: bool = True,
        accept: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send a request (retried as described in the module docstring) and return the
        answer; an error answer raises its typed error unless its status is in
        ``accept``."""
        if json_body is not None:
            content = dumps(json_body)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        with self._send(
            method, path, params, content, headers, idempotent, retry, False, accept
        ) as response:
            return response

    @contextmanager
    def stream(self, path: str, params: dict[str, Any]) -> Iterator[httpx.Response]:
        """GET with the body left to stream; transport failures while reading it raise
        StorageError."""
        with self._send("GET", path, params, None, None, True, True, True) as response:
            try:
                yield response
            except httpx.TransportError as exc:
                raise StorageError(self._unreachable(exc)) from exc

    @contextmanager
    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        content: Content | None,
        headers: dict[str, str] | None,
        idempotent: bool,
        retry: bool,
        stream: bool,
        accept: frozenset[int] = frozenset(),
    ) -> Iterator[httpx.Response]:
        deadline = time.monotonic() + (self.retry_timeout_s if retry else 0.0)
        attempt = 0
        while True:
            body = content() if callable(content) else content
            request = self._client.build_request(
                method, path, params=params, content=body, headers=headers
            )
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if not (idempotent or isinstance(exc, _UNSENT)):
                    raise StorageError(self._unreachable(exc)) from exc
                failure: str = self._unreachable(exc)
            else:
                status = response.status_code
                if status not in _RETRY_STATUSES or not (idempotent or status == 503):
                    try:
                        if status >= 400 and status not in accept:
                            response.read()
                            raise self._explained(error_from_response(response))
                        yield response
                    finally:
                        response.close()
                    return
                response.read()
                response.close()
                failure = error_from_response(response).message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StorageError(
                    f"the tracking server at {self.base_url} did not answer"
                    + (
                        f" in {attempt + 1} attempt(s) within {self.retry_timeout_s:g} s "
                        "(tracking.retry_timeout_s, MODELYARD_TRACKING_RETRY_TIMEOUT_S)"
                        if retry
                        else ""
                    )
                    + f": {failure}"
                )
            if attempt == 0:
                until = datetime.now(UTC) + timedelta(seconds=remaining)
                log.warning(
                    "%s; retrying for up to %g s, until %s UTC (tracking.retry_timeout_s)",
                    failure,
                    self.retry_timeout_s,
                    until.strftime("%H:%M:%S"),
                )
            delay = random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt))
            time.sleep(min(delay, remaining))
            attempt += 1

    def _explained(self, error: ModelyardError) -> ModelyardError:
        """A refusal of the credentials says which setting gives them (a shell user sets
        an environment variable, not an HTTP header)."""
        if not isinstance(error, errors.Unauthenticated):
            return error
        if not self.has_token:
            return errors.Unauthenticated(
                f"the tracking server at {self.base_url} needs an access token: set "
                "MODELYARD_TRACKING_TOKEN (or tracking.token in the config file) to one "
                "made with `modelyard tokens create`",
                field="tracking.token",
            )
        return errors.Unauthenticated(
            f"the tracking server at {self.base_url} refused the access token of "
            f"tracking.token (MODELYARD_TRACKING_TOKEN): {error.message}",
            field="tracking.token",
        )

    def _unreachable(self, exc: Exception) -> str:
        return f"cannot reach the tracking server at {self.base_url}: {type(exc).__name__}: {exc}"


def dumps(value: Any) -> bytes:
    """Compact, strict JSON (non-finite floats must already be strings)."""
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()


def entity(cls: type[T], data: dict[str, Any], **converted: Any) -> T:
    """A service entity (a dataclass) from its JSON answer: each field from the key of the
    same name, except those given in ``converted`` (values JSON cannot carry as they are)."""
    values = {
        f.name: converted[f.name] if f.name in converted else data[f.name]
        for f in fields(cls)  # type: ignore[arg-type]
        if f.init
    }
    return cls(**values)
