"""The hourly bike-share data of Washington, D.C. in 2011 as ISLP ships it (``Bikeshare.csv``,
8,645 hours: the UCI bike-sharing data's hourly table), for the quickstart's monitoring
story: a year of seasons, working days and weekends, and the weather.

ISLP is found without importing it (its ``__init__`` imports torch); install it without
its declared dependencies, which pull a CUDA build of torch: ``pip install --no-deps
'ISLP>=0.4'`` (``scripts/_env.sh`` does, for the quickstart and the tests).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import InvalidInput, MissingDependency

if TYPE_CHECKING:
    import pandas as pd

#: The city whose clock the data's hours are on.
ZONE = "America/New_York"
#: ISLP's weather words, mildest first, as the UCI data's codes 1-4.
WEATHER = ("clear", "cloudy/misty", "light rain/snow", "heavy rain/snow")
MONTHS = ("Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov",
          "Dec")  # fmt: skip
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")  # fmt: skip
INSTALL = "pip install --no-deps 'ISLP>=0.4'"


def bikeshare_csv() -> Path:
    """Where ISLP's ``Bikeshare.csv`` is; MissingDependency (with the command that installs
    it) when ISLP is not installed."""
    spec = importlib.util.find_spec("ISLP")
    locations = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(locations))) / "data" / "Bikeshare.csv" if locations else None
    if path is None or not path.is_file():
        raise MissingDependency(
            f"the monitoring story reads ISLP's Bikeshare.csv; install it with {INSTALL} "
            "(without its dependencies, which pull torch)"
        )
    return path


def load_bikeshare() -> pd.DataFrame:
    """The data, one row per hour in time order: ``time`` (the hour's start, UTC), the
    features ``hour`` (0-23, local), ``weekday`` (0 Sunday - 6 Saturday), ``workingday``
    and ``holiday`` (0/1), ``weather`` (1 clear - 4 heavy rain/snow), ``temp``, ``hum``,
    ``windspeed`` (normalised as in the UCI data), ``season`` (1 winter - 4 autumn) and
    ``month`` (1-12), and the target ``bikers`` (rentals in the hour; also ``casual`` and
    ``registered``)."""
    import numpy as np
    import pandas as pd

    raw = pd.read_csv(bikeshare_csv())
    local = (
        pd.Timestamp("2011-01-01")
        + pd.to_timedelta(raw["day"] - 1, unit="D")
        + pd.to_timedelta(raw["hr"].astype(int), unit="h")
    )
    # The one hour that is there twice on the clock (1 a.m. of the first Sunday of
    # November) is taken as the first, in daylight saving time.
    times = pd.DatetimeIndex(local).tz_localize(
        ZONE, ambiguous=np.ones(len(local), dtype=bool), nonexistent="shift_forward"
    )
    frame = pd.DataFrame(
        {
            "time": times.tz_convert("UTC").astype("datetime64[ms, UTC]"),
            "hour": raw["hr"].astype("int64"),
            "weekday": raw["weekday"].astype("int64"),
            "workingday": raw["workingday"].astype("int64"),
            "holiday": raw["holiday"].astype("int64"),
            "weather": raw["weathersit"].map({w: i for i, w in enumerate(WEATHER, 1)}),
            "temp": raw["temp"].astype("float64"),
            "hum": raw["hum"].astype("float64"),
            "windspeed": raw["windspeed"].astype("float64"),
            "season": raw["season"].astype("int64"),
            "month": raw["mnth"].map({m: i for i, m in enumerate(MONTHS, 1)}),
            "casual": raw["casual"].astype("int64"),
            "registered": raw["registered"].astype("int64"),
            "bikers": raw["bikers"].astype("int64"),
        }
    )
    if frame[["weather", "month"]].isna().any().any():
        raise InvalidInput(
            f"{bikeshare_csv()} holds a weather or month this reader does not know",
            field="Bikeshare.csv",
        )
    frame = frame.astype({"weather": "int64", "month": "int64"})
    return frame.sort_values("time", ignore_index=True)
