"""``modelyard predict``: batch scoring from the shell, as a line or JSON, with one-line
errors and their exit codes, in both SDK modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import Client
from modelyard.config import Settings


@pytest.fixture
def shop(settings: Settings) -> None:
    """Project ``shop``: model ``churn`` version 1 (staging), deployment ``api`` on it,
    dataset ``features`` (200 rows with an ``id``)."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"id": range(200), "tenure": rng.integers(1, 60, 200)})
    data["spend"] = rng.random(200)
    X = data[["tenure", "spend"]]
    with Client(settings) as client:
        with client.start_run("shop"):
            client.models.log(
                LogisticRegression().fit(X, (X["spend"] > 0.5).astype(int)),
                "churn",
                input_example=X[:3],
            )
        client.model_service.request_transition("churn", project="shop", to="staging", version=1)
        client.deployments.create("api", "churn/1", project="shop")
        client.datasets.register("features", data, project="shop")


def test_predict_registers_the_scores(cli: Callable[..., Any], shop: None) -> None:
    done = cli("predict", "api", "--input", "dataset:features@1", "--output", "scores",
               "--columns", "id", "--batch-rows", "64", "-p", "shop")  # fmt: skip
    assert done.exit_code == 0, done.output
    for text in (
        "200 rows of features:1",
        "churn/1",
        "deployment api",
        "4 batches",
        "shop/scores:1",
    ):
        assert text in done.output, text
    again = cli("predict", "churn/1", "-i", "dataset:features", "-o", "scores", "-c", "id",
                "-p", "shop", "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    found = json.loads(again.output)
    assert (found["output"]["dataset"], found["output"]["version"]) == ("scores", 1)  # the same
    assert [c["name"] for c in found["output"]["columns"]] == ["id", "prediction"]
    assert (found["rows"], found["batches"], found["deployment"]) == (200, 1, None)
    lineage = cli("lineage", "dataset:scores:1", "-p", "shop")
    assert lineage.exit_code == 0, lineage.output
    for text in ("input: dataset features v1", "model: model churn v1"):
        assert text in lineage.output, text


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["nope", "-i", "dataset:features@1"], 4, "MODEL@ALIAS or MODEL/VERSION"),
        (["churn/1", "-i", "dataset:missing@1"], 4, "missing"),
        (["churn/1", "-i", "dataset:features@9"], 4, "no version 9"),
        (["churn/1", "-i", "dataset:features", "-c", "nope"], 2, "no column 'nope'"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(
    cli: Callable[..., Any], shop: None, args: list[str], code: int, words: str
) -> None:
    done = cli("predict", *args, "-o", "scores", "-p", "shop")
    assert done.exit_code == code, done.output
    assert done.output.startswith("error: ") and words in done.output
    assert len(done.output.strip().splitlines()) == 1
