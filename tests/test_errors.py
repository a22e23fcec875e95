"""One error tree; library errors are translated at the boundary."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import sys
from typing import Any, cast

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


# -- by type, not by name or message ------------------------------------------------------


class _LibraryIOError(OSError):
    """A library's own OSError subclass: ``OSError(errno, ...)`` picks no subclass for it."""


def _client_error(code: str, status: int | None = None) -> BaseException:
    botocore = pytest.importorskip("botocore.exceptions")
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return cast(BaseException, botocore.ClientError(response, "HeadObject"))


def test_subclasses_of_a_mapped_type_map_as_it_does() -> None:
    class SessionIntegrityError(IntegrityError):
        pass

    class DriverLost(OperationalError):
        pass

    assert type(translate(SessionIntegrityError("x", {}, Exception("dup")))) is errors.Conflict
    assert type(translate(DriverLost("x", {}, Exception("gone")))) is errors.StorageError
    assert type(translate(_LibraryIOError(errno.ENOENT, "gone"))) is errors.NotFound
    assert type(translate(_LibraryIOError(errno.EACCES, "no"))) is errors.PermissionDenied
    assert type(translate(_LibraryIOError(errno.EIO, "bad"))) is errors.StorageError
    botocore = pytest.importorskip("botocore.exceptions")

    class NoSuchThing(botocore.ClientError):  # type: ignore[misc,name-defined]
        pass  # like the classes botocore makes per error code (s3.exceptions.NoSuchKey)

    missing = NoSuchThing({"Error": {"Code": "NoSuchKey", "Message": "m"}}, "GetObject")
    assert type(translate(missing)) is errors.NotFound


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("NoSuchKey: 404"),
        ValueError("AccessDenied (403)"),
        type("IntegrityError", (Exception,), {"__module__": "sqlalchemy.exc"})("UNIQUE"),
        type("NoSuchKey", (Exception,), {"__module__": "botocore.errorfactory"})("404"),
        type("ClientError", (Exception,), {"__module__": "s3fs.errors"})("AccessDenied"),
    ],
)
def test_names_and_messages_alone_do_not_map(exc: BaseException) -> None:
    assert type(translate(exc)) is errors.ModelyardError


def test_s3_answers_map_by_code_and_status() -> None:
    assert type(translate(_client_error("NoSuchBucket"))) is errors.NotFound
    assert type(translate(_client_error("404"))) is errors.NotFound  # HEAD has no body
    assert type(translate(_client_error("Weird", 404))) is errors.NotFound
    assert type(translate(_client_error("Forbidden"))) is errors.PermissionDenied
    assert type(translate(_client_error("Weird", 403))) is errors.PermissionDenied
    assert type(translate(_client_error("SlowDown", 503))) is errors.StorageError
    botocore = pytest.importorskip("botocore.exceptions")
    unreachable = botocore.EndpointConnectionError(endpoint_url="http://s3.local:404/x")
    assert type(translate(unreachable)) is errors.StorageError  # "404" in it is no answer


def test_driver_errors_map_by_dbapi_type_and_code() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    con.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as real:
        con.execute("INSERT INTO t VALUES (1)")
    con.close()
    assert type(translate(real.value)) is errors.Conflict
    assert type(translate(sqlite3.OperationalError("disk I/O error"))) is errors.StorageError

    by_code = sqlite3.DatabaseError("a constraint, reported under another type")
    by_code.sqlite_errorcode = sqlite3.SQLITE_CONSTRAINT_UNIQUE  # type: ignore[attr-defined]
    assert type(translate(by_code)) is errors.Conflict
    wrapped = OperationalError("INSERT", {}, by_code)  # SQLAlchemy's wrapper: its .orig
    assert type(translate(wrapped)) is errors.Conflict


def test_psycopg_errors_map_by_dbapi_type_and_sqlstate() -> None:
    psycopg = pytest.importorskip("psycopg")

    class CheckFailed(psycopg.DatabaseError):  # type: ignore[misc,name-defined]
        sqlstate = "23514"  # check_violation, under a type that is not IntegrityError

    assert type(translate(psycopg.errors.UniqueViolation("dup"))) is errors.Conflict
    assert type(translate(CheckFailed("check"))) is errors.Conflict
    assert type(translate(psycopg.errors.SerializationFailure("retry"))) is errors.StorageError
    assert type(translate(psycopg.OperationalError("gone"))) is errors.StorageError


def test_translating_imports_no_library() -> None:
    code = (
        "import sys; from modelyard.errors import translate; "
        "[translate(e) for e in (OSError(), ValueError('NoSuchKey'), KeyError('k'))]; "
        "print(','.join(m for m in ('sqlalchemy', 'botocore', 'psycopg', 'aiohttp', "
        "'urllib3', 'fsspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
