"""Fixtures that compose like the domain: settings -> store -> client -> run.

``store_url`` runs every test that uses it against SQLite and, when
``MODELYARD_TEST_POSTGRES_URL`` points at a server (CI starts one), PostgreSQL too.

Tests that ask for ``sdk_mode`` (through ``settings_in_mode``: the tracking and CLI tests) run
twice: ``local`` (the SDK embedded, on the test's store) and ``remote`` (the SDK talking
HTTP to a real uvicorn server on 127.0.0.1 that serves the test's store). A test marked
``local_only(reason)`` runs embedded only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modelyard import Client
from modelyard.config import Settings, load_settings
from server_support import LiveServer, ServerProcess

POSTGRES_URL = os.environ.get("MODELYARD_TEST_POSTGRES_URL")
S3_BUCKET = "modelyard-test"
S3_REGION = "us-east-1"
S3_KEY = "testing"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own MODELYARD_* variables or ./modelyard.toml, nor
    imports from an earlier test's folder (pipeline references put the working directory
    on ``sys.path``, as ``python -m`` does)."""
    for key in list(os.environ):
        if key.startswith("MODELYARD_") and not key.startswith("MODELYARD_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))


@contextlib.contextmanager
def _fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("MODELYARD_TEST_POSTGRES_URL is not set")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"modelyard_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[str]:
    """One migrated PostgreSQL database for the session (tables truncated per test)."""
    from modelyard.store import Store

    with _fresh_postgres_database() as url:
        store = Store(url)
        store.upgrade()
        store.dispose()
        yield url


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database with no schema."""
    with _fresh_postgres_database() as url:
        yield url


def _truncate(url: str) -> None:
    from sqlalchemy import create_engine, text

    from modelyard.store.tables import metadata

    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}"
        return
    url = request.getfixturevalue("_postgres_database")
    _truncate(url)
    yield url


@pytest.fixture
def embedded_settings(tmp_path: Path, store_url: str) -> Settings:
    """Settings of an embedded installation on the test's store (and of its server)."""
    return load_settings(
        home=tmp_path / "home",
        store={"url": store_url},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
    )


@pytest.fixture
def settings(embedded_settings: Settings) -> Settings:
    return embedded_settings


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sdk_mode" in metafunc.fixturenames:
        local_only = metafunc.definition.get_closest_marker("local_only") is not None
        modes = (
            ["local"] if local_only else ["local", pytest.param("remote", marks=pytest.mark.remote)]
        )
        metafunc.parametrize("sdk_mode", modes)


@pytest.fixture
def settings_in_mode(
    sdk_mode: str, embedded_settings: Settings, request: pytest.FixtureRequest
) -> Settings:
    """The test's settings in its mode: embedded, or pointing at a live server (over the
    test's store) through ``tracking.uri``."""
    if sdk_mode == "local":
        return embedded_settings
    url = request.getfixturevalue("served")
    token = request.getfixturevalue("admin_token")
    tracking = embedded_settings.tracking.model_copy(update={"uri": url, "token": token})
    return embedded_settings.model_copy(update={"tracking": tracking})


@pytest.fixture
def settings_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test's settings exported as MODELYARD_* variables (for the module-level sugar)."""
    monkeypatch.setenv("MODELYARD_STORE_URL", settings.store_url)
    monkeypatch.setenv("MODELYARD_HOME", str(settings.home))
    monkeypatch.setenv("MODELYARD_TRACKING_CAPTURE_PACKAGES", "false")
    if settings.tracking.uri:
        monkeypatch.setenv("MODELYARD_TRACKING_URI", settings.tracking.uri)
    if settings.tracking.token:
        monkeypatch.setenv("MODELYARD_TRACKING_TOKEN", settings.tracking.token)
    return settings


@pytest.fixture
def live_server() -> Iterator[Callable[..., LiveServer]]:
    """Start servers for an app (``live_server(app, port=0)``); stopped after the test."""
    started: list[LiveServer] = []

    def start(app: Any, port: int = 0) -> LiveServer:
        started.append(LiveServer(app, port).start())
        return started[-1]

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``modelyard server`` processes (``server_process(settings, auth=False)``:
    ``--no-auth`` unless ``auth``); each is stopped after the test."""
    started: list[ServerProcess] = []

    def start(
        settings: Settings, port: int = 0, workers: int = 1, auth: bool = False
    ) -> ServerProcess:
        log = tmp_path / "server.log"
        started.append(ServerProcess(settings, log, port, workers, auth).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


class _Mounts:
    """One ASGI app that serves many: ``/<prefix>/...`` goes to the app mounted there (so
    each test gets its own app, over its own store, on one long-lived server).

    :meth:`unmount` waits for the requests still running in an app, as a server's
    shutdown does before its lifespan ends: services closed under a running request
    leave its database connection to the garbage collector, unclosed."""

    def __init__(self) -> None:
        self.apps: dict[str, Any] = {}
        self._running: dict[str, int] = {}
        self._idle = threading.Condition()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        prefix = "/" + scope["path"].split("/", 2)[1]
        app = self.apps.get(prefix)
        if app is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        with self._idle:
            self._running[prefix] = self._running.get(prefix, 0) + 1
        try:
            await app({**scope, "root_path": scope.get("root_path", "") + prefix}, receive, send)
        finally:
            with self._idle:
                self._running[prefix] -= 1
                self._idle.notify_all()

    def unmount(self, prefix: str) -> Any:
        """Take the app at ``prefix`` off (new requests get 404) once its running requests
        have ended; returns it."""
        app = self.apps.pop(prefix)
        with self._idle:
            drained = self._idle.wait_for(lambda: not self._running.get(prefix), timeout=60)
        assert drained, f"requests to {prefix} still running a minute after the test"
        return app


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[tuple[LiveServer, _Mounts]]:
    mounts = _Mounts()
    server = LiveServer(mounts).start()
    yield server, mounts
    server.stop()


@pytest.fixture
def admin_token(embedded_settings: Settings) -> str:
    """An access token of a global administrator (a service account) in the test's store."""
    from modelyard.governance import SYSTEM, Governance
    from modelyard.store import open_store

    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    try:
        governance = Governance(store)
        governance.users.create_service_account("test-admin", actor=SYSTEM, admin=True)
        return governance.tokens.create("test-admin", "tests", actor=SYSTEM).secret
    finally:
        store.dispose()


@pytest.fixture
def served(
    embedded_settings: Settings, admin_token: str, _shared_server: tuple[LiveServer, _Mounts]
) -> Iterator[str]:
    """The URL of a live API server (authentication on: ``admin_token`` is a global
    administrator's) over the test's store."""
    from modelyard.api import create_app
    from modelyard.api.auth import governance_auth

    server, mounts = _shared_server
    prefix = f"/t{uuid.uuid4().hex[:12]}"
    app = create_app(embedded_settings, auth=governance_auth)
    mounts.apps[prefix] = app
    yield server.url + prefix
    mounts.unmount(prefix).state.services.close()


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    with Client(settings) as c:
        yield c


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of an in-process S3-compatible server on 127.0.0.1 with the bucket S3_BUCKET."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=S3_REGION,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_KEY,
        )
        s3.create_bucket(Bucket=S3_BUCKET)
        s3.close()
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(s3_endpoint: str) -> dict[str, str]:
    """Where the test S3 server is and how to sign in: endpoint, bucket, region, key."""
    return {"endpoint": s3_endpoint, "bucket": S3_BUCKET, "region": S3_REGION, "key": S3_KEY}


