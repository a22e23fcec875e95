"""``scripts/ui_screenshots.py``: the demo home it seeds records neither the paths nor the
user name of the machine that takes the pictures (the command as ``modelyard ARGS``, the
entry point as ``-m modelyard``, the operating-system user as ``demo``), and every page in
its list is a page of the UI and has its picture in ``docs/ui/``, named in the README or
``docs/ui.md``."""

from __future__ import annotations

import getpass
import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

import modelyard
from modelyard.api import create_app
from modelyard.api.auth import no_auth
from modelyard.config import Settings
from modelyard.sdk.client import Client
from pipeline_files import PIPES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shots() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "ui_screenshots", ROOT / "scripts" / "ui_screenshots.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_seeded_run_records_the_command_not_the_machine(
    shots: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(modelyard.__file__).parent.parent))
    folder = tmp_path / "seeded-in-a-folder-of-this-machine"
    folder.mkdir()
    (folder / "pipes.py").write_text(PIPES)  # its pipeline tick
    home = folder / "home"

    shots.modelyard(
        home, "pipelines", "run", "pipes.py:tick", "-p", "shots", stdout=subprocess.DEVNULL
    )

    with Client(Settings(home=home)) as client:
        runs = [client.get_run(r.id) for r in client.search_runs("shots", output="list")]
    assert runs
    for run in runs:
        assert (run.user, run.entry_point) == (shots.OS_USER, "modelyard")
        assert run.tags.get("source.entry_point", "-m modelyard") == "-m modelyard"
        assert run.tags.get("user", shots.OS_USER) == shots.OS_USER
        recorded = json.dumps([run.tags, run.user, run.entry_point])
        assert str(tmp_path) not in recorded and str(ROOT) not in recorded
        assert f'"{getpass.getuser()}"' not in recorded
    argv = {r.tags["source.argv"] for r in runs if "source.argv" in r.tags}
    assert argv == {json.dumps(["modelyard", "pipelines", "run", "pipes.py:tick", "-p", "shots"])}


def ui_paths(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    """The paths of the GET routes in ``routes`` and the routers they include."""
    found: list[str] = []
    for route in routes:
        if isinstance(route, APIRoute):
            if "GET" in route.methods:
                found.append(prefix + route.path)
        elif (router := getattr(route, "original_router", None)) is not None:
            found += ui_paths(router.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
    return found


def test_every_page_in_the_list_is_a_page_of_the_ui(shots: ModuleType, tmp_path: Path) -> None:
    from modelyard.examples.quickstart_monitoring import DEPLOYMENT

    assert shots.DEPLOYMENT == DEPLOYMENT
    app = create_app(Settings(home=tmp_path / "home"), auth=no_auth)
    pages = [re.compile("^" + re.sub(r"{\w+}", "[^/]+", p) + "$") for p in ui_paths(app.routes)]
    for name, path, _ in shots.PAGES:
        filled = path.format(project="p", deployment="d", run="r").partition("?")[0]
        assert any(page.match(filled) for page in pages), (name, path)


def test_every_picture_is_in_docs_ui_and_shown_in_the_docs(shots: ModuleType) -> None:
    docs = (ROOT / "README.md").read_text() + (ROOT / "docs" / "ui.md").read_text()
    for name, _, _ in shots.PAGES:
        picture = ROOT / "docs" / "ui" / f"{name}.png"
        assert picture.is_file(), picture
        assert f"ui/{name}.png" in docs, name
