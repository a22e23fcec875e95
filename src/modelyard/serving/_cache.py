"""The inference server's local copy of model files: ``<cache dir>/<tree digest>/``, one
folder per version's tree, checked against that digest before each load.

A tree is fetched into a staging folder beside the others (``.staging-*``, each file
verified against its blob digest as it is written) and renamed into place, so a folder
under its digest is whole or absent. A folder whose files no longer hash to its digest
is renamed away (``.trash-*``) and removed before the fresh copy takes its name. Threads
and processes sharing the cache dir take a lock per tree (``locks/<tree digest>``):
shared while they check and load the files, alone while they fetch and replace them, and
the one that fetches checks again first (another may have just done it), so a copy being
loaded is never replaced under its reader.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from modelyard.artifacts.blobs import local_digest
from modelyard.errors import CorruptBlob, ModelUnavailable, ModelyardError

if TYPE_CHECKING:
    from modelyard.registry.contract import ModelContract
    from modelyard.registry.entities import ModelVersion

__all__ = ["FileCache", "version_name"]

log = logging.getLogger("modelyard.serving")


class FileCache:
    """Versions' files on local disk, by tree digest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, version: ModelVersion) -> Path:
        return self.root / version.tree_digest

    @contextmanager
    def checked(self, models: ModelContract, version: ModelVersion) -> Iterator[Path]:
        """The version's files, checked against its tree digest or else fetched (once),
        and kept from being replaced while the caller reads them."""
        with self._locked(version, shared=True):
            if self.intact(version):
                yield self.folder(version)
                return
        with self._locked(version, shared=False):
            intact = self.intact(version)  # another may have fetched them meanwhile
            if not intact:
                if intact is False:
                    log.warning(
                        "the cached files of model version %s do not match its digest: "
                        "fetched again",
                        version_name(version),
                    )
                self._fetch(models, version)
        with self._locked(version, shared=True):
            yield self.folder(version)

    def intact(self, version: ModelVersion) -> bool | None:
        """Whether the cached files hash to the version's tree digest, as storing them would
        (every file, no file more or less); None: none cached."""
        folder = self.folder(version)
        if not folder.is_dir():
            return None
        try:
            return local_digest(folder).digest == version.tree_digest
        except (ModelyardError, OSError):  # a file vanished, a link points out: not intact
            return False

    def _fetch(self, models: ModelContract, version: ModelVersion) -> None:
        """Download the version's files (each verified) and put them in place of a copy
        there that is not intact."""
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            try:
                models.download(version, staging)
            except CorruptBlob as exc:
                raise ModelUnavailable(
                    f"model version {version_name(version)} could not be loaded: the store's "
                    f"copy of its files is corrupt ({exc.message})"
                ) from exc
            target = self.folder(version)
            if target.exists():
                trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.root))
                os.rename(target, trash / target.name)
                shutil.rmtree(trash, ignore_errors=True)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    @contextmanager
    def _locked(self, version: ModelVersion, *, shared: bool) -> Iterator[None]:
        """Hold the version's folder: shared while reading it, alone while replacing it
        (an advisory lock on ``locks/<tree digest>``, across threads and processes)."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        path = locks / version.tree_digest
        if sys.platform == "win32":  # no shared locks: one holder at a time
            with FileLock(f"{path}.lock"):
                yield
            return
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # and the lock with it


def version_name(version: ModelVersion) -> str:
    """How a version is named in messages: project, name/number and id."""
    return f"{version.project}/{version.ref} ({version.id})"
