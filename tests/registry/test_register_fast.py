"""Creating a version cheaply: registering a run's artifact folder points at the blobs the
run stored (nothing copied), and either way a version is numbered and recorded in one
write transaction, with its lineage edge, audit event and outbox event."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_support import model_files
from sqlalchemy import select

from modelyard.errors import InvalidInput, NotFound
from modelyard.governance import SYSTEM, Governance
from modelyard.lineage.edges import MODEL_VERSION, OUTPUT, RUN
from modelyard.sdk.client import Client
from modelyard.store.tables import events


def _folder(root: Path, content: bytes) -> Path:
    folder = model_files(root, content)
    (folder / "example.json").write_text(json.dumps({"x": [1.0]}))
    return folder


def test_a_run_folder_is_registered_without_copying_its_files(
    client: Client, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "m", b"weights")
    with client.start_run("lab", tags={"git.commit": "ab" * 20}) as run:
        run.log_metric("auc", 0.9)
        run.log_artifact(folder, "packed")  # one tree artifact
        run.log_artifact(folder / "model" / "model.skops", "loose/model/model.skops")
        run.log_artifact(folder / "example.json", "loose/example.json")
    blobs_before = None if client.is_remote else set(client.blobs.iter_digests())
    service = client.models.service
    packed = service.register_from_run(
        "m", project="lab", run_id=run.id, path="packed", flavor="sklearn", description="d"
    )
    assert (packed.version, packed.run_id, packed.description) == (1, run.id, "d")
    assert packed.metrics == {"auc": 0.9} and packed.code_commit == "ab" * 20
    stored = {a.path: a.digest for a in client.list_artifacts(run.id)}
    assert packed.tree_digest == stored["packed"]
    if blobs_before is not None:  # the tree the run stored is the version's: no blob added
        assert set(client.blobs.iter_digests()) == blobs_before
    # The same files logged file by file are the same tree, so the same version; only a
    # manifest is written for them.
    loose = service.register_from_run(
        "m", project="lab", run_id=run.id, path="loose/", flavor="sklearn"
    )
    assert loose.id == packed.id
    if blobs_before is not None:
        assert set(client.blobs.iter_digests()) == blobs_before
    # Uploading the folder itself gives the same tree too.
    uploaded = service.register("m", folder, project="lab", flavor="sklearn")
    assert uploaded.id == packed.id
    assert service.get_version("m", project="lab") == packed
    down = client.lineage_service.edges(RUN, run.id, "down")
    assert ((RUN, run.id), (MODEL_VERSION, packed.id), OUTPUT) in [
        ((e.source_kind, e.source_id), (e.target_kind, e.target_id), e.relation) for e in down
    ]
    # A folder inside a tree artifact, and names with LIKE's wildcards, are read exactly.
    with client.start_run("lab") as other:
        other.log_artifact(tmp_path / "m", "a_b")  # the folder inside: a_b/model/...
        other.log_artifact(folder / "example.json", "x_y")
    inner = service.register_from_run(
        "inner", project="lab", run_id=other.id, path="a_b", flavor="sklearn"
    )
    assert inner.tree_digest == packed.tree_digest
    with pytest.raises(InvalidInput) as exc:  # a_b/model has no model/ inside
        service.register_from_run(
            "inner", project="lab", run_id=other.id, path="a_b/model", flavor="sklearn"
        )
    assert exc.value.field == "path"
    for missing in ("axb/model", "xzy/model"):  # "a_b" and "x_y" are no patterns
        with pytest.raises(NotFound):
            service.register_from_run(
                "inner", project="lab", run_id=other.id, path=missing, flavor="sklearn"
            )
    target = tmp_path / "back"
    service.download(packed, target)
    assert (target / "model" / "model.skops").read_bytes() == b"weights"


def test_a_run_folder_is_checked_before_anything_is_recorded(
    client: Client, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "m", b"weights")
    with client.start_run("lab") as run:
        run.log_artifact(folder, "packed")
        run.log_artifact(folder / "model", "flat")  # no model/ inside
    other = client.start_run("elsewhere")
    other.end()
    service = client.models.service
    here = {"run_id": run.id, "path": "packed"}
    refusals: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (NotFound, "path", {"run_id": run.id, "path": "missing"}),
        (InvalidInput, "path", {"run_id": run.id, "path": "flat"}),
        (InvalidInput, "path", {"run_id": run.id, "path": "../packed"}),
        (InvalidInput, "run_id", {"run_id": other.id, "path": "packed"}),
        (NotFound, "run_id", {"run_id": "f" * 32, "path": "packed"}),
        (
            InvalidInput,
            "input_example",
            {"run_id": run.id, "path": "packed", "input_example": "no"},
        ),
        (InvalidInput, "flavor", {**here, "flavor": "magic"}),
    ]
    for error, field, kw in refusals:
        with pytest.raises(error) as exc:
            service.register_from_run("m", project="lab", **({"flavor": "sklearn"} | kw))
        assert exc.value.field == field, (kw, exc.value)
    with pytest.raises(NotFound):
        service.get_model("m", project="lab")
    found = service.register_from_run(
        "m", project="lab", run_id=run.id, path="packed", flavor="sklearn",
        input_example="example.json",
    )  # fmt: skip
    assert found.input_example == "example.json"


@pytest.mark.local_only("counts the store's write transactions and reads its tables")
def test_registering_is_one_write_transaction_with_its_records(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client.start_run("lab") as run:
        run.log_metric("loss", float("nan"))
        run.log_artifact(_folder(tmp_path / "a", b"one"), "packed")
    service = client.models.service
    service.register(
        "m", model_files(tmp_path / "first", b"first"), project="lab", flavor="sklearn"
    )
    writes = []
    real = service.store.write

    @contextlib.contextmanager
    def counted() -> Iterator[Any]:
        writes.append(1)
        with real() as conn:
            yield conn

    monkeypatch.setattr(service.store, "write", counted)
    uploaded = service.register(
        "m", model_files(tmp_path / "b", b"two"), project="lab", flavor="sklearn", run_id=run.id
    )
    assert len(writes) == 1
    from_run = service.register_from_run(
        "m", project="lab", run_id=run.id, path="packed", flavor="sklearn"
    )
    assert len(writes) == 2
    assert (uploaded.version, from_run.version) == (2, 3)
    assert uploaded.metrics == {"loss": None}
    # What register returns is what is stored.
    assert service.get_version("m", project="lab", version=2) == uploaded
    assert service.get_version("m", project="lab", version=3) == from_run
    audit = Governance(client.store).audit.list_events(actor=SYSTEM, limit=100)
    registered = [e.summary for e in audit if e.action == "model.version_registered"]
    assert [s.split(":")[0] for s in registered] == ["lab/m version 1", "lab/m version 2",
                                                     "lab/m version 3"]  # fmt: skip
    with client.store.read() as conn:
        payloads = [
            json.loads(p) if isinstance(p, str) else p
            for p in conn.execute(
                select(events.c.payload).where(events.c.kind == "model.version_created")
            ).scalars()
        ]
    assert sorted(p["version"] for p in payloads) == [1, 2, 3]


def test_versions_are_listed_a_page_at_a_time(client: Client, tmp_path: Path) -> None:
    service = client.models.service
    for i in range(7):
        service.register("m", model_files(tmp_path / str(i), b"v%d" % i), project="lab",
                         flavor="sklearn")  # fmt: skip
    service.set_alias("m", "champion", 5, project="lab")
    every = service.list_versions("m", project="lab")
    assert [v.version for v in every] == list(range(1, 8))
    page = service.list_versions("m", project="lab", after=3, limit=2)
    assert page == every[3:5] and page[1].aliases == ["champion"]
    assert service.list_versions("m", project="lab", after=7) == []
    assert [v.version for v in client.models.list_versions("m", project="lab", limit=3)] == [
        1,
        2,
        3,
    ]
    for bad in ({"after": -1}, {"limit": 0}, {"after": True}, {"limit": "3"}):
        with pytest.raises(InvalidInput) as exc:
            service.list_versions("m", project="lab", **bad)
        assert exc.value.field in bad
