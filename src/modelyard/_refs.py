"""Code references: ``MODULE:NAME`` or ``path/to/file.py:NAME``, as the command line
and schedules name a pipeline. This module finds and imports what a reference names; it
knows nothing of pipelines (``modelyard.pipelines.refs.load_pipeline`` checks that the
object is one), so services below the SDK can judge a reference.

A module is imported from the current directory as ``python -m`` does; a file is imported
under its stem (the name a script's steps are keyed by, see
:mod:`modelyard.pipelines.fingerprint`, and the name a worker process imports its steps
by). A file whose stem is the name of another module -- one already imported, or one the
import system would find elsewhere (``typing.py``, ``json.py``) -- is refused: loading it
would replace that module for the whole process, and a worker would import the other one.
A file loaded earlier from another folder under the same stem may be replaced.

:class:`PipelineSources` is what an administrator lets a worker import: the top-level
packages of ``MODULE:NAME`` references and the folder of ``FILE.py:NAME`` references
(settings ``worker.pipeline_packages`` and ``worker.pipeline_dir``). It checks a
reference without importing anything, so a server can judge a reference a request sent.
"""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = ["PipelineSources", "load_object", "not_a_pipeline"]

_PACKAGES_SETTING = "worker.pipeline_packages (MODELYARD_WORKER_PIPELINE_PACKAGES)"
_DIR_SETTING = "worker.pipeline_dir (MODELYARD_WORKER_PIPELINE_DIR)"


@dataclass(frozen=True)
class PipelineSources:
    """The code a worker may import for a pipeline reference: modules of ``packages``
    (top-level names) for ``MODULE:NAME``, files under ``folder`` for ``FILE.py:NAME``."""

    packages: frozenset[str]
    folder: Path

    @classmethod
    def of(cls, packages: Iterable[str], folder: Path) -> PipelineSources:
        return cls(frozenset(packages), folder.resolve())

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineSources:
        """``worker.pipeline_packages`` and ``worker.pipeline_dir`` (default: the working
        directory)."""
        conf = settings.worker
        return cls.of(conf.pipeline_packages, conf.pipeline_dir or Path.cwd())

    def check(self, ref: str) -> str:
        """``ref`` as stored (a file by its absolute path, a relative one taken from
        :attr:`folder`), or InvalidInput when it is no reference or names code outside
        these sources. Nothing is imported (a file is only looked at)."""
        where, sep, name = ref.rpartition(":")
        if not sep or not where or not name:
            raise InvalidInput(
                f"not a pipeline reference: {ref!r}; use MODULE:PIPELINE or FILE.py:PIPELINE",
                field="ref",
            )
        if not _is_identifier(name):
            raise InvalidInput(
                f"not a pipeline reference: {name!r} is not a Python name", field="ref"
            )
        if where.endswith(".py"):
            return f"{self._check_file(where)}:{name}"
        parts = where.split(".")
        if not all(_is_identifier(part) for part in parts):
            raise InvalidInput(
                f"cannot import {where!r}: not a module name (dotted Python names)", field="ref"
            )
        if any(part.startswith("__") and part.endswith("__") for part in parts):
            raise InvalidInput(
                f"cannot import {where!r}: a module named like __main__ runs a program "
                "when imported",
                field="ref",
            )
        if parts[0] not in self.packages:
            allowed = ", ".join(sorted(self.packages)) or "none"
            raise InvalidInput(
                f"module {where!r} is not in a package pipelines may be imported from "
                f"(allowed: {allowed}); an administrator lists packages in {_PACKAGES_SETTING}",
                field="ref",
            )
        return ref

    def _check_file(self, where: str) -> Path:
        path = (self.folder / where).resolve()
        if not path.is_relative_to(self.folder):
            raise InvalidInput(
                f"a pipeline file must lie under {self.folder} (after symlinks), set by "
                f"{_DIR_SETTING}; got {where}",
                field="ref",
            )
        if not path.is_file():
            raise InvalidInput(f"no such file: {where}", field="ref")
        _check_stem(path)
        return path


def _is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


#: Set on the modules :func:`load_object` loads from a file.
_LOADED_FROM_FILE = "__modelyard_pipeline_file__"


def load_object(ref: str) -> object:
    """The object ``MODULE:NAME`` or ``FILE.py:NAME`` names (its module imported)."""
    where, sep, name = ref.rpartition(":")
    if not sep or not where or not name:
        raise InvalidInput(
            f"not a pipeline reference: {ref!r}; use MODULE:PIPELINE or FILE.py:PIPELINE",
            field="ref",
        )
    module = _import(where)
    found = getattr(module, name, None)
    if found is None:
        raise InvalidInput(f"module {where!r} has no attribute {name!r}", field="ref")
    return found


def not_a_pipeline(ref: str) -> InvalidInput:
    """The error for a reference to something that is not a pipeline."""
    return InvalidInput(
        f"{ref} is not a pipeline (a function decorated with @modelyard.pipeline)", field="ref"
    )


def _import(where: str) -> ModuleType:
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise InvalidInput(f"no such file: {where}", field="ref")
        _check_stem(path)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"cannot import {where}", field="ref")
        module = importlib.util.module_from_spec(spec)
        setattr(module, _LOADED_FROM_FILE, True)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
        except (ImportError, SyntaxError) as exc:
            raise InvalidInput(
                f"cannot import {where}: {type(exc).__name__}: {exc}", field="ref"
            ) from None
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as ``python -m`` does
    try:
        return importlib.import_module(where)
    except (ImportError, SyntaxError, TypeError) as exc:  # TypeError: a relative name
        raise InvalidInput(
            f"cannot import module {where!r}: {type(exc).__name__}: {exc}", field="ref"
        ) from None


def _check_stem(path: Path) -> None:
    """Refuse ``path`` when its stem names another module (see the module docstring)."""
    name = path.stem
    if not name.isidentifier():
        raise InvalidInput(
            f"cannot import {path}: {name!r} is not a module name (letters, digits and _)",
            field="ref",
        )
    loaded = sys.modules.get(name)
    if loaded is not None:
        if getattr(loaded, _LOADED_FROM_FILE, False):
            return
        other = getattr(loaded, "__file__", None) or "built in"
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        other = spec.origin if spec is not None and spec.origin else None
        if other is None:
            return
    if other != "built in" and Path(other).resolve() == path.resolve():
        return
    raise InvalidInput(
        f"cannot import {path} as module {name!r}: that is the name of another module "
        f"({other}); rename the file",
        field="ref",
    )
