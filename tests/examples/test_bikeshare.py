"""The monitoring story's data: ISLP's Bikeshare.csv read without importing ISLP, one row
per hour with its UTC time."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from modelyard.errors import MissingDependency
from modelyard.examples import _bikeshare
from modelyard.examples._bikeshare import bikeshare_csv, load_bikeshare


def test_the_hours_of_2011_in_order_with_their_utc_time(bikeshare_path: Path) -> None:
    assert bikeshare_csv() == bikeshare_path
    hours = load_bikeshare()
    assert len(hours) == 8645 and hours["time"].is_monotonic_increasing
    assert hours["time"].is_unique and str(hours["time"].dtype) == "datetime64[ms, UTC]"
    first, last = hours.iloc[0], hours.iloc[-1]
    # Midnight of 1 January in Washington is 5 a.m. UTC (EST, UTC-5)...
    assert first["time"] == pd.Timestamp("2011-01-01T05:00Z") and first["hour"] == 0
    assert first["weekday"] == 6 and first["workingday"] == 0  # a Saturday
    # ... and in July 4 a.m. (EDT, UTC-4).
    july = hours[hours["time"] == pd.Timestamp("2011-07-01T16:00Z")].iloc[0]
    assert (july["hour"], july["month"], july["season"]) == (12, 7, 3)
    assert last["time"] == pd.Timestamp("2012-01-01T04:00Z") and last["hour"] == 23
    assert set(hours["weather"]) == {1, 2, 3, 4} and hours["temp"].between(0, 1).all()
    assert (hours["bikers"] == hours["casual"] + hours["registered"]).all()
    assert "ISLP" not in sys.modules  # found, never imported (it imports torch)


def test_without_islp_the_error_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(_bikeshare.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependency, match=r"--no-deps 'ISLP>=0.4'"):
        load_bikeshare()
