"""Every failure leaves the API in one shape: ``{"error": {"code", "message", "field"}}``.

Modelyard errors carry their own HTTP status; request validation errors are 422 naming
the field; Starlette's own HTTP errors (unknown route, wrong method) keep their status;
anything else is a 500 whose body says nothing about the code (the traceback goes to the
server log only) -- a ``BaseException`` too (``SystemExit``, ``KeyboardInterrupt``,
``GeneratorExit`` raised by a handler, or by code it called): :class:`BaseExceptions`
turns it into an ordinary error first, so it is answered in the shape, never as
uvicorn's plain-text 500, and the server goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.errors import ModelyardError, TooManyRequests, Unauthenticated

__all__ = [
    "BaseExceptions",
    "HandlerExited",
    "error_body",
    "error_headers",
    "install_error_handlers",
]

logger = logging.getLogger("modelyard.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_headers(exc: ModelyardError) -> dict[str, str]:
    """The headers that go with ``exc``'s answer: how to authenticate, when to retry."""
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="modelyard"'}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def _modelyard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelyardError)
    if exc.http_status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=error_headers(exc))


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first: dict[str, Any] = dict(problems[0]) if problems else {"msg": "invalid request"}
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return JSONResponse(
            error_body("invalid_input", f"the body is not valid JSON: {detail}", "body"),
            status_code=422,
        )
    loc = [str(part) for part in first.get("loc", ())]
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    cause = (first.get("ctx") or {}).get("error")
    message = cause.message if isinstance(cause, ModelyardError) else str(first.get("msg"))
    if field and not isinstance(cause, ModelyardError):
        message = f"{field}: {message}"
    return JSONResponse(error_body("invalid_input", message, field), status_code=422)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    root = str(request.scope.get("root_path", ""))
    if exc.status_code == 404 and not request.url.path.removeprefix(root).startswith("/api/"):
        from modelyard.api.ui import not_found_page

        return not_found_page(request)  # a page that does not exist: the UI's 404 page
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


class HandlerExited(Exception):
    """A ``BaseException`` that is not an ``Exception``, raised while answering."""

    @classmethod
    def of(cls, exc: BaseException) -> HandlerExited:
        return cls(f"{type(exc).__name__} while answering a request")


class BaseExceptions:
    """ASGI middleware (inside Starlette's outermost error middleware, which answers
    ``Exception`` only): a ``BaseException`` that is no ``Exception`` becomes one, so the
    app's handler answers it (500 in the shape) and the server goes on. Cancellation
    passes as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except (Exception, asyncio.CancelledError):
            raise
        except BaseException as exc:
            raise HandlerExited.of(exc) from exc


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelyardError, _modelyard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
