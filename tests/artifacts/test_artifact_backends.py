"""Backend specifics: key confinement, atomic commits, error translation, store selection."""

from __future__ import annotations

import errno
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

import modelyard.artifacts as artifacts
from modelyard.artifacts import BlobStore, LocalBackend, S3Backend, open_blob_store
from modelyard.artifacts._trees import open_confined
from modelyard.artifacts.backends import ARTIFACT_BACKENDS, storage_errors
from modelyard.config import Settings
from modelyard.errors import (
    CorruptBlob,
    InvalidInput,
    MissingDependency,
    ModelyardError,
    NotFound,
    PermissionDenied,
    StorageError,
)
from plugin_support import install_entry_point


def test_public_api() -> None:
    assert sorted(artifacts.__all__) == [
        "Backend",
        "BlobInfo",
        "BlobReader",
        "BlobStore",
        "LocalBackend",
        "S3Backend",
        "TreeEntry",
        "normalize_artifact_path",
        "open_blob_store",
        "safe_join",
    ]


# -- local backend ------------------------------------------------------------------------


def test_blob_corrupted_on_disk_is_detected(local_store: BlobStore, tmp_path: Path) -> None:
    info = local_store.put_bytes(b"precious model weights")
    assert isinstance(local_store.backend, LocalBackend)
    path = local_store.backend.root / "blobs" / info.digest[:2] / info.digest[2:]
    assert path.read_bytes() == b"precious model weights"
    path.write_bytes(b"precious model weightz")
    with pytest.raises(CorruptBlob):
        local_store.get_bytes(info.digest)
    with pytest.raises(CorruptBlob):
        local_store.get_file(info.digest, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize(
    "key", ["", "/abs", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "a/\x00", "blobs/", None]
)
def test_local_keys_are_confined(tmp_path: Path, key: Any) -> None:
    backend = LocalBackend(tmp_path / "root")
    for call in (backend.open, backend.exists, backend.size, backend.delete):
        with pytest.raises(InvalidInput):
            call(key)


def test_local_key_through_symlink_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "blobs").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_bytes(b"x")
    os.symlink(tmp_path / "outside", root / "blobs" / "ab")
    backend = LocalBackend(root)
    with pytest.raises(InvalidInput) as exc:
        backend.exists("blobs/ab/f")
    assert exc.value.field == "key"
    src = tmp_path / "src"
    src.write_bytes(b"y")
    with pytest.raises(InvalidInput):
        backend.put_file("blobs/ab/g", src)
    assert not (tmp_path / "outside" / "g").exists()


