"""``modelyard server``: authentication rules, start-up, a clean stop."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.config import Settings, load_settings


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """Start-up and the flags do not depend on the store: SQLite only (PostgreSQL's
    preflight is tested below)."""
    return f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"


@pytest.fixture(autouse=True)
def _uvicorn_logging_restored() -> Iterator[None]:
    """``modelyard server`` run in-process configures uvicorn's loggers with handlers on
    the runner's stderr, which is closed afterwards; later servers in this process would
    log through them (a "Logging error" into whatever output is being captured then)."""
    names = ["uvicorn", "uvicorn.error", "uvicorn.access"]
    saved = {
        name: (list(log.handlers), log.level, log.propagate)
        for name in names
        for log in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        log = logging.getLogger(name)
        log.handlers[:] = handlers
        log.setLevel(level)
        log.propagate = propagate


def _server(settings: Settings, *args: str) -> Any:
    base = ["--home", str(settings.home), "--store-url", settings.store_url]
    return CliRunner().invoke(app, [*base, "server", *args])


def test_auth_is_on_by_default(
    embedded_settings: Settings, server_process: Callable[..., Any]
) -> None:
    base = ["--home", str(embedded_settings.home), "--store-url", embedded_settings.store_url]
    runner = CliRunner()
    made = runner.invoke(
        app, [*base, "tokens", "create", "-u", "ci", "-n", "ci", "--service-account", "--json"]
    )
    assert made.exit_code == 0, made.output
    secret = json.loads(made.output)["secret"]
    server = server_process(embedded_settings, auth=True)
    with httpx.Client(base_url=server.url + "/api/v1") as api:
        assert api.get("/health").status_code == 200
        denied = api.get("/projects")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert denied.json()["error"]["code"] == "unauthenticated"
        signed = {"Authorization": f"Bearer {secret}"}
        assert api.post("/projects", json={"name": "p"}, headers=signed).status_code == 201
        assert api.get("/auth/me", headers=signed).json()["projects"] == {"p": "admin"}


@pytest.mark.parametrize(
    ("trusted", "recorded"),
    [
        (None, "127.0.0.1"),
        ('["127.0.0.1"]', "203.0.113.7"),
        ("[]", "127.0.0.1"),
        ('["10.0.0.0/8"]', "127.0.0.1"),
    ],
    ids=["default-no-proxy", "loopback-proxy", "no-proxy", "other-proxy"],
)
def test_the_client_address_comes_from_trusted_proxies_only(
    embedded_settings: Settings,
    server_process: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    trusted: str | None,
    recorded: str,
) -> None:
    from modelyard.governance import SYSTEM, Governance
    from modelyard.store import open_store

    if trusted is not None:  # the server process reads it from its environment
        monkeypatch.setenv("MODELYARD_SERVER_FORWARDED_ALLOW_IPS", trusted)
    server = server_process(embedded_settings, auth=True)
    with httpx.Client(base_url=server.url + "/api/v1") as api:
        refused = api.post(
            "/auth/login",
            json={"username": "nobody", "password": "not-the-password"},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
    assert refused.status_code == 401
    store = open_store(embedded_settings.store_url)
    try:
        events = Governance(store).audit.export(actor=SYSTEM)
        (failure,) = [e for e in events if e["action"] == "login.failure"]
    finally:
        store.dispose()
    assert failure["client_addr"] == recorded


def test_a_local_client_cannot_reset_its_own_throttle(
    embedded_settings: Settings,
    server_process: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the default settings no X-Forwarded-For is believed: each refused sign-in
    counts against the connection's own address, whatever address the header names."""
    monkeypatch.setenv("MODELYARD_SERVER_LOGIN_FAILURES_PER_ADDRESS", "3")
    server = server_process(embedded_settings, auth=True)
    wrong = {"username": "nobody", "password": "not-the-password"}
    with httpx.Client(base_url=server.url + "/api/v1") as api:
        answers = [
            api.post("/auth/login", json=wrong, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(4)
        ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[-1].json()["error"]["code"] == "too_many_requests"


def test_no_users_yet_is_a_warning(embedded_settings: Settings, tmp_path: Path) -> None:
    result = _server(embedded_settings, "--port", "1", "--host", "256.0.0.1")
    assert "No users yet" in result.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([], "accepting requests for hosts 127.0.0.1, localhost, ::1 (server.allowed_hosts)"),
        (["--host", "0.0.0.0"], "accepting requests for any host name (server.allowed_hosts)"),
    ],
)
def test_start_up_says_which_hosts_it_accepts(
    embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch, args: list[str], line: str
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr("modelyard.api.server.serve", lambda s, **_: served.append(s))
    result = _server(embedded_settings, *args)
    assert result.exit_code == 0, result.output
    assert line in result.output.splitlines() and len(served) == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.7", "::", "example.com"])
def test_no_auth_only_on_loopback(embedded_settings: Settings, host: str) -> None:
    result = _server(embedded_settings, "--no-auth", "--host", host)
    assert result.exit_code == 2
    assert "only on a loopback address" in result.output


@pytest.mark.postgres
def test_an_uninitialized_store_is_one_line(empty_postgres_url: str, tmp_path) -> None:
    settings = load_settings(home=tmp_path / "home", store={"url": empty_postgres_url})
    result = _server(settings, "--no-auth", "--port", "1")
    assert result.exit_code == 8
    assert "modelyard db upgrade" in result.output and "Traceback" not in result.output


def test_starts_serves_and_stops(
    embedded_settings: Settings, server_process: Callable[..., Any]
) -> None:
    server = server_process(embedded_settings)
    assert server.startup_s < 5  # measured ~0.8 s warm on 2 cores; the budget is 2 s
    with httpx.Client(base_url=server.url + "/api/v1") as api:
        assert api.get("/health").json()["status"] == "ok"
        assert api.post("/projects", json={"name": "p"}).status_code == 201
        assert api.get("/openapi.json").status_code == 200
    assert server.stop() == 130  # 128 + SIGINT, as any program stopped with Ctrl-C
    log = server.log.read_text()
    assert "authentication is OFF" in log and "Traceback" not in log
