"""Registered models and their immutable versions: what a version records, atomic
numbering, the same bytes as the same version, lineage, access and garbage collection."""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from registry_support import model_files, register_in_process
from sklearn.linear_model import LogisticRegression

from modelyard import limits
from modelyard.config import Settings
from modelyard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.lineage.edges import DATASET_VERSION, MODEL_VERSION, OUTPUT, RUN
from modelyard.sdk.client import Client
from modelyard.store.tables import model_versions, registered_models


def _frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 80, 60), "spend": rng.random(60)})
    return x, (x["spend"] > 0.5).astype(int)


def _count(client: Client, table: object) -> int:
    from sqlalchemy import func, select

    with client.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_logged_version_records_its_run_data_and_code(client: Client) -> None:
    x, y = _frame()
    client.datasets.register("churn-train", x.assign(churned=y), project="churn")
    with client.start_run("churn", tags={"git.commit": "c0ffee" * 6 + "c0ff"}) as run:
        client.datasets.load("churn-train", project="churn")
        model = LogisticRegression().fit(x, y)
        run.log_metric("auc", 0.91)
        mv = client.models.log(model, "churn-lr", input_example=x[:5], description="first")
    train = client.datasets.get("churn-train", project="churn")
    assert (mv.project, mv.name, mv.version, mv.flavor) == ("churn", "churn-lr", 1, "sklearn")
    assert mv.run_id == run.id and mv.metrics == {"auc": 0.91}
    assert mv.dataset_versions == [train.id]
    assert mv.code_commit == "c0ffee" * 6 + "c0ff"
    assert mv.created_by == "test-admin" if client.is_remote else mv.created_by.startswith("local:")
    assert mv.description == "first"
    assert mv.input_example == "input_example.parquet"
    assert set(mv.packages) == {"scikit-learn", "skops"}
    assert mv.signature is not None and [c.name for c in mv.signature.inputs.columns or ()] == [
        "age",
        "spend",
    ]
    assert client.models.get_version("churn-lr/1", project="churn") == mv
    assert client.models.get_version("churn-lr", project="churn") == mv  # the newest
    up = client.lineage_service.edges(RUN, run.id, "down")
    assert ((RUN, run.id), (MODEL_VERSION, mv.id), OUTPUT) in [
        ((e.source_kind, e.source_id), (e.target_kind, e.target_id), e.relation) for e in up
    ]
    assert any(e.source_kind == DATASET_VERSION for e in client.lineage_service.edges(RUN, run.id))
    down = client.lineage(run, direction="down", depth=1)
    assert "model churn-lr v1 (sklearn, project churn)" in [n.label for n in down.nodes]
    model_row = client.models.get_model("churn-lr", project="churn")
    assert (model_row.latest_version, model_row.owners) == (1, [mv.created_by])


def test_the_same_bytes_under_one_name_are_the_same_version(client: Client) -> None:
    x, y = _frame()
    model = LogisticRegression().fit(x, y)
    with client.start_run("churn"):
        first = client.models.log(model, "churn-lr", input_example=x[:5])
        again = client.models.log(model, "churn-lr", input_example=x[:5])
        other = client.models.log(LogisticRegression(C=0.5).fit(x, y), "churn-lr")
    assert again.id == first.id and again.version == 1
    assert other.version == 2
    assert [v.version for v in client.models.list_versions("churn-lr", project="churn")] == [1, 2]


@pytest.mark.slow
def test_versions_of_one_name_are_numbered_without_gap_by_concurrent_processes(
    settings: Settings, client: Client
) -> None:
    client.create_project("lab")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(8)
    with ctx.Pool(8) as pool:
        found = pool.starmap(
            register_in_process,
            [(str(settings.home), settings.store_url, i, barrier) for i in range(8)],
        )
    assert sorted(number for number, _ in found) == list(range(1, 9))
    assert len({version_id for _, version_id in found}) == 8
    assert [v.version for v in client.models.list_versions("racy", project="lab")] == list(
        range(1, 9)
    )


@pytest.mark.local_only("counts rows in the store")
def test_refusals_name_their_field_and_write_nothing(client: Client, tmp_path: Path) -> None:
    client.create_project("lab")
    files = model_files(tmp_path / "m", b"bytes")
    service = client.models.service
    with pytest.raises(InvalidInput) as exc:
        service.register("m", files, project="lab", flavor="tensorflow-magic")
    assert exc.value.field == "flavor"
    assert "sklearn, python_function" in exc.value.message
    with pytest.raises(InvalidInput) as exc:
        service.register("m", files, project="lab", flavor="sklearn", input_example="nope.csv")
    assert exc.value.field == "input_example"
    outside = "../m/model/model.skops"  # a file, but reached from outside the folder
    with pytest.raises(InvalidInput) as exc:
        service.register("m", files, project="lab", flavor="sklearn", input_example=outside)
    assert exc.value.field == "input_example"
    with pytest.raises(InvalidInput) as exc:
        service.register("bad name!", files, project="lab", flavor="sklearn")
    assert exc.value.field == "name"
    with pytest.raises(InvalidInput) as exc:
        service.register("m", files, project="lab", flavor="sklearn", signature={"inputs": 3})
    assert exc.value.field == "signature"
    other = client.tracking.create_run("elsewhere")
    with pytest.raises(InvalidInput) as exc:
        service.register("m", files, project="lab", flavor="sklearn", run_id=other.id)
    assert exc.value.field == "run_id"
    with pytest.raises(NotFound) as exc:
        service.register("m", files, project="lab", flavor="sklearn", run_id="f" * 32)
    assert exc.value.field == "run_id"
    huge = {"x": "y" * limits.MODEL_JSON}
    with pytest.raises(InvalidInput) as exc:
        service.register("m", files, project="lab", flavor="sklearn", flavor_config=huge)
    assert exc.value.field == "flavor_config" and "the limit is 1048576" in exc.value.message
    with pytest.raises(InvalidInput) as exc:
        service.register("m", files, project="lab", flavor="sklearn", packages={"numpy": 2})
    assert exc.value.field == "packages"
    assert _count(client, model_versions) == 0 and _count(client, registered_models) == 0
    with pytest.raises(NotFound) as exc:
        service.get_version("m", project="lab")
    assert exc.value.field == "name"
    service.register("m", files, project="lab", flavor="sklearn")
    with pytest.raises(NotFound) as exc:
        service.get_version("m", project="lab", version=7)
    assert exc.value.field == "version" and "the newest is 1" in exc.value.message
    with pytest.raises(InvalidInput) as exc:
        service.resolve("m/zero", project="lab")
    assert exc.value.field == "version"


