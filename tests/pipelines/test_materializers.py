"""Materializers: chosen by type, exact round trips, user registration."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression

from modelyard import Client, CorruptBlob, InvalidInput
from modelyard.pipelines import materializers, register_materializer
from modelyard.pipelines.execute import load_output
from modelyard.pipelines.materializers import materializer_for, materializer_named
from modelyard.steps.entities import OutputRef
from plugin_support import install_entry_point


def _round_trip(value: Any, tmp_path: Path) -> tuple[str, str, Any]:
    m = materializer_for(value)
    path = m.save(value, tmp_path)
    return m.name, path.name, materializer_named(m.name).load(path)


def test_dataframes_and_arrow_tables_are_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[10, 20])
    name, file, back = _round_trip(frame, tmp_path)
    assert (name, file) == ("pandas", "output.parquet")
    pd.testing.assert_frame_equal(back, frame)  # the index survives

    table = pa.table({"a": [1, 2]})
    name, file, back = _round_trip(table, tmp_path)
    assert (name, file) == ("arrow", "output.parquet")
    assert back.equals(table)


def test_numpy_arrays_are_npy_unless_they_hold_objects(tmp_path: Path) -> None:
    name, file, back = _round_trip(np.arange(6).reshape(2, 3), tmp_path)
    assert (name, file) == ("numpy", "output.npy")
    np.testing.assert_array_equal(back, np.arange(6).reshape(2, 3))
    assert materializer_for(np.array([{"a": 1}], dtype=object)).name == "pickle"


@pytest.mark.parametrize(
    "value", [{"a": [1, 2.5, None, True, "s"]}, [1, 2], "text", 3, 2.5, True, None]
)
def test_json_values_are_json(value: Any, tmp_path: Path) -> None:
    name, file, back = _round_trip(value, tmp_path)
    assert (name, file) == ("json", "output.json")
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize(
    "value", [{1: "int key"}, {"t": (1, 2)}, [float("nan")], {"x": {1, 2}}, [np.int64(3)]]
)
def test_values_json_would_change_are_pickled(value: Any, tmp_path: Path) -> None:
    name, _, back = _round_trip(value, tmp_path)
    assert name == "pickle"
    assert repr(back) == repr(value)


def test_bytes_are_raw(tmp_path: Path) -> None:
    assert _round_trip(b"\x00\x01", tmp_path) == ("bytes", "output.bin", b"\x00\x01")


def test_estimators_and_other_objects_are_pickled_with_joblib(tmp_path: Path) -> None:
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    name, file, back = _round_trip(model, tmp_path)
    assert (name, file) == ("sklearn", "output.joblib")
    assert back.predict([[2.0]]) == pytest.approx([4.0])
    assert _round_trip(Path("x"), tmp_path)[:2] == ("pickle", "output.joblib")


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees


class _CelsiusText:
    name = "celsius-text"

    def save(self, value: Any, directory: Path) -> Path:
        path = directory / "output.txt"
        path.write_text(f"{value.degrees}C")
        return path

    def load(self, path: Path) -> Any:
        return Celsius(float(path.read_text().removesuffix("C")))


@pytest.fixture
def restore_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Materializers registered (or loaded from entry points) by a test are forgotten
    after it."""
    monkeypatch.setattr(materializers, "_BY_TYPE", list(materializers._BY_TYPE))
    monkeypatch.setattr(materializers._BY_NAME, "_entries", dict(materializers._BY_NAME._entries))
    monkeypatch.setattr(materializers._BY_NAME, "_all_loaded", False)


@pytest.mark.usefixtures("restore_registry")
def test_users_register_their_own_materializers(tmp_path: Path) -> None:
    register_materializer(Celsius, _CelsiusText())
    name, file, back = _round_trip(Celsius(21.5), tmp_path)
    assert (name, file) == ("celsius-text", "output.txt")
    assert back.degrees == 21.5


@pytest.mark.usefixtures("restore_registry")
def test_registration_is_checked() -> None:
    with pytest.raises(InvalidInput, match="needs a name and save"):
        register_materializer(Celsius, object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="another materializer is named 'json'"):
        other = _CelsiusText()
        other.name = "json"
        register_materializer(Celsius, other)
    with pytest.raises(InvalidInput, match="not an import path"):
        register_materializer("DataFrame", _CelsiusText())
    with pytest.raises(InvalidInput, match="no materializer named 'nope'"):
        materializer_named("nope")


#: A third party's materializer, declared as an entry point: ``types`` say what it saves.
KELVIN = """
from pathlib import Path


class Kelvin:
    def __init__(self, degrees):
        self.degrees = degrees


class _KelvinText:
    name = "kelvin-text"
    types = (Kelvin,)

    def save(self, value, directory):
        path = directory / "output.txt"
        path.write_text(f"{value.degrees}K")
        return path

    def load(self, path):
        return Kelvin(float(Path(path).read_text().removesuffix("K")))


ENTRY = _KelvinText()
"""


@pytest.mark.usefixtures("restore_registry")
def test_a_materializer_declared_as_an_entry_point_saves_its_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = "modelyard.materializers"
    module = install_entry_point(monkeypatch, tmp_path, group, "kelvin-text", KELVIN)
    kelvin = importlib.import_module(module).Kelvin
    name, file, back = _round_trip(kelvin(300.5), tmp_path)
    assert (name, file) == ("kelvin-text", "output.txt")
    assert type(back) is kelvin and back.degrees == 300.5
    assert materializer_for(Celsius(1.0)).name == "pickle"  # other types as before


@pytest.mark.usefixtures("restore_registry")
def test_a_stored_output_finds_its_entry_point_materializer_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = "modelyard.materializers"
    module = install_entry_point(monkeypatch, tmp_path, group, "kelvin-text", KELVIN)
    (tmp_path / "output.txt").write_text("12.5K")
    assert module not in sys.modules  # as in a process that has saved nothing yet
    assert materializer_named("kelvin-text").load(tmp_path / "output.txt").degrees == 12.5
    with pytest.raises(InvalidInput) as exc:
        materializer_named("nope")
    assert exc.value.message.endswith(
        "must be one of pickle, sklearn, bytes, json, numpy, arrow, pandas, kelvin-text"
    )


@pytest.mark.usefixtures("restore_registry")
def test_an_entry_point_names_its_materializer_by_the_materializer_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_entry_point(monkeypatch, tmp_path, "modelyard.materializers", "kelvin", KELVIN)
    with pytest.raises(InvalidInput, match="'kelvin' names a materializer named 'kelvin-text'"):
        materializer_named("kelvin")


def test_an_unpicklable_output_names_its_type(tmp_path: Path) -> None:
    import threading

    with pytest.raises(InvalidInput, match=r"cannot pickle a _thread\.lock output"):
        materializer_for(threading.Lock()).save(threading.Lock(), tmp_path)


def test_a_stored_output_is_read_back_verified(pipe_client: Client, tmp_path: Path) -> None:
    info = pipe_client.blobs.put_bytes(b"[1, 2]")
    ref = OutputRef("outputs/output.json", info.digest, "file", info.size, "json", "list")
    assert load_output(pipe_client, ref) == [1, 2]
    bad = tmp_path / "bad"
    bad.write_bytes(b"[1, 3]")  # the stored bytes changed behind the store's back
    pipe_client.blobs.backend.put_file(f"blobs/{info.digest[:2]}/{info.digest[2:]}", bad)
    with pytest.raises(CorruptBlob):
        load_output(pipe_client, ref)