@pytest.fixture
def s3_artifacts(s3_endpoint: str) -> dict[str, str]:
    """``Settings.artifacts`` values for a fresh key prefix on the test S3 server."""
    return {
        "uri": f"s3://{S3_BUCKET}/{uuid.uuid4().hex}",
        "endpoint_url": s3_endpoint,
        "region": S3_REGION,
        "access_key_id": S3_KEY,
        "secret_access_key": S3_KEY,
    }


@pytest.fixture(scope="session")
def bikeshare_path() -> Path:
    """ISLP's Bikeshare.csv (8,645 hourly rows of 2011), found without importing ISLP (its
    own imports need packages the tests do not install; ``scripts/_env.sh`` installs it
    with ``--no-deps``)."""
    spec = importlib.util.find_spec("ISLP")
    locations = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(locations))) / "data" / "Bikeshare.csv" if locations else None
    if path is None or not path.is_file():
        pytest.skip(
            "ISLP is not installed: it ships Bikeshare.csv "
            "(uv pip install --python .venv/bin/python --no-deps 'ISLP>=0.4')"
        )
    return path


@pytest.fixture(scope="session")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """A local Ray instance for the whole session (started once: 3-4 s, about 0.5 GB),
    shut down at the end; the ray executor and batch scoring use it since this process is
    connected to it."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")  # no token file written in the home dir
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=100 * 2**20,
            _temp_dir=str(tmp_path_factory.mktemp("r")),  # short: Ray's socket paths are limited
        )
        try:
            yield ray
        finally:
            ray.shutdown()
