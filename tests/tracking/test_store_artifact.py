"""Run artifacts are stored by one service method, TrackingService.store_artifact, that
the SDK and the REST API both call: called directly here. It refuses a run that takes no
artifacts and a name that is not free before a blob is stored, then puts and records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts import BlobStore
from modelyard.artifacts._tar import tar_directory
from modelyard.artifacts.backends import LocalBackend
from modelyard.config import Settings
from modelyard.errors import Conflict, StorageError
from modelyard.governance.access import Access
from modelyard.projects import ProjectService
from modelyard.store import open_store
from modelyard.tracking.entities import TarArchive
from modelyard.tracking.service import TrackingService
from service_support import tracking_service


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(LocalBackend(tmp_path / "blobs"))


@pytest.fixture
def service(embedded_settings: Settings, blobs: BlobStore) -> Iterator[TrackingService]:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    access = Access(store)
    yield TrackingService(store, access, ProjectService(store, access), blobs=blobs)
    store.dispose()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"w" * 100)
    (root / "sub" / "config.json").write_text("{}")
    return root


def test_bytes_a_file_a_folder_and_a_tar_archive_are_stored_and_recorded(
    service: TrackingService, blobs: BlobStore, folder: Path, tmp_path: Path
) -> None:
    run = service.create_run("p")
    tar = tmp_path / "model.tar"
    tar.write_bytes(b"".join(tar_directory(folder)))
    stored = [
        service.store_artifact(run.id, "notes.txt", b"hello"),
        service.store_artifact(run.id, "weights.bin", folder / "weights.bin"),
        service.store_artifact(run.id, "model", folder),
        service.store_artifact(run.id, "unpacked", TarArchive(tar)),
    ]
    assert [(a.path, a.kind, a.size) for a in stored] == [
        ("notes.txt", "file", 5),
        ("weights.bin", "file", 100),
        ("model", "tree", 102),
        ("unpacked", "tree", 102),
    ]
    assert stored[2].digest == stored[3].digest  # the same folder, as files or as a tar
    assert service.list_artifacts(run.id) == sorted(stored, key=lambda a: a.path)
    assert blobs.get_bytes(stored[0].digest) == b"hello"
    # the same bytes again return the artifact as stored; a name is write-once
    assert service.store_artifact(run.id, "notes.txt", b"hello") == stored[0]
    with pytest.raises(Conflict, match="write-once"):
        service.store_artifact(run.id, "notes.txt", b"other bytes")


def test_nothing_is_put_in_the_blob_store_for_an_artifact_that_would_be_refused(
    service: TrackingService, blobs: BlobStore, folder: Path
) -> None:
    run = service.create_run("p")
    service.store_artifact(run.id, "a", b"a file")
    before = set(blobs.iter_digests())
    with pytest.raises(Conflict, match="nothing can be stored under it"):
        service.store_artifact(run.id, "a/b", b"under a file")
    with pytest.raises(Conflict, match="write-once"):
        service.store_artifact(run.id, "a", folder)
    service.end_run(run.id, "finished")
    with pytest.raises(Conflict, match="is finished"):
        service.store_artifact(run.id, "late.txt", b"after the end")
    assert set(blobs.iter_digests()) == before


def test_a_service_without_a_blob_store_cannot_store_artifacts(
    embedded_settings: Settings,
) -> None:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    try:
        service = tracking_service(store)
        run = service.create_run("p")
        with pytest.raises(StorageError, match="no blob store"):
            service.store_artifact(run.id, "x.txt", b"x")
        assert service.list_artifacts(run.id) == []
    finally:
        store.dispose()
