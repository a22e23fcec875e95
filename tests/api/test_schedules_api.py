"""Schedules over the server: status codes, roles, the one error shape naming the field,
and pipeline references checked on the server against what its administrator allows,
never imported there."""

from __future__ import annotations

import os
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.config import Settings
from modelyard.governance import SYSTEM, Governance
from modelyard.store import open_store
from pipeline_files import PIPES, pipeline_file

SCHEDULES = "/projects/p/schedules"


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Path]:
    """``api_pipes.py`` in the server's working directory (the test's)."""
    with pipeline_file(tmp_path, "api_pipes") as path:
        yield path


def _body(**changes: Any) -> dict[str, Any]:
    return {"name": "nightly", "pipeline": "api_pipes.py:tick", "cron": "0 3 * * *", **changes}


@pytest.fixture
def member(
    embedded_settings: Settings, served: str
) -> Iterator[Callable[[str, str | None], httpx.Client]]:
    """``member(username, role)``: an HTTP client of a new user with ``role`` on project
    ``p`` (None: no role)."""
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    governance = Governance(store)
    clients: list[httpx.Client] = []

    def make(username: str, role: str | None) -> httpx.Client:
        governance.users.create_service_account(username, actor=SYSTEM)
        if role is not None:
            governance.roles.grant("p", username, role, actor=SYSTEM)
        token = governance.tokens.create(username, "t", actor=SYSTEM).secret
        headers = {"Authorization": f"Bearer {token}"}
        clients.append(httpx.Client(base_url=served + "/api/v1", timeout=30, headers=headers))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
    store.dispose()


def test_create_read_toggle_delete(api: httpx.Client, pipes: Path) -> None:
    made = api.post(SCHEDULES, json=_body(params={"label": "n"}, timezone="Europe/Paris"))
    assert made.status_code == 201, made.text
    data = made.json()
    assert data["pipeline"] == f"{pipes.resolve()}:tick"  # resolved on the server
    assert (data["params"], data["trigger"], data["enabled"]) == (
        {"label": "n"},
        "cron 0 3 * * * (Europe/Paris)",
        True,
    )
    assert api.get(f"{SCHEDULES}/nightly").json() == data
    listed = api.get(SCHEDULES).json()
    assert listed == {"items": [data], "next_cursor": None}
    assert api.get("/schedules", params={"project": "p"}).json() == listed
    assert api.get("/schedules").json() == listed

    off = api.post(f"{SCHEDULES}/nightly/disable")
    assert off.status_code == 200 and off.json()["enabled"] is False
    on = api.post(f"{SCHEDULES}/nightly/enable")
    assert on.status_code == 200 and on.json()["next_fire_at"] is not None
    fires = api.get(f"{SCHEDULES}/nightly/fires", params={"limit": 500})
    assert fires.status_code == 200 and fires.json() == {"items": []}

    gone = api.delete(f"{SCHEDULES}/nightly")
    assert gone.status_code == 204 and gone.content == b""
    missing = api.get(f"{SCHEDULES}/nightly")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": "schedule 'nightly' does not exist in project 'p'",
        "field": "schedule",
    }
    assert api.delete(f"{SCHEDULES}/nightly").status_code == 404
    assert api.post(f"{SCHEDULES}/nightly/enable").status_code == 404
    assert api.get("/projects/nope/schedules/x").json()["error"]["field"] == "project"


