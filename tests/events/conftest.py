"""Fixtures of the events and webhook tests: a receiver on 127.0.0.1, and a client whose
installation allows that host by name (webhooks.allowed_hosts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from events_support import hook_settings
from receiver import Receiver

from modelyard.config import Settings
from modelyard.events.service import WebhookService
from modelyard.sdk.client import Client


@pytest.fixture
def embedded_settings(tmp_path: Path, store_url: str) -> Settings:
    """The installation (and its server, in remote mode) allows 127.0.0.1 by name."""
    return hook_settings(tmp_path, store_url)


@pytest.fixture
def settings(embedded_settings: Settings) -> Settings:
    return embedded_settings


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    with Client(settings) as c:
        yield c


@pytest.fixture
def hooks(client: Client) -> WebhookService:
    return client.services.webhooks


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Start receivers (``receiver(answers=[500], stall_first=True)``); stopped after."""
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        found = Receiver(**options).start()
        started.append(found)
        return found

    yield start
    for each in started:
        each.stop()
