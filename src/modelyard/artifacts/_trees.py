"""Directory trees: walking a source folder safely and the manifest format.

A manifest is canonical JSON (sorted keys, no spaces, UTF-8)::

    {"entries":[{"digest":"...","path":"a/b.txt","size":3},...],"format":"modelyard-tree/1"}

with entries sorted by path, so the same directory always has the same manifest digest.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.artifacts._paths import normalize_artifact_path
from modelyard.errors import InvalidInput

__all__ = [
    "MANIFEST_FORMAT",
    "TreeEntry",
    "decode_manifest",
    "encode_manifest",
    "file_and_folder",
    "manifest_digests",
    "open_confined",
    "walk_files",
]

MANIFEST_FORMAT = "modelyard-tree/1"
MANIFEST_PREFIX = b'{"entries":'
_DIGEST_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file of a stored directory: its relative posix path, blob digest and size."""

    path: str
    digest: str
    size: int


def encode_manifest(entries: list[TreeEntry]) -> bytes:
    """The canonical manifest bytes for ``entries``."""
    doc = {
        "entries": [
            {"digest": e.digest, "path": e.path, "size": e.size}
            for e in sorted(entries, key=lambda e: e.path)
        ],
        "format": MANIFEST_FORMAT,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _bad(digest: str, why: str) -> InvalidInput:
    return InvalidInput(f"blob {digest} is not a tree manifest: {why}", field="digest")


def _entry(digest: str, item: Any, *, names: bool) -> TreeEntry:
    if not isinstance(item, dict) or set(item) != {"path", "digest", "size"}:
        raise _bad(digest, "an entry does not have exactly path, digest and size")
    path, blob, size = item["path"], item["digest"], item["size"]
    if not isinstance(path, str) or (names and normalize_artifact_path(path) != path):
        raise _bad(digest, f"entry path {path!r} is not a normalized relative path")
    if not isinstance(blob, str) or len(blob) != 64 or not set(blob) <= _DIGEST_CHARS:
        raise _bad(digest, f"entry {path!r} has an invalid digest")
    if type(size) is not int or size < 0:
        raise _bad(digest, f"entry {path!r} has an invalid size")
    return TreeEntry(path, blob, size)


def _entries(digest: str, data: bytes, *, names: bool) -> list[TreeEntry]:
    """The entries of manifest bytes; ``names``: each path must be a valid artifact name."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise _bad(digest, "not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise _bad(digest, f"format is not {MANIFEST_FORMAT!r}")
    items = doc.get("entries")
    if set(doc) != {"entries", "format"} or not isinstance(items, list):
        raise _bad(digest, "unexpected structure")
    return [_entry(digest, item, names=names) for item in items]


def manifest_digests(digest: str, data: bytes) -> list[str]:
    """The member digests of manifest bytes, whatever names the members have: a manifest
    stored before a stricter artifact-name rule still says which blobs it holds."""
    return [entry.digest for entry in _entries(digest, data, names=False)]


def decode_manifest(digest: str, data: bytes) -> list[TreeEntry]:
    """Parse and validate manifest bytes (paths confined, sorted, unique, no clashes)."""
    entries = _entries(digest, data, names=True)
    paths = [e.path for e in entries]
    if paths != sorted(set(paths)):
        raise _bad(digest, "entries are not sorted and unique")
    clash = file_and_folder(paths)
    if clash is not None:
        raise _bad(digest, f"{clash!r} is both a file and a folder")
    return entries


def file_and_folder(paths: list[str]) -> str | None:
    """A path of ``paths`` that another path uses as a folder, if there is one."""
    files = set(paths)
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                return folder
    return None


def _reject(path: str, why: str) -> InvalidInput:
    return InvalidInput(f"cannot store {path!r}: {why}", field="path")


def walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Yield ``(relative posix path, real file path)`` for every file under ``root``.

    ``root`` must be resolved. Symlinks are followed only when they resolve inside
    ``root`` (otherwise :class:`InvalidInput`); loops, dangling links and special files
    (FIFOs, sockets, devices) are refused.
    """
    stack: list[tuple[Path, str, frozenset[Path]]] = [(root, "", frozenset({root}))]
    while stack:
        folder, prefix, ancestors = stack.pop()
        with os.scandir(folder) as it:
            items = sorted(it, key=lambda e: e.name)
        subdirs = []
        for item in items:
            rel = prefix + item.name
            real = Path(item.path)
            if item.is_symlink():
                real = Path(os.path.realpath(item.path))
                if not real.is_relative_to(root):
                    raise _reject(rel, f"it is a symlink that points outside {str(root)!r}")
            try:
                mode = real.stat().st_mode
            except FileNotFoundError:
                raise _reject(rel, "it is a dangling symlink") from None
            if stat.S_ISDIR(mode):
                if real in ancestors:
                    raise _reject(rel, "it is a symlink loop")
                subdirs.append((real, rel + "/", ancestors | {real}))
            elif stat.S_ISREG(mode):
                if normalize_artifact_path(rel) != rel:
                    raise _reject(rel, "the name is not a valid artifact path")
                yield rel, real
            else:
                raise _reject(rel, "it is not a regular file or folder")
        stack.extend(reversed(subdirs))


def open_confined(path: Path, root: Path) -> int:
    """Open ``path`` for reading, refusing a swapped-in symlink or anything outside ``root``."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _reject(str(path), "it is not a regular file")
        if sys.platform.startswith("linux"):  # where the fd really points, after any race
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if not real.is_relative_to(root):
                raise _reject(str(path), f"it resolves outside {str(root)!r}")
    except BaseException:
        os.close(fd)
        raise
    return fd
