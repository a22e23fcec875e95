"""Content-addressed blobs on top of a byte-level :class:`Backend`.

A blob is stored once under the BLAKE3 digest of its bytes (``blobs/ab/cdef...``).
Writes are staged in a private temp file while hashing, then committed under the final
key only when the digest is known; reads hash as they go and raise
:class:`~modelyard.errors.CorruptBlob` at the end when the bytes do not match.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal

from blake3 import blake3

from modelyard.artifacts._paths import safe_join
from modelyard.artifacts._tar import TarMember, read_tar, write_tar
from modelyard.artifacts._trees import (
    MANIFEST_PREFIX,
    TreeEntry,
    decode_manifest,
    encode_manifest,
    manifest_digests,
    open_confined,
    walk_files,
)
from modelyard.artifacts.backends import ARTIFACT_BACKENDS, Backend, storage_errors
from modelyard.errors import CorruptBlob, InvalidInput, NotFound

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "BlobInfo",
    "BlobReader",
    "BlobStore",
    "local_digest",
    "open_blob_store",
]

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")
_PREFIX = "blobs"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_WILLNEED: int | None = getattr(os, "POSIX_FADV_WILLNEED", None)


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob. For a tree, ``digest`` is the manifest's and ``size`` the files' total."""

    digest: str
    size: int
    kind: Literal["file", "tree"] = "file"


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is 64 lowercase hex characters, else raise InvalidInput."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInput(
            f"invalid digest {digest!r}: expected 64 lowercase hex characters (BLAKE3)",
            field="digest",
        )
    return digest


def local_digest(path: str | os.PathLike[str]) -> BlobInfo:
    """The digest, size and kind that storing a local file (``put_file``) or folder
    (``put_tree``, the digest of its manifest) would give, computed without storing
    anything. A missing path is NotFound; the folder rules of ``put_tree`` apply."""
    with storage_errors():
        try:
            root = Path(path).resolve(strict=True)
        except FileNotFoundError:
            raise NotFound(f"no file or folder at {os.fspath(path)!r}", field="path") from None
        if not root.is_dir():
            return _fd_digest(os.open(root, os.O_RDONLY | _O_CLOEXEC | _O_BINARY), root)
        entries = []
        for rel, real in walk_files(root):
            info = _fd_digest(open_confined(real, root), real)
            entries.append(TreeEntry(rel, info.digest, info.size))
    manifest = blake3(encode_manifest(entries)).hexdigest()
    return BlobInfo(manifest, sum(e.size for e in entries), "tree")


def _fd_digest(fd: int, label: Path) -> BlobInfo:
    with open(fd, "rb", buffering=0) as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise InvalidInput(f"{str(label)!r} is not a regular file or folder", field="path")
        hasher = blake3(max_threads=blake3.AUTO)
        size = 0
        for chunk in _chunks(src, bytearray(DEFAULT_CHUNK_SIZE)):
            hasher.update(chunk)
            size += len(chunk)
    return BlobInfo(hasher.hexdigest(), size)


def blob_key(digest: str) -> str:
    """The backend key of a blob: ``blobs/ab/cdef...``."""
    check_digest(digest)
    return f"{_PREFIX}/{digest[:2]}/{digest[2:]}"


