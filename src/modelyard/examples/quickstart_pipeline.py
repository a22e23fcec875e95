"""The quickstart's second half: the best configuration of the sweep retrained as a
pipeline (load -> train -> evaluate), run twice to show the cache.

The second run changes nothing, so every step is served from the first run's outputs;
``explain`` says why each step ran or was cached.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.pipelines import pipeline, step

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier

    from modelyard.pipelines.explanations import StepExplanation
    from modelyard.pipelines.result import PipelineResult
    from modelyard.sdk.client import Client

SEED = 7
VAL_FRACTION = 0.25


@step
def load_data() -> pd.DataFrame:
    """scikit-learn's breast-cancer data with its ``target`` column."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def _split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(
        df, test_size=VAL_FRACTION, random_state=SEED, stratify=df["target"]
    )
    return train, val


@step
def train(
    df: pd.DataFrame, n_estimators: int, learning_rate: float, max_depth: int
) -> GradientBoostingClassifier:
    from sklearn.ensemble import GradientBoostingClassifier

    fit_on, _ = _split(df)
    model = GradientBoostingClassifier(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        max_depth=max_depth,
        random_state=SEED,
    )
    return model.fit(fit_on.drop(columns="target"), fit_on["target"])


@step
def evaluate(model: GradientBoostingClassifier, df: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, roc_auc_score

    _, val = _split(df)
    proba = model.predict_proba(val.drop(columns="target"))[:, 1]
    return {
        "val_auc": float(roc_auc_score(val["target"], proba)),
        "val_accuracy": float(accuracy_score(val["target"], proba >= 0.5)),
    }


@pipeline
def retrain(n_estimators: int, learning_rate: float, max_depth: int) -> None:
    df = load_data()
    evaluate(train(df, n_estimators, learning_rate, max_depth), df)


@dataclass(frozen=True)
class PipelineTour:
    """Two runs of ``retrain`` with the same params, how long each took, and why each
    step of the second ran or was cached."""

    first: PipelineResult
    second: PipelineResult
    first_s: float
    second_s: float
    explained: list[StepExplanation]
    scores: dict[str, float]


def run_pipeline_tour(client: Client, project: str, params: dict[str, Any]) -> PipelineTour:
    """Run ``retrain`` twice with ``params`` (the sweep's best) into ``project``."""
    from modelyard.pipelines import explain

    timings = []
    results = []
    for _ in range(2):
        started = time.perf_counter()
        results.append(retrain.run(client=client, project=project, **params))
        timings.append(time.perf_counter() - started)
    first, second = results
    return PipelineTour(
        first=first,
        second=second,
        first_s=timings[0],
        second_s=timings[1],
        explained=explain(second.run_id, client=client),
        scores=second.output("evaluate"),
    )
