"""Folders as tar streams: how a tree travels over HTTP, in both directions.

The stream is a POSIX (PAX) tar of regular files. Each member may carry the BLAKE3 digest
of its bytes in the PAX record ``MODELYARD.blake3``, so the receiver verifies what it
writes. Reading takes a stream (never seeks, never extracts with ``tarfile``): folders are
skipped, anything but regular files is refused, names must be clean artifact paths, and a
name may appear once and never be both a file and a folder.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Protocol

from blake3 import blake3

from modelyard.artifacts._paths import normalize_artifact_path, safe_join
from modelyard.artifacts._trees import file_and_folder, open_confined, walk_files
from modelyard.errors import CorruptBlob, InvalidInput, StorageError

__all__ = [
    "DIGEST_RECORD",
    "Readable",
    "TarMember",
    "extract_tar",
    "read_tar",
    "tar_directory",
    "write_tar",
    "write_verified",
]

DIGEST_RECORD = "MODELYARD.blake3"
_BLOCK = 512
_CHUNK = 1024 * 1024


class Readable(Protocol):
    """A byte stream to read and close (a local file, a blob reader)."""

    def read(self, size: int = -1, /) -> bytes | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TarMember:
    """One file to put in a tar stream: its artifact path, size, how to open it, and its
    digest when known."""

    path: str
    size: int
    open: Callable[[], Readable]
    digest: str | None = None


def write_tar(members: Iterable[TarMember]) -> Iterator[bytes]:
    """Yield a tar stream of ``members``, reading each file in chunks.

    A file that is shorter or longer than its announced size raises StorageError (it
    changed while it was read); a blob reader raises CorruptBlob at its end.
    """
    for member in members:
        info = tarfile.TarInfo(member.path)
        info.size = member.size
        info.mode = 0o644
        if member.digest is not None:
            info.pax_headers = {DIGEST_RECORD: member.digest}
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
        with closing(member.open()) as src:
            remaining = member.size
            while remaining:
                chunk = src.read(min(_CHUNK, remaining))
                if not chunk:
                    raise StorageError(f"{member.path!r} changed while it was read (shorter)")
                remaining -= len(chunk)
                yield chunk
            if src.read(1):  # also lets a blob reader reach its end and verify the digest
                raise StorageError(f"{member.path!r} changed while it was read (longer)")
        if member.size % _BLOCK:
            yield b"\0" * (_BLOCK - member.size % _BLOCK)
    yield b"\0" * (2 * _BLOCK)


def tar_directory(directory: str | os.PathLike[str]) -> Iterator[bytes]:
    """A tar stream of every file under a local folder (symlinks confined to it)."""
    root = Path(directory).resolve(strict=True)
    members = [
        TarMember(rel, real.stat().st_size, partial(_open_confined, real, root))
        for rel, real in walk_files(root)
    ]
    return write_tar(members)


def _open_confined(path: Path, root: Path) -> Readable:
    return os.fdopen(open_confined(path, root), "rb")


def read_tar(fileobj: IO[bytes]) -> Iterator[tuple[str, IO[bytes], str | None]]:
    """Yield ``(artifact path, member stream, digest or None)`` for each file of a tar
    stream; InvalidInput (``field="body"``) for a stream that is not a clean tree."""
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isreg():
                    raise InvalidInput(
                        f"tar member {member.name!r} is not a regular file or folder",
                        field="body",
                    )
                path = normalize_artifact_path(member.name)
                if path in seen:
                    raise InvalidInput(f"tar member {path!r} appears twice", field="body")
                seen.add(path)
                stream = tar.extractfile(member)
                assert stream is not None  # a regular file always has a stream
                yield path, stream, member.pax_headers.get(DIGEST_RECORD)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidInput(f"not a valid tar stream: {exc}", field="body") from None
    clash = file_and_folder(sorted(seen))
    if clash is not None:
        raise InvalidInput(f"tar member {clash!r} is both a file and a folder", field="body")


def extract_tar(fileobj: IO[bytes], dest: Path) -> Path:
    """Write the files of a tar stream under ``dest`` (nothing outside it), each one
    atomically and checked against its digest record."""
    dest.mkdir(parents=True, exist_ok=True)
    for path, stream, digest in read_tar(fileobj):
        write_verified(safe_join(dest, path), _chunks(stream), digest)
    return dest


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def write_verified(target: Path, chunks: Iterable[bytes], digest: str | None) -> Path:
    """Write ``chunks`` to ``target`` atomically (temp file, fsync, rename); CorruptBlob
    and nothing written when their BLAKE3 digest is not ``digest``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.", suffix=".tmp")
    tmp = Path(name)
    try:
        hasher = blake3()
        with open(fd, "wb") as out:
            for chunk in chunks:
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = hasher.hexdigest()
        if digest is not None and actual != digest:
            raise CorruptBlob(
                f"{target.name!r} arrived corrupt: its bytes hash to {actual}, not {digest}",
                field="digest",
            )
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    return target
