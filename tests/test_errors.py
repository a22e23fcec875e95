"""One error tree; library errors are translated at the boundary."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from modelyard import errors
from modelyard.errors import translate


def test_every_error_has_a_status_and_exit_code() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.ModelyardError) for c in classes)
    for cls in classes:
        assert 400 <= cls.http_status < 600
        assert cls.exit_code > 0
    assert errors.ModelyardError("boom", field="x").to_dict() == {
        "error": {"code": "internal", "message": "boom", "field": "x"}
    }


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE failed")), errors.Conflict),
        (
            OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error")),
            errors.StorageError,
        ),
        (FileNotFoundError(errno.ENOENT, "gone", "/x"), errors.NotFound),
        (PermissionError(errno.EACCES, "no", "/x"), errors.PermissionDenied),
        (OSError(errno.ENOSPC, "full"), errors.StorageError),
        (KeyError("k"), errors.ModelyardError),
    ],
)
def test_library_errors_are_translated(exc: BaseException, expected: type) -> None:
    out = translate(exc)
    assert type(out) is expected
    assert isinstance(out, errors.ModelyardError)


def test_botocore_errors_are_translated() -> None:
    botocore = pytest.importorskip("botocore.exceptions")
    missing = botocore.ClientError({"Error": {"Code": "NoSuchKey", "Message": "nope"}}, "GetObject")
    denied = botocore.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
    assert isinstance(translate(missing), errors.NotFound)
    assert isinstance(translate(denied), errors.PermissionDenied)
    assert isinstance(
        translate(botocore.EndpointConnectionError(endpoint_url="http://x")), errors.StorageError
    )


def test_builtin_mixins_match_meaning() -> None:
    assert issubclass(errors.NotFound, LookupError)
    assert issubclass(errors.InvalidInput, ValueError)
    assert issubclass(errors.PermissionDenied, PermissionError)
