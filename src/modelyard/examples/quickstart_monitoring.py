"""The quickstart's monitoring story (issue 14, item 8): the seeds' two companies, told on
a year of real hourly bike-share data (ISLP's Washington, D.C. 2011, ``_bikeshare.py``).

A model predicts whether an hour is *busy* (more bikers than the median hour of its
training data) from the hour, the weekday, whether it is a working day, the weather, the
temperature, humidity, wind and the season, with class probabilities (so the confidence-
based estimate of live performance has something to read). The story:

1. **v1** is trained on the first half of 2011 (:func:`train_v1`): the training rows are
   registered as a dataset version with its profile (the drift monitors' reference), read
   back inside the training run (so the model version names it:
   ``ModelVersion.dataset_versions``), the model registered, evaluated on every fifth day
   held out (the baseline of prediction drift and of the health score) and made the
   ``champion``.
2. It is deployed (:func:`deploy`) behind the real inference server, in this process on a
   loopback port (``_serving.served``), which accepts event times.
3. The second half of 2011 is replayed through the server's v1 endpoint
   (:func:`replay`), each hour's request carrying the hour as its ``Modelyard-Event-Time``,
   so the prediction log has the hours the data has, and the labels (busy or calm, from
   what really happened) are given some hours later through ``predictions.add_labels``.
4. From a chosen date (:class:`Change`) behaviour changes, as in 2020: commuters vanish
   (a working day's hours take the profile of the month's weekends) and fewer people ride.
   The real data after the change disagrees with v1; the estimate cannot see it (the
   inputs look the same, the model is as confident as before), the labels can.

What happened is kept in a ``_timeline.Timeline`` the CLI prints (``modelyard
quickstart --story``). The monitors, alerts, health score and the closed loop (the
monitoring parts) plug in at :func:`run_story`'s ``on_step`` (called after each replayed
week, once the labels due are given) and fill the timeline's placeholders
(``_timeline.PLACEHOLDERS``) with ``Timeline.fill``; the loop retrains with
:func:`labelled_hours` and :func:`train_version`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sklearn.ensemble import RandomForestClassifier

from modelyard.errors import AlreadyExists
from modelyard.examples._bikeshare import MONTH_NAMES, load_bikeshare
from modelyard.examples._replay import Replay, ReplayStep, replay
from modelyard.examples._serving import served
from modelyard.examples._timeline import Timeline

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from modelyard.datasets.entities import DatasetVersion
    from modelyard.registry.entities import Evaluation, ModelVersion
    from modelyard.sdk.client import Client

FEATURES = ("hour", "weekday", "workingday", "weather", "temp", "hum", "windspeed", "season")
TARGET = "busy"
MODEL = "bikeshare-busy"
DATASET = "bikeshare-hours"
DEPLOYMENT = "bikeshare-api"
#: v1 learns the hours before this; the story replays the hours from it.
TRAINED_UNTIL = "2011-07-01T00:00:00-04:00"
#: The types skops is told to load for the model (its class and a forest's trees).
TRUSTED = [f"{__name__}.BusyHourForest", "sklearn.tree._tree.Tree"]
#: The model's own policy: production needs an evaluation with roc_auc of at least 0.85
#: and its card's intended use and limitations; no person (the story's loop decides).
POLICY = {
    "production": {
        "approvals": 0,
        "evaluation": True,
        "metrics": {"roc_auc": {"min": 0.85}},
        "card_fields": ["intended_use", "limitations"],
    }
}
CARD = {
    "intended_use": "A demonstration of Modelyard's monitoring: busy hours of a bike-share.",
    "limitations": "Learnt from one city's 2011; busy means more bikers than its median hour.",
    "license": "The data: ISLP's copy of the UCI bike-sharing dataset (CC BY 4.0).",
}


# -- the model ----------------------------------------------------------------------------


class BusyHourForest(RandomForestClassifier):
    """A random forest whose ``predict`` answers named fields, as the prediction log keeps
    them: ``label`` (the most probable class) and one probability column per class
    (``busy``, ``calm``), so live performance can be estimated before labels come."""

    def predict(self, X: Any) -> pd.DataFrame:
        import pandas as pd

        proba = self.predict_proba(X)
        frame = pd.DataFrame(proba, columns=[str(c) for c in self.classes_])
        frame.insert(0, "label", self.classes_[proba.argmax(axis=1)])
        return frame


# -- the data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """The change of behaviour from ``at`` (ISO 8601 with a zone) on:
    ``commuters_vanish``: a working day's hours take the mean of the month's non-working
    days at the same hour (no more rush hours); ``keep``: the share of bikers who still
    ride (1.0: all)."""

    at: str = "2011-10-01T00:00:00-04:00"
    commuters_vanish: bool = True
    keep: float = 0.5

    @property
    def at_ms(self) -> int:
        return _ms(self.at)


def busy_threshold(training: pd.DataFrame) -> float:
    """Where an hour becomes busy: the median of the training hours' bikers."""
    return float(training["bikers"].median())


