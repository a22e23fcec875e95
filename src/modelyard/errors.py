"""The error vocabulary.

Every failure a user can see is one of these. Each class carries the HTTP status and
the CLI exit code it maps to, so interfaces translate errors in exactly one place.
Library errors (SQLAlchemy, fsspec, botocore) are translated at the storage boundary by
:func:`translate` and never reach users.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

__all__ = [
    "AlreadyExists",
    "Conflict",
    "CorruptBlob",
    "DataValidationError",
    "InvalidInput",
    "MalformedBody",
    "MissingDependency",
    "ModelUnavailable",
    "ModelyardError",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "PolicyViolation",
    "StorageError",
    "TooLarge",
    "TooManyRequests",
    "Unauthenticated",
    "UnsupportedMediaType",
]


class ModelyardError(Exception):
    """Root of every error Modelyard raises on purpose."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """The one JSON error shape: ``{"error": {"code", "message", "field"}}``."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class NotFound(ModelyardError, LookupError):
    code = "not_found"
    http_status = 404
    exit_code = 4


class AlreadyExists(ModelyardError):
    code = "already_exists"
    http_status = 409
    exit_code = 5


class InvalidInput(ModelyardError, ValueError):
    code = "invalid_input"
    http_status = 422
    exit_code = 2


class MalformedBody(InvalidInput):
    """A request body that cannot be read as its content type says (JSON that does not
    parse, Arrow or Parquet bytes that are no such file): 400, where InvalidInput is a
    body that was read but breaks the rules (422)."""

    code = "malformed_body"
    http_status = 400


class TooLarge(InvalidInput):
    """A request body, upload or answer is over a limit."""

    code = "too_large"
    http_status = 413


class UnsupportedMediaType(InvalidInput):
    """A request body of a content type the endpoint does not take."""

    code = "unsupported_media_type"
    http_status = 415


class ValidationFindings(Protocol):
    """What this module needs of a :class:`~modelyard.data.ValidationReport` (named by
    its shape, so that errors, the ground floor, imports nothing of ``data``)."""

    @property
    def ok(self) -> bool: ...

    def summary(self) -> str: ...


