"""These tests run in both SDK modes: embedded and through a live server; the service
tests' ``store`` is the embedded store of the mode's settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelyard.config import Settings
from modelyard.store import Store, open_store


@pytest.fixture
def settings(settings_in_mode: Settings) -> Settings:
    return settings_in_mode


@pytest.fixture
def store(embedded_settings: Settings) -> Iterator[Store]:
    store = open_store(embedded_settings.store_url, auto_upgrade=True)
    yield store
    store.dispose()