def test_a_second_schedule_of_the_same_name_is_409(api: httpx.Client, pipes: Path) -> None:
    assert api.post(SCHEDULES, json=_body()).status_code == 201
    again = api.post(SCHEDULES, json=_body(cron="* * * * *"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"
    assert again.json()["error"]["field"] == "name"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (_body(color="red"), "color", "Extra inputs are not permitted"),
        (_body(enabled="yes"), "enabled", "valid boolean"),
        (_body(params=[1, 2]), "params", "valid dictionary"),
        (_body(cron=5), "cron", "valid string"),
        ({"pipeline": "api_pipes.py:tick", "cron": "0 3 * * *"}, "name", "Field required"),
        (_body(cron="61 * * * *"), "cron", "not a valid cron expression"),
        (_body(cron="0 0 31 2 *"), "cron", "never occurs"),
        (_body(timezone="Mars/Olympus"), "timezone", "unknown timezone"),
        (_body(cron=None), "cron", "needs one trigger"),
        (_body(name="no spaces"), "schedule", "schedule must be"),
        (_body(pipeline="tick"), "pipeline", "not a pipeline reference"),
        (_body(pipeline="api_pipes.py:no-name"), "pipeline", "not a Python name"),
        (_body(pipeline="elsewhere.py:tick"), "pipeline", "no such file"),
        (_body(pipeline=".relative:tick"), "pipeline", "not a module name"),
        (_body(pipeline="api_broken:tick"), "pipeline", "not in a package pipelines may be"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api: httpx.Client, pipes: Path, body: dict[str, Any], field: str, message: str
) -> None:
    (pipes.parent / "api_broken.py").write_text("raise RuntimeError('broken at import')\n")
    answer = api.post(SCHEDULES, json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input" and error["field"] == field
    assert message in error["message"]
    assert api.get(SCHEDULES).json()["items"] == []


def test_only_files_under_the_servers_directory_load_and_none_named_like_a_module(
    api: httpx.Client, pipes: Path
) -> None:
    outside = pipes.parent.parent / "outside_pipes.py"
    outside.write_text(PIPES)
    (pipes.parent / "linked_pipes.py").symlink_to(outside)
    (pipes.parent / "typing.py").write_text(PIPES)
    for ref, message in [
        (f"{outside}:tick", "must lie under"),
        ("../outside_pipes.py:tick", "must lie under"),
        ("linked_pipes.py:tick", "must lie under"),
        (f"{typing.__file__}:tick", "must lie under"),
        ("typing.py:tick", "that is the name of another module"),
    ]:
        answer = api.post(SCHEDULES, json=_body(pipeline=ref))
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "pipeline" and message in answer.text
    assert "outside_pipes" not in sys.modules and sys.modules["typing"] is typing


def test_run_now_is_202_and_kept_until_a_worker_claims_it(api: httpx.Client, pipes: Path) -> None:
    assert api.post(SCHEDULES, json=_body(enabled=False)).status_code == 201
    asked = api.post(f"{SCHEDULES}/nightly/run")
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["requested_at"] is not None and body["requested_by"] == "test-admin"
    assert api.post(f"{SCHEDULES}/nightly/run").json() == body
    assert api.get(f"{SCHEDULES}/nightly").json()["requested_at"] == body["requested_at"]
    assert api.post(f"{SCHEDULES}/nope/run").status_code == 404


def test_bad_fire_limits_are_422(api: httpx.Client, pipes: Path) -> None:
    api.post(SCHEDULES, json=_body())
    for limit in ("0", "501", "many"):
        answer = api.get(f"{SCHEDULES}/nightly/fires", params={"limit": limit})
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "limit"


def test_roles_viewer_reads_contributor_changes(
    api: httpx.Client,
    served: str,
    member: Callable[[str, str | None], httpx.Client],
    pipes: Path,
) -> None:
    assert api.post(SCHEDULES, json=_body()).status_code == 201
    with httpx.Client(base_url=served + "/api/v1", timeout=30) as anonymous:
        assert anonymous.get(SCHEDULES).status_code == 401
        assert anonymous.post(SCHEDULES, json=_body(name="x")).status_code == 401

    viewer = member("vera", "viewer")
    assert viewer.get(f"{SCHEDULES}/nightly").status_code == 200
    assert viewer.get(f"{SCHEDULES}/nightly/fires").status_code == 200
    assert [s["name"] for s in viewer.get("/schedules").json()["items"]] == ["nightly"]
    # Refused before the server imports anything: this module would leave a mark.
    marker = pipes.parent / "imported.txt"
    (pipes.parent / "api_marks.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nfrom api_pipes import tick\n"
    )
    refused = viewer.post(SCHEDULES, json=_body(name="mine", pipeline="api_marks.py:tick"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "permission_denied" and not marker.exists()
    for action in ("disable", "enable"):
        assert viewer.post(f"{SCHEDULES}/nightly/{action}").status_code == 403
    assert viewer.delete(f"{SCHEDULES}/nightly").status_code == 403

    outsider = member("olaf", None)
    hidden = outsider.get(f"{SCHEDULES}/nightly")  # as if the project did not exist
    assert hidden.status_code == 404 and hidden.json()["error"] == {
        "code": "not_found",
        "message": "project 'p' does not exist",
        "field": "project",
    }
    assert outsider.get("/schedules").json()["items"] == []  # only what the caller may read

    contributor = member("carl", "contributor")
    made = contributor.post(SCHEDULES, json=_body(name="carls", dataset="sales", cron=None))
    assert made.status_code == 201 and made.json()["created_by"] == "carl"
    assert contributor.post(f"{SCHEDULES}/nightly/disable").json()["enabled"] is False
    assert contributor.delete(f"{SCHEDULES}/carls").status_code == 204


@pytest.fixture
def allowing(
    embedded_settings: Settings, live_server: Callable[..., Any]
) -> Iterator[Callable[..., httpx.Client]]:
    """``allowing(*packages)``: a live server (no authentication) whose administrator
    allows pipelines from ``packages``, and an HTTP client for its ``/api/v1``."""
    from modelyard.api import create_app
    from modelyard.api.auth import no_auth

    clients: list[httpx.Client] = []

    def start(*packages: str) -> httpx.Client:
        worker = embedded_settings.worker.model_copy(update={"pipeline_packages": packages})
        app = create_app(embedded_settings.model_copy(update={"worker": worker}), auth=no_auth)
        clients.append(httpx.Client(base_url=live_server(app).url + "/api/v1", timeout=30))
        return clients[-1]

    yield start
    for client in clients:
        client.close()


def test_allowed_code_is_stored_not_imported_and_the_worker_reports_what_stops_it(
    allowing: Callable[..., httpx.Client],
    embedded_settings: Settings,
    pipes: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from modelyard.worker.worker import Worker

    (pipes.parent / "api_broken.py").write_text(
        "print('imported!')\nraise RuntimeError('at import')\n"
    )
    assert "this" not in sys.modules
    api = allowing("api_broken", "this")
    for name, pipeline, params in [
        ("broken", "api_broken:tick", {}),
        ("zen", "this:x", {}),
        ("typo", "api_pipes.py:tick", {"labl": 1}),
        ("nope", "api_pipes.py:nope", {}),
    ]:
        made = api.post(SCHEDULES, json=_body(name=name, pipeline=pipeline, params=params))
        assert made.status_code == 201, made.text
        assert api.post(f"{SCHEDULES}/{name}/run").status_code == 202
    assert "api_broken" not in sys.modules and "this" not in sys.modules
    assert capfd.readouterr() == ("", "")  # nothing the named code prints ran

    settings = embedded_settings.model_copy(
        update={"worker": embedded_settings.worker.model_copy(update={"isolation": "inline"})}
    )
    with Worker(settings, log=lambda _: None) as worker:  # allows none of those packages
        errors = {o.schedule.name: o.error for o in worker.run_once().ran}
    assert "api_broken" not in sys.modules and "this" not in sys.modules
    assert "not in a package pipelines may be imported from" in errors.pop("broken")
    assert "not in a package pipelines may be imported from" in errors.pop("zen")
    assert "has no parameter 'labl'" in errors.pop("typo")
    assert "has no attribute 'nope'" in errors.pop("nope")


def _children(pid: int) -> set[int]:
    """The child processes of ``pid`` (Linux)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if "home" not in p.relative_to(folder).parts}


@pytest.mark.skipif(
    not Path(f"/proc/self/task/{os.getpid()}/children").exists(),
    reason="reads child processes from /proc (Linux)",
)
@pytest.mark.parametrize("pipeline", ["this:x", "venv.__main__:x", "modelyard.__main__:x"])
def test_a_request_never_makes_the_server_import_code(
    embedded_settings: Settings,
    server_process: Callable[..., Any],
    tmp_path: Path,
    pipeline: str,
) -> None:
    server = server_process(embedded_settings)
    log = tmp_path / "server.log"
    printed, before, children = log.read_text(), _files(tmp_path), _children(server.proc.pid)
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as api:
        answer = api.post(SCHEDULES, json=_body(pipeline=pipeline))
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "invalid_input"
        assert answer.json()["error"]["field"] == "pipeline"
        assert api.get("/health").status_code == 200  # the server goes on
    assert log.read_text() == printed  # nothing printed (the Zen of Python, a usage line)
    assert _files(tmp_path) == before  # nothing written (a virtual environment)
    assert _children(server.proc.pid) == children  # nothing spawned