def busy_labels(bikers: pd.Series, threshold: float) -> np.ndarray:
    """``busy`` for hours with more bikers than ``threshold``, else ``calm``."""
    import numpy as np

    return np.where(bikers.to_numpy() > threshold, "busy", "calm")


def apply_change(hours: pd.DataFrame, change: Change) -> pd.DataFrame:
    """``hours`` with ``bikers`` as they would have been had ``change`` happened (the
    hours before it as they were; the features untouched)."""
    changed = hours.copy()
    bikers = changed["bikers"].astype("float64")
    after = (changed["time"].astype("int64") >= change.at_ms).to_numpy()
    if change.commuters_vanish:
        weekend = hours[hours["workingday"] == 0].groupby(["month", "hour"])["bikers"].mean()
        working = after & (changed["workingday"] == 1).to_numpy()
        keys = list(zip(changed["month"][working], changed["hour"][working], strict=True))
        bikers[working] = weekend.reindex(keys).fillna(bikers[working].mean()).to_numpy()
    bikers[after] = bikers[after] * change.keep
    changed["bikers"] = bikers.round().astype("int64")
    return changed


@dataclass(frozen=True, slots=True)
class StoryData:
    """The year split for the story: ``training`` (before ``TRAINED_UNTIL``, with the
    target), ``replayed`` (from it, the change applied, with the target as it really
    was), the busy ``threshold`` and the ``change``."""

    training: pd.DataFrame
    replayed: pd.DataFrame
    threshold: float
    change: Change


def story_data(change: Change | None = None, hours: pd.DataFrame | None = None) -> StoryData:
    """The bike-share year (``hours``: ``_bikeshare.load_bikeshare()`` by default) split at
    ``TRAINED_UNTIL``, the target computed from the training half's median and, in the
    replayed half, from the bikers after ``change``."""
    change = change or Change()
    hours = load_bikeshare() if hours is None else hours
    cut = hours["time"].astype("int64") < _ms(TRAINED_UNTIL)
    training = hours[cut].reset_index(drop=True)
    threshold = busy_threshold(training)
    training = training.assign(**{TARGET: busy_labels(training["bikers"], threshold)})
    replayed = apply_change(hours[~cut].reset_index(drop=True), change)
    replayed = replayed.assign(**{TARGET: busy_labels(replayed["bikers"], threshold)})
    return StoryData(training, replayed, threshold, change)


# -- training, registering, deploying -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trained:
    """v1: the training dataset version, the model version, its evaluation."""

    dataset: DatasetVersion
    version: ModelVersion
    evaluation: Evaluation


def held_out(frame: pd.DataFrame) -> pd.Series:
    """The hours of every fifth day (of the year), kept for evaluation."""
    days = frame["time"].astype("int64") // 86_400_000
    return (days % 5 == 0).rename("held_out")


