"""The error vocabulary.

Every failure a user can see is one of these. Each class carries the HTTP status and
the CLI exit code it maps to, so interfaces translate errors in exactly one place.
Library errors (SQLAlchemy, fsspec, botocore) are translated at the storage boundary by
:func:`translate` and never reach users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from modelyard.data.validation import ValidationReport

__all__ = [
    "AlreadyExists",
    "Conflict",
    "CorruptBlob",
    "DataValidationError",
    "InvalidInput",
    "MissingDependency",
    "ModelyardError",
    "NotFound",
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


class TooLarge(InvalidInput):
    """A request body, upload or answer is over a limit."""

    code = "too_large"
    http_status = 413


class UnsupportedMediaType(InvalidInput):
    """A request body of a content type the endpoint does not take."""

    code = "unsupported_media_type"
    http_status = 415


class DataValidationError(InvalidInput):
    """Data failed a critical expectation; ``report`` is the whole
    :class:`~modelyard.data.ValidationReport` (None when rebuilt from an HTTP answer).

    An InvalidInput (HTTP 422: the data was read but breaks the rules) with its own CLI exit
    code, so that a pipeline can tell bad data from a bad command line.
    """

    code = "data_validation_failed"
    exit_code = 9

    def __init__(
        self, message: str, *, report: ValidationReport | None = None, field: str | None = None
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
    """Map a library exception to the error vocabulary (used at the storage boundary)."""
    if isinstance(exc, ModelyardError):
        return exc
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    text = str(exc).splitlines()[0] if str(exc) else name
    if module.startswith("sqlalchemy"):
        if name == "IntegrityError":
            return Conflict(f"the change conflicts with stored data: {text}")
        return StorageError(f"metadata store error ({name}): {text}")
    if module.startswith(("botocore", "s3fs", "aiobotocore")):
        if name in {"NoSuchKey", "NoSuchBucket"} or any(
            word in text for word in ("NoSuchKey", "NoSuchBucket", "404")
        ):
            return NotFound(f"object not found in artifact storage: {text}")
        if "AccessDenied" in text or "403" in text:
            return PermissionDenied(f"artifact storage refused access: {text}")
        return StorageError(f"artifact storage error ({name}): {text}")
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"not found: {exc.filename or text}")
    if isinstance(exc, PermissionError):
        return PermissionDenied(f"permission denied: {exc.filename or text}")
    if isinstance(exc, OSError):
        return StorageError(f"storage error ({name}): {text}")
    return ModelyardError(f"{name}: {text}")