def test_models_have_a_description_owners_and_tags(client: Client) -> None:
    created = client.models.create_model(
        "churn-rf", project="churn", description="who leaves", owners=["ana"], tags={"team": "x"}
    )
    assert (created.description, created.owners) == ("who leaves", ["ana"])
    assert created.tags == {"team": "x"}
    assert created.latest_version is None
    with pytest.raises(Conflict) as exc:
        client.models.create_model("churn-rf", project="churn", description="another")
    assert exc.value.field == "name"
    changed = client.models.update_model("churn-rf", project="churn", owners=["ana", "bo"])
    assert changed.owners == ["ana", "bo"] and changed.description == "who leaves"
    with pytest.raises(InvalidInput) as exc:
        client.models.update_model("churn-rf", project="churn", owners="ana")
    assert exc.value.field == "owners"
    with pytest.raises(InvalidInput) as exc:
        client.models.update_model("churn-rf", project="churn", tags={"k": "v" * 5001})
    assert exc.value.field == "tags"
    assert client.models.get_model("churn-rf", project="churn").tags == {"team": "x"}
    assert [m.name for m in client.models.list_models("churn")] == ["churn-rf"]


@pytest.mark.local_only(
    "acts as other users through the services; tests/api/test_models_api.py over HTTP"
)
def test_registering_needs_contributor_and_reading_viewer(client: Client, tmp_path: Path) -> None:
    services = client.services
    gov = Governance(services.store)
    viewer = gov.users.create_service_account("viewer", actor=SYSTEM)
    writer = gov.users.create_service_account("writer", actor=SYSTEM)
    outsider = gov.users.create_service_account("outsider", actor=SYSTEM)
    client.create_project("lab")
    gov.roles.grant("lab", "viewer", "viewer", actor=SYSTEM)
    gov.roles.grant("lab", "writer", "contributor", actor=SYSTEM)
    files = model_files(tmp_path / "m", b"bytes")

    as_viewer = services.models.acting_as(Actor.of(viewer.principal()))
    with pytest.raises(PermissionDenied):
        as_viewer.register("m", files, project="lab", flavor="sklearn")
    as_writer = services.models.acting_as(Actor.of(writer.principal()))
    mv = as_writer.register("m", files, project="lab", flavor="sklearn")
    assert mv.created_by == "writer"
    assert as_viewer.get_version("m", project="lab").id == mv.id
    with pytest.raises(PermissionDenied):
        as_viewer.set_alias("m", "champion", 1, project="lab")
    as_outsider = services.models.acting_as(Actor.of(outsider.principal()))
    with pytest.raises(NotFound) as exc:
        as_outsider.get_version("m", project="lab")
    assert exc.value.field == "project"
    forged = dataclasses.replace(mv, project="outsiders-own")
    client.create_project("outsiders-own")
    gov.roles.grant("outsiders-own", "outsider", "admin", actor=SYSTEM)
    with pytest.raises(NotFound):  # rights follow the stored version, not the one given
        as_outsider.download(forged, tmp_path / "stolen")
    assert not (tmp_path / "stolen").exists()
    events = gov.audit.list_events(actor=SYSTEM, limit=1000)
    assert [(e.actor, e.action) for e in events if e.action.startswith("model.")] == [
        ("writer", "model.created"),
        ("writer", "model.version_registered"),
    ]


@pytest.mark.local_only("garbage collection runs where the blob store is")
def test_garbage_collection_keeps_the_files_of_versions(client: Client, tmp_path: Path) -> None:
    mv = client.models.service.register(
        "m", model_files(tmp_path / "m", b"kept"), project="lab", flavor="sklearn"
    )
    assert client.models.service in client.services.blob_references()
    assert client.gc(min_age_s=0) == []
    assert client.blobs.exists(mv.tree_digest)
    members = client.blobs.tree_member_digests(mv.tree_digest)
    assert members and all(client.blobs.exists(d) for d in members)


def test_a_value_json_cannot_hold_is_refused_by_its_name(client: Client, tmp_path: Path) -> None:
    files = model_files(tmp_path / "m", b"bytes")
    with pytest.raises(InvalidInput) as exc:
        client.models.service.register(
            "m", files, project="lab", flavor="sklearn", flavor_config={"x": float("nan")}
        )
    assert exc.value.field == "flavor_config"
    with pytest.raises(NotFound):
        client.models.get_model("m", project="lab")
