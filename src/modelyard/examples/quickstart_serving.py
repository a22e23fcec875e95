"""The quickstart's serving tour: the champion deployed as ``quickstart-api``, the
inference server of ``modelyard serve`` (the same application, over the same parts)
started in this process on a free loopback port with token auth (a service account
``quickstart-app`` with the predict-only role, and a token of it revoked at the end), a
few requests through Modelyard's v1 and MLflow's ``/invocations``, the server stopped
(its prediction log is written as it stops), a label given to one prediction, and the
log read back joined with it.

In this process rather than a child one: a fresh interpreter spends seconds importing
what this one has imported already. A second quickstart in the same store uses the
deployment and the account it finds.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from modelyard.errors import AlreadyExists, ModelUnavailable
from modelyard.governance import Actor
from modelyard.sdk.client import Client

if TYPE_CHECKING:
    import pandas as pd

DEPLOYMENT = "quickstart-api"
APP = "quickstart-app"
#: How long the server may take to answer /readyz, and to stop once told.
START_S = 60.0
STOP_S = 30.0


@dataclass(frozen=True, slots=True)
class Call:
    """One request to the server: the endpoint, the version that answered, and each
    row's prediction id with its prediction."""

    endpoint: str
    version: str
    rows: list[tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class ServingTour:
    """What the tour did: the deployment's route, the server's URL, the command that
    serves the deployment from a shell, the calls, the labelled prediction, and the
    prediction log read back."""

    deployment: str
    route: str
    url: str
    command: str
    calls: list[Call]
    labelled: tuple[str, Any]
    log: pd.DataFrame
    seconds: float


def run_serving_tour(
    client: Client,
    project: str,
    model: str,
    rows: pd.DataFrame,
    labels: pd.Series,
    *,
    trusted: list[str],
) -> ServingTour:
    """Deploy ``model@champion`` of ``project``, serve it, send it ``rows`` (the first
    ones through v1, the next through /invocations), label the first prediction with
    ``labels``' first value, and read the prediction log back. ``trusted``: the types
    skops must be told to load for this model (``registry.trusted_types``)."""
    import httpx

    from modelyard.serving.app import assemble

    started = time.monotonic()
    since = int(time.time() * 1000) - 1
    route = f"{model}@champion"
    with contextlib.suppress(AlreadyExists):
        client.deployments.create(DEPLOYMENT, route, project=project)
    token_id, secret = _app_token(client, project)
    trust = sorted({*client.settings.registry.trusted_types, *trusted})
    settings = client.settings.model_copy(
        update={"registry": client.settings.registry.model_copy(update={"trusted_types": trust})}
    )
    with Client(settings) as server_client:
        app = assemble(server_client, project=project, names=[DEPLOYMENT])
        with _Serving(app) as url:
            auth = {"Authorization": f"Bearer {secret}"}
            calls = _call(httpx.Client(base_url=url, headers=auth), rows)
    client.services.governance.tokens.revoke(token_id, actor=Actor.local())
    labelled = (calls[0].rows[0][0], labels.iloc[0].item())
    client.predictions.add_labels(project, DEPLOYMENT, dict([labelled]))
    return ServingTour(
        deployment=DEPLOYMENT,
        route=route,
        url=url,
        command=f"MODELYARD_REGISTRY_TRUSTED_TYPES='{json.dumps(trust)}' "
        f"modelyard serve --project {project}",
        calls=calls,
        labelled=labelled,
        log=client.predictions.load(project, DEPLOYMENT, since=since),
        seconds=time.monotonic() - started,
    )


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


def _call(http: Any, rows: pd.DataFrame) -> list[Call]:
    """Three rows through v1 (as records), two through /invocations (dataframe_split)."""
    v1 = rows.iloc[:3]
    split = rows.iloc[3:5]
    with http:
        answers = [
            (
                "v1 predict (records)",
                http.post(
                    f"/v1/deployments/{DEPLOYMENT}/predict",
                    json={"records": v1.to_dict(orient="records")},
                ),
            ),
            (
                "/invocations (dataframe_split)",
                http.post(
                    "/invocations",
                    json={"dataframe_split": split.to_dict(orient="split", index=False)},
                ),
            ),
        ]
    calls = []
    for endpoint, answer in answers:
        if answer.status_code != 200:
            raise ModelUnavailable(f"{endpoint} answered {answer.status_code}: {answer.text}")
        body = answer.json()
        calls.append(
            Call(
                endpoint,
                answer.headers["Modelyard-Model-Version"],
                list(zip(body["prediction_ids"], body["predictions"], strict=True)),
            )
        )
    return calls
