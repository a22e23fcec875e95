"""Byte-level storage backends: whole objects under slash-separated keys.

A backend knows nothing about digests; :class:`~modelyard.artifacts.blobs.BlobStore`
adds content addressing on top. Every library error (``OSError``, botocore, s3fs) is
translated with :func:`modelyard.errors.translate` here and never leaves this module.

The scheme of ``artifacts.uri`` chooses the backend from :data:`ARTIFACT_BACKENDS`
(``file`` and ``s3`` built in; a local folder without a scheme is ``file``). A third
party adds one with ``ARTIFACT_BACKENDS.register(scheme, factory)`` or an entry point in
the group ``modelyard.artifact_backends``; ``factory(uri, settings)`` returns the
:class:`Backend`.
"""

from __future__ import annotations

import abc
import errno
import os
import secrets
import shutil
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from modelyard._registry import Registry
from modelyard.errors import (
    InvalidInput,
    MissingDependency,
    ModelyardError,
    StorageError,
    translate,
)

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = [
    "ARTIFACT_BACKENDS",
    "Backend",
    "BackendFactory",
    "LocalBackend",
    "S3Backend",
    "storage_errors",
]

_MIN_PART = 5 * 1024 * 1024  # S3's smallest multipart part
_MAX_PARTS = 10_000  # S3's most parts per upload


@contextmanager
def storage_errors(*, broad: bool = False) -> Iterator[None]:
    """Translate library errors raised inside the block into the error vocabulary.

    Exceptions of the types :func:`~modelyard.errors.translate` maps (``OSError``, the
    storage libraries') are always translated; with ``broad=True`` (code that only calls
    a storage library) every exception is.
    """
    try:
        yield
    except ModelyardError:
        raise
    except Exception as exc:
        err = translate(exc)
        if type(err) is ModelyardError:  # a type translate does not know
            if not broad:
                raise  # our own bugs are not disguised
            err = StorageError(f"artifact storage error: {err.message}")  # still storage
        raise err from exc