def _create_temp(folder: Path | None, prefix: str) -> tuple[int, Path]:
    """Create a new empty file for writing; mode 0666 minus umask inside ``folder``."""
    if folder is None:
        fd, name = tempfile.mkstemp(prefix=f"modelyard-{prefix}", suffix=".tmp")
        return fd, Path(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
    while True:
        path = folder / f"{prefix}{secrets.token_hex(8)}.tmp"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue


def _chunks(fileobj: IO[bytes], buffer: bytearray) -> Iterator[memoryview | bytes]:
    """Read ``fileobj`` to the end, one buffer at a time."""
    readinto = getattr(fileobj, "readinto", None)
    if readinto is not None:
        view = memoryview(buffer)
        while True:
            n = readinto(view)
            if n is None:  # a non-blocking stream with nothing ready: we would lose bytes
                raise InvalidInput("the stream must be a blocking binary stream", field="fileobj")
            if not n:
                return
            yield view[:n]
    while True:
        data = fileobj.read(len(buffer))
        if data is None or not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput("the stream must be a blocking binary stream", field="fileobj")
        if not data:
            return
        yield data


def _prefetched(src: io.FileIO, buffer: bytearray) -> Iterator[memoryview]:
    """Read a file to the end, one buffer at a time, first asking the kernel to start
    reading the two chunks after this one (``posix_fadvise(WILLNEED)``, where there is
    one): the disk works on them while the caller hashes this one, instead of the two
    taking turns."""
    view = memoryview(buffer)
    size = len(view)
    fd = src.fileno()
    offset = src.tell()
    while True:
        if _WILLNEED is not None:
            with suppress(OSError):
                os.posix_fadvise(fd, offset + size, 2 * size, _WILLNEED)
        n = src.readinto(view)
        if not n:
            return
        offset += n
        yield view[:n]


def _copy_hashing(chunks: Iterator[memoryview | bytes], out: BinaryIO) -> tuple[str, int]:
    hasher = blake3()
    size = 0
    for chunk in chunks:
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


class BlobReader(io.RawIOBase):
    """A stream over one blob that hashes what it reads.

    Reaching the end raises :class:`CorruptBlob` if the bytes do not match the digest
    (a reader closed before the end is not verified).
    """

    def __init__(self, raw: BinaryIO, digest: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        super().__init__()
        self.digest = digest
        self._raw = raw
        self._chunk_size = chunk_size
        self._hasher = blake3()
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed blob reader")
        if self._verified:
            return 0
        view = memoryview(buffer).cast("B")
        with storage_errors(broad=True):
            n = self._raw.readinto(view)  # type: ignore[attr-defined]
        if not n:
            self._verify()
            return 0
        self._hasher.update(view[:n])
        return n

    def readall(self) -> bytes:
        out = io.BytesIO()
        view = memoryview(bytearray(self._chunk_size))
        while n := self.readinto(view):
            out.write(view[:n])
        return out.getvalue()

    def _verify(self) -> None:
        actual = self._hasher.hexdigest()
        if actual != self.digest:
            raise CorruptBlob(
                f"blob {self.digest} is corrupt: its bytes hash to {actual}", field="digest"
            )
        self._verified = True

    def close(self) -> None:
        if self.closed:
            return
        try:
            with storage_errors(broad=True):
                self._raw.close()
        finally:
            super().close()


class BlobStore:
    """Content-addressed blob store over a :class:`Backend`; see the module docstring."""

    def __init__(self, backend: Backend, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise InvalidInput(f"invalid chunk size {chunk_size!r}", field="chunk_size")
        self._backend = backend
        self._chunk_size = chunk_size

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    def __repr__(self) -> str:
        return f"BlobStore({self._backend!r})"

    def close(self) -> None:
        """Release the backend's connections."""
        self._backend.close()

    def __enter__(self) -> BlobStore:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------

    def _commit(
        self, fill: Callable[[BinaryIO], tuple[str, int]], missing: str | None = None
    ) -> BlobInfo:
        """Stage bytes in a temp file (``fill`` writes them and returns digest and size),
        then store them under their digest unless already there (``missing``: a digest
        just found absent, not looked up again)."""
        staging = self._backend.staging_dir
        with storage_errors():
            if staging is not None:
                staging.mkdir(parents=True, exist_ok=True)
            fd, tmp = _create_temp(staging, "blob-")
        try:
            with storage_errors(), open(fd, "wb") as out:
                digest, size = fill(out)
            key = blob_key(digest)
            if digest == missing or not self._backend.touch(key):
                self._backend.put_file(key, tmp, move=True)
            return BlobInfo(digest, size)
        finally:
            with suppress(OSError):
                os.unlink(tmp)

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store ``data``; returns its digest and size."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"expected bytes, not {type(data).__name__}", field="data")
        data = bytes(data)  # an immutable copy: the bytes hashed are the bytes written
        digest = blake3(data).hexdigest()
        if self._backend.touch(blob_key(digest)):
            return BlobInfo(digest, len(data))

        def fill(out: BinaryIO) -> tuple[str, int]:
            out.write(data)
            return digest, len(data)

        return self._commit(fill, missing=digest)

    def put_stream(self, fileobj: IO[bytes]) -> BlobInfo:
        """Store everything read from a binary file object, chunk by chunk."""
        buffer = bytearray(self._chunk_size)
        return self._commit(lambda out: _copy_hashing(_chunks(fileobj, buffer), out))

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        """Store a local file, chunk by chunk."""
        with storage_errors():
            fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_BINARY)
        return self._put_fd(fd, os.fspath(path))

    def _put_fd(self, fd: int, label: str) -> BlobInfo:
        try:
            with storage_errors():
                st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(f"{label!r} is not a regular file", field="path")
        except BaseException:
            os.close(fd)
            raise
        with storage_errors(), open(fd, "rb", buffering=0) as src:
            if st.st_size < self._chunk_size:  # small: hash in memory, stage only if new
                data = src.read(self._chunk_size + 1)
                if len(data) <= self._chunk_size and not src.read(1):
                    return self.put_bytes(data)
                src.seek(0)  # it grew meanwhile: stream it
            buffer = bytearray(self._chunk_size)
            digest = None
            if st.st_size >= self._chunk_size:
                if hasattr(os, "posix_fadvise"):  # a larger kernel read-ahead window
                    with suppress(OSError):
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
                # Hashing is ~20x faster than writing: look for a stored copy first. The
                # digest stored is still the one of the bytes copied, should the file change.
                hasher = blake3(max_threads=blake3.AUTO)
                for chunk in _prefetched(src, buffer):
                    hasher.update(chunk)
                digest = hasher.hexdigest()
                if self._backend.touch(blob_key(digest)):
                    return BlobInfo(digest, src.tell())
                src.seek(0)
            return self._commit(
                lambda out: _copy_hashing(_prefetched(src, buffer), out), missing=digest
            )

    def put_tree(self, directory: str | os.PathLike[str]) -> BlobInfo:
        """Store every file under ``directory`` and a manifest; returns the manifest's info.

        Symlinks that resolve outside ``directory`` are refused with InvalidInput.
        """
        with storage_errors():
            root = Path(directory).resolve(strict=True)
            if not root.is_dir():
                raise InvalidInput(f"{os.fspath(directory)!r} is not a folder", field="path")
            entries = []
            for rel, real in walk_files(root):
                info = self._put_fd(open_confined(real, root), rel)
                entries.append(TreeEntry(rel, info.digest, info.size))
        return self._put_manifest(entries)

    def put_tar(self, fileobj: IO[bytes]) -> BlobInfo:
        """Store the files of a tar stream as a tree (see ``artifacts/_tar.py`` for what a
        stream may hold); returns the manifest's info. A member whose bytes do not hash
        to its digest record arrived corrupt: InvalidInput, and no tree is stored."""
        entries = []
        for path, stream, digest in read_tar(fileobj):
            info = self.put_stream(stream)
            if digest is not None and info.digest != digest:
                raise InvalidInput(
                    f"tar member {path!r} arrived corrupt: its bytes hash to {info.digest}, "
                    f"not {digest}",
                    field="body",
                )
            entries.append(TreeEntry(path, info.digest, info.size))
        return self._put_manifest(entries)

    def _put_manifest(self, entries: list[TreeEntry]) -> BlobInfo:
        manifest = self.put_bytes(encode_manifest(entries))
        return BlobInfo(manifest.digest, sum(e.size for e in entries), "tree")

    def put_manifest(self, entries: list[TreeEntry]) -> BlobInfo:
        """Store a tree of blobs already stored (each entry's digest must be here): only
        its manifest is written, nothing copied. Returns the manifest's info."""
        for entry in entries:
            if not self._backend.exists(blob_key(check_digest(entry.digest))):
                raise self._not_found(entry.digest)
        return self._put_manifest(entries)

    # -- reading -----------------------------------------------------------------------

    def _not_found(self, digest: str) -> NotFound:
        return NotFound(f"blob {digest} not found in {self._backend.uri}", field="digest")

    def open(self, digest: str) -> BlobReader:
        """Open a blob for reading; the reader verifies the digest at the end."""
        key = blob_key(digest)
        try:
            raw = self._backend.open(key)
        except NotFound as exc:
            raise self._not_found(digest) from exc
        return BlobReader(raw, digest, self._chunk_size)

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, verified."""
        with self.open(digest) as reader:
            return reader.read()

    def get_file(self, digest: str, dest_path: str | os.PathLike[str]) -> Path:
        """Write the blob to ``dest_path`` atomically (temp file, fsync, rename), verified."""
        check_digest(digest)
        dest = Path(dest_path)
        if dest.is_dir():
            raise InvalidInput(f"{str(dest)!r} is a folder", field="dest_path")
        with storage_errors():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = _create_temp(dest.parent, f".{dest.name[:100]}.")
        try:
            with open(fd, "wb") as out, self.open(digest) as reader:
                view = memoryview(bytearray(self._chunk_size))
                while n := reader.readinto(view):
                    with storage_errors():
                        out.write(view[:n])
                with storage_errors():
                    out.flush()
                    os.fsync(out.fileno())
            with storage_errors():
                os.replace(tmp, dest)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        return dest

    def read_tree(self, digest: str) -> list[TreeEntry]:
        """The entries of a tree stored by :meth:`put_tree` (InvalidInput if not a tree)."""
        return decode_manifest(digest, self._manifest(digest))

    def tree_member_digests(self, digest: str) -> list[str]:
        """The blobs a stored tree holds, read without the artifact-name rules (what
        garbage collection keeps, for trees stored before a name was refused)."""
        return manifest_digests(digest, self._manifest(digest))

    def _manifest(self, digest: str) -> bytes:
        with self.open(digest) as reader:
            head = reader.read(len(MANIFEST_PREFIX))
            if head != MANIFEST_PREFIX:
                raise InvalidInput(f"blob {digest} is not a tree manifest", field="digest")
            return head + reader.read()

    def tar_stream(self, digest: str) -> Iterator[bytes]:
        """A stored tree as a tar stream, each file verified as it is read and its digest
        in the member's ``MODELYARD.blake3`` record. The manifest is read before this
        returns, so a missing or invalid tree raises here, not mid-stream."""
        entries = self.read_tree(digest)
        return write_tar(
            TarMember(e.path, e.size, partial(self.open, e.digest), e.digest) for e in entries
        )

    def get_tree(self, digest: str, dest_dir: str | os.PathLike[str]) -> Path:
        """Recreate a stored tree under ``dest_dir``; nothing is written outside it."""
        entries = self.read_tree(digest)
        dest = Path(dest_dir)
        with storage_errors():
            dest.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            self.get_file(entry.digest, safe_join(dest, entry.path))
        return dest

    # -- bookkeeping -------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored."""
        return self._backend.exists(blob_key(digest))

    def size(self, digest: str) -> int:
        """The stored blob's size in bytes."""
        key = blob_key(digest)
        try:
            return self._backend.size(key)
        except NotFound as exc:
            raise self._not_found(digest) from exc

    def modified_at(self, digest: str) -> float:
        """When the blob was stored or last re-logged, in seconds since the epoch."""
        key = blob_key(digest)
        try:
            return self._backend.modified_at(key)
        except NotFound as exc:
            raise self._not_found(digest) from exc

    def delete(self, digest: str) -> None:
        """Remove a blob (for garbage collection). Missing: NotFound."""
        key = blob_key(digest)
        try:
            self._backend.delete(key)
        except NotFound as exc:
            raise self._not_found(digest) from exc

    def iter_digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob (files and tree manifests)."""
        for key in self._backend.iter_keys(_PREFIX):
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == _PREFIX and len(parts[1]) == 2:
                digest = parts[1] + parts[2]
                if _DIGEST.fullmatch(digest):
                    yield digest


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store named by ``settings.artifacts_uri``: a local folder, or a URI whose
    scheme names an artifact backend (``file://``, ``s3://bucket/prefix`` or a third
    party's, see :data:`~modelyard.artifacts.backends.ARTIFACT_BACKENDS`)."""
    uri = settings.artifacts_uri
    found = _SCHEME.match(uri)
    scheme = found.group(1).lower() if found else "file"
    if not uri or scheme not in ARTIFACT_BACKENDS:
        ways = ["a local folder", *(f"{name}://" for name in ARTIFACT_BACKENDS.names())]
        raise InvalidInput(
            f"unsupported artifacts URI {uri!r}: use {', '.join(ways[:-1])} or {ways[-1]}",
            field="artifacts.uri",
        )
    if found:
        uri = scheme + uri[len(scheme) :]  # the scheme in lower case, as the backend sees it
    backend = ARTIFACT_BACKENDS.get(scheme)(uri, settings)
    return BlobStore(backend, chunk_size=settings.artifacts.chunk_size)