def train_version(
    client: Client, project: str, hours: pd.DataFrame, *, what: str, seed: int = 0
) -> Trained:
    """Register ``hours`` (``time``, ``FEATURES``, ``TARGET``) as a version of ``DATASET``
    (profiled), read it back in a run, fit a :class:`BusyHourForest` on the hours not
    held out, register it as a version of ``MODEL`` (which names the dataset version it
    read), evaluate it on the held-out hours and fill its card. ``what``: the data, for
    the descriptions. The loop's retraining is this on :func:`labelled_hours`."""
    dataset = client.datasets.register(
        DATASET,
        hours[["time", *FEATURES, TARGET]],
        project=project,
        description=f"Hourly bike-share of Washington, D.C.: {what}.",
    )
    with client.start_run(project, name=f"{MODEL}-training", capture=False) as run:
        data = client.datasets.load(DATASET, version=dataset.version, project=project)
        test = held_out(data)
        fit, evaluated = data[~test], data[test]
        model = BusyHourForest(n_estimators=60, min_samples_leaf=3, random_state=seed, n_jobs=1)
        model.fit(fit[list(FEATURES)], fit[TARGET])
        run.log_params({"n_estimators": 60, "min_samples_leaf": 3, "data": what})
        version = client.models.log(
            model,
            MODEL,
            input_example=fit[list(FEATURES)].head(5),
            description=f"Busy hours of Washington's bike-share, learnt from {what}.",
        )
    ref = f"{MODEL}/{version.version}"
    evaluation = client.models.evaluate(
        ref, evaluated[[*FEATURES, TARGET]], TARGET, project=project, trusted=TRUSTED
    )
    client.models.set_card_fields(MODEL, version.version, project=project, **CARD)
    return Trained(dataset, client.models.get_version(ref, project=project), evaluation)


def train_v1(client: Client, project: str, training: pd.DataFrame, seed: int = 0) -> Trained:
    """:func:`train_version` on ``training`` (January to June), then the version moved to
    production under the model's :data:`POLICY` and set as the ``champion``."""
    trained = train_version(client, project, training, what="January to June 2011", seed=seed)
    version = trained.version
    client.models.set_policy(POLICY, MODEL, project=project)
    if version.status != "production":
        client.models.request(
            f"{MODEL}/{version.version}", to="production", comment="v1", project=project
        )
    client.models.set_alias(
        MODEL, "champion", version.version, project=project, reason="the story's v1"
    )
    ref = f"{MODEL}/{version.version}"
    return Trained(
        trained.dataset, client.models.get_version(ref, project=project), trained.evaluation
    )


def labelled_hours(
    client: Client, project: str, *, since_ms: int | None = None, until_ms: int | None = None
) -> pd.DataFrame:
    """The newest data, as the loop retrains on it: the hours ``DEPLOYMENT`` answered from
    ``since_ms`` to ``until_ms`` (event time) that have a label, as training rows
    (``time``, ``FEATURES``, ``TARGET`` the label), one per hour (shadows' copies left
    out), in time order."""
    import pandas as pd

    log = client.predictions.load(project, DEPLOYMENT, since=since_ms, until=until_ms)
    log = log[log["label"].notna() & ~log["shadow"].astype(bool)]
    frame = pd.DataFrame(
        {
            "time": log["time"].astype("datetime64[ms, UTC]"),
            **{name: log[f"input.{name}"] for name in FEATURES},
            TARGET: log["label"].astype(str),
        }
    )
    frame = frame.sort_values("time", kind="stable").drop_duplicates("time", keep="last")
    return frame.reset_index(drop=True)


def deploy(client: Client, project: str) -> str:
    """Deployment ``DEPLOYMENT`` of ``MODEL@champion`` (the one there if a story ran
    before); returns its route."""
    route = f"{MODEL}@champion"
    with contextlib.suppress(AlreadyExists):
        client.deployments.create(DEPLOYMENT, route, project=project)
    return route


