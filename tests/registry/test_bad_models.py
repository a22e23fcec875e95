"""Bad input to the registry (issue 12, item 13), each refused with a clear error and
nothing registered: a signature that does not match the input example, and a version whose
recorded packages are missing where it is loaded."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from modelyard.errors import InvalidInput, MissingDependency
from modelyard.registry import infer_signature
from modelyard.registry.flavors import FLAVORS
from modelyard.sdk.client import Client


def _fitted() -> tuple[LinearRegression, pd.DataFrame]:
    x = pd.DataFrame({"hr": [1, 2, 3, 4], "temp": [0.1, 0.2, 0.3, 0.5]})
    return LinearRegression().fit(x, [1.0, 2.0, 3.0, 4.0]), x


@pytest.mark.parametrize(
    ("declared", "column", "why"),
    [
        (pd.DataFrame({"hr": [1], "temp": [0.1], "hum": [0.5]}), "hum", "not in the example"),
        (pd.DataFrame({"hr": [1]}), "temp", "not in the signature"),
        (pd.DataFrame({"hr": ["1"], "temp": [0.1]}), "hr", "string in the signature"),
        (np.ones((1, 2)), None, "takes a tensor"),
    ],
)
def test_a_signature_that_does_not_match_the_example_is_refused(
    client: Client, declared: object, column: str | None, why: str
) -> None:
    model, x = _fitted()
    with client.start_run("bikes"), pytest.raises(InvalidInput) as exc:
        client.models.log(model, "lr", input_example=x[:2], signature=infer_signature(declared))
    assert exc.value.field == "signature"
    assert why in exc.value.message
    if column is not None:
        assert repr(column) in exc.value.message
    assert client.models.list_models("bikes") == []


def test_a_signature_with_missing_values_where_it_has_none_is_refused(client: Client) -> None:
    model, x = _fitted()
    signature = infer_signature(x)  # no missing values
    example = x.astype({"hr": "Int64"})
    example.loc[0, "hr"] = pd.NA
    with client.start_run("bikes"), pytest.raises(InvalidInput, match="'hr' has missing"):
        client.models.log(model, "lr", input_example=example, signature=signature)
    # An integer example for a float column, and a nullable column without missing values
    # in the example, agree.
    wider = infer_signature(x.astype({"hr": "float64", "temp": "Float64"}))
    with client.start_run("bikes"):
        mv = client.models.log(model, "lr", input_example=x[:2], signature=wider)
    assert mv.signature == wider


def test_the_service_checks_the_stored_example_against_the_signature(
    client: Client, tmp_path: Path
) -> None:
    """A folder registered directly (as a server registers an upload): the signature is
    checked against the example file kept with it."""
    folder = tmp_path / "files"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.skops").write_bytes(b"bytes")
    pd.DataFrame({"hr": [1, 2]}).to_parquet(folder / "input_example.parquet", index=False)
    declared = infer_signature(pd.DataFrame({"hr": [1], "temp": [0.2]}))
    with pytest.raises(InvalidInput) as exc:
        client.models.service.register(
            "lr",
            folder,
            project="bikes",
            flavor="sklearn",
            signature=declared,
            input_example="input_example.parquet",
        )
    assert exc.value.field == "signature" and "'temp'" in exc.value.message
    with pytest.raises(Exception, match="does not exist"):
        client.models.service.get_model("lr", project="bikes")


def test_a_version_whose_packages_are_missing_names_the_package_and_the_extra(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = _fitted()
    with client.start_run("bikes"):
        logged = client.models.log(model, "lr")
    folder = tmp_path / "files"
    client.models.service.download(logged, folder)
    (folder / "model" / "marker").write_text("another version")
    lightgbm = importlib.metadata.version("lightgbm")
    recorded = {**logged.packages, "lightgbm": lightgbm, "no-such-package-xyz": "1.0"}
    client.models.service.register(
        "lr",
        folder,
        project="bikes",
        flavor="sklearn",
        flavor_config=logged.flavor_config,
        packages=recorded,
    )
    installed = importlib.metadata.version

    def without_lightgbm(name: str) -> str:  # this process as one without the extra
        if name == "lightgbm":
            raise importlib.metadata.PackageNotFoundError(name)
        return installed(name)

    monkeypatch.setattr(importlib.metadata, "version", without_lightgbm)
    loads: list[Path] = []
    monkeypatch.setattr(
        type(FLAVORS.get("sklearn")), "load", lambda self, folder, config, trusted: loads.append(1)
    )
    with pytest.raises(MissingDependency) as exc:
        client.models.load("lr/2", project="bikes")
    message = str(exc.value)
    assert f"model bikes/lr/2 needs the package lightgbm=={lightgbm}, which is not" in message
    assert f"pip install 'modelyard[lightgbm]' 'lightgbm=={lightgbm}'" in message
    assert not isinstance(exc.value.__cause__, ImportError) and loads == []
    monkeypatch.setattr(importlib.metadata, "version", installed)
    with pytest.raises(MissingDependency, match=r"pip install 'no-such-package-xyz==1\.0'"):
        client.models.load("lr/2", project="bikes")
    assert loads == []
