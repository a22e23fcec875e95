"""``modelyard models``: list, show (with the signature), versions, alias, history,
evaluate and evaluations, as tables and as JSON, with one-line errors, in both SDK
modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import Client
from modelyard.config import Settings


@pytest.fixture
def logged(settings: Settings) -> str:
    """Two versions of ``churn`` in project ``p``; returns the first run's id."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 80, 30), "spend": rng.random(30)})
    y = (x["spend"] > 0.5).astype(int)
    with Client(settings) as client:
        with client.start_run("p") as run:
            run.log_metric("auc", 0.875)
            client.models.log(LogisticRegression().fit(x, y), "churn", input_example=x[:3])
        with client.start_run("p"):
            client.models.log(LogisticRegression(C=0.2).fit(x, y), "churn")
    return str(run.id)


def test_list_show_and_versions(cli: Callable[..., Any], logged: str) -> None:
    listed = cli("models", "list", "-p", "p")
    assert listed.exit_code == 0, listed.output
    assert "churn" in listed.output and "Models in p" in listed.output
    shown = cli("models", "show", "churn/1", "-p", "p")
    assert shown.exit_code == 0, shown.output
    for text in ("sklearn", logged, "auc", "0.875", "Signature: inputs", "age", "integer"):
        assert text in shown.output, text
    newest = json.loads(cli("models", "show", "churn", "-p", "p", "--json").output)
    assert (newest["version"], newest["signature"]) == (2, None)
    versions = cli("models", "versions", "churn", "-p", "p")
    assert versions.exit_code == 0 and "Versions of p/churn" in versions.output
    as_json = json.loads(cli("models", "versions", "churn", "-p", "p", "--json").output)
    assert [v["version"] for v in as_json] == [1, 2]
    assert json.loads(cli("models", "list", "-p", "p", "--json").output)[0]["latest_version"] == 2


def test_alias_and_history(cli: Callable[..., Any], logged: str) -> None:
    moved = cli("models", "alias", "churn", "champion", "1", "-p", "p", "-r", "first")
    assert moved.exit_code == 0, moved.output
    assert "p/churn@champion: none -> version 1" in moved.output
    again = cli("models", "alias", "churn", "champion", "2", "-p", "p", "--json")
    assert json.loads(again.output)["from_version"] == 1
    assert "champion" in cli("models", "show", "churn@champion", "-p", "p").output
    history = cli("models", "history", "churn", "-p", "p")
    assert history.exit_code == 0 and "first" in history.output
    moves = json.loads(
        cli("models", "history", "churn", "-a", "champion", "-p", "p", "--json").output
    )
    assert [(m["from_version"], m["to_version"]) for m in moves] == [(None, 1), (1, 2)]
    at = cli("models", "history", "churn", "-a", "champion", "--at", "2001-01-01", "-p", "p")
    assert at.exit_code == 0 and at.output.strip().endswith(": none")
    gone = cli("models", "alias", "churn", "champion", "--delete", "-p", "p")
    assert gone.exit_code == 0 and "version 2 -> none" in gone.output