def check_key(key: str) -> str:
    """Validate a backend key: relative, ``/``-separated, no empty/``.``/``..`` segments."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"invalid storage key {key!r}", field="key")
    if key.startswith("/") or "\\" in key:
        raise InvalidInput(f"invalid storage key {key!r}: must be relative", field="key")
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        raise InvalidInput(f"invalid storage key {key!r}: control character", field="key")
    if any(seg in {"", ".", ".."} for seg in key.split("/")):
        raise InvalidInput(f"invalid storage key {key!r}: empty or dot segment", field="key")
    return key


def _check_prefix(prefix: str) -> str:
    prefix = prefix.strip("/") if isinstance(prefix, str) else prefix
    return check_key(prefix) if prefix else ""


class Backend(abc.ABC):
    """Stores whole objects under keys like ``blobs/ab/cdef...``.

    ``staging_dir`` is where callers should create the local temp files they pass to
    :meth:`put_file` with ``move=True`` (``None``: the system temp folder).
    """

    staging_dir: Path | None = None

    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """Where the objects live (for messages and ``repr``)."""

    @abc.abstractmethod
    def put_file(self, key: str, local_path: Path, *, move: bool = False) -> None:
        """Store the file under ``key`` atomically (readers see all of it or nothing).

        ``move=True``: the caller hands the file over; it may be renamed into place.
        """

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open the object for reading. Missing: :class:`NotFound`."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes. Missing: :class:`NotFound`."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object. Missing: :class:`NotFound`."""

    @abc.abstractmethod
    def modified_at(self, key: str) -> float:
        """When the object was last written (or touched), in seconds since the epoch."""

    def touch(self, key: str) -> bool:
        """Whether the object exists; where the backend can, also mark it as just used,
        so a garbage collection running now leaves a blob that is being re-logged alone."""
        return self.exists(key)

    @abc.abstractmethod
    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield the keys of all objects under the folder ``prefix``."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release connections; the backend must not be used afterwards."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    if directory and sys.platform == "win32":
        return  # directories cannot be opened for fsync on Windows
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend(Backend):
    """Objects as files under a root folder; writes go through ``<root>/tmp``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.staging_dir = self.root / "tmp"

    @property
    def uri(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        check_key(key)
        path = self.root.joinpath(*key.split("/"))
        resolved = path.resolve()
        if resolved == self.root or not resolved.is_relative_to(self.root):
            raise InvalidInput(f"storage key {key!r} resolves outside {self.uri}", field="key")
        return resolved

    def put_file(self, key: str, local_path: Path, *, move: bool = False) -> None:
        dest = self._path(key)
        with storage_errors():
            dest.parent.mkdir(parents=True, exist_ok=True)
            if move:
                _fsync_path(local_path)
                try:
                    os.replace(local_path, dest)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    move = False  # staged on another filesystem: copy instead
            if not move:
                self._copy_in(Path(local_path), dest)
            _fsync_path(dest.parent, directory=True)

    def _copy_in(self, src: Path, dest: Path) -> None:
        assert self.staging_dir is not None
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.staging_dir / f"copy-{secrets.token_hex(8)}.tmp"
        try:
            shutil.copyfile(src, tmp)
            _fsync_path(tmp)
            os.replace(tmp, dest)
        finally:
            with suppress(FileNotFoundError):
                tmp.unlink()

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        with storage_errors():
            return open(path, "rb", buffering=0)

    def exists(self, key: str) -> bool:
        path = self._path(key)
        with storage_errors():
            return path.is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        with storage_errors():
            return os.stat(path).st_size

    def delete(self, key: str) -> None:
        path = self._path(key)
        with storage_errors():
            os.unlink(path)

    def modified_at(self, key: str) -> float:
        path = self._path(key)
        with storage_errors():
            return os.stat(path).st_mtime

    def touch(self, key: str) -> bool:
        path = self._path(key)
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        except OSError:
            return self.exists(key)
        return True

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        prefix = _check_prefix(prefix)
        base = self._path(prefix) if prefix else self.root
        with storage_errors():
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                rel = Path(dirpath).relative_to(self.root).as_posix()
                for name in sorted(filenames):
                    yield name if rel == "." else f"{rel}/{name}"


class S3Backend(Backend):
    """Objects in an S3 (or S3-compatible) bucket, through fsspec's ``s3fs``.

    An object appears under its key only when its upload completes (single PUT or
    completed multipart upload), so readers never see part of one.
    """

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        staging_dir: str | Path | None = None,
        block_size: int = 8 * 1024 * 1024,
        retries: int = 5,
        filesystem: Any = None,
    ) -> None:
        """``filesystem``: an existing ``s3fs.S3FileSystem`` to share (connection setup
        costs ~0.2 s); the connection arguments are then ignored."""
        try:
            import s3fs
        except ImportError:
            raise MissingDependency.for_extra("s3fs", "s3") from None
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise InvalidInput(f"not an s3:// URI: {uri!r}", field="artifacts.uri")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        prefix = prefix.strip("/")
        if not bucket or (prefix and not _valid_prefix(prefix)):
            raise InvalidInput(
                f"invalid S3 URI {uri!r}: expected s3://bucket[/prefix]", field="artifacts.uri"
            )
        self.bucket = bucket
        self.prefix = prefix
        self.staging_dir = Path(staging_dir) if staging_dir is not None else None
        self._block_size = block_size
        if filesystem is not None:
            self._fs = filesystem
            return
        client_kwargs: dict[str, Any] = {}
        if region:
            client_kwargs["region_name"] = region
        self._fs = s3fs.S3FileSystem(
            key=access_key_id,
            secret=secret_access_key,
            endpoint_url=endpoint_url,
            client_kwargs=client_kwargs,
            skip_instance_cache=True,  # no process-wide instance sharing
            use_listings_cache=False,  # other processes write too; never trust a cache
            config_kwargs={"retries": {"max_attempts": retries}},
        )
        self._fs.retries = retries  # s3fs's own retry loop around each call

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def filesystem(self) -> Any:
        """The underlying ``s3fs.S3FileSystem``."""
        return self._fs

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self.bucket}/{self.prefix}/{key}" if self.prefix else f"{self.bucket}/{key}"

    def _split(self, key: str) -> tuple[str, str]:
        return self.bucket, self._path(key)[len(self.bucket) + 1 :]

    def _head(self, key: str) -> dict[str, Any]:
        bucket, name = self._split(key)
        with storage_errors(broad=True):
            return self._fs.call_s3("head_object", Bucket=bucket, Key=name)

    def put_file(self, key: str, local_path: Path, *, move: bool = False) -> None:
        path = self._path(key)
        with storage_errors(broad=True):
            size = os.path.getsize(local_path)
            # Bounded memory: s3fs holds up to 10 parts in flight (single PUT below 2 parts).
            part = max(_MIN_PART, self._block_size, -(-size // _MAX_PARTS))
            self._fs.put_file(os.fspath(local_path), path, chunksize=part)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        with storage_errors(broad=True):
            return self._fs.open(path, "rb", block_size=self._block_size)

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except LookupError:  # NotFound
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def modified_at(self, key: str) -> float:
        return self._head(key)["LastModified"].timestamp()

    def delete(self, key: str) -> None:
        self._head(key)  # S3 deletes of missing keys succeed silently; report NotFound
        path = self._path(key)
        with storage_errors(broad=True):
            self._fs.rm_file(path)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        prefix = _check_prefix(prefix)
        base = self._path(prefix) if prefix else f"{self.bucket}/{self.prefix}".rstrip("/")
        strip = len(self._path("x")) - 1  # length of "bucket/prefix/"
        with storage_errors(broad=True):
            found = self._fs.find(base, withdirs=False)
        for path in found:
            yield path[strip:]


def _valid_prefix(prefix: str) -> bool:
    try:
        check_key(prefix)
    except InvalidInput:
        return False
    return True


#: Makes the backend for an ``artifacts.uri`` of its scheme: ``factory(uri, settings)``.
BackendFactory = Callable[[str, "Settings"], Backend]


def _adopt(name: str, loaded: Any) -> BackendFactory:
    if not callable(loaded):
        raise InvalidInput(
            f"the artifact backend {name!r} must be a factory(uri, settings); "
            f"got {type(loaded).__name__}",
            field="artifacts.uri",
        )
    return loaded


#: The artifact backends by URI scheme.
ARTIFACT_BACKENDS: Registry[BackendFactory] = Registry(
    "artifact backend", "modelyard.artifact_backends", field="artifacts.uri", adopt=_adopt
)


def _open_local(uri: str, settings: Settings) -> Backend:
    """A ``file://`` URI (a plain folder is given as it is)."""
    if uri[:7].lower() != "file://":
        return LocalBackend(uri)
    parts = urlsplit(uri)
    if parts.netloc not in {"", "localhost"} or not parts.path:
        raise InvalidInput(
            f"unsupported file URI {uri!r}: use file:///absolute/path", field="artifacts.uri"
        )
    return LocalBackend(url2pathname(parts.path))


def _open_s3(uri: str, settings: Settings) -> Backend:
    conf = settings.artifacts
    return S3Backend(
        uri,
        endpoint_url=conf.endpoint_url,
        region=conf.region,
        access_key_id=conf.access_key_id,
        secret_access_key=conf.secret_access_key,
        staging_dir=Path(settings.home) / "tmp",
        block_size=conf.chunk_size,
    )


ARTIFACT_BACKENDS.register("file", _open_local)
ARTIFACT_BACKENDS.register("s3", _open_s3)