# -- the story ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Story:
    """What the story did: the data, v1, the deployment's route, the replay and the
    timeline."""

    data: StoryData
    trained: Trained
    route: str
    replay: Replay
    timeline: Timeline
    seconds: float


def run_story(
    client: Client,
    project: str,
    *,
    change: Change | None = None,
    hours: pd.DataFrame | None = None,
    lag_hours: int = 6,
    on_deployed: Callable[[Timeline], None] | None = None,
    on_step: Callable[[ReplayStep, Timeline], None] | None = None,
) -> Story:
    """Tell the story in ``project``: v1 trained, registered, evaluated and deployed, the
    second half of 2011 replayed through the server with ``change`` from its date, labels
    ``lag_hours`` late, each replayed month in the timeline. ``on_deployed(timeline)``:
    what watches the deployment once v1 serves it (monitors, a loop policy), before the
    replay; ``on_step(step, timeline)``:
    what the monitoring parts do after each replayed week (run a pass, read alerts, advance
    the loop) and the events they add to the timeline."""
    started = time.monotonic()
    data = story_data(change, hours)
    timeline = Timeline()
    cut_ms = _ms(TRAINED_UNTIL)
    with contextlib.suppress(AlreadyExists):
        client.create_project(project)
    trained = train_v1(client, project, data.training)
    version, evaluation = trained.version, trained.evaluation
    timeline.add(
        "trained",
        f"{version.name}/{version.version} on dataset {DATASET} version "
        f"{trained.dataset.version} ({trained.dataset.num_rows} hours of January-June, "
        f"profiled); busy: more than {data.threshold:g} bikers in the hour",
        cut_ms,
    )
    timeline.add(
        "evaluated",
        f"on {evaluation.rows} held-out hours: accuracy {evaluation.metrics['accuracy']:.3f}, "
        f"roc_auc {evaluation.metrics['roc_auc']:.3f}",
        cut_ms,
    )
    route = deploy(client, project)
    timeline.add("deployed", f"{DEPLOYMENT} serves {route}", cut_ms)
    if on_deployed is not None:
        on_deployed(timeline)
    change_ms = data.change.at_ms

    def step_done(step: ReplayStep) -> None:
        if step.start <= change_ms < step.end:
            timeline.add("change", _change_words(data.change), change_ms)
        if on_step is not None:
            on_step(step, timeline)

    with served(client, project, [DEPLOYMENT], trusted=TRUSTED, accept_event_time=True) as server:
        done = replay(
            client,
            project,
            server,
            DEPLOYMENT,
            data.replayed,
            features=FEATURES,
            target=TARGET,
            change_at_ms=change_ms,
            lag_hours=lag_hours,
            on_step=step_done,
        )
    replayed = data.replayed.assign(
        right=[a == t for a, t in zip(done.answers, data.replayed[TARGET], strict=True)]
    )
    for month in sorted(set(replayed["month"])):  # Washington's months
        hours_of = replayed[replayed["month"] == month]
        timeline.add(
            "replayed",
            f"{MONTH_NAMES[month - 1]}: {len(hours_of)} hours through {DEPLOYMENT}, "
            f"answered right on {hours_of['right'].mean():.0%} (labels {lag_hours} h later)",
            int(hours_of["time"].astype("int64").min()),
        )
    timeline.events.sort(key=lambda e: (e.at_ms is None, e.at_ms or 0))
    timeline.wait_for()
    return Story(data, trained, route, done, timeline, time.monotonic() - started)


def _change_words(change: Change) -> str:
    said = []
    if change.commuters_vanish:
        said.append("commuters vanish (working days ride like weekends)")
    if change.keep != 1.0:
        said.append(f"{change.keep:.0%} of bikers still ride")
    return "behaviour changes: " + (", ".join(said) or "nothing")


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)
