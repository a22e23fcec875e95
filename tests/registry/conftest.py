"""Registry tests run in both SDK modes, embedded and through a live server (those that
reach the store or act as other users directly are ``local_only``), on SQLite and (when
its URL is set) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.config import Settings, load_settings
from modelyard.sdk.client import Client


@pytest.fixture
def settings(settings_in_mode: Settings) -> Settings:
    return settings_in_mode


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    with Client(settings) as client:
        yield client


@pytest.fixture
def code_client(tmp_path: Path, store_url: str) -> Iterator[Client]:
    """A client of an installation that allows formats that run code (pickle)."""
    settings = load_settings(
        home=tmp_path / "home",
        store={"url": store_url},
        tracking={"system_metrics_interval_s": 0, "capture_packages": False},
        registry={"allow_code_formats": True},
    )
    with Client(settings) as client:
        yield client
