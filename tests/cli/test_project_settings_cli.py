"""``modelyard projects settings`` and ``projects set``: a project's settings shown and
changed, in both SDK modes (the installation allows code formats: the ceiling)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelyard.config import Settings

SETTING = "registry.allow_code_formats"


@pytest.fixture
def embedded_settings(embedded_settings: Settings) -> Settings:
    registry = embedded_settings.registry.model_copy(update={"allow_code_formats": True})
    return embedded_settings.model_copy(update={"registry": registry})


def test_the_cli_shows_and_sets_a_project_setting(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_REGISTRY_ALLOW_CODE_FORMATS", "true")
    assert cli("projects", "create", "lab").exit_code == 0
    shown = cli("projects", "settings", "lab")
    assert shown.exit_code == 0 and SETTING in shown.output and "false" in shown.output
    changed = cli("projects", "set", "lab", SETTING, "on")
    assert changed.exit_code == 0, changed.output
    assert f"{SETTING} = true for project lab" in changed.output
    assert (
        '"registry.allow_code_formats": true' in cli("projects", "settings", "lab", "--json").output
    )
    wrong = cli("projects", "set", "lab", "registry.nope", "true")
    assert wrong.exit_code != 0 and "is not a project setting" in wrong.output
    assert cli("projects", "set", "lab", SETTING, "maybe").exit_code == 2