class DataValidationError(InvalidInput):
    """Data failed a critical expectation; ``report`` is the whole
    :class:`~modelyard.data.ValidationReport` (None when rebuilt from an HTTP answer).

    An InvalidInput (HTTP 422: the data was read but breaks the rules) with its own CLI exit
    code, so that a pipeline can tell bad data from a bad command line.
    """

    code = "data_validation_failed"
    exit_code = 9

    def __init__(
        self, message: str, *, report: ValidationFindings | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.report = report


class Conflict(ModelyardError):
    code = "conflict"
    http_status = 409
    exit_code = 5


class PermissionDenied(ModelyardError, PermissionError):
    code = "permission_denied"
    http_status = 403
    exit_code = 6


class Unauthenticated(PermissionDenied):
    """No credentials, or credentials that prove nothing (unknown, expired, revoked)."""

    code = "unauthenticated"
    http_status = 401


class TooManyRequests(ModelyardError):
    """A client went over a rate limit; ``retry_after`` is in seconds."""

    code = "too_many_requests"
    http_status = 429
    exit_code = 10

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Overloaded(ModelyardError):
    """A server is past what it can answer in time and sheds the request; ``retry_after``
    is in seconds."""

    code = "overloaded"
    http_status = 503
    exit_code = 10

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class ModelUnavailable(ModelyardError):
    """A model version cannot answer: its files are missing or corrupt, or it failed to
    load."""

    code = "model_unavailable"
    http_status = 503
    exit_code = 8


class PolicyViolation(ModelyardError):
    code = "policy_violation"
    http_status = 409
    exit_code = 7


class StorageError(ModelyardError, OSError):
    """The metadata store or the artifact store failed (unreachable, full, broken)."""

    code = "storage_error"
    http_status = 503
    exit_code = 8


class CorruptBlob(StorageError):
    """A blob's bytes no longer match its digest."""

    code = "corrupt_blob"


class MissingDependency(ModelyardError, ImportError):
    """An optional extra is needed; the message names the install command."""

    code = "missing_dependency"
    http_status = 501
    exit_code = 3

    @classmethod
    def for_extra(cls, module: str, extra: str) -> MissingDependency:
        return cls(
            f"{module!r} is not installed; install it with: pip install 'modelyard[{extra}]'"
        )


def translate(exc: BaseException) -> ModelyardError:
    """Map a library exception to the error vocabulary (used at the storage boundary), by
    its type and, where the library gives one, its error code: the first row of
    :data:`_TRANSLATIONS` whose type ``exc`` is an instance of decides. Anything else is
    a plain :class:`ModelyardError`."""
    if isinstance(exc, ModelyardError):
        return exc
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for module, name, translation in _TRANSLATIONS:
        # A library's exception can only be raised once its module is imported: looking
        # in sys.modules keeps this from importing SQLAlchemy, botocore or psycopg.
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return translation(exc, text)
    return ModelyardError(f"{type(exc).__name__}: {text}")


#: SQLite's primary result code for a constraint violation (extended codes keep it in
#: the low byte), and PostgreSQL's SQLSTATE class "integrity constraint violation".
_SQLITE_CONSTRAINT = 19
_SQLSTATE_INTEGRITY = "23"


def _violates_constraint(exc: BaseException) -> bool:
    """Whether a database error (or the DBAPI error SQLAlchemy wraps) reports a
    constraint violation by its code: ``sqlite_errorcode`` (sqlite3), ``sqlstate``
    (psycopg) or ``pgcode`` (psycopg2)."""
    for err in (exc, getattr(exc, "orig", None)):
        code = getattr(err, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_CONSTRAINT:
            return True
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(state, str) and state.startswith(_SQLSTATE_INTEGRITY):
            return True
    return False


def _conflict(exc: BaseException, text: str) -> ModelyardError:
    return Conflict(f"the change conflicts with stored data: {text}")


def _metadata_store(exc: BaseException, text: str) -> ModelyardError:
    if _violates_constraint(exc):
        return _conflict(exc, text)
    return StorageError(f"metadata store error ({type(exc).__name__}): {text}")


def _s3_answer(exc: BaseException, text: str) -> ModelyardError:
    """An error answer from S3 (botocore's ClientError), by its error code and status."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in {"NoSuchKey", "NoSuchBucket", "NotFound", "404"} or status == 404:
        return NotFound(f"object not found in artifact storage: {text}")
    if code in {"AccessDenied", "Forbidden", "403"} or status == 403:
        return PermissionDenied(f"artifact storage refused access: {text}")
    return _artifact_storage(exc, text)


def _artifact_storage(exc: BaseException, text: str) -> ModelyardError:
    return StorageError(f"artifact storage error ({type(exc).__name__}): {text}")


def _os_error(exc: BaseException, text: str) -> ModelyardError:
    """An ``OSError`` by its type, or by its ``errno`` where a library subclasses
    ``OSError`` itself (Python picks the subclass only for ``OSError(errno, ...)``)."""
    assert isinstance(exc, OSError)
    code = exc.errno
    if isinstance(exc, FileNotFoundError) or code == errno.ENOENT:
        return NotFound(f"not found: {exc.filename or text}")
    if isinstance(exc, PermissionError) or code in {errno.EACCES, errno.EPERM}:
        return PermissionDenied(f"permission denied: {exc.filename or text}")
    return StorageError(f"storage error ({type(exc).__name__}): {text}")


_Translation = Callable[[BaseException, str], ModelyardError]

#: (module, class, translation), most specific first. The DBAPI rows (sqlite3, psycopg,
#: psycopg2) cover driver errors that reach a caller unwrapped by SQLAlchemy; the rows
#: after botocore, the libraries s3fs reads and writes through (their ``OSError``
#: subclasses, s3fs's own included, fall to the last row).
_TRANSLATIONS: tuple[tuple[str, str, _Translation], ...] = (
    ("sqlalchemy.exc", "IntegrityError", _conflict),
    ("sqlalchemy.exc", "SQLAlchemyError", _metadata_store),
    ("sqlite3", "IntegrityError", _conflict),
    ("sqlite3", "Error", _metadata_store),
    ("psycopg", "IntegrityError", _conflict),
    ("psycopg", "Error", _metadata_store),
    ("psycopg2", "IntegrityError", _conflict),
    ("psycopg2", "Error", _metadata_store),
    ("botocore.exceptions", "ClientError", _s3_answer),
    ("botocore.exceptions", "BotoCoreError", _artifact_storage),
    ("aiohttp", "ClientError", _artifact_storage),
    ("urllib3.exceptions", "HTTPError", _artifact_storage),
    ("fsspec.exceptions", "BlocksizeMismatchError", _artifact_storage),
    ("builtins", "OSError", _os_error),
)
