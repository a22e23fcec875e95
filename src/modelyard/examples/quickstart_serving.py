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
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import AlreadyExists, ModelUnavailable
from modelyard.examples._serving import served

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.sdk.client import Client

DEPLOYMENT = "quickstart-api"


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

    started = time.monotonic()
    since = int(time.time() * 1000) - 1
    route = f"{model}@champion"
    with contextlib.suppress(AlreadyExists):
        client.deployments.create(DEPLOYMENT, route, project=project)
    with served(client, project, [DEPLOYMENT], trusted=trusted) as server:
        calls = _call(httpx.Client(base_url=server.url, headers=server.headers), rows)
    labelled = (calls[0].rows[0][0], labels.iloc[0].item())
    client.predictions.add_labels(project, DEPLOYMENT, dict([labelled]))
    return ServingTour(
        deployment=DEPLOYMENT,
        route=route,
        url=server.url,
        command=f"MODELYARD_REGISTRY_TRUSTED_TYPES='{json.dumps(server.trusted)}' "
        f"modelyard serve --project {project}",
        calls=calls,
        labelled=labelled,
        log=client.predictions.load(project, DEPLOYMENT, since=since),
        seconds=time.monotonic() - started,
    )


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
