"""Folders as tar streams: how a tree travels over HTTP, in both directions.

The stream is a POSIX (PAX) tar of regular files. Each member may carry the BLAKE3 digest
of its bytes in the PAX record ``MODELYARD.blake3``, so the receiver verifies what it
writes; a stream may open with a PAX global header whose record ``MODELYARD.version``
describes what the tree is (a model version's flavor, signature, ...: JSON). Reading
takes a stream (never seeks, never extracts with ``tarfile``): folders are skipped,
anything but regular files is refused, names must be clean artifact paths, and a name
may appear once and never be both a file and a folder. A stream that is cut short
or corrupt anywhere -- a header, a member's bytes, a digest record, a missing
end-of-archive block -- is refused as InvalidInput (``tarfile`` alone would take a bad
header after the first member for the end of the archive).
"""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Protocol, Self, cast

from blake3 import blake3

from modelyard.artifacts._paths import normalize_artifact_path, safe_join
from modelyard.artifacts._trees import file_and_folder, open_confined, walk_files
from modelyard.errors import CorruptBlob, InvalidInput, StorageError

__all__ = [
    "DIGEST_RECORD",
    "VERSION_RECORD",
    "Readable",
    "TarMember",
    "extract_tar",
    "read_tar",
    "tar_directory",
    "write_tar",
    "write_verified",
]

DIGEST_RECORD = "MODELYARD.blake3"
VERSION_RECORD = "MODELYARD.version"
_BLOCK = 512
_CHUNK = 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")
# An extended header (a PAX record block, a GNU long name) is metadata that tarfile reads
# whole into memory: one larger than this is refused before it is read.
MAX_EXTENDED_HEADER = 1024 * 1024
_EXTENDED_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)
# Header errors tarfile has but does not export (nor type): a block of zeros, no block.
_END_BLOCK: type[Exception] = tarfile.EOFHeaderError  # type: ignore[attr-defined]
_NO_BLOCK: type[Exception] = tarfile.EmptyHeaderError  # type: ignore[attr-defined]


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


def _not_a_tar(why: object) -> InvalidInput:
    return InvalidInput(f"not a valid tar stream: {why}", field="body")


class _StrictTarInfo(tarfile.TarInfo):
    """A member header that is whole and valid, or InvalidInput: ``tarfile`` reads a
    truncated or corrupt header after the first member, or a stream that stops without
    its end-of-archive block, as the end of the archive (a shorter tree, silently)."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        try:
            member = super().fromtarfile(tarfile_)
        except _END_BLOCK:  # a block of zeros: the end of the archive
            raise
        except _NO_BLOCK:
            if tarfile_.offset == 0:
                raise _not_a_tar("it is empty") from None
            raise _not_a_tar("it ends without its end-of-archive block (cut short?)") from None
        except tarfile.HeaderError as exc:
            raise _not_a_tar(f"a member header is cut short or corrupt ({exc})") from None
        if member.size < 0:
            raise _not_a_tar(f"member {member.name!r} has a negative size")
        return member

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        """Refuse an extended header over MAX_EXTENDED_HEADER bytes before ``tarfile``
        reads it into memory (it would read whatever size the header announces)."""
        if self.type in _EXTENDED_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise _not_a_tar(
                f"an extended header of {self.size} bytes is over {MAX_EXTENDED_HEADER}"
            )
        return super()._proc_member(tarfile_)  # type: ignore[misc]


class _MemberStream:
    """A member's bytes, read through: a stream cut short inside them is InvalidInput."""

    def __init__(self, raw: IO[bytes], path: str) -> None:
        self._raw = raw
        self._path = path

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._raw.read(size)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise _not_a_tar(f"the bytes of member {self._path!r} are cut short ({exc})") from None

    def close(self) -> None:
        self._raw.close()


def _digest_record(member: tarfile.TarInfo, path: str) -> str | None:
    digest = member.pax_headers.get(DIGEST_RECORD)
    if digest is not None and not _DIGEST.fullmatch(digest):
        raise _not_a_tar(f"member {path!r} has a {DIGEST_RECORD} record that is not a digest")
    return digest


def read_tar(fileobj: IO[bytes]) -> Iterator[tuple[str, IO[bytes], str | None]]:
    """Yield ``(artifact path, member stream, digest or None)`` for each file of a tar
    stream; InvalidInput (``field="body"``) for a stream that is not a clean tree, also
    when it is cut short while a member stream is read."""
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|", tarinfo=_StrictTarInfo) as tar:
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
                digest = _digest_record(member, path)
                stream = tar.extractfile(member)
                assert stream is not None  # a regular file always has a stream
                yield path, cast(IO[bytes], _MemberStream(stream, path)), digest
    except (tarfile.TarError, EOFError) as exc:
        raise _not_a_tar(exc) from None
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
