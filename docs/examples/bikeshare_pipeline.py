"""A training pipeline on ISLP's Bikeshare data (hourly bike rentals in Washington,
D.C., 2011): load a month, check it, train a random forest, evaluate it on held-out days.

Run it twice -- the second run is served from the cache -- and see why:

    pip install modelyard scikit-learn && pip install --no-deps ISLP
    python docs/examples/bikeshare_pipeline.py

or from the shell: ``modelyard pipelines run docs/examples/bikeshare_pipeline.py:training
--param month=2011-03``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, r2_score

import modelyard as my
from modelyard.data import expect, validate

FEATURES = ["hr", "temp", "atemp", "hum", "windspeed", "workingday", "weekday"]
MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec"]


def bikeshare_csv() -> Path:
    """Bikeshare.csv as the ISLP package ships it (found without importing ISLP)."""
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("ISLP is not installed: pip install --no-deps ISLP")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Bikeshare.csv"


def is_holdout(df: pd.DataFrame) -> pd.Series:
    """Every fifth day is kept for evaluation."""
    return df["day"] % 5 == 0


@my.step
def load(month: str) -> pd.DataFrame:
    """The hours of one month of 2011 (``2011-03``)."""
    year, number = month.split("-")
    if year != "2011":
        raise ValueError(f"the Bikeshare data covers 2011 only; got {month}")
    df = pd.read_csv(bikeshare_csv())
    rows = df[df["mnth"] == MONTHS[int(number) - 1]].reset_index(drop=True)
    print(f"{len(rows)} hours in {month}")
    return rows


@my.step(dataset="bikeshare-checked")
def check(df: pd.DataFrame) -> pd.DataFrame:
    """Stop on critical expectation failures; the checked data becomes a dataset version."""
    validate(
        df,
        [
            expect.not_null("bikers"),
            expect.in_range("hr", 0, 23),
            expect.in_range("hum", 0, 1),
            expect.row_count(min=24),
        ],
        raise_on_critical=True,
    )
    return df


@my.step
def train(df: pd.DataFrame, n_estimators: int = 200) -> RandomForestRegressor:
    fit = df[~is_holdout(df)]
    model = RandomForestRegressor(n_estimators=n_estimators, random_state=0, n_jobs=1)
    return model.fit(fit[FEATURES], fit["bikers"])


@my.step
def evaluate(model: RandomForestRegressor, df: pd.DataFrame) -> dict:
    held = df[is_holdout(df)]
    predicted = model.predict(held[FEATURES])
    scores = {
        "r2": float(r2_score(held["bikers"], predicted)),
        "mae": float(mean_absolute_error(held["bikers"], predicted)),
    }
    run = my.active_run()  # the step's own run
    if run is not None:
        run.log_metrics(scores)
    return scores


@my.pipeline
def training(month: str, n_estimators: int = 200):
    df = check(load(month))
    evaluate(train(df, n_estimators), df)


if __name__ == "__main__":
    with my.Client() as client:
        first = training.run(month="2011-03", client=client)
        print("scores:", first.output("evaluate"))
        again = training.run(month="2011-03", n_estimators=100, client=client)
        for line in my.pipelines.explain(again.run_id, client=client):
            print(line)
