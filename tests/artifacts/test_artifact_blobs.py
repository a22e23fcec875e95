"""The blob store contract: every test here runs against every backend (``blob_store``)."""

from __future__ import annotations

import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from blake3 import blake3

from modelyard.artifacts import BlobInfo, BlobStore, LocalBackend, TreeEntry
from modelyard.artifacts.blobs import blob_key, local_digest
from modelyard.errors import CorruptBlob, InvalidInput, ModelyardError, NotFound

CHUNK = 64 * 1024  # the chunk size the fixtures configure (conftest.CHUNK)
EMPTY_DIGEST = blake3(b"").hexdigest()


def digest_of(data: bytes) -> str:
    return blake3(data).hexdigest()


def stored_keys(store: BlobStore) -> list[str]:
    return sorted(store.backend.iter_keys("blobs"))


def staging_leftovers(store: BlobStore) -> list[Path]:
    staging = store.backend.staging_dir
    assert staging is not None, "both test backends stage under a known folder"
    return sorted(staging.iterdir()) if staging.exists() else []


class ChunkedReader:
    """A read()-only binary stream (no readinto) that records the sizes asked for."""

    def __init__(self, data: bytes, fail_after: int | None = None, on_read=None) -> None:
        self._buf = io.BytesIO(data)
        self.requests: list[int] = []
        self._fail_after = fail_after
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        self.requests.append(size)
        if self._fail_after is not None and len(self.requests) > self._fail_after:
            raise RuntimeError("the source broke mid-stream")
        if self._on_read is not None:
            self._on_read()
        return self._buf.read(size)


# -- addressing and dedup -----------------------------------------------------------------


def test_put_bytes_is_addressed_by_blake3(blob_store: BlobStore) -> None:
    info = blob_store.put_bytes(b"hello artifacts")
    digest = digest_of(b"hello artifacts")
    assert info == BlobInfo(digest, 15, "file")
    assert stored_keys(blob_store) == [f"blobs/{digest[:2]}/{digest[2:]}"]
    assert blob_store.exists(digest)
    assert blob_store.size(digest) == 15
    assert blob_store.get_bytes(digest) == b"hello artifacts"


def test_same_bytes_are_stored_once(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK + 7)
    infos = {blob_store.put_bytes(data) for _ in range(100)}
    src = tmp_path / "same.bin"
    src.write_bytes(data)
    infos.add(blob_store.put_file(src))
    infos.add(blob_store.put_file(src))  # big file: found by hashing first, nothing copied
    infos.add(blob_store.put_stream(io.BytesIO(data)))
    assert infos == {BlobInfo(digest_of(data), len(data))}
    assert len(stored_keys(blob_store)) == 1
    assert staging_leftovers(blob_store) == []


