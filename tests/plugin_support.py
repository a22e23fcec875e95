"""A third-party package for tests: a module written to disk, declared as an entry point
(``importlib.metadata.entry_points`` patched to list it, as if it were installed)."""

from __future__ import annotations

import importlib.metadata
import secrets
import textwrap
from pathlib import Path
from typing import Any

import pytest


def install_entry_point(
    monkeypatch: pytest.MonkeyPatch, folder: Path, group: str, name: str, source: str
) -> str:
    """Write ``source`` as a module of its own under ``folder`` and declare its ``ENTRY``
    as the entry point ``name`` of ``group``; returns the module's name (not imported)."""
    module = f"modelyard_plugin_{secrets.token_hex(4)}"
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(folder))
    point = importlib.metadata.EntryPoint(name=name, value=f"{module}:ENTRY", group=group)
    listed = importlib.metadata.entry_points

    def entry_points(**params: Any) -> importlib.metadata.EntryPoints:
        found = listed(**params)
        if params.get("group") != group:
            return found
        return importlib.metadata.EntryPoints([*found, point])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return module
