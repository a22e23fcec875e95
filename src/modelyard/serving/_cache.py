"""The inference server's local copy of model files: ``<cache dir>/<tree digest>/``, one
folder per version's tree, checked against that digest before each load.

A tree is fetched into a staging folder beside the others (``.staging-*``, each file
verified against its blob digest as it is written) and renamed into place, so a folder
under its digest is whole or absent: processes sharing the cache dir never see half of
one, and the first to finish wins (the others' copies are the same files). A folder
whose files no longer hash to its digest is renamed away (``.trash-*``) and removed
before the fresh copy takes its name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.artifacts.blobs import local_digest
from modelyard.errors import ModelyardError

if TYPE_CHECKING:
    from modelyard.registry.contract import ModelContract
    from modelyard.registry.entities import ModelVersion

__all__ = ["FileCache"]


class FileCache:
    """Versions' files on local disk, by tree digest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, version: ModelVersion) -> Path:
        return self.root / version.tree_digest

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

    def fetch(self, models: ModelContract, version: ModelVersion) -> Path:
        """Download the version's files (each verified) and put them in place, replacing a
        copy there that is not intact."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            models.download(version, staging)
            target = self.folder(version)
            if target.exists():
                self._discard(target)
            try:
                staging.rename(target)
            except OSError:  # another process put its copy first: the same files
                if self.intact(version) is not True:
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return target

    def _discard(self, folder: Path) -> None:
        trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.root))
        try:
            os.rename(folder, trash / folder.name)
        except FileNotFoundError:  # another process discarded it first
            pass
        finally:
            shutil.rmtree(trash, ignore_errors=True)
