"""Lineage of model versions: up from a version through its run to the dataset versions
it read (with the digests of their values) and the code commit, down from a dataset
version to the model versions it fed; in the SDK, the CLI and through a server, with the
caller's read rights."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from modelyard import Client, NotFound
from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.datasets import DatasetVersion
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.lineage.edges import DATASET_VERSION, MODEL_VERSION, RUN
from modelyard.registry import ModelVersion

COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass
class Trained:
    """raw v1 -> prepare run -> clean v1 -> train run (at COMMIT) -> model m v1."""

    raw: DatasetVersion
    clean: DatasetVersion
    prepare: str
    train: str
    model: ModelVersion


@pytest.fixture
def trained(client: Client) -> Trained:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.random(30), "b": rng.random(30)})
    raw = client.datasets.register("raw", frame, project="p")
    with client.start_run("p", name="prepare", capture=False) as prepare:
        clean = client.datasets.register("clean", client.datasets.load("raw") * 2)
    with client.start_run("p", name="train", capture=False, tags={"git.commit": COMMIT}) as train:
        data = client.datasets.load("clean")
        model = LogisticRegression().fit(data, (data["a"] > 1).astype(int))
        mv = client.models.log(model, "m", input_example=data[:2])
    return Trained(raw, clean, str(prepare.id), str(train.id), mv)


def test_up_from_a_model_version_reaches_its_data_and_code(
    client: Client, trained: Trained
) -> None:
    graph = client.lineage(trained.model, direction="up", depth=5)
    assert graph.root.label == "model m v1 (sklearn, project p)"
    keys = {node.key for node in graph.nodes}
    assert {
        (RUN, trained.train),
        (DATASET_VERSION, trained.clean.id),
        (RUN, trained.prepare),
        (DATASET_VERSION, trained.raw.id),
    } <= keys
    train = graph.node(RUN, trained.train)
    assert train.label == f"run train (finished, project p, commit {COMMIT[:12]})"
    assert graph.depth[train.key] == 1
    raw = graph.node(DATASET_VERSION, trained.raw.id)
    assert raw.label == f"dataset raw v1 (30 rows, blake3:{trained.raw.digest[:16]})"
    assert graph.depth[raw.key] == 4
    assert graph.nodes == client.lineage((MODEL_VERSION, trained.model.id), depth=5).nodes


def test_down_from_a_dataset_version_reaches_the_models_it_fed(
    client: Client, trained: Trained
) -> None:
    graph = client.lineage(trained.raw, direction="down", depth=4)
    fed = graph.node(MODEL_VERSION, trained.model.id)
    assert fed.label == "model m v1 (sklearn, project p)" and graph.depth[fed.key] == 4
    assert client.lineage_service.edges(MODEL_VERSION, trained.model.id, "down") == []


def test_the_cli_shows_a_model_versions_tree(settings: Settings, trained: Trained) -> None:
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]
    env = {"COLUMNS": "200"}
    if settings.tracking.uri:
        base += ["--tracking-uri", settings.tracking.uri]
        env["MODELYARD_TRACKING_TOKEN"] = settings.tracking.token or ""
    runner = CliRunner()
    with Client(settings) as client:
        client.models.set_alias("m", "champion", 1, project="p")
    for ref in ("model:m/1", "model:m@champion", "model:m"):
        shown = runner.invoke(app, [*base, "lineage", ref, "-p", "p", "--depth", "5"], env=env)
        assert shown.exit_code == 0, shown.output
        for text in (
            "model m v1",
            "<- output: run train",
            f"commit {COMMIT[:12]}",
            f"dataset clean v1 (30 rows, blake3:{trained.clean.digest[:16]})",
            f"dataset raw v1 (30 rows, blake3:{trained.raw.digest[:16]})",
        ):
            assert text in shown.output, (ref, text, shown.output)
    as_json = runner.invoke(app, [*base, "lineage", "model:m/1", "-p", "p", "--json"], env=env)
    assert json.loads(as_json.output)["root"]["id"] == trained.model.id
    down = runner.invoke(app, [*base, "lineage", "dataset:clean", "-p", "p", "-d", "down"], env=env)
    assert down.exit_code == 0 and "-> output: model m v1" in down.output, down.output
    missing = runner.invoke(app, [*base, "lineage", "model:m/7", "-p", "p"], env=env)
    assert missing.exit_code != 0
    lines = missing.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: model 'm' has no version 7 (the newest is 1)")


@pytest.mark.local_only("acts as other users through the services")
def test_only_a_reader_of_the_version_walks_from_it(client: Client, trained: Trained) -> None:
    services = client.services
    gov = Governance(services.store)
    viewer = gov.users.create_service_account("viewer", actor=SYSTEM)
    outsider = gov.users.create_service_account("outsider", actor=SYSTEM)
    gov.roles.grant("p", "viewer", "viewer", actor=SYSTEM)
    as_viewer = services.lineage.acting_as(Actor.of(viewer.principal()))
    edges = as_viewer.edges(MODEL_VERSION, trained.model.id, "up")
    assert [(e.source_kind, e.source_id) for e in edges] == [(RUN, trained.train)]
    as_outsider = services.lineage.acting_as(Actor.of(outsider.principal()))
    with pytest.raises(NotFound):
        as_outsider.edges(MODEL_VERSION, trained.model.id)