def test_local_commit_failure_leaves_nothing(
    local_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("modelyard.artifacts.backends.os.replace", no_space)
    with pytest.raises(StorageError, match="No space left"):
        local_store.put_bytes(b"data")
    monkeypatch.undo()
    assert list(local_store.iter_digests()) == []
    staging = local_store.backend.staging_dir
    assert staging is not None and list(staging.iterdir()) == []


def test_local_put_file_copies_atomically(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "root")
    src = tmp_path / "src"
    src.write_bytes(b"payload")
    backend.put_file("a/b/c", src)
    assert src.read_bytes() == b"payload"  # not moved: move=False copies
    assert list(backend.iter_keys()) == ["a/b/c"]
    assert list(backend.iter_keys("a/b")) == ["a/b/c"]
    assert list(backend.iter_keys("nothing")) == []
    assert backend.staging_dir is not None and list(backend.staging_dir.iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self/fd")
def test_tree_reads_stay_inside_even_after_a_swap(tmp_path: Path) -> None:
    """What walk_files checked may be swapped for a link before the open: still refused."""
    root = (tmp_path / "root").resolve()
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_bytes(b"secret")
    os.symlink(tmp_path / "outside" / "f", root / "link")
    os.symlink(tmp_path / "outside", root / "dir")
    with pytest.raises(OSError):  # O_NOFOLLOW: the last component may not be a link
        open_confined(root / "link", root)
    with pytest.raises(InvalidInput):  # a linked folder on the way: caught after the open
        open_confined(root / "dir" / "f", root)


# -- S3 backend ---------------------------------------------------------------------------


def s3_backend(conf: dict[str, Any], uri: str | None = None, **kwargs: Any) -> S3Backend:
    return S3Backend(
        uri or conf["uri"],
        endpoint_url=conf["endpoint_url"],
        region=conf["region"],
        access_key_id=conf["access_key_id"],
        secret_access_key=conf["secret_access_key"],
        **kwargs,
    )


@pytest.mark.s3
def test_s3_upload_failure_leaves_nothing(
    s3_filesystem: Any,
    s3_artifacts: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.exceptions import ClientError

    backend = S3Backend(s3_artifacts["uri"], staging_dir=tmp_path / "st", filesystem=s3_filesystem)
    store = BlobStore(backend)

    def denied(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "403"}}, "PutObject")

    monkeypatch.setattr(s3_filesystem, "put_file", denied)
    with pytest.raises(PermissionDenied) as exc:
        store.put_bytes(b"data")
    assert isinstance(exc.value.__cause__, ClientError)
    monkeypatch.undo()
    assert list(store.iter_digests()) == []
    assert list((tmp_path / "st").iterdir()) == []


@pytest.mark.s3
def test_s3_missing_bucket_is_a_modelyard_error(s3_artifacts: dict[str, Any]) -> None:
    store = BlobStore(s3_backend(s3_artifacts, "s3://no-such-bucket-here/p"))
    digest = blake3(b"x").hexdigest()
    assert not store.exists(digest)
    with pytest.raises(NotFound):
        store.get_bytes(digest)
    with pytest.raises(NotFound):
        store.put_bytes(b"x")
    with pytest.raises(NotFound):
        list(store.iter_digests())


@pytest.mark.s3
def test_s3_unreachable_endpoint_is_a_storage_error() -> None:
    backend = S3Backend(
        "s3://bucket",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        region="us-east-1",
        access_key_id="k",
        secret_access_key="s",
        retries=1,
    )
    store = BlobStore(backend)
    started = time.monotonic()
    with pytest.raises(StorageError) as exc:
        store.exists(blake3(b"x").hexdigest())
    assert type(exc.value).__module__ == "modelyard.errors"
    assert type(exc.value.__cause__).__module__.startswith("botocore")
    assert time.monotonic() - started < 10


@pytest.mark.s3
def test_s3_keys_under_prefix(
    s3_filesystem: Any, s3_artifacts: dict[str, Any], tmp_path: Path
) -> None:
    uri = s3_artifacts["uri"]
    backend = S3Backend(uri + "/", filesystem=s3_filesystem)
    assert backend.uri == uri
    src = tmp_path / "f"
    src.write_bytes(b"abc")
    backend.put_file("x/y", src)
    backend.put_file("z", src)
    assert sorted(backend.iter_keys()) == ["x/y", "z"]
    assert list(backend.iter_keys("x")) == ["x/y"]
    assert backend.size("x/y") == 3
    for key in ("../z", "/z", "a//b"):
        with pytest.raises(InvalidInput):
            backend.exists(key)


def test_missing_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(MissingDependency, match=r"pip install 'modelyard\[s3\]'"):
        S3Backend("s3://bucket")


@pytest.mark.parametrize("uri", ["s3://", "s3:///prefix", "s3://b/../x", "gs://b"])
def test_bad_s3_uris(uri: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        S3Backend(uri)
    assert exc.value.field == "artifacts.uri"


# -- error translation at the boundary ----------------------------------------------------


def botocore_errors() -> list[tuple[BaseException, type[ModelyardError]]]:
    from botocore.exceptions import ClientError, EndpointConnectionError

    def client_error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code}}, "HeadObject")

    return [
        (client_error("NoSuchKey"), NotFound),
        (client_error("AccessDenied"), PermissionDenied),
        (client_error("InternalError"), StorageError),
        (EndpointConnectionError(endpoint_url="http://x"), StorageError),
    ]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FileNotFoundError(errno.ENOENT, "gone", "blobs/ab/cd"), NotFound),
        (PermissionError(errno.EACCES, "no"), PermissionDenied),
        (OSError(errno.EIO, "I/O error"), StorageError),
        (TimeoutError("slow"), StorageError),
        *botocore_errors(),
    ],
)
def test_storage_errors_are_translated(error: BaseException, expected: type) -> None:
    with pytest.raises(expected) as exc, storage_errors():
        raise error
    assert type(exc.value) is expected
    assert exc.value.__cause__ is error


def test_storage_errors_translate_the_libraries_under_s3fs_by_type() -> None:
    urllib3 = pytest.importorskip("urllib3.exceptions")
    aiohttp = pytest.importorskip("aiohttp")
    for error in (urllib3.ProtocolError("reset"), aiohttp.ClientPayloadError("cut short")):
        with pytest.raises(StorageError) as exc, storage_errors():
            raise error
        assert exc.value.__cause__ is error


def test_storage_errors_broad_and_narrow() -> None:
    with pytest.raises(StorageError), storage_errors(broad=True):
        raise ValueError("odd library failure")
    with pytest.raises(ValueError), storage_errors():  # our own bugs are not disguised
        raise ValueError("a bug")
    original = NotFound("already ours")
    with pytest.raises(NotFound) as exc, storage_errors(broad=True):
        raise original
    assert exc.value is original


# -- choosing the backend from settings ---------------------------------------------------


def test_open_blob_store_local(tmp_path: Path) -> None:
    default = open_blob_store(Settings(home=tmp_path))
    assert isinstance(default.backend, LocalBackend)
    assert default.backend.root == (tmp_path / "artifacts").resolve()
    assert default.chunk_size == 8 * 1024 * 1024

    plain = open_blob_store(Settings(home=tmp_path, artifacts={"uri": str(tmp_path / "b")}))
    assert isinstance(plain.backend, LocalBackend)
    assert plain.backend.root == (tmp_path / "b").resolve()

    uri = (tmp_path / "with space").as_uri()  # file:///.../with%20space
    via_uri = open_blob_store(Settings(home=tmp_path, artifacts={"uri": uri}))
    assert isinstance(via_uri.backend, LocalBackend)
    assert via_uri.backend.root == (tmp_path / "with space").resolve()