def test_evaluate_and_evaluations(
    cli: Callable[..., Any], logged: str, settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"age": rng.integers(18, 80, 60), "spend": rng.random(60)})
    data["left"] = (data["spend"] > 0.5).astype(int)
    data["band"] = np.where(data["age"] > 40, "older", "younger")
    data.to_parquet(tmp_path / "test.parquet", index=False)
    with Client(settings) as client:
        client.datasets.register("held-out", data, project="p")

    on_file = cli(
        "models", "evaluate", "churn/1", "--data", str(tmp_path / "test.parquet"),
        "--target", "left", "--slice", "band", "-p", "p", "-o", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert on_file.exit_code == 0, on_file.output
    for text in ("Headline metrics", "accuracy", "roc_auc", "60 rows", "test.parquet"):
        assert text in on_file.output, text
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    on_dataset = cli(
        "models", "evaluate", "churn/1", "--data", "dataset:held-out@1", "--target", "left",
        "--baseline", "churn/2", "-p", "p", "--json",
    )  # fmt: skip
    assert on_dataset.exit_code == 0, on_dataset.output
    kept = json.loads(on_dataset.output)
    assert (kept["source"], kept["baseline"]) == ("dataset p/held-out version 1", "churn/2")
    listed = cli("models", "evaluations", "churn/1", "-p", "p")
    assert listed.exit_code == 0 and "Evaluations of p/churn/1" in listed.output
    both = json.loads(cli("models", "evaluations", "churn/1", "-p", "p", "--json").output)
    newest = json.loads(
        cli("models", "evaluations", "churn/1", "-n", "1", "-p", "p", "--json").output
    )
    assert [e["id"] for e in newest] == [kept["id"]] == [e["id"] for e in both[:1]]
    assert len(both) == 2 and both[1]["source"].endswith("test.parquet")


def test_register_a_folder_or_a_runs_artifact_folder(
    cli: Callable[..., Any], settings: Settings, tmp_path: Path
) -> None:
    from modelyard.registry.flavors import FLAVORS

    rng = np.random.default_rng(2)
    x = pd.DataFrame({"a": rng.random(30), "b": rng.random(30)})
    model = LogisticRegression().fit(x, (x["a"] > 0.5).astype(int))
    folder = tmp_path / "saved"
    (folder / "model").mkdir(parents=True)
    FLAVORS.get("sklearn").save(model, folder / "model")
    x[:3].to_parquet(folder / "example.parquet", index=False)

    made = cli(
        "models", "register", "lr", "--from-dir", str(folder), "--flavor", "sklearn",
        "--input-example", "example.parquet", "-p", "p", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    first = json.loads(made.output)
    assert (first["version"], first["input_example"], first["run_id"]) == (
        1,
        "example.parquet",
        None,
    )
    again = cli(
        "models", "register", "lr", "--from-dir", str(folder), "--flavor", "sklearn", "-p", "p"
    )
    assert again.exit_code == 0 and "p/lr/1" in again.output  # the same files: that version

    with Client(settings) as client:
        with client.start_run("p") as run:
            (folder / "model" / "notes.txt").write_text("trained on thirty rows")
            run.log_artifact(folder, "packaged")
        from_run = cli(
            "models", "register", "lr", "--run", str(run.id)[:8], "--path", "packaged",
            "--flavor", "sklearn", "-p", "p", "--json",
        )  # fmt: skip
        assert from_run.exit_code == 0, from_run.output
        second = json.loads(from_run.output)
        assert (second["version"], second["run_id"]) == (2, str(run.id))
        loaded = client.models.load("lr/2", project="p")
        assert (loaded.predict(x) == model.predict(x)).all()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["models", "show", "nope", "-p", "p"], "model 'nope' does not exist"),
        (["models", "show", "churn/0", "-p", "p"], "positive integer"),
        (["models", "alias", "churn", "3", "1", "-p", "p"], "alias"),
        (["models", "alias", "churn", "champion", "-p", "p"], "--delete"),
        (["models", "history", "churn", "--at", "2001-01-01", "-p", "p"], "--at needs --alias"),
        (["models", "register", "m", "--flavor", "sklearn", "-p", "p"], "--from-dir"),
        (
            ["models", "register", "m", "--flavor", "sklearn", "--path", "x", "-p", "p"],
            "add --run",
        ),
        (
            ["models", "register", "m", "--flavor", "sklearn", "--from-dir", ".", "-p", "p"],
            "has no model/ folder",
        ),
        (
            ["models", "evaluate", "churn", "--data", "dataset:nope", "--target", "y", "-p", "p"],
            "dataset 'nope' does not exist",
        ),
        (
            ["models", "evaluate", "churn", "--data", "missing.csv", "--target", "y", "-p", "p"],
            "missing.csv",
        ),
    ],
)
def test_errors_are_one_line(
    cli: Callable[..., Any], logged: str, args: list[str], words: str
) -> None:
    failed = cli(*args)
    assert failed.exit_code != 0
    lines = failed.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], failed.output
