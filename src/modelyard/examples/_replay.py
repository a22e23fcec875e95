"""A replay of recorded traffic through a running inference server: each row sent with
its own time as ``Modelyard-Event-Time`` (so the prediction log holds the rows at the
times they belong to), the labels given some hours later through
``predictions.add_labels``, in spans (a week by default) after each of which the caller
may look (run a monitoring pass).

A request holds one row: the event time is the request's, and each row of the story is
an hour of its own.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelUnavailable

if TYPE_CHECKING:
    import httpx
    import numpy as np
    import pandas as pd

    from modelyard.examples._serving import Served
    from modelyard.sdk.client import Client

#: Requests in flight at once (each a row, with its own event time).
CONCURRENCY = 16
LABEL_BATCH = 10_000
#: How long a span waits at most for the server to serve the deployment's current plan
#: (it reads the plan every ``serving.plan_poll_s``), and how often it asks (s).
PLAN_WAIT_S = 30.0
PLAN_ASK_S = 0.05


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One replayed span (``start`` inclusive, ``end`` exclusive, ms): how many rows were
    sent, how many labels were given at its end (those of rows at least the lag old) and
    in all, how many of its rows were answered right (known to the replay, which holds
    the truth; the monitors learn it from the labels), and whether it ends after the
    change of behaviour."""

    start: int
    end: int
    rows: int
    labelled: int
    labelled_total: int
    right: int
    changed: bool


@dataclass(frozen=True, slots=True)
class Replay:
    """The replay: its steps, the prediction id of each row (by event time, ms), the class
    answered for each row (in the order of the rows), the versions that answered, and how
    long it took."""

    steps: list[ReplayStep]
    predictions: dict[int, str]
    answers: list[str]
    versions: set[str]
    seconds: float


def replay(
    client: Client,
    project: str,
    server: Served,
    deployment: str,
    rows: pd.DataFrame,
    *,
    features: Sequence[str],
    target: str,
    change_at_ms: int | None = None,
    lag_hours: int = 6,
    step_days: int = 7,
    on_step: Callable[[ReplayStep], None] | None = None,
) -> Replay:
    """Send each row of ``rows`` (in time order: ``time``, ``features``, and ``target``
    the truth) to ``deployment``'s v1 endpoint with its time as ``Modelyard-Event-Time``,
    a ``step_days`` span at a time (``CONCURRENCY`` requests in flight), then give the
    labels of the rows at least ``lag_hours`` old at the span's end; the last labels once
    all is sent. ``change_at_ms``: when behaviour changed (for :attr:`ReplayStep.changed`).
    ``on_step`` is called after each span (where monitors run a pass)."""
    import httpx

    started = time.monotonic()
    times = rows["time"].astype("int64").to_numpy()
    records = rows[list(features)].to_dict(orient="records")
    truth = rows[target].tolist()
    predictions: dict[int, str] = {}
    answered: dict[int, str] = {}
    versions: set[str] = set()
    pending: list[int] = []  # indexes of rows answered, not labelled yet
    steps: list[ReplayStep] = []
    labelled_total = 0
    span = step_days * 86_400_000
    lag = lag_hours * 3_600_000
    path = f"/v1/deployments/{deployment}/predict"
    # Each span opens its connections and closes them when it is sent, so none lies idle
    # while ``on_step`` runs: one kept would expire (or be closed by the server, uvicorn:
    # after 5 s) just as a thread takes it, and that read fails (EBADF, ECONNRESET).
    # Within a span the connections never idle that long; they do not expire.
    limits = httpx.Limits(
        max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY, keepalive_expiry=None
    )
    with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="replay") as pool:

        def send(http: httpx.Client, i: int) -> tuple[int, str, str, str]:
            answer = http.post(
                path,
                json={"records": [records[i]]},
                headers={"Modelyard-Event-Time": str(int(times[i]))},
            )
            if answer.status_code != 200:
                raise ModelUnavailable(f"{path} answered {answer.status_code}: {answer.text}")
            body = answer.json()
            predicted = body["predictions"][0]
            label = predicted["label"] if isinstance(predicted, dict) else predicted
            return (
                i,
                body["prediction_ids"][0],
                str(label),
                answer.headers["Modelyard-Model-Version"],
            )

        for start, end, indexes in _spans(times, span):
            with httpx.Client(
                base_url=server.url, headers=server.headers, limits=limits, timeout=30
            ) as http:
                _wait_for_plan(client, project, http, deployment)
                sent = list(pool.map(functools.partial(send, http), indexes))
            right = 0
            for i, pid, label, version in sent:
                predictions[int(times[i])] = pid
                answered[i] = label
                versions.add(version)
                right += label == truth[i]
                pending.append(i)
            due = [i for i in pending if times[i] + lag <= end]
            pending = [i for i in pending if times[i] + lag > end]
            labelled_total += _label(
                client, project, deployment, {predictions[int(times[i])]: truth[i] for i in due}
            )
            step = ReplayStep(
                start, end, len(indexes), len(due), labelled_total, right,
                change_at_ms is not None and end > change_at_ms,
            )  # fmt: skip
            steps.append(step)
            if on_step is not None:
                on_step(step)
    _label(client, project, deployment, {predictions[int(times[i])]: truth[i] for i in pending})
    answers = [answered[i] for i in range(len(times))]
    return Replay(steps, predictions, answers, versions, time.monotonic() - started)


def _wait_for_plan(client: Client, project: str, http: httpx.Client, deployment: str) -> None:
    """Until the server serves ``deployment``'s current plan (``/readyz`` names the revision
    it routes by), so a span is sent to the plan as it stands when the span starts -- one
    changed by ``on_step`` (a canary, a promotion) included. ModelUnavailable if it does
    not within ``PLAN_WAIT_S``."""
    revision = client.deployments.get(deployment, project=project).revision
    deadline = time.monotonic() + PLAN_WAIT_S
    while True:
        served = http.get("/readyz").json().get("deployments", {}).get(deployment) or {}
        if served.get("revision") == revision:
            return
        if time.monotonic() > deadline:
            raise ModelUnavailable(
                f"the server still routes {deployment!r} by revision "
                f"{served.get('revision')} of its plan, not {revision}, after {PLAN_WAIT_S:g} s"
            )
        time.sleep(PLAN_ASK_S)


def _spans(times: np.ndarray, span: int) -> Iterator[tuple[int, int, list[int]]]:
    """``times`` (sorted, ms) cut into spans of ``span`` ms from the first time's day:
    each span's start, end and the indexes of its times."""
    if len(times) == 0:
        return
    start = int(times[0]) - int(times[0]) % 86_400_000
    i = 0
    while i < len(times):
        end = start + span
        j = i
        while j < len(times) and times[j] < end:
            j += 1
        yield start, end, list(range(i, j))
        start, i = end, j


def _label(client: Client, project: str, deployment: str, labels: dict[str, Any]) -> int:
    items = list(labels.items())
    kept = 0
    for at in range(0, len(items), LABEL_BATCH):
        kept += client.predictions.add_labels(
            project, deployment, dict(items[at : at + LABEL_BATCH])
        )
    return kept
