"""Artifact bytes over HTTP: upload and download, streamed and verified.

A file travels as ``application/octet-stream``; a folder as a tar stream
(``application/x-tar``) built while it is sent and unpacked while it arrives. Downloads
are checked against the digest the server sends (the ``ETag``, and a digest record per
file of a tar), and written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from urllib.parse import quote

import httpx
from blake3 import blake3

from modelyard.artifacts import safe_join
from modelyard.artifacts._tar import extract_tar, tar_directory, write_verified
from modelyard.errors import CorruptBlob, InvalidInput, StorageError
from modelyard.remote._http import Content, HttpSession
from modelyard.tracking.entities import ArtifactInfo, ArtifactSource, TarArchive

__all__ = ["RemoteArtifacts"]

_CHUNK = 1024 * 1024


class RemoteArtifacts:
    """Uploads and downloads of a run's artifacts on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def upload(self, run_id: str, name: str, source: ArtifactSource) -> ArtifactInfo:
        """Store bytes, a local file, a local folder (as a tree) or a tar archive of one
        (as a tree) as artifact ``name``."""
        headers = {"Content-Type": "application/octet-stream"}
        content: Content  # a stream is made anew for each attempt
        if isinstance(source, bytes):
            content = source
        elif isinstance(source, TarArchive):
            size = source.path.stat().st_size
            headers |= {"Content-Type": "application/x-tar", "Content-Length": str(size)}
            content = partial(_file_chunks, source.path, size)
        elif source.is_dir():
            headers["Content-Type"] = "application/x-tar"
            content = partial(tar_directory, source)
        else:
            size = source.stat().st_size
            headers["Content-Length"] = str(size)
            content = partial(_file_chunks, source, size)
        answer = self.http.call(
            "PUT", _content_path(run_id), params={"path": name}, content=content, headers=headers
        ).json()
        return ArtifactInfo(
            path=answer["path"],
            digest=answer["digest"],
            kind=answer["kind"],
            size=answer["size"],
            created_at=answer["created_at"],
        )

    def download(self, run_id: str, name: str, dest: Path) -> Path:
        """Write artifact ``name`` (a file, or a tree as a folder) under ``dest``."""
        target = safe_join(dest, name)
        target.parent.mkdir(parents=True, exist_ok=True)  # fail here, not mid-download
        with self.http.stream(_content_path(run_id), {"path": name}) as response:
            if response.headers.get("X-Modelyard-Kind") == "tree":
                extract_tar(io.BufferedReader(_ChunkReader(response.iter_bytes())), target)
            else:
                write_verified(target, response.iter_bytes(_CHUNK), _etag(response))
        return target

    def read(self, run_id: str, name: str) -> bytes:
        """The bytes of a file artifact, verified."""
        with self.http.stream(_content_path(run_id), {"path": name}) as response:
            if response.headers.get("X-Modelyard-Kind") == "tree":
                raise InvalidInput(f"{name!r} is a directory; use download_artifact", field="path")
            data = response.read()
        if blake3(data).hexdigest() != _etag(response):
            raise CorruptBlob(f"artifact {name!r} arrived corrupt", field="digest")
        return data


def _content_path(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}/artifacts/content"


def _etag(response: httpx.Response) -> str:
    """The digest the server vouches for."""
    return response.headers.get("ETag", "").strip('"')


def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of a file, or StorageError if it changed meanwhile."""
    with open(path, "rb") as src:
        remaining = size
        while remaining:
            chunk = src.read(min(_CHUNK, remaining))
            if not chunk:
                raise StorageError(f"{os.fspath(path)!r} changed while it was uploaded")
            remaining -= len(chunk)
            yield chunk


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