@pytest.mark.s3
def test_open_blob_store_s3_round_trip(tmp_path: Path, s3_artifacts: dict[str, Any]) -> None:
    artifacts = {**s3_artifacts, "uri": s3_artifacts["uri"] + "/nested"}
    settings = Settings(home=tmp_path, artifacts=artifacts)
    with open_blob_store(settings) as store:
        assert isinstance(store.backend, S3Backend)
        assert store.backend.uri == settings.artifacts_uri
        assert store.backend.staging_dir == tmp_path / "tmp"
        data = os.urandom(200_000)
        info = store.put_bytes(data)
        assert store.get_bytes(info.digest) == data
        assert list(store.iter_digests()) == [info.digest]


@pytest.mark.parametrize(
    "uri", ["gs://bucket/x", "http://host/x", "ftp://h/x", "file://otherhost/x", "file://"]
)
def test_open_blob_store_refuses_other_schemes(tmp_path: Path, uri: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        open_blob_store(Settings(home=tmp_path, artifacts={"uri": uri}))
    assert exc.value.field == "artifacts.uri"
    assert uri in exc.value.message


@pytest.fixture
def backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backends registered by a test are forgotten after it."""
    monkeypatch.setattr(ARTIFACT_BACKENDS, "_entries", dict(ARTIFACT_BACKENDS._entries))


@pytest.mark.usefixtures("backends")
def test_a_third_party_backend_is_chosen_by_its_scheme(tmp_path: Path) -> None:
    made: list[tuple[str, Settings]] = []

    def open_memory(uri: str, settings: Settings) -> LocalBackend:
        made.append((uri, settings))
        return LocalBackend(tmp_path / "memory" / uri.removeprefix("mem://"))

    ARTIFACT_BACKENDS.register("mem", open_memory)
    settings = Settings(home=tmp_path, artifacts={"uri": "MEM://bucket/x"})
    with open_blob_store(settings) as store:
        info = store.put_bytes(b"kept")
        assert store.get_bytes(info.digest) == b"kept"
    assert made == [("mem://bucket/x", settings)]
    assert store.backend.uri == str((tmp_path / "memory" / "bucket" / "x").resolve())


@pytest.mark.usefixtures("backends")
def test_a_backend_declared_as_an_entry_point_is_chosen_by_its_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"""
        from modelyard.artifacts import LocalBackend

        def ENTRY(uri, settings):
            return LocalBackend({str(tmp_path / "plugin")!r} + "/" + uri.partition("://")[2])
    """
    install_entry_point(monkeypatch, tmp_path, "modelyard.artifact_backends", "plug", source)
    store = open_blob_store(Settings(home=tmp_path, artifacts={"uri": "plug://b"}))
    assert isinstance(store.backend, LocalBackend)
    assert store.backend.root == (tmp_path / "plugin" / "b").resolve()


@pytest.mark.usefixtures("backends")
def test_an_unknown_scheme_lists_the_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ARTIFACT_BACKENDS.register("mem", lambda uri, settings: LocalBackend(tmp_path))
    install_entry_point(monkeypatch, tmp_path, "modelyard.artifact_backends", "plug", "")
    with pytest.raises(InvalidInput) as exc:
        open_blob_store(Settings(home=tmp_path, artifacts={"uri": "gs://bucket/x"}))
    assert exc.value.field == "artifacts.uri"
    assert exc.value.message == (
        "unsupported artifacts URI 'gs://bucket/x': use a local folder, file://, s3://, "
        "mem:// or plug://"
    )


class Zeros:
    """A stream of ``size`` zero bytes made on the fly (nothing big exists up front)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_streaming_memory_is_bounded(local_store: BlobStore, tmp_path: Path) -> None:
    size = 32 * 1024 * 1024  # 512 chunks of 64 KiB
    tracemalloc.start()
    try:
        info = local_store.put_stream(Zeros(size))
        with local_store.open(info.digest) as reader:
            while reader.read(local_store.chunk_size):
                pass
        local_store.get_file(info.digest, tmp_path / "zeros")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size
    assert peak < 8 * local_store.chunk_size  # a few chunk buffers, never the blob


@pytest.mark.s3
def test_s3_multipart_upload_round_trip(
    s3_filesystem: Any, s3_artifacts: dict[str, Any], tmp_path: Path
) -> None:
    backend = S3Backend(s3_artifacts["uri"], staging_dir=tmp_path / "st", filesystem=s3_filesystem)
    store = BlobStore(backend, chunk_size=1024 * 1024)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(11 * 1024 * 1024))  # over two 5 MiB parts: multipart upload
    info = store.put_file(src)
    assert store.size(info.digest) == src.stat().st_size
    store.get_file(info.digest, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert list((tmp_path / "st").iterdir()) == []
