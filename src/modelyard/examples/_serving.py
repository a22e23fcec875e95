"""The inference server of ``modelyard serve`` started in this process for the quickstart's
tours: on a free loopback port, with token auth (a token of the service account
``quickstart-app``, a predictor of the project, revoked when the block ends), until the
block ends; then it stops as on SIGTERM (the requests in flight finish, the prediction log
is written).

In this process rather than a child one: a fresh interpreter spends seconds importing
what this one has imported already. A second quickstart in the same store uses the
account it finds.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from modelyard.errors import AlreadyExists, ModelUnavailable
from modelyard.governance import Actor
from modelyard.sdk.client import Client

APP = "quickstart-app"
#: How long the server may take to answer /readyz, and to stop once told.
START_S = 60.0
STOP_S = 30.0


@dataclass(frozen=True, slots=True)
class Served:
    """A running server: its URL, the headers that authenticate a request to it, and the
    types skops is told to load (``registry.trusted_types``, for the shell command that
    serves the same)."""

    url: str
    headers: dict[str, str]
    trusted: list[str]


@contextlib.contextmanager
def served(
    client: Client,
    project: str,
    deployments: Sequence[str],
    *,
    trusted: Sequence[str] = (),
    accept_event_time: bool = False,
) -> Iterator[Served]:
    """Serve ``deployments`` of ``project`` until the block ends. ``trusted``: the types
    skops must be told to load for their models; ``accept_event_time``: requests may set
    their rows' logged time (``serving.accept_event_time``, for a replay)."""
    from modelyard.serving.app import assemble

    token_id, secret = _app_token(client, project)
    trust = sorted({*client.settings.registry.trusted_types, *trusted})
    settings = client.settings.model_copy(
        update={
            "registry": client.settings.registry.model_copy(update={"trusted_types": trust}),
            "serving": client.settings.serving.model_copy(
                update={"accept_event_time": accept_event_time}
            ),
        }
    )
    try:
        with Client(settings) as server_client:
            app = assemble(server_client, project=project, names=list(deployments))
            with _Serving(app) as url:
                yield Served(url, {"Authorization": f"Bearer {secret}"}, trust)
    finally:
        client.services.governance.tokens.revoke(token_id, actor=Actor.local())


class _Serving:
    """The inference server on uvicorn in a thread of this process, on a free port of
    127.0.0.1, until the block ends: then it stops as on SIGTERM (the requests in flight
    finish, the batchers and the prediction log are closed)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app,
            lifespan="on",
            access_log=False,
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=math.ceil(app.settings.shutdown_grace_s),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> str:
        import httpx

        self.thread.start()
        deadline = time.monotonic() + START_S
        while True:
            if not self.thread.is_alive():
                raise ModelUnavailable("the inference server stopped as it started")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self.url
            if time.monotonic() > deadline:
                problems = httpx.get(f"{self.url}/readyz", timeout=1).json().get("problems")
                raise ModelUnavailable(f"the inference server is not ready: {problems}")
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=STOP_S)
        self.sock.close()


def _app_token(client: Client, project: str) -> tuple[str, str]:
    """A token (id, secret) of the service account ``quickstart-app``, a predictor of
    ``project``: it may predict and nothing else."""
    governance = client.services.governance
    operator = Actor.local()
    with contextlib.suppress(AlreadyExists):
        governance.users.create_service_account(APP, actor=operator)
    governance.roles.grant(project, APP, "predictor", actor=operator)
    new = governance.tokens.create(APP, "quickstart", actor=operator, expires_in=timedelta(hours=1))
    return new.token.id, new.secret
