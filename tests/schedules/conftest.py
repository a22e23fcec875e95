"""Fixtures for schedule tests: pipelines written to a file, a clock that tests move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from schedule_support import Clock

from modelyard import Client
from modelyard.schedules import ScheduleService
from pipeline_files import pipeline_file
from service_support import schedule_service


@pytest.fixture
def service(client: Client, clock: Clock) -> ScheduleService:
    """The schedule service on the test's store, with the test's clock."""
    return schedule_service(client.store, clock=clock)


@pytest.fixture
def lines() -> list[str]:
    """What a worker logs, one line per fire."""
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 4, 10, 0, 30, tzinfo=UTC))


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Path]:
    """``sched_pipes.py`` (:data:`pipeline_files.PIPES`) in the test's folder, the working
    directory; refer to its pipelines as ``f"{pipes}:tick"``."""
    with pipeline_file(tmp_path, "sched_pipes") as path:
        yield path
