"""These tests run in both SDK modes: embedded and through a live server."""

from __future__ import annotations

import pytest

from modelyard.config import Settings


@pytest.fixture
def settings(settings_in_mode: Settings) -> Settings:
    return settings_in_mode