def test_empty_blob(blob_store: BlobStore, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.touch()
    assert blob_store.put_bytes(b"") == BlobInfo(EMPTY_DIGEST, 0)
    assert blob_store.put_stream(io.BytesIO()) == BlobInfo(EMPTY_DIGEST, 0)
    assert blob_store.put_file(empty) == BlobInfo(EMPTY_DIGEST, 0)
    assert blob_store.size(EMPTY_DIGEST) == 0
    assert blob_store.get_bytes(EMPTY_DIGEST) == b""
    assert blob_store.get_file(EMPTY_DIGEST, tmp_path / "out").read_bytes() == b""
    assert len(stored_keys(blob_store)) == 1


# -- streaming ----------------------------------------------------------------------------


def test_multi_chunk_stream_round_trip(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(5 * CHUNK + 123)
    source = ChunkedReader(data)
    info = blob_store.put_stream(source)
    assert info == BlobInfo(digest_of(data), len(data))
    # read chunk by chunk, never the whole stream at once
    assert source.requests and max(source.requests) <= CHUNK
    assert len(source.requests) >= 6

    assert blob_store.get_bytes(info.digest) == data
    with blob_store.open(info.digest) as reader:
        pieces = []
        while piece := reader.read(10_000):
            pieces.append(piece)
    assert b"".join(pieces) == data
    out = blob_store.get_file(info.digest, tmp_path / "deep" / "out.bin")
    assert out.read_bytes() == data


def test_put_file_round_trip(blob_store: BlobStore, tmp_path: Path) -> None:
    for size in (1, CHUNK - 1, CHUNK, 3 * CHUNK + 5):
        src = tmp_path / f"f{size}"
        data = os.urandom(size)
        src.write_bytes(data)
        info = blob_store.put_file(src)
        assert info == BlobInfo(digest_of(data), size)
        assert blob_store.get_bytes(info.digest) == data


def test_put_file_hashes_every_byte_once_around_chunk_boundaries(
    blob_store: BlobStore, tmp_path: Path
) -> None:
    """New and already stored files of every size around the chunk boundaries (read with
    the kernel told to fetch the next chunks ahead) hash to one-shot BLAKE3."""
    for size in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK + 17):
        data = os.urandom(size)
        src = tmp_path / f"f{size}"
        src.write_bytes(data)
        first = blob_store.put_file(src)  # new: read, hashed and copied
        again = blob_store.put_file(src)  # stored: hashed only, found
        assert first == again == BlobInfo(digest_of(data), size)
        assert blob_store.get_bytes(first.digest) == data


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_put_file_asks_for_the_next_chunks_ahead(
    blob_store: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * CHUNK + 5)
    src = tmp_path / "f"
    src.write_bytes(data)
    advice: list[tuple[int, int, int]] = []

    def advise(fd: int, offset: int, length: int, what: int) -> None:
        advice.append((offset, length, what))
        raise OSError("not supported here")  # advice is only a hint: errors are ignored

    monkeypatch.setattr(os, "posix_fadvise", advise)
    assert blob_store.put_file(src) == BlobInfo(digest_of(data), len(data))
    ahead = [(o, n) for o, n, what in advice if what == os.POSIX_FADV_WILLNEED]
    # the lookup pass and the copy: before each read (the last one finds the end), the
    # two chunks after it
    once = [(offset + CHUNK, 2 * CHUNK) for offset in (0, CHUNK, 2 * CHUNK, 3 * CHUNK, len(data))]
    assert ahead == once + once


def test_put_file_refuses_folders_and_missing_files(blob_store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as exc:
        blob_store.put_file(tmp_path)
    assert exc.value.field == "path"
    with pytest.raises(NotFound):
        blob_store.put_file(tmp_path / "missing")


class NonBlocking(io.RawIOBase):
    """A non-blocking stream with nothing ready: readinto returns None."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> None:
        return None


def test_unusable_streams_are_refused(blob_store: BlobStore) -> None:
    for stream in (io.StringIO("text"), NonBlocking()):
        with pytest.raises(InvalidInput):
            blob_store.put_stream(stream)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        blob_store.put_bytes("text")  # type: ignore[arg-type]
    assert stored_keys(blob_store) == []
    assert staging_leftovers(blob_store) == []


# -- atomicity ----------------------------------------------------------------------------


def test_failed_write_leaves_nothing_behind(blob_store: BlobStore) -> None:
    source = ChunkedReader(os.urandom(4 * CHUNK), fail_after=2)
    with pytest.raises(RuntimeError, match="mid-stream"):
        blob_store.put_stream(source)
    assert stored_keys(blob_store) == []
    assert list(blob_store.iter_digests()) == []
    assert staging_leftovers(blob_store) == []


def test_blob_appears_only_when_complete(blob_store: BlobStore) -> None:
    data = os.urandom(4 * CHUNK)
    seen_while_writing: list[list[str]] = []
    source = ChunkedReader(data, on_read=lambda: seen_while_writing.append(stored_keys(blob_store)))
    info = blob_store.put_stream(source)
    assert len(seen_while_writing) >= 4
    assert all(keys == [] for keys in seen_while_writing)
    assert blob_store.size(info.digest) == len(data)
    assert staging_leftovers(blob_store) == []


def test_get_file_replaces_atomically(blob_store: BlobStore, tmp_path: Path) -> None:
    info = blob_store.put_bytes(b"new content")
    dest = tmp_path / "out" / "file.txt"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    assert blob_store.get_file(info.digest, dest) == dest
    assert dest.read_bytes() == b"new content"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.txt"]
    with pytest.raises(InvalidInput):
        blob_store.get_file(info.digest, dest.parent)  # a folder is not a file name
    longest = dest.parent / ("n" * 255)  # the temp name next to it must still fit
    assert blob_store.get_file(info.digest, longest).read_bytes() == b"new content"


# -- verification -------------------------------------------------------------------------


def corrupt(store: BlobStore, digest: str, tmp_path: Path) -> None:
    """Replace the stored bytes of ``digest`` (same length, one byte flipped)."""
    data = bytearray(store.get_bytes(digest))
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    store.backend.put_file(f"blobs/{digest[:2]}/{digest[2:]}", bad)


def test_corruption_is_detected_on_read(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 1)
    info = blob_store.put_bytes(data)
    corrupt(blob_store, info.digest, tmp_path)

    with pytest.raises(CorruptBlob) as exc:
        blob_store.get_bytes(info.digest)
    assert info.digest in str(exc.value)
    with blob_store.open(info.digest) as reader:
        assert len(reader.read(100)) == 100  # verified only at the end of the stream
        with pytest.raises(CorruptBlob):
            reader.read()
    dest = tmp_path / "dest" / "out.bin"
    with pytest.raises(CorruptBlob):
        blob_store.get_file(info.digest, dest)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


# -- missing and invalid ------------------------------------------------------------------


def test_missing_blob_is_not_found(blob_store: BlobStore, tmp_path: Path) -> None:
    missing = digest_of(b"never stored")
    assert not blob_store.exists(missing)
    calls = [
        lambda: blob_store.open(missing),
        lambda: blob_store.get_bytes(missing),
        lambda: blob_store.get_file(missing, tmp_path / "x"),
        lambda: blob_store.size(missing),
        lambda: blob_store.delete(missing),
        lambda: blob_store.read_tree(missing),
        lambda: blob_store.get_tree(missing, tmp_path / "tree"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as exc:
            call()
        assert missing in str(exc.value)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "bad", ["", "abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, " " + "0" * 63, None, 12]
)
def test_invalid_digest_is_refused(blob_store: BlobStore, tmp_path: Path, bad: object) -> None:
    calls = [
        blob_store.open,
        blob_store.get_bytes,
        blob_store.exists,
        blob_store.size,
        blob_store.delete,
        blob_store.read_tree,
        lambda d: blob_store.get_file(d, tmp_path / "x"),
    ]
    for call in calls:
        with pytest.raises(InvalidInput) as exc:
            call(bad)
        assert exc.value.field == "digest"


# -- garbage collection support -----------------------------------------------------------


def test_iter_digests_and_delete(blob_store: BlobStore) -> None:
    digests = {blob_store.put_bytes(bytes([i]) * i).digest for i in range(20)}
    assert set(blob_store.iter_digests()) == digests
    victim = sorted(digests)[0]
    blob_store.delete(victim)
    assert not blob_store.exists(victim)
    assert set(blob_store.iter_digests()) == digests - {victim}
    with pytest.raises(NotFound):
        blob_store.delete(victim)


# -- trees --------------------------------------------------------------------------------


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "README.md": b"# model\n",
        "empty.txt": b"",
        "nested/deeper/deepest/weights.bin": os.urandom(2 * CHUNK + 3),
        "nested/copy-of-readme.md": b"# model\n",
        "nested/empty-too": b"",
        ".hidden": b"dot",
        "ünïcode/名前.txt": "héllo".encode(),
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty-folder").mkdir()
    return files


def test_tree_round_trip(blob_store: BlobStore, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    info = blob_store.put_tree(tmp_path / "src")
    assert info.kind == "tree"
    assert info.size == sum(len(d) for d in files.values())

    entries = blob_store.read_tree(info.digest)
    assert entries == [
        TreeEntry(rel, digest_of(data), len(data)) for rel, data in sorted(files.items())
    ]
    # same content, same manifest: the digest is reproducible
    assert blob_store.put_tree(tmp_path / "src") == info

    out = blob_store.get_tree(info.digest, tmp_path / "out")
    restored = {
        p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    }
    assert restored == files


def test_tree_manifest_is_canonical_json(blob_store: BlobStore, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    info = blob_store.put_tree(tmp_path / "src")
    raw = blob_store.get_bytes(info.digest)
    doc = json.loads(raw)
    assert (
        raw == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    paths = [e["path"] for e in doc["entries"]]
    assert paths == sorted(paths)
    assert all(set(e) == {"path", "digest", "size"} for e in doc["entries"])


def test_tree_follows_symlinks_that_stay_inside(blob_store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "real").mkdir(parents=True)
    (src / "real" / "data.txt").write_bytes(b"inside")
    os.symlink("real/data.txt", src / "link.txt")
    os.symlink("real", src / "linkdir")
    entries = blob_store.read_tree(blob_store.put_tree(src).digest)
    assert [e.path for e in entries] == ["link.txt", "linkdir/data.txt", "real/data.txt"]
    assert {e.digest for e in entries} == {digest_of(b"inside")}


@pytest.mark.parametrize("kind", ["file", "folder", "relative", "dangling", "loop"])
def test_tree_refuses_symlinks_leading_outside(
    blob_store: BlobStore, tmp_path: Path, kind: str
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.pem").write_bytes(b"top secret")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "ok.txt").write_bytes(b"fine")
    link = src / "sub" / "link"
    target = {
        "file": str(secret / "key.pem"),
        "folder": str(secret),
        "relative": "../../secret/key.pem",
        "dangling": "no-such-file",
        "loop": "..",
    }[kind]
    os.symlink(target, link)
    with pytest.raises(InvalidInput) as exc:
        blob_store.put_tree(src)
    assert exc.value.field == "path"
    assert "sub/link" in str(exc.value)
    assert not blob_store.exists(digest_of(b"top secret"))


def test_put_tree_needs_a_folder(blob_store: BlobStore, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(InvalidInput):
        blob_store.put_tree(tmp_path / "f")
    with pytest.raises(NotFound):
        blob_store.put_tree(tmp_path / "missing")


def test_empty_tree(blob_store: BlobStore, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    info = blob_store.put_tree(tmp_path / "src")
    assert info.size == 0
    assert blob_store.read_tree(info.digest) == []
    assert list(blob_store.get_tree(info.digest, tmp_path / "out").iterdir()) == []


def test_read_tree_refuses_other_blobs(blob_store: BlobStore) -> None:
    for data in (b"", b"plain bytes", b'{"entries": []}', b'{"entries":[],"format":"other"}'):
        with pytest.raises(InvalidInput) as exc:
            blob_store.read_tree(blob_store.put_bytes(data).digest)
        assert exc.value.field == "digest"


def forged_manifest(entries: list[dict[str, object]]) -> bytes:
    doc = {"entries": entries, "format": "modelyard-tree/1"}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "path", ["../escape.txt", "/etc/passwd", "a/../../b", "a\\..\\b", "%2e%2e%2fx", ""]
)
def test_forged_manifest_cannot_escape(blob_store: BlobStore, tmp_path: Path, path: str) -> None:
    file = blob_store.put_bytes(b"payload")
    manifest = forged_manifest([{"path": path, "digest": file.digest, "size": 7}])
    tree = blob_store.put_bytes(manifest)
    dest = tmp_path / "box" / "dest"
    with pytest.raises(InvalidInput):
        blob_store.get_tree(tree.digest, dest)
    assert not (tmp_path / "box" / "escape.txt").exists()
    assert not dest.exists() or list(dest.rglob("*")) == []


def test_forged_manifest_file_and_folder_clash(blob_store: BlobStore) -> None:
    file = blob_store.put_bytes(b"payload")
    entries = [{"path": p, "digest": file.digest, "size": 7} for p in ("a", "a.txt", "a/b")]
    tree = blob_store.put_bytes(forged_manifest(entries))
    with pytest.raises(InvalidInput, match="both a file and a folder"):
        blob_store.read_tree(tree.digest)


def test_get_tree_does_not_write_through_symlinks(blob_store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "reports").mkdir(parents=True)
    (src / "reports" / "x.txt").write_bytes(b"report")
    info = blob_store.put_tree(src)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "reports")
    with pytest.raises(InvalidInput):
        blob_store.get_tree(info.digest, dest)
    assert list(outside.iterdir()) == []


def test_tree_with_corrupt_file_is_detected(blob_store: BlobStore, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    info = blob_store.put_tree(tmp_path / "src")
    corrupt(blob_store, digest_of(b"# model\n"), tmp_path)
    with pytest.raises(CorruptBlob):
        blob_store.get_tree(info.digest, tmp_path / "out")


def test_errors_are_modelyard_errors(blob_store: BlobStore, tmp_path: Path) -> None:
    """Nothing from botocore, s3fs or fsspec reaches the caller."""
    for call in (
        lambda: blob_store.get_bytes(digest_of(b"nope")),
        lambda: blob_store.put_file(tmp_path / "nope"),
        lambda: blob_store.put_tree(tmp_path / "nope"),
    ):
        with pytest.raises(ModelyardError) as exc:
            call()
        assert type(exc.value).__module__ == "modelyard.errors"


def test_concurrent_puts_of_the_same_bytes(blob_store: BlobStore) -> None:
    data = os.urandom(2 * CHUNK)
    with ThreadPoolExecutor(max_workers=8) as pool:
        infos = set(pool.map(lambda _: blob_store.put_bytes(data), range(16)))
    assert infos == {BlobInfo(digest_of(data), len(data))}
    assert len(stored_keys(blob_store)) == 1
    assert blob_store.get_bytes(digest_of(data)) == data
    assert staging_leftovers(blob_store) == []


def test_modified_at_and_relogging_refreshes_local_blobs(blob_store: BlobStore) -> None:
    import time

    info = blob_store.put_bytes(b"relogged")
    assert abs(blob_store.modified_at(info.digest) - time.time()) < 120
    backend = blob_store.backend
    if isinstance(backend, LocalBackend):
        path = backend.root / blob_key(info.digest)
        os.utime(path, (1_000_000, 1_000_000))
        assert blob_store.modified_at(info.digest) == 1_000_000
        blob_store.put_bytes(b"relogged")  # a dedup hit marks the blob as just used
        assert blob_store.modified_at(info.digest) > 1_000_000
    with pytest.raises(NotFound):
        blob_store.modified_at("0" * 64)


def test_local_digest_is_what_storing_would_give_without_storing(tmp_path: Path) -> None:
    store = BlobStore(LocalBackend(tmp_path / "store"), chunk_size=64 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(200_000))  # several chunks
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")

    assert local_digest(big) == BlobInfo(digest_of(big.read_bytes()), 200_000)
    assert stored_keys(store) == []
    assert local_digest(folder) == store.put_tree(folder)
    assert local_digest(big) == store.put_file(big)
    with pytest.raises(NotFound, match="no file or folder at"):
        local_digest(tmp_path / "missing")
