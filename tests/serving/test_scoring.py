"""Batch scoring (``client.predict``, ``my.predict``): a model version or a deployment's
champion over a stored dataset version, registered as a dataset version with its lineage;
embedded and through a live server (the ``remote`` marker), and on a local Ray."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard as my
from modelyard.config import Settings
from modelyard.errors import Conflict, InvalidInput, NotFound, PredictionFailed
from modelyard.registry.signature import ColumnSpec, Schema, Signature
from modelyard.sdk.client import Client

ROWS = 1_000


def _features(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "tenure": rng.integers(1, 60, rows),
            "spend": rng.random(rows),
            "region": rng.choice(["north", "south"], rows),
        }
    )


@pytest.fixture
def client(settings_in_mode: Settings) -> Iterator[Client]:
    """Project ``shop``: model ``churn`` (1 in production with the alias ``champion``, 2
    in staging, trained on another target), deployment ``api`` on ``churn@champion``,
    dataset ``features`` (1,000 rows: an id, two features and a column no model takes)."""
    with Client(settings_in_mode) as client:
        data = _features()
        X = data[["tenure", "spend"]]
        with client.start_run("shop"):
            client.models.log(
                LogisticRegression().fit(X, (X["spend"] > 0.5).astype(int)),
                "churn",
                input_example=X[:5],
            )
            client.models.log(
                LogisticRegression().fit(X, (X["tenure"] > 30).astype(int)),
                "churn",
                input_example=X[:5],
            )
        models = client.model_service
        models.request_transition("churn", project="shop", to="production", version=1)
        models.request_transition("churn", project="shop", to="staging", version=2)
        models.set_alias("churn", "champion", 1, project="shop")
        client.deployments.create("api", "churn@champion", project="shop")
        client.datasets.register("features", data, project="shop")
        yield client


def _expected(version: int) -> np.ndarray:
    data = _features()
    X = data[["tenure", "spend"]]
    target = X["spend"] > 0.5 if version == 1 else X["tenure"] > 30
    return LogisticRegression().fit(X, target.astype(int)).predict(X)


def _rows(client: Client, version: object) -> pd.DataFrame:
    return client.dataset_service.read_table(version).to_pandas()  # type: ignore[arg-type]


def test_a_model_version_scores_a_dataset_into_a_new_version_with_lineage(
    client: Client,
) -> None:
    progress: list[tuple[int, int]] = []
    scored = client.predict(
        "churn/1",
        "dataset:features@1",
        output="scores",
        project="shop",
        batch_rows=100,
        columns=["id"],
        progress=lambda done, total: progress.append((done, total)),
    )
    assert (scored.rows, scored.batches, scored.deployment) == (ROWS, 10, None)
    assert scored.output.ref == "scores:1"
    assert [c.name for c in scored.output.columns] == ["id", "prediction"]
    out = _rows(client, scored.output)
    assert out["id"].tolist() == list(range(ROWS))
    assert out["prediction"].tolist() == _expected(1).tolist()
    assert progress[0] == (100, ROWS) and progress[-1] == (ROWS, ROWS) and len(progress) == 10
    # memory follows the batch, not the input: never more than one batch held
    assert scored.peak_rows == 100
    up = client.lineage_service.edges("dataset_version", scored.output.id, "up")
    assert {(e.source_kind, e.source_id, e.relation) for e in up} == {
        ("dataset_version", scored.input.id, "input"),
        ("model_version", scored.model.id, "model"),
    }
    down = client.lineage_service.edges("model_version", scored.model.id, "down")
    assert ("dataset_version", scored.output.id) in {(e.target_kind, e.target_id) for e in down}
    assert scored.model.id in scored.output.source and scored.input.id in scored.output.source
    graph = client.lineage(scored.output, direction="up", depth=1)
    assert {n.kind for n in graph.nodes} == {"dataset_version", "model_version"}


def test_a_deployment_scores_with_its_champion_and_a_rescore_is_a_new_version(
    client: Client,
) -> None:
    first = client.predict("api", "dataset:features", output="scores", project="shop")
    assert (first.deployment, first.model.version, first.batches) == ("api", 1, 1)
    again = client.predict("churn@champion", "features@1", output="scores", project="shop")
    assert again.output.id == first.output.id  # the same values are the same version
    other = client.predict("churn/2", "dataset:features/1", output="scores", project="shop")
    assert other.output.ref == "scores:2"
    assert _rows(client, other.output)["prediction"].tolist() == _expected(2).tolist()
    with pytest.raises(Conflict, match="columns") as info:
        client.predict("churn/2", "dataset:features@1", output="scores", project="shop",
                       columns=["id"])  # fmt: skip
    assert info.value.field == "output"
    assert [v.version for v in client.dataset_service.list_versions("scores", project="shop")] == [
        1,
        2,
    ]


def test_unknown_names_are_not_found(client: Client) -> None:
    with pytest.raises(NotFound, match="MODEL@ALIAS or MODEL/VERSION"):
        client.predict("nope", "dataset:features@1", output="o", project="shop")
    with pytest.raises(NotFound):
        client.predict("churn/9", "dataset:features@1", output="o", project="shop")
    with pytest.raises(NotFound):
        client.predict("churn/1", "dataset:missing@1", output="o", project="shop")
    with pytest.raises(NotFound):
        client.predict("churn/1", "dataset:features@7", output="o", project="shop")
    with pytest.raises(InvalidInput) as info:
        client.predict("churn/1", "dataset:", output="o", project="shop")
    assert info.value.field == "input"
    with pytest.raises(InvalidInput) as info:
        client.predict("churn/1", "features", output="o", project="shop", columns=["nope"])
    assert info.value.field == "columns"
    _nothing_registered(client, "o")


def _nothing_registered(client: Client, name: str) -> None:
    with pytest.raises(NotFound):
        client.dataset_service.get(name, project="shop")


def test_a_missing_column_is_refused_before_a_batch_is_read(client: Client) -> None:
    client.datasets.register("thin", _features(50).drop(columns="spend"), project="shop")
    with pytest.raises(InvalidInput, match="no column 'spend'") as info:
        client.predict("churn/1", "dataset:thin", output="o", project="shop")
    assert info.value.field == "spend"
    client.datasets.register(
        "texty", _features(50).assign(spend=lambda d: d["spend"].astype(str)), project="shop"
    )
    with pytest.raises(InvalidInput, match="string") as info:
        client.predict("churn/1", "dataset:texty", output="o", project="shop")
    assert info.value.field == "spend"
    _nothing_registered(client, "o")


def test_a_refused_value_names_its_row_in_the_whole_input_and_registers_nothing(
    client: Client,
) -> None:
    data = _features(300)
    data["tenure"] = data["tenure"].astype("Int64")
    data.loc[250, "tenure"] = None  # in the third batch of 100; churn's tenure is not nullable
    client.datasets.register("holes", data, project="shop")
    with pytest.raises(InvalidInput, match="is null") as info:
        client.predict("churn/1", "dataset:holes", output="o", project="shop", batch_rows=100)
    assert info.value.field == "tenure[250]"
    _nothing_registered(client, "o")


def test_a_failing_batch_names_its_rows_and_registers_nothing(client: Client) -> None:
    X = _features()[["tenure", "spend"]].astype(float)
    nullable = Signature(
        Schema(
            columns=(
                ColumnSpec("tenure", "float", True, "float64"),
                ColumnSpec("spend", "float", True, "float64"),
            )
        )
    )
    with client.start_run("shop"):
        client.models.log(
            LogisticRegression().fit(X, (X["spend"] > 0.5).astype(int)), "lax", signature=nullable
        )
    data = _features(300).astype({"tenure": float})
    data.loc[120, "spend"] = np.nan  # the model takes nulls by its signature, then fails
    client.datasets.register("gaps", data, project="shop")
    with pytest.raises(PredictionFailed, match="rows 100 to 199"):
        client.predict("lax/1", "dataset:gaps", output="o", project="shop", batch_rows=100)
    _nothing_registered(client, "o")


@pytest.mark.local_only("the sugar builds its client from the environment")
def test_the_sugar(client: Client, settings_env: Settings) -> None:
    scored = my.predict("churn@champion", "dataset:features@1", output="sugar", project="shop")
    assert scored.output.ref == "sugar:1" and scored.rows == ROWS


@pytest.mark.local_only("Ray workers and the store in one process's reach")
@pytest.mark.slow
def test_on_ray_the_output_is_the_same_as_here(client: Client, ray_instance: ModuleType) -> None:
    here = client.predict("churn/2", "features", output="here", project="shop", batch_rows=128,
                          columns=["id"])  # fmt: skip
    there = client.predict("churn/2", "features", output="there", project="shop",
                           batch_rows=128, columns=["id"], ray=True)  # fmt: skip
    assert there.output.digest == here.output.digest  # the same rows and predictions
    assert _rows(client, there.output).equals(_rows(client, here.output))
    assert (there.rows, there.batches) == (ROWS, 8)
    assert there.peak_rows <= 2 * 2 * 128  # two batches in flight per worker, two workers
    data = _features(300)
    data["tenure"] = data["tenure"].astype("Int64")
    data.loc[250, "tenure"] = None
    client.datasets.register("holes", data, project="shop")
    with pytest.raises(InvalidInput, match="is null") as info:
        client.predict("churn/1", "dataset:holes", output="o", project="shop", batch_rows=100,
                       ray=True)  # fmt: skip
    assert info.value.field == "tenure[250]"  # a worker's error, as it raised it
    _nothing_registered(client, "o")
