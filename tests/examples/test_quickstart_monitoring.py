"""The quickstart's monitoring story (examples/quickstart_monitoring.py): its data, its
timeline, and v1 trained, registered, deployed and replayed through the real inference
server with event times and late labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from modelyard import Client
from modelyard.cli.main import app
from modelyard.examples import quickstart_monitoring as story
from modelyard.examples._bikeshare import load_bikeshare
from modelyard.examples._replay import ReplayStep, replay
from modelyard.examples._serving import served

HOUR = 3_600_000


@pytest.fixture(scope="module")
def hours(bikeshare_path: Path) -> pd.DataFrame:
    return load_bikeshare()


def test_the_change_makes_working_days_ride_like_weekends_and_fewer_ride(
    hours: pd.DataFrame,
) -> None:
    change = story.Change(at="2011-10-01T00:00:00-04:00", keep=0.5)
    changed = story.apply_change(hours, change)
    after = hours["time"] >= pd.Timestamp(change.at)
    assert changed[~after].equals(hours[~after])  # the past is as it was
    assert changed.drop(columns="bikers").equals(hours.drop(columns="bikers"))  # inputs too
    weekend = hours[hours["workingday"] == 0].groupby(["month", "hour"])["bikers"].mean()
    tuesday_8am = changed[after & (hours["workingday"] == 1) & (hours["hour"] == 8)].iloc[0]
    expected = round(weekend[(tuesday_8am["month"], 8)] * 0.5)
    assert tuesday_8am["bikers"] == expected
    sunday = changed[after & (hours["workingday"] == 0)].index[0]
    assert changed.loc[sunday, "bikers"] == round(hours.loc[sunday, "bikers"] * 0.5)
    # Rush hours are gone: a working day's 8 a.m. is no longer its busiest morning hour.
    october = changed[after & (hours["month"] == 10) & (hours["workingday"] == 1)]
    assert october.groupby("hour")["bikers"].mean().idxmax() not in (7, 8, 17, 18)


def test_story_data_splits_at_local_midnight_of_july_with_the_training_median(
    hours: pd.DataFrame,
) -> None:
    data = story.story_data(story.Change(keep=1.0, commuters_vanish=False), hours)
    assert data.training["month"].max() == 6 and data.replayed["month"].min() == 7
    assert len(data.training) + len(data.replayed) == len(hours)
    assert data.threshold == hours[hours["month"] <= 6]["bikers"].median()
    busy = data.replayed["bikers"] > data.threshold
    assert (data.replayed[story.TARGET] == np.where(busy, "busy", "calm")).all()
    assert set(data.training[story.TARGET]) == {"busy", "calm"}


def test_v1_is_trained_on_a_profiled_dataset_deployed_and_replayed_with_event_times(
    tmp_path: Path, hours: pd.DataFrame
) -> None:
    project = "story"
    data = story.story_data(story.Change(at="2011-07-02T00:00:00-04:00"), hours)
    with Client(home=tmp_path / "home") as client:
        client.create_project(project)
        trained = story.train_v1(client, project, data.training)
        version = trained.version
        assert version.dataset_versions == [trained.dataset.id]  # lineage
        assert client.services.datasets.get_profile(trained.dataset) is not None
        assert trained.evaluation.metrics["roc_auc"] > 0.9
        assert version.status == "production" and "champion" in version.aliases
        assert story.deploy(client, project) == f"{story.MODEL}@champion"
        assert story.deploy(client, project) == f"{story.MODEL}@champion"  # again: the same

        hours66 = data.replayed.iloc[:66]
        steps: list[ReplayStep] = []
        with served(
            client, project, [story.DEPLOYMENT], trusted=story.TRUSTED, accept_event_time=True
        ) as server:
            done = replay(
                client,
                project,
                server,
                story.DEPLOYMENT,
                hours66,
                features=story.FEATURES,
                target=story.TARGET,
                change_at_ms=data.change.at_ms,
                lag_hours=6,
                step_days=1,
                on_step=steps.append,
            )
        times = hours66["time"].astype("int64")
        assert sorted(done.predictions) == times.tolist()
        assert done.versions == {f"{story.MODEL}/{version.version}"}
        assert sum(s.rows for s in steps) == 66 and len(steps) == 3  # 20 (from 04:00Z), 24, 22
        # Each span's end labels the hours at least 6 h old; the rest wait for the next.
        before = 0
        for step in steps:
            due = int(((times + 6 * HOUR <= step.end) & (times < step.end)).sum())
            assert (step.labelled, step.labelled_total) == (due - before, due)
            before = due
        assert 0 < steps[-1].labelled_total < 66  # the last hours wait for the end
        assert [s.changed for s in steps] == [False, True, True]

        log = client.predictions.load(project, story.DEPLOYMENT)
        assert len(log) == 66
        logged = log.set_index("prediction_id")["time"]
        for at, pid in done.predictions.items():
            assert logged[pid] == pd.Timestamp(at, unit="ms", tz="UTC")  # the event time
        assert log["label"].notna().all()  # the last labels come once all is sent
        assert set(log["output.label"]) <= {"busy", "calm"}
        assert np.allclose(log["output.busy"] + log["output.calm"], 1.0)
        truth = hours66.set_index(hours66["time"].astype("int64"))[story.TARGET]
        by_id = {pid: truth[at] for at, pid in done.predictions.items()}
        assert (log["label"] == log["prediction_id"].map(by_id)).all()
        right = sum(a == t for a, t in zip(done.answers, hours66[story.TARGET], strict=True))
        assert right == sum(s.right for s in steps)

        newest = story.labelled_hours(client, project)  # what the loop retrains on
        expected = hours66[["time", *story.FEATURES, story.TARGET]].reset_index(drop=True)
        pd.testing.assert_frame_equal(newest, expected, check_dtype=False)
        later = story.labelled_hours(client, project, since_ms=int(times.iloc[60]))
        assert len(later) == 6


def test_a_version_retrained_on_the_hours_after_the_change_beats_v1_on_the_later_ones(
    tmp_path: Path, hours: pd.DataFrame
) -> None:
    """What the loop is to find: the change is learnable from the labelled hours after it
    (v2 is right on more of the following hours than v1, the champion)."""
    data = story.story_data(story.Change(), hours)
    replayed = data.replayed
    after = replayed[replayed["time"] >= pd.Timestamp(data.change.at)]
    newest = after[after["time"] < pd.Timestamp("2011-11-15T00:00:00-05:00")]
    following = after[after["time"] >= pd.Timestamp("2011-11-15T00:00:00-05:00")]
    with Client(home=tmp_path / "home") as client:
        client.create_project("story")
        v1 = story.train_v1(client, "story", data.training)
        v2 = story.train_version(client, "story", newest, what="October to mid-November")
        assert v2.version.version == v1.version.version + 1
        assert v2.version.dataset_versions == [v2.dataset.id] != [v1.dataset.id]
        assert v2.version.status != "production" and "champion" not in v2.version.aliases

        def right(trained: story.Trained) -> float:
            ref = f"{story.MODEL}/{trained.version.version}"
            model = client.models.load(ref, project="story", trusted=story.TRUSTED)
            answers = model.predict(following[list(story.FEATURES)])["label"]
            return float((answers.to_numpy() == following[story.TARGET].to_numpy()).mean())

        assert right(v1) < 0.8 and right(v2) > right(v1) + 0.08


@pytest.mark.slow
def test_quickstart_story_prints_the_timeline_from_v1_to_the_loop_and_its_reports(
    tmp_path: Path, bikeshare_path: Path
) -> None:
    home = tmp_path / "home"
    done = CliRunner().invoke(
        app, ["--home", str(home), "quickstart", "--story"], env={"COLUMNS": "200"}
    )
    assert done.exit_code == 0, done.output
    for said in ("trained", "evaluated", "deployed", "watched", "change", "July", "December"):
        assert said in done.output
    for kind in ("drift", "performance", "retrained", "canary", "promoted"):
        assert kind in done.output
    assert "waits for the monitors and the loop" not in done.output
    reports = sorted((home / "story").glob("*.html"))
    assert [p.name.split("-")[0] for p in reports] == ["drift", "evaluation", "evaluation"]
    assert "Reports:" in done.output
    assert "http://127.0.0.1:8080/projects/quickstart/monitoring/bikeshare-api" in done.output
    with Client(home=home) as client:
        log = client.predictions.load("quickstart", story.DEPLOYMENT)
        assert len(log) == len(story.story_data().replayed)
        assert log["time"].min() >= pd.Timestamp(story.TRAINED_UNTIL)
        assert log["label"].notna().all()
