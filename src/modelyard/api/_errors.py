"""Every failure leaves the API in one shape: ``{"error": {"code", "message", "field"}}``.

Modelyard errors carry their own HTTP status; request validation errors are 422 naming
the field; Starlette's own HTTP errors (unknown route, wrong method) keep their status;
anything else is a 500 whose body says nothing about the code (the traceback goes to the
server log only).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from modelyard.errors import ModelyardError, TooManyRequests, Unauthenticated

__all__ = ["error_body", "install_error_handlers"]

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


def _modelyard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelyardError)
    if exc.http_status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": 'Bearer realm="modelyard"'}
    if not isinstance(exc, Unauthenticated):
        headers = {}
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


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


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelyardError, _modelyard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
