"""These tests run in both SDK modes: embedded and through a live server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.config import Settings


@pytest.fixture
def settings(settings_in_mode: Settings) -> Settings:
    return settings_in_mode


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``cli(*args, input=None)``: ``modelyard`` on the test's settings, through the server
    in remote mode, its tables 200 columns wide."""
    runner = CliRunner()
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]
    if settings.tracking.uri:
        base += ["--tracking-uri", settings.tracking.uri]
    if settings.tracking.token:  # a token travels in the environment, never in argv
        monkeypatch.setenv("MODELYARD_TRACKING_TOKEN", settings.tracking.token)

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, [*base, *args], input=input, env={"COLUMNS": "200"})

    return invoke
