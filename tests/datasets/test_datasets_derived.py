"""A version registered as derived from other objects (batch scoring's output): the
lineage edges are written with it, only from a dataset or model version the actor may
read, and a refusal registers nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from modelyard.config import Settings
from modelyard.errors import InvalidInput, NotFound
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.lineage.edges import DATASET_VERSION, MODEL_VERSION
from modelyard.sdk.client import Client


@pytest.fixture
def client(embedded_settings: Settings) -> Iterator[Client]:
    with Client(embedded_settings) as client:
        yield client


def test_derived_edges_come_from_readable_versions_only(client: Client, tmp_path: Path) -> None:
    services = client.services
    secret = services.datasets.register("secret", pd.DataFrame({"a": [1, 2]}), project="vault")
    folder = tmp_path / "m"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(b"model")
    model = services.models.register("m", folder, project="vault", flavor="sklearn")
    gov = Governance(services.store)
    writer = gov.users.create_service_account("writer", actor=SYSTEM)
    services.projects.ensure("lab")
    gov.roles.grant("lab", "writer", "contributor", actor=SYSTEM)
    as_writer = services.datasets.acting_as(Actor.of(writer.principal()))
    scores = pd.DataFrame({"prediction": [0, 1]})

    for source in ((DATASET_VERSION, secret.id, "input"), (MODEL_VERSION, model.id, "model")):
        with pytest.raises(NotFound) as info:  # the writer has no role in vault
            as_writer.register("scores", scores, project="lab", derived_from=[source])
        assert info.value.field == "derived_from[0]"
    with pytest.raises(InvalidInput):
        as_writer.register("scores", scores, project="lab", derived_from=[("run", "x", "input")])
    with pytest.raises(NotFound):
        services.datasets.get("scores", project="lab")

    gov.roles.grant("vault", "writer", "viewer", actor=SYSTEM)
    made = as_writer.register(
        "scores",
        scores,
        project="lab",
        derived_from=[(DATASET_VERSION, secret.id, "input"), (MODEL_VERSION, model.id, "model")],
    )
    up = services.lineage.edges(DATASET_VERSION, made.id, "up")
    assert {(e.source_kind, e.source_id, e.relation) for e in up} == {
        (DATASET_VERSION, secret.id, "input"),
        (MODEL_VERSION, model.id, "model"),
    }
