"""A python-function model whose class lives in the user's own module: ``code_paths``
packages that code with the version and puts it on ``sys.path`` at load, so the model
loads in a fresh process whose working directory and ``sys.path`` do not have it."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from modelyard.errors import InvalidInput
from modelyard.sdk.client import Client

MODULE = "zoo_models_for_code_paths"


@pytest.fixture
def tripler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type:
    """A model class defined in a module of the test's own folder (importable here only)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / f"{MODULE}.py").write_text(
        textwrap.dedent(
            """
            class Tripler:
                def __init__(self, offset):
                    self.offset = offset

                def predict(self, x):
                    return [3 * v + self.offset for v in x]
            """
        )
    )
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    module = importlib.import_module(MODULE)
    yield module.Tripler
    sys.modules.pop(MODULE, None)


def _load_elsewhere(client: Client, ref: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Load ``ref`` in a fresh interpreter, in an empty folder, and print its prediction."""
    settings = client.settings
    folder = tmp_path / "elsewhere"
    program = textwrap.dedent(
        f"""
        import sys
        from modelyard import Client
        from modelyard.config import load_settings

        assert {str(tmp_path / "src")!r} not in sys.path, sys.path
        settings = load_settings(
            home={str(settings.home)!r},
            store={{"url": {settings.store_url!r}}},
            registry={{"allow_code_formats": True}},
        )
        with Client(settings) as client:
            print(client.models.load({ref!r}, project="zoo").predict([1, 2]))
        """
    )
    folder.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(folder)},
    )


def test_a_model_of_the_users_own_module_loads_in_a_fresh_process(
    code_client: Client, tripler: type, tmp_path: Path
) -> None:
    code_client.projects.create("zoo")
    code_client.projects.set_setting("zoo", "registry.allow_code_formats", True)
    source = tmp_path / "src" / f"{MODULE}.py"
    with code_client.start_run("zoo"):
        bare = code_client.models.log(tripler(1), "tripler")
        packaged = code_client.models.log(tripler(1), "tripler", code_paths=[source])
    assert packaged.flavor_config["code"] == "code"
    stored = {e.path for e in code_client.blobs.read_tree(packaged.tree_digest)}
    assert stored == {"model/model.pkl", f"model/code/{source.name}"}

    loaded = _load_elsewhere(code_client, f"tripler/{packaged.version}", tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[4, 7]"
    # Without its code, the class is pickled by reference: it does not load elsewhere.
    missing = _load_elsewhere(code_client, f"tripler/{bare.version}", tmp_path)
    assert missing.returncode != 0 and MODULE in missing.stderr


def test_code_paths_are_for_flavors_that_run_code_and_must_exist(
    code_client: Client, tripler: type, tmp_path: Path
) -> None:
    code_client.projects.create("zoo")
    code_client.projects.set_setting("zoo", "registry.allow_code_formats", True)
    model = LinearRegression().fit([[1.0], [2.0]], [1.0, 2.0])
    source = tmp_path / "src" / f"{MODULE}.py"
    with code_client.start_run("zoo"), pytest.raises(InvalidInput) as exc:
        code_client.models.log(model, "lr", code_paths=[source])
    assert exc.value.field == "code_paths" and "sklearn flavor loads no code" in exc.value.message
    for bad in ([tmp_path / "nope.py"], [source, source], str(source)):
        with code_client.start_run("zoo"), pytest.raises(InvalidInput) as exc:
            code_client.models.log(tripler(0), "tripler", code_paths=bad)  # type: ignore[arg-type]
        assert exc.value.field == "code_paths"
    assert code_client.models.list_models("zoo") == []


def test_a_version_with_its_own_code_is_not_evaluated_where_the_registry_is(
    code_client: Client, tripler: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code_client.projects.create("zoo")
    code_client.projects.set_setting("zoo", "registry.allow_code_formats", True)
    with code_client.start_run("zoo"):
        code_client.models.log(
            tripler(1), "tripler", code_paths=[tmp_path / "src" / f"{MODULE}.py"]
        )
    fetched: list[str] = []
    service = code_client.model_service
    monkeypatch.setattr(service, "download", lambda version, dest: fetched.append(version.id))
    rows = pd.DataFrame({"a": [1.0, 2.0], "t": [4.0, 7.0]})
    with pytest.raises(InvalidInput) as exc:
        code_client.models.evaluate("tripler", rows, "t", project="zoo", task="regression")
    assert exc.value.field == "flavor" and "packages its own code" in exc.value.message
    assert fetched == []  # refused before its files were fetched
