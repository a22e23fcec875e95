"""Flavors: scikit-learn through skops (trusted types only), the python-function flavor
only where code-running formats are allowed, third-party flavors by entry point, package
checks at load, and blobs verified before anything is loaded."""

from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from modelyard.artifacts.blobs import blob_key
from modelyard.errors import CorruptBlob, InvalidInput, MissingDependency
from modelyard.registry.flavors import FLAVORS, PackageMismatch, flavor_for
from modelyard.sdk.client import Client
from plugin_support import install_entry_point

TREE = "sklearn.tree._tree.Tree"


class Doubler:
    """A model with predict: the python-function flavor's."""

    def predict(self, x: Any) -> Any:
        return np.asarray(x) * 2


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.random(50), "b": rng.random(50)})
    return x, (x["a"] > 0.5).astype(int)


def test_a_forest_loads_only_when_its_untrusted_types_are_named(client: Client) -> None:
    x, y = _data()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    with client.start_run("churn"):
        mv = client.models.log(forest, "rf", input_example=x[:3])
    client.models.set_alias("rf", "champion", mv.version, project="churn")
    with pytest.raises(InvalidInput) as exc:
        client.models.load("rf@champion", project="churn")
    assert exc.value.field == "trusted" and TREE in exc.value.message
    loaded = client.models.load("rf@champion", project="churn", trusted=[TREE])
    assert type(loaded) is RandomForestClassifier
    assert (loaded.predict(x) == forest.predict(x)).all()
    assert (
        client.models.load("rf", 1, project="churn", trusted=[TREE]).predict(x) == forest.predict(x)
    ).all()


def test_a_linear_model_needs_no_trusted_types_and_saves_the_same_bytes(client: Client) -> None:
    x, y = _data()
    model = LogisticRegression().fit(x, y)
    with client.start_run("churn"):
        first = client.models.log(model, "lr")
        second = client.models.log(LogisticRegression().fit(x, y), "lr")  # refitted: same bytes
    assert second.id == first.id and second.tree_digest == first.tree_digest
    loaded = client.models.load("lr/1", project="churn")
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x))


def test_a_python_function_model_is_refused_while_code_formats_are_off(client: Client) -> None:
    with client.start_run("lab"), pytest.raises(InvalidInput) as exc:
        client.models.log(Doubler(), "doubler", input_example=np.ones((2, 3)))
    assert exc.value.field == "flavor"
    assert "registry.allow_code_formats" in exc.value.message
    assert client.models.list_models("lab") == []


def test_a_python_function_model_round_trips_where_allowed(
    code_client: Client, client: Client
) -> None:
    code_client.projects.create("lab")
    code_client.projects.set_setting("lab", "registry.allow_code_formats", True)
    with code_client.start_run("lab"):
        mv = code_client.models.log(Doubler(), "doubler", input_example=np.ones((2, 3)))
    assert mv.flavor == "python_function"
    assert mv.signature is not None and mv.signature.inputs.tensor is not None
    assert mv.signature.inputs.tensor.shape == (-1, 3)
    loaded = code_client.models.load("doubler", project="lab")
    assert (loaded.predict([1, 2]) == [2, 4]).all()
    # The same store read by an installation that does not allow code formats: refused.
    with pytest.raises(InvalidInput) as exc:
        client.models.load("doubler", project="lab")
    assert "registry.allow_code_formats" in exc.value.message


def test_an_object_no_flavor_saves_names_the_flavors_and_how_to_add_one(client: Client) -> None:
    with client.start_run("lab"), pytest.raises(InvalidInput) as exc:
        client.models.log(object(), "thing")
    assert exc.value.field == "model"
    assert "sklearn, python_function" in exc.value.message
    assert "modelyard.flavors" in exc.value.message
    with client.start_run("lab"), pytest.raises(InvalidInput) as exc:
        client.models.log(Doubler(), "thing", flavor="sklearn")
    assert exc.value.field == "flavor"


def test_a_third_party_flavor_is_found_by_entry_point(
    client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(FLAVORS, "_entries", dict(FLAVORS._entries))  # forgotten after
    monkeypatch.setattr(FLAVORS, "_all_loaded", False)
    install_entry_point(
        monkeypatch,
        tmp_path,
        "modelyard.flavors",
        "text",
        """
        from pathlib import Path

        class Text:
            name = "text"
            runs_code = False
            priority = 5

            def handles(self, model):
                return isinstance(model, str)

            def packages(self, model):
                return []

            def save(self, model, folder):
                (Path(folder) / "model.txt").write_text(model)
                return {"file": "model.txt"}

            def load(self, folder, config, *, trusted):
                return (Path(folder) / config["file"]).read_text()

        ENTRY = Text()
        """,
    )
    assert flavor_for("hello").name == "text"
    with client.start_run("lab"):
        mv = client.models.log("hello", "greeting")
    assert mv.flavor == "text"
    assert client.models.load("greeting", project="lab") == "hello"


def test_a_package_of_another_version_warns_and_a_missing_one_is_refused(
    client: Client, tmp_path: Path
) -> None:
    x, y = _data()
    with client.start_run("lab"):
        client.models.log(LogisticRegression().fit(x, y), "lr")
    service = client.models.service
    version = service.get_version("lr", project="lab")
    folder = tmp_path / "files"
    service.download(version, folder)

    def register(packages: dict[str, str]) -> None:
        (folder / "model" / "marker").write_text(str(packages))  # new bytes: a new version
        service.register(
            "lr",
            folder,
            project="lab",
            flavor="sklearn",
            flavor_config=version.flavor_config,
            packages=packages,
        )

    register({"scikit-learn": "0.0.1"})
    with pytest.warns(PackageMismatch, match=r"scikit-learn==0\.0\.1"):
        client.models.load("lr/2", project="lab")
    register({"no-such-package-xyz": "1.0"})
    with pytest.raises(MissingDependency, match=r"pip install 'no-such-package-xyz==1\.0'"):
        client.models.load("lr/3", project="lab")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.models.load("lr/1", project="lab")  # the versions it was saved with: quiet
    assert version.packages["scikit-learn"] == importlib.metadata.version("scikit-learn")


@pytest.mark.local_only("tampers with the blob store on disk")
def test_a_corrupt_blob_is_refused_and_never_loaded(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _data()
    with client.start_run("lab"):
        mv = client.models.log(LogisticRegression().fit(x, y), "lr")
    member = client.blobs.read_tree(mv.tree_digest)[0]
    path = Path(client.settings.artifacts_uri) / blob_key(member.digest)
    path.chmod(0o644)
    path.write_bytes(b"tampered" + path.read_bytes()[8:])
    loads: list[Path] = []
    monkeypatch.setattr(
        type(FLAVORS.get("sklearn")),
        "load",
        lambda self, folder, config, trusted: loads.append(folder),
    )
    with pytest.raises(CorruptBlob):
        client.models.load("lr", project="lab")
    assert loads == []
