"""One error shape for every failure, its status from the error class, no tracebacks; the
SDK turns each answer back into the same typed exception."""

from __future__ import annotations

import httpx
import pytest

from modelyard import errors
from modelyard.api.routes import runs as runs_routes
from modelyard.remote._http import error_from_response


def _shape(answer: httpx.Response) -> dict:
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_not_found(api: httpx.Client) -> None:
    answer = api.get("/runs/" + "0" * 32)
    assert answer.status_code == 404
    assert _shape(answer) == {
        "code": "not_found",
        "message": f"run {'0' * 32!r} does not exist",
        "field": "run_id",
    }
    assert isinstance(error_from_response(answer), errors.NotFound)


def test_already_exists_and_conflict(api: httpx.Client, run_id: str) -> None:
    assert api.post("/projects", json={"name": "q"}).status_code == 201
    again = api.post("/projects", json={"name": "q"})
    assert again.status_code == 409 and _shape(again)["code"] == "already_exists"
    assert type(error_from_response(again)) is errors.AlreadyExists
    series = {"run_id": "f" * 32, "key": "m", "steps": [0], "values": [1.0], "timestamps": [0]}
    batch = {"batch_id": "batch-0001", "metrics": [series]}
    unknown_run = api.post("/batches", json=batch)  # nothing stored: the run is unknown
    assert unknown_run.status_code == 404 and _shape(unknown_run) == {
        "code": "not_found",
        "message": f"run {'f' * 32!r} does not exist",
        "field": "run_id",
    }
    assert type(error_from_response(unknown_run)) is errors.NotFound


def test_validation_errors_name_the_field(api: httpx.Client) -> None:
    answer = api.post("/runs", json={"project": "p", "user": "u" * 300})
    assert answer.status_code == 422
    error = _shape(answer)
    assert error["code"] == "invalid_input" and error["field"] == "user"
    assert error["message"].startswith("user: ")
    assert error_from_response(answer).field == "user"
    missing = api.post("/runs", json={})
    assert _shape(missing)["field"] == "project"
    query = api.get("/projects", params={"limit": 0})
    assert query.status_code == 422 and _shape(query)["field"] == "limit"


def test_service_rules_come_back_with_their_messages(api: httpx.Client) -> None:
    answer = api.post("/projects", json={"name": "bad name!"})
    assert answer.status_code == 422
    assert _shape(answer)["message"].startswith("project must be 1-128 characters")
    bad_key = api.post("/batches", json={"batch_id": "batch-0001", "tags": [["a" * 32, " k", "v"]]})
    assert bad_key.status_code == 422
    assert "surrounding spaces" in _shape(bad_key)["message"]
    assert _shape(bad_key)["field"] == "tags.0.1"


def test_routing_errors_use_the_shape(api: httpx.Client) -> None:
    missing = api.get("/nowhere")
    assert missing.status_code == 404 and _shape(missing)["code"] == "not_found"
    wrong_method = api.patch("/projects")
    assert wrong_method.status_code == 405 and _shape(wrong_method)["code"] == "method_not_allowed"


def test_unexpected_errors_are_500_without_details(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: object, run_id: str) -> None:
        raise RuntimeError("secret internals at /srv/db")

    monkeypatch.setattr(runs_routes.TrackingService, "get_run", broken)
    answer = api.get("/runs/" + "a" * 32)
    assert answer.status_code == 500
    assert _shape(answer) == {"code": "internal", "message": "internal server error", "field": None}
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert "secret internals" in caplog.text  # in the server's log only


@pytest.mark.parametrize("escape", [SystemExit, SystemExit(0), KeyboardInterrupt, GeneratorExit])
def test_a_base_exception_in_a_handler_is_500_in_the_shape(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch, escape: BaseException
) -> None:
    def exits(self: object, run_id: str) -> None:
        raise escape

    monkeypatch.setattr(runs_routes.TrackingService, "get_run", exits)
    # uvicorn closes a connection whose request raised: this one is not used again.
    answer = api.get("/runs/" + "a" * 32, headers={"Connection": "close"})
    assert answer.status_code == 500, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert _shape(answer) == {"code": "internal", "message": "internal server error", "field": None}
    monkeypatch.undo()
    assert api.get("/projects").status_code == 200  # the server goes on


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "not_found", errors.NotFound),
        (409, "already_exists", errors.AlreadyExists),
        (409, "conflict", errors.Conflict),
        (409, "policy_violation", errors.PolicyViolation),
        (403, "permission_denied", errors.PermissionDenied),
        (413, "too_large", errors.TooLarge),
        (415, "unsupported_media_type", errors.UnsupportedMediaType),
        (422, "invalid_input", errors.InvalidInput),
        (503, "storage_error", errors.StorageError),
        (503, "corrupt_blob", errors.CorruptBlob),
        (501, "missing_dependency", errors.MissingDependency),
        (500, "internal", errors.ModelyardError),
        (404, "something_new", errors.NotFound),
        (401, "unauthenticated", errors.Unauthenticated),
        (403, "mfa_required", errors.PermissionDenied),
        (502, "", errors.StorageError),
    ],
)
def test_every_code_maps_back_to_its_class(status: int, code: str, expected: type) -> None:
    if code:
        answer = httpx.Response(
            status, json={"error": {"code": code, "message": "m", "field": "f"}}
        )
    else:  # not our shape: a proxy's page
        answer = httpx.Response(status, content=b"<html>bad gateway</html>")
    error = error_from_response(answer)
    assert type(error) is expected
    assert error.message == ("m" if code else f"HTTP {status}: <html>bad gateway</html>")
