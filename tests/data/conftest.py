"""Real data for the data tests: ISLP's Bikeshare.csv (8,645 hourly rows of 2011), found
by the ``bikeshare_path`` fixture of ``tests/conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def _bikeshare(bikeshare_path: Path) -> pd.DataFrame:
    frame = pd.read_csv(bikeshare_path)
    start = pd.Timestamp("2011-01-01")
    hours = pd.to_timedelta(frame["day"] - 1, unit="D") + pd.to_timedelta(frame["hr"], unit="h")
    return frame.assign(ts=start + hours)


@pytest.fixture
def bikeshare(_bikeshare: pd.DataFrame) -> pd.DataFrame:
    """The data with ``ts``, the hour each row counts (from ``day`` of 2011 and ``hr``)."""
    return _bikeshare.copy()
