"""The quickstart: a gradient-boosting sweep on scikit-learn's breast-cancer data, its
best configuration retrained as a cached pipeline, and its best model taken through the
registry (``quickstart_registry.py``: registered, evaluated on held-out rows, its card
filled in, approved into production, the champion, loaded by alias), then deployed and
called (``quickstart_serving.py``: the inference server on a loopback port, requests through
v1 and /invocations, a label, the prediction log read back).

Runs offline (the dataset ships with scikit-learn) on the embedded store. Each child run
records params, per-iteration train/validation loss, final metrics, system metrics,
resource usage, a confusion-matrix figure (when matplotlib is installed), feature
importances as a Parquet table, a JSON report and the fitted model. The pipeline
(``quickstart_pipeline.py``) runs twice: the second run is served from the cache.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from modelyard.config import Settings
from modelyard.errors import MissingDependency
from modelyard.examples.quickstart_pipeline import run_pipeline_tour
from modelyard.examples.quickstart_registry import TRUSTED, run_registry_tour
from modelyard.examples.quickstart_serving import run_serving_tour
from modelyard.sdk.client import Client
from modelyard.tracking.frames import runs_to_frame

#: What the inference server needs beyond the base install (the server extra).
SERVER_MODULES = ("uvicorn", "prometheus_client")
GRID = [
    {"n_estimators": 60, "learning_rate": 0.05, "max_depth": 2},
    {"n_estimators": 60, "learning_rate": 0.2, "max_depth": 2},
    {"n_estimators": 120, "learning_rate": 0.1, "max_depth": 3},
]


def run_quickstart(
    settings: Settings, *, project: str = "quickstart", console: Console | None = None
) -> dict[str, Any]:
    """Run the sweep, then the pipeline tour with the best params, then the registry tour
    with the best model, then the serving tour with the champion (None without the
    server extra); returns the parent run id, the child rows (best first), the best row
    and the three tours."""
    try:
        import pandas as pd
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise MissingDependency.for_extra("scikit-learn", "sklearn") from None

    console = console or Console()
    settings = settings.model_copy(
        update={"tracking": settings.tracking.model_copy(update={"system_metrics_interval_s": 0.2})}
    )
    data = load_breast_cancer(as_frame=True)
    X_rest, X_test, y_rest, y_test = train_test_split(  # held out: the registry's evaluation
        data.data, data.target, test_size=0.2, random_state=7, stratify=data.target
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, random_state=7, stratify=y_rest
    )
    y_tr, y_va = y_train.to_numpy(), y_val.to_numpy()
    total = sum(p["n_estimators"] for p in GRID)
    params_of: dict[str, dict[str, Any]] = {}
    models_of: dict[str, Any] = {}
    with (
        Client(settings) as client,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} boosting rounds"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("training", total=total)
        with client.start_run(
            project, name="gbm-sweep", tags={"dataset": "breast_cancer"}
        ) as parent:
            parent.log_params({"dataset": "sklearn.load_breast_cancer", "val_fraction": 0.25})
            for i, params in enumerate(GRID):
                progress.update(task, description=f"run {i + 1}/{len(GRID)}")
                with parent.start_run(name=f"gbm-{i + 1}", params=params) as run:
                    params_of[str(run.id)] = params
                    model = GradientBoostingClassifier(random_state=7, **params)
                    models_of[str(run.id)] = model
                    model.fit(X_train, y_train)
                    for step, (p_tr, p_va) in enumerate(
                        zip(
                            model.staged_predict_proba(X_train),
                            model.staged_predict_proba(X_val),
                            strict=True,
                        )
                    ):
                        run.log_metric("train_loss", _log_loss(y_tr, p_tr[:, 1]), step=step)
                        run.log_metric("val_loss", _log_loss(y_va, p_va[:, 1]), step=step)
                        progress.advance(task)
                    proba = model.predict_proba(X_val)[:, 1]
                    pred = (proba >= 0.5).astype(int)
                    auc = roc_auc_score(y_val, proba)
                    acc = accuracy_score(y_val, pred)
                    run.log_metrics({"val_auc": auc, "val_accuracy": acc})
                    cm = confusion_matrix(y_val, pred)
                    run.log_dict(
                        {
                            "classes": [str(c) for c in data.target_names],
                            "confusion_matrix": cm.tolist(),
                            "val_auc": auc,
                            "val_accuracy": acc,
                        },
                        "reports/evaluation.json",
                    )
                    importances = pd.DataFrame(
                        {"feature": data.feature_names, "importance": model.feature_importances_}
                    ).sort_values("importance", ascending=False)
                    run.log_table(importances, "reports/feature_importances.parquet")
                    _log_confusion_figure(run, cm, list(data.target_names))
                    run.log_model_file(model, "model/model.pkl")
        children = client.search_runs(
            project,
            filter=f"attributes.parent_id = '{parent.id}'",
            order_by=["metrics.val_auc DESC"],
            output="list",
        )
        rows = runs_to_frame(children.runs).to_dict("records")
        best = rows[0]["run_id"]
        with console.status("retraining the best configuration as a pipeline, twice"):
            tour = run_pipeline_tour(client, project, params_of[best])
        with console.status("registering the best model, evaluating it, approving it"):
            registry = run_registry_tour(client, project, models_of[best], best, X_test, y_test)
        serving = None
        if all(find_spec(m) is not None for m in SERVER_MODULES):
            with console.status("deploying the champion, serving it and calling it"):
                serving = run_serving_tour(
                    client,
                    project,
                    registry.version.name,
                    X_test,
                    y_test,
                    trusted=TRUSTED,
                )
    return {
        "parent_id": parent.id,
        "children": rows,
        "best": rows[0],
        "pipeline": tour,
        "registry": registry,
        "serving": serving,
    }


def _log_loss(y: Any, p: Any) -> float:
    """Binary cross-entropy (sklearn's log_loss validates too much for a per-step curve)."""
    import numpy as np

    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _log_confusion_figure(run: Any, cm: Any, labels: list[str]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    for r, row in enumerate(cm):
        for c, value in enumerate(row):
            ax.text(c, r, str(value), ha="center", va="center")
    fig.tight_layout()
    run.log_figure(fig, "reports/confusion.png")
    plt.close(fig)
