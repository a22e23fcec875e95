"""Fixtures for pipeline tests: a local client, and modules written to disk and imported
(so a test can edit a step's or a helper's source between runs)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from modelyard import Client
from modelyard.config import Settings


@pytest.fixture
def pipe_client(settings: Settings) -> Iterator[Client]:
    """An embedded client on the test's store."""
    with Client(settings) as c:
        yield c


@pytest.fixture
def write_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., dict[str, ModuleType]]]:
    """``write_modules(name=source, ...)``: write each module into a fresh folder and
    import it under its name (forgetting any earlier version), so the same module
    name can hold edited source from one run to the next."""
    names: set[str] = set()
    count = 0

    def write(**sources: str) -> dict[str, ModuleType]:
        nonlocal count
        count += 1
        folder = tmp_path / f"modules_{count}"
        folder.mkdir()
        for name, source in sources.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
            sys.modules.pop(name, None)
            names.add(name)
        monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        return {name: importlib.import_module(name) for name in sources}

    yield write
    for name in names:
        sys.modules.pop(name, None)
