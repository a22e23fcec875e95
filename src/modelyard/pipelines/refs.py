"""Pipeline references: ``MODULE:NAME`` or ``path/to/file.py:NAME``, as the command line
and schedules name a pipeline.

A module is imported from the current directory as ``python -m`` does; a file is imported
under its stem (the name a script's steps are keyed by, see
:mod:`modelyard.pipelines.fingerprint`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from modelyard.errors import InvalidInput
from modelyard.pipelines.pipeline import Pipeline

__all__ = ["load_pipeline"]


def load_pipeline(ref: str) -> Pipeline:
    """The pipeline ``MODULE:NAME`` or ``FILE.py:NAME`` names."""
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
    if not isinstance(found, Pipeline):
        raise InvalidInput(
            f"{ref} is not a pipeline (a function decorated with @modelyard.pipeline)",
            field="ref",
        )
    return found


def _import(where: str) -> ModuleType:
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise InvalidInput(f"no such file: {where}", field="ref")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"cannot import {where}", field="ref")
        module = importlib.util.module_from_spec(spec)
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
    except (ImportError, SyntaxError) as exc:
        raise InvalidInput(
            f"cannot import module {where!r}: {type(exc).__name__}: {exc}", field="ref"
        ) from None
