"""Real data for the data tests: ISLP's Bikeshare.csv (8,645 hourly rows of 2011).

The file is found without importing ISLP (its own imports need packages the tests do not
install); ``scripts/_env.sh`` installs it with ``--no-deps`` for the dev environment.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def bikeshare_path() -> Path:
    spec = importlib.util.find_spec("ISLP")
    locations = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(locations))) / "data" / "Bikeshare.csv" if locations else None
    if path is None or not path.is_file():
        pytest.skip(
            "ISLP is not installed: it ships Bikeshare.csv "
            "(uv pip install --python .venv/bin/python --no-deps 'ISLP>=0.4')"
        )
    return path


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
