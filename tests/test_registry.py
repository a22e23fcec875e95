"""The registries of extension points: by name, built-ins and third parties alike, and
entry points loaded only when asked for."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from modelyard import InvalidInput
from modelyard._registry import Registry
from plugin_support import install_entry_point

GROUP = "modelyard.test_widgets"


def _adopt(name: str, loaded: Any) -> str:
    if not isinstance(loaded, str):
        raise InvalidInput(f"widget {name!r} is not a string", field="widget")
    return loaded


@pytest.fixture
def widgets() -> Registry[str]:
    registry: Registry[str] = Registry("widget", GROUP, field="widget", adopt=_adopt)
    registry.register("plain", "a plain widget")
    registry.register("fancy", "a fancy widget")
    return registry


def test_entries_are_found_by_name(widgets: Registry[str]) -> None:
    assert widgets.get("fancy") == "a fancy widget"
    assert widgets.names() == ["plain", "fancy"]  # in the order registered
    assert "plain" in widgets and "other" not in widgets
    widgets.register("plain", widgets.get("plain"))  # the same entry again: allowed
    with pytest.raises(InvalidInput, match="another widget is named 'plain'") as exc:
        widgets.register("plain", "something else")
    assert exc.value.field == "widget"
    assert widgets.get("plain") == "a plain widget"
    with pytest.raises(InvalidInput, match="needs a name"):
        widgets.register("", "nameless")


def test_an_unknown_name_lists_the_known_ones(widgets: Registry[str]) -> None:
    with pytest.raises(InvalidInput) as exc:
        widgets.get("nope")
    assert exc.value.field == "widget"
    assert "no widget named 'nope'" in exc.value.message
    assert exc.value.message.endswith("the widget must be one of plain, fancy")
    assert GROUP in exc.value.message  # where a third party declares one


def test_entry_points_are_loaded_when_first_asked_for(
    widgets: Registry[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = install_entry_point(
        monkeypatch, tmp_path, GROUP, "thirdparty", "ENTRY = 'a third-party widget'\n"
    )
    assert widgets.names() == ["plain", "fancy", "thirdparty"]
    assert "thirdparty" in widgets
    with pytest.raises(InvalidInput, match="must be one of plain, fancy, thirdparty"):
        widgets.get("nope")
    assert module not in sys.modules  # listing names imports nothing

    assert widgets.get("thirdparty") == "a third-party widget"
    assert module in sys.modules
    del sys.modules[module]
    assert widgets.get("thirdparty") == "a third-party widget"  # registered: not again
    assert module not in sys.modules


def test_a_registered_entry_wins_over_an_entry_point_of_its_name(
    widgets: Registry[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = install_entry_point(monkeypatch, tmp_path, GROUP, "plain", "ENTRY = 'impostor'\n")
    assert widgets.get("plain") == "a plain widget"
    widgets.load_all()
    assert widgets.get("plain") == "a plain widget"
    assert widgets.names() == ["plain", "fancy"]
    assert module not in sys.modules


def test_load_all_loads_every_entry_point(
    widgets: Registry[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("one", "two"):
        install_entry_point(monkeypatch, tmp_path, GROUP, name, f"ENTRY = {name!r}\n")
    widgets.load_all()
    assert widgets._entries == {
        "plain": "a plain widget",
        "fancy": "a fancy widget",
        "one": "one",
        "two": "two",
    }


def test_a_broken_entry_point_names_itself(
    widgets: Registry[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install_entry_point(monkeypatch, tmp_path, GROUP, "wrong", "ENTRY = 42\n")
    install_entry_point(monkeypatch, tmp_path, GROUP, "broken", "import not_installed_xyz\n")
    with pytest.raises(InvalidInput, match="widget 'wrong' is not a string") as refused:
        widgets.get("wrong")
    assert any("'wrong' from the entry point" in note for note in refused.value.__notes__)
    with pytest.raises(ModuleNotFoundError) as missing:
        widgets.get("broken")
    assert any(GROUP in note for note in missing.value.__notes__)
    assert "wrong" not in widgets._entries and "broken" not in widgets._entries
