"""What evaluation asks of a model (:class:`Scorer`) and the accumulators of one pass: a
confusion matrix with log loss, Brier score, calibration and score histograms for
classification (:class:`Classification`), errors and residuals for regression
(:class:`Regression`). Each ``add`` takes one batch and returns its rows' stats (the
per-row values slices and the bootstrap sum)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from modelyard.data._accumulators import NumericAccumulator
from modelyard.errors import InvalidInput
from modelyard.registry._metrics import (
    GrowingHistogram,
    ScoreHistogram,
    binned_average_precision,
    binned_roc_auc,
    plain,
    roc_points,
)

__all__ = [
    "CLASSIFICATION",
    "REGRESSION",
    "Classification",
    "Labels",
    "Regression",
    "Scorer",
    "model_frame",
    "scorer_for",
]

CLASSIFICATION = "classification"
REGRESSION = "regression"
_MAX_LABELS = 1000
_CALIBRATION_BINS = 10
_EPS = float(np.finfo(np.float64).eps)


@dataclass
class Scorer:
    """A model as evaluation sees it: its predictions on a pandas frame of ``features``
    (None: every column but the target), its class probabilities (classifiers with
    ``predict_proba``) and the classes their columns stand for."""

    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None = None
    classes: list[Any] | None = None
    features: list[str] | None = None


def scorer_for(
    model: Any,
    features: Sequence[str] | None = None,
    predict: Callable[[Any], Any] | None = None,
) -> Scorer:
    """A :class:`Scorer` for an object with ``predict`` (and ``predict_proba`` and
    ``classes_`` when it is a classifier), or one ``predict`` stands for (a flavor's, for
    a model whose own needs more than the rows: a booster, an ONNX graph)."""
    if predict is None and not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"a {type(model).__qualname__} has no predict method", field="model")
    proba = getattr(model, "predict_proba", None)
    classes = getattr(model, "classes_", None)
    if features is None and getattr(model, "feature_names_in_", None) is not None:
        features = [str(f) for f in model.feature_names_in_]
    return Scorer(
        predict=predict if predict is not None else model.predict,
        predict_proba=proba if callable(proba) and classes is not None else None,
        classes=[plain(c) for c in classes] if classes is not None else None,
        features=list(features) if features is not None else None,
    )


def model_frame(table: pa.Table, scorer: Scorer, target: str) -> Any:
    columns = scorer.features or [n for n in table.column_names if n != target]
    return table.select(columns).to_pandas()


def predict(scorer: Scorer, table: pa.Table, target: str, proba: bool) -> tuple[Any, Any]:
    frame = model_frame(table, scorer, target)
    try:
        predicted = np.asarray(scorer.predict(frame))
        probabilities = (
            np.asarray(scorer.predict_proba(frame), dtype=np.float64)
            if proba and scorer.predict_proba is not None
            else None
        )
    except Exception as exc:
        raise InvalidInput(
            f"the model could not predict on the data ({type(exc).__name__}: {exc})",
            field="data",
        ) from exc
    return predicted.reshape(len(frame), -1)[:, 0] if predicted.ndim > 1 else predicted, (
        probabilities
    )


# -- classification ----------------------------------------------------------------------


class Labels:
    """Every label seen (the models' classes first), each with a stable index."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.index: dict[Any, int] = {}

    def codes(self, values: np.ndarray) -> np.ndarray:
        keys, inverse = np.unique(values.astype(object), return_inverse=True)
        lookup = np.array([self.code(plain(k)) for k in keys], dtype=np.int64)
        return lookup[inverse.reshape(-1)]

    def code(self, label: Any) -> int:
        found = self.index.get(label)
        if found is None:
            if len(self.values) >= _MAX_LABELS:
                raise InvalidInput(
                    f"the target has more than {_MAX_LABELS} distinct labels; for a number "
                    "to predict pass task='regression'",
                    field="task",
                )
            found = self.index[label] = len(self.values)
            self.values.append(label)
        return found


class Classification:
    """Confusion counts, log loss, Brier score, calibration and score histograms."""

    stats_width = 4  # per row: 1, correct, log loss, Brier score

    def __init__(self, labels: Labels, scorer: Scorer, target: str, score_bins: int) -> None:
        self.labels = labels
        self.scorer = scorer
        self.target = target
        self.classes = scorer.classes
        self.proba = scorer.predict_proba is not None and bool(self.classes)
        self.class_codes = np.array([labels.code(c) for c in self.classes or []], dtype=np.int64)
        self.confusion = np.zeros((0, 0), dtype=np.int64)
        self.n = 0
        k = len(self.classes or [])
        self.log_loss = self.brier = 0.0
        self.calibration = np.zeros((k, 3, _CALIBRATION_BINS))  # count, sum p, sum y
        self.histogram = ScoreHistogram(k, score_bins)
        self.positive: np.ndarray | None = None  # the last batch's positive-class scores
        self.truth: np.ndarray | None = None

    def add(self, table: pa.Table, y: np.ndarray) -> np.ndarray:
        predicted, proba = predict(self.scorer, table, self.target, self.proba)
        return self.add_outputs(predicted, proba, y)

    def add_outputs(
        self, predicted: np.ndarray, proba: np.ndarray | None, y: np.ndarray
    ) -> np.ndarray:
        """Add rows from the model's answers: ``predicted`` labels, ``proba`` (rows x
        classes, or None) and the true labels ``y``."""
        return self.add_codes(self.labels.codes(y), self.labels.codes(predicted), proba)

    def add_codes(
        self, true_codes: np.ndarray, pred_codes: np.ndarray, proba: np.ndarray | None
    ) -> np.ndarray:
        """Add rows whose true and predicted labels are coded in ``labels`` already."""
        self._grow(len(self.labels.values))
        np.add.at(self.confusion, (true_codes, pred_codes), 1)
        self.n += len(true_codes)
        stats = np.zeros((len(true_codes), self.stats_width))
        stats[:, 0] = 1
        stats[:, 1] = true_codes == pred_codes
        if proba is not None:
            stats[:, 2:] = self._add_proba(proba, true_codes)
        return stats

    def merge(self, other: Classification) -> None:
        """Add ``other``'s rows (of a model with the same classes; its labels are coded
        into this one's). Without probabilities on either side the merged sums hold none."""
        codes = np.array([self.labels.code(v) for v in other.labels.values], dtype=np.int64)
        self._grow(len(self.labels.values))
        seen = other.confusion.shape[0]
        np.add.at(self.confusion, np.ix_(codes[:seen], codes[:seen]), other.confusion)
        self.n += other.n
        self.proba = self.proba and other.proba
        self.log_loss += other.log_loss
        self.brier += other.brier
        self.calibration += other.calibration
        self.histogram.merge(other.histogram)

    def _grow(self, size: int) -> None:
        if self.confusion.shape[0] < size:
            grown = np.zeros((size, size), dtype=np.int64)
            grown[: self.confusion.shape[0], : self.confusion.shape[1]] = self.confusion
            self.confusion = grown

    def _add_proba(self, proba: np.ndarray, true_codes: np.ndarray) -> np.ndarray:
        k = len(self.class_codes)
        if proba.shape != (len(true_codes), k):
            raise InvalidInput(
                f"predict_proba gave shape {proba.shape}; expected ({len(true_codes)}, {k})",
                field="model",
            )
        position = np.full(len(self.labels.values), -1, dtype=np.int64)
        position[self.class_codes] = np.arange(k)
        truth = position[true_codes]
        rows = np.arange(len(truth))
        p_true = np.where(truth >= 0, proba[rows, np.maximum(truth, 0)], 0.0)
        losses = -np.log(np.clip(p_true, _EPS, 1 - _EPS))
        onehot = np.zeros_like(proba)
        onehot[rows[truth >= 0], truth[truth >= 0]] = 1
        if k == 2:
            briers = (onehot[:, 1] - proba[:, 1]) ** 2
        else:
            briers = ((onehot - proba) ** 2).sum(axis=1)
        self.log_loss += float(losses.sum())
        self.brier += float(briers.sum())
        inner = np.linspace(0.0, 1.0, _CALIBRATION_BINS + 1)[1:-1]
        for c in range(k):
            ids = np.searchsorted(inner, proba[:, c])
            self.calibration[c, 0] += np.bincount(ids, minlength=_CALIBRATION_BINS)
            self.calibration[c, 1] += np.bincount(
                ids, weights=proba[:, c], minlength=_CALIBRATION_BINS
            )
            self.calibration[c, 2] += np.bincount(
                ids, weights=onehot[:, c], minlength=_CALIBRATION_BINS
            )
        self.histogram.add(proba, truth)
        if k == 2:
            self.positive, self.truth = proba[:, 1], truth == 1
        return np.column_stack([losses, briers])

    def metric_of(self, stats: np.ndarray) -> dict[str, Any]:
        """The metrics of a slice from its summed row stats."""
        n = stats[0]
        found: dict[str, Any] = {"accuracy": stats[1] / n}
        if self.proba:
            found["log_loss"] = stats[2] / n
            found["brier"] = stats[3] / n
        return found

    def report(self) -> dict[str, Any]:
        values = self.labels.values
        used = self.confusion.sum(axis=0) + self.confusion.sum(axis=1)
        seen = _sorted_codes([int(i) for i in np.flatnonzero(used)], values)
        matrix = self.confusion[np.ix_(seen, seen)]
        metrics: dict[str, Any] = {"accuracy": float(np.trace(matrix)) / self.n}
        per_class = _per_class(matrix)
        labels = [values[i] for i in seen]
        k = len(self.class_codes)
        if k == 2 and int(self.class_codes[1]) in seen:
            positive = seen.index(int(self.class_codes[1]))
            for name in ("precision", "recall", "f1"):
                metrics[name] = per_class[name][positive]
        else:
            support = per_class["support"]
            for name in ("precision", "recall", "f1"):
                metrics[name] = float(np.mean(per_class[name]))
                metrics[f"{name}_weighted"] = float(
                    np.average(per_class[name], weights=support) if support.sum() else 0.0
                )
        report: dict[str, Any] = {
            "classes": list(self.classes or []),
            "averaging": "binary (positive class)" if k == 2 else "macro (weighted also given)",
            "confusion_matrix": {"labels": labels, "matrix": matrix.tolist()},
            "per_class": [
                {
                    "label": labels[i],
                    **{n: float(per_class[n][i]) for n in ("precision", "recall", "f1")},
                    "support": int(per_class["support"][i]),
                }
                for i in range(len(labels))
            ],
        }
        if self.proba:
            metrics["log_loss"] = self.log_loss / self.n
            metrics["brier"] = self.brier / self.n
            metrics.update(self._ranking(report))
        report["metrics"] = {key: plain(value) for key, value in metrics.items()}
        return report

    def _ranking(self, report: dict[str, Any]) -> dict[str, Any]:
        counts = self.histogram.counts
        k = len(self.class_codes)
        which = [1] if k == 2 else list(range(k))
        mixed = self.histogram.mixed
        aucs = [binned_roc_auc(counts[c, 0], counts[c, 1], mixed(c)) for c in which]
        aps = [binned_average_precision(counts[c, 0], counts[c, 1], mixed(c)) for c in which]
        present = [i for i, (auc, _) in enumerate(aucs) if not math.isnan(auc)]
        report["calibration"] = [
            {
                "label": self.classes[c] if self.classes else c,
                "prob_pred": (self.calibration[c, 1][nz] / self.calibration[c, 0][nz]).tolist(),
                "prob_true": (self.calibration[c, 2][nz] / self.calibration[c, 0][nz]).tolist(),
                "count": self.calibration[c, 0][nz].astype(int).tolist(),
            }
            for c in which
            for nz in [self.calibration[c, 0] > 0]
        ]
        report["roc_curve"] = [
            {"label": self.classes[c] if self.classes else c, "points": roc_points(*counts[c])}
            for c in which
        ]
        if not present:
            return {}
        return {
            "roc_auc": float(np.mean([aucs[i][0] for i in present])),
            "roc_auc_max_error": float(np.mean([aucs[i][1] for i in present])),
            "pr_auc": float(np.mean([aps[i][0] for i in present])),
            "pr_auc_max_error": float(np.mean([aps[i][1] for i in present])),
        }


def _sorted_codes(codes: list[int], values: list[Any]) -> list[int]:
    try:
        return sorted(codes, key=lambda i: values[i])
    except TypeError:
        return sorted(codes, key=lambda i: str(values[i]))


def _per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per label (0 where undefined, as scikit-learn's
    ``zero_division=0``... its default warns and gives 0 too)."""
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


# -- regression ------------------------------------------------------------------------


class Regression:
    """Errors, their squares and absolute values, the target's mean and spread, a
    histogram of the residuals (actual minus predicted), and the predictions' distribution
    (a mergeable quantile sketch: what prediction drift compares a window's outputs with)."""

    stats_width = 5  # per row: 1, squared error, absolute error, y, y squared

    def __init__(self, scorer: Scorer, target: str) -> None:
        self.scorer = scorer
        self.target = target
        self.n = 0
        self.sum_residual = self.sse = self.sae = 0.0
        self.y_mean = self.y_m2 = 0.0
        self.low, self.high = math.inf, -math.inf
        self.residuals = GrowingHistogram(1, max_bins=64)
        self.res_mean = self.res_m2 = 0.0
        self.predictions = NumericAccumulator("prediction", pa.float64(), None)

    def add(self, table: pa.Table, y: np.ndarray) -> np.ndarray:
        predicted, _ = predict(self.scorer, table, self.target, False)
        y = y.astype(np.float64)
        residual = y - predicted.astype(np.float64)
        if not np.isfinite(residual).all():
            raise InvalidInput("the model predicted a missing or infinite value", field="model")
        self.y_mean, self.y_m2 = _merge(self.n, self.y_mean, self.y_m2, y)
        self.res_mean, self.res_m2 = _merge(self.n, self.res_mean, self.res_m2, residual)
        self.n += len(y)
        self.sse += float((residual**2).sum())
        self.sae += float(np.abs(residual).sum())
        self.low = min(self.low, float(residual.min()))
        self.high = max(self.high, float(residual.max()))
        self.residuals.add(residual, np.ones((len(residual), 1)))
        self.predictions.add(predicted.astype(np.float64))
        return np.column_stack([np.ones_like(y), residual**2, np.abs(residual), y, y**2])

    def metric_of(self, stats: np.ndarray) -> dict[str, Any]:
        n, sse, sae, sy, syy = stats
        total = syy - sy * sy / n
        return {
            "rmse": math.sqrt(sse / n),
            "mae": sae / n,
            "r2": 1 - sse / total if total > 0 else None,
        }

    def report(self) -> dict[str, Any]:
        metrics = {
            "rmse": math.sqrt(self.sse / self.n),
            "mae": self.sae / self.n,
            "r2": 1 - self.sse / self.y_m2 if self.y_m2 > 0 else None,
        }
        hist = self.residuals
        return {
            "metrics": {k: plain(v) for k, v in metrics.items()},
            "residuals": {
                "mean": self.res_mean,
                "std": math.sqrt(self.res_m2 / self.n),
                "min": self.low,
                "max": self.high,
                "quantiles": {str(q): hist.quantile(q / 100) for q in (5, 25, 50, 75, 95)},
                "bin_width": hist.bin_width,
                "histogram": [[lo, hi, int(s[0])] for lo, hi, s in hist.sorted()],
            },
            "predictions": _distribution(self.predictions),
        }


def _distribution(column: NumericAccumulator) -> dict[str, Any]:
    """Points of the predictions' CDF (the exact steps, or 1001 quantiles when there are
    more distinct values), their count, mean and population standard deviation."""
    summary = column.summary()
    return {
        "count": column.moments.n,
        "mean": column.moments.mean,
        "std": column.moments.std(ddof=0),
        "values": list(summary.values),
        "cdf": list(summary.cdf),
        "interpolated": summary.interpolated,
        "rank_error": summary.rank_error,
    }


def _merge(n: int, mean: float, m2: float, values: np.ndarray) -> tuple[float, float]:
    """Chan's pairwise update of a running mean and sum of squared deviations."""
    m = len(values)
    batch_mean = float(values.mean())
    batch_m2 = float(((values - batch_mean) ** 2).sum())
    delta = batch_mean - mean
    total = n + m
    return mean + delta * m / total, m2 + batch_m2 + delta * delta * n * m / total
