"""The parts of an evaluation beyond one pass's sums: a bounded uniform sample of the rows
with permutation importance on it, and the paired Poisson bootstrap that compares a model
with its baseline on the same rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from modelyard.registry._metrics import binned_roc_auc
from modelyard.registry._scoring import (
    CLASSIFICATION,
    REGRESSION,
    Classification,
    Regression,
    Scorer,
    model_frame,
)

__all__ = ["Bootstrap", "Sample", "importance"]

_BOOTSTRAP_AUC_BINS = 100
_CHUNK = 4096


class Sample:
    """A uniform sample of at most ``size`` rows: each row draws a random key (in row
    order) and the rows with the smallest keys are kept."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.rows: pa.Table | None = None
        self.keys = np.zeros(0)

    def add(self, batch: pa.RecordBatch) -> None:
        keys = self.rng.random(batch.num_rows)
        if self.rows is not None and len(self.keys) >= self.size:
            keep = keys < self.keys.max()
            batch, keys = batch.filter(pa.array(keep)), keys[keep]
        table = pa.Table.from_batches([batch])
        merged = table if self.rows is None else pa.concat_tables([self.rows, table])
        self.keys = np.concatenate([self.keys, keys])
        if len(self.keys) > self.size:
            chosen = np.sort(np.argpartition(self.keys, self.size - 1)[: self.size])
            merged, self.keys = merged.take(pa.array(chosen)), self.keys[chosen]
        self.rows = merged.combine_chunks()

    def table(self) -> pa.Table:
        assert self.rows is not None
        order = np.argsort(self.keys, kind="stable")
        return self.rows.take(pa.array(order))


def importance(
    sample: pa.Table,
    target: str,
    task: str,
    model: Scorer,
    rng: np.random.Generator,
    repeats: int,
    features: list[str],
) -> dict[str, Any]:
    """Permutation importance on the sample: the drop in accuracy (classification) or R²
    (regression) when one feature's values are shuffled, the mean and standard deviation
    over ``repeats`` shuffles."""
    frame = model_frame(sample, model, target)
    y = sample.column(target).to_numpy(zero_copy_only=False)

    def score(x: Any) -> float:
        predicted = np.asarray(model.predict(x))
        if predicted.ndim > 1:  # named fields or columns: the first is the prediction
            predicted = predicted.reshape(len(x), -1)[:, 0]
        if task == CLASSIFICATION:
            return float(np.mean(predicted.astype(object) == y.astype(object)))
        residual = y.astype(np.float64) - predicted.astype(np.float64)
        spread = float(((y - y.mean()) ** 2).sum())
        return 1 - float((residual**2).sum()) / spread if spread > 0 else 0.0

    reference = score(frame)
    found: list[dict[str, Any]] = []
    for column in [f for f in features if f in frame.columns]:
        drops = []
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[column] = frame[column].to_numpy()[rng.permutation(len(frame))]
            drops.append(reference - score(shuffled))
        found.append(
            {"feature": column, "mean": float(np.mean(drops)), "std": float(np.std(drops))}
        )
    found.sort(key=lambda f: -float(f["mean"]))
    return {
        "score": "accuracy" if task == CLASSIFICATION else "r2",
        "reference": reference,
        "rows": len(frame),
        "features": found,
    }


# -- the paired bootstrap --------------------------------------------------------------


class Bootstrap:
    """Per-replicate weighted sums for both models: each row gets a Poisson(1) weight per
    replicate, drawn in row order, the same for both models."""

    def __init__(self, replicates: int, rng: np.random.Generator) -> None:
        self.replicates = replicates
        self.rng = rng
        self.sums: list[np.ndarray] | None = None
        self.hist: list[np.ndarray] | None = None

    def add(
        self,
        stats: np.ndarray,
        base_stats: np.ndarray,
        main: Classification | Regression,
        base: Classification | Regression,
    ) -> None:
        auc = isinstance(main, Classification) and main.positive is not None
        auc = auc and isinstance(base, Classification) and base.positive is not None
        if self.sums is None:
            self.sums = [np.zeros((self.replicates, stats.shape[1])) for _ in range(2)]
            if auc:
                self.hist = [np.zeros((self.replicates, 2 * _BOOTSTRAP_AUC_BINS)) for _ in range(2)]
        for start in range(0, len(stats), _CHUNK):
            end = start + _CHUNK
            draws = self.rng.poisson(1.0, size=(len(stats[start:end]), self.replicates))
            weights = draws.astype(np.float64).T
            self.sums[0] += weights @ stats[start:end]
            self.sums[1] += weights @ base_stats[start:end]
            if self.hist is not None:
                offsets = np.arange(self.replicates) * (2 * _BOOTSTRAP_AUC_BINS)
                for i, acc in enumerate((main, base)):
                    assert isinstance(acc, Classification)
                    assert acc.positive is not None and acc.truth is not None
                    cell = _cell(acc.positive[start:end], acc.truth[start:end])
                    self.hist[i] += np.bincount(
                        (offsets[:, None] + cell[None, :]).ravel(),
                        weights=weights.ravel(),
                        minlength=self.hist[i].size,
                    ).reshape(self.hist[i].shape)

    def report(
        self, task: str, model: Classification | Regression, baseline: Classification | Regression
    ) -> dict[str, Any]:
        """Each metric of both models on all rows, their difference and its 95% interval
        over the replicates, and the verdict (better or worse when the interval excludes
        0, else no clear difference)."""
        assert self.sums is not None
        main = model.report()["metrics"]
        base = baseline.report()["metrics"]
        replicas: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, fn in _BOOT_METRICS[task]:
            if main.get(name) is None or base.get(name) is None:
                continue
            values = [fn(s) for s in self.sums]
            replicas[name] = (values[0], values[1])
        if self.hist is not None and main.get("roc_auc") is not None:
            half = _BOOTSTRAP_AUC_BINS
            replicas["roc_auc"] = tuple(  # type: ignore[assignment]
                np.array([binned_roc_auc(h[:half], h[half:])[0] for h in hist])
                for hist in self.hist
            )
        found = {}
        for name, (cand, basel) in replicas.items():
            diff = cand - basel
            diff = diff[np.isfinite(diff)]
            low, high = (float(v) for v in np.percentile(diff, [2.5, 97.5]))
            higher = name in _HIGHER_IS_BETTER
            if (low > 0) == higher and (low > 0 or high < 0):
                verdict = "better"
            elif low > 0 or high < 0:
                verdict = "worse"
            else:
                verdict = "no clear difference"
            found[name] = {
                "model": main[name],
                "baseline": base[name],
                "difference": main[name] - base[name],
                "ci95": [low, high],
                "higher_is_better": higher,
                "verdict": verdict,
            }
        return {"replicates": self.replicates, "metrics": found}


def _cell(score: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Each row's histogram cell: its score's bin, among the negatives' or positives'."""
    index = np.clip((score * _BOOTSTRAP_AUC_BINS).astype(np.int64), 0, _BOOTSTRAP_AUC_BINS - 1)
    return index + positive.astype(np.int64) * _BOOTSTRAP_AUC_BINS


def _ratio(column: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda s: s[:, column] / s[:, 0]


def _r2(s: np.ndarray) -> np.ndarray:
    total = s[:, 4] - s[:, 3] ** 2 / s[:, 0]
    return 1 - s[:, 1] / np.where(total > 0, total, np.nan)


_HIGHER_IS_BETTER = {"accuracy", "roc_auc", "r2"}
_BOOT_METRICS: dict[str, list[tuple[str, Callable[[np.ndarray], np.ndarray]]]] = {
    CLASSIFICATION: [("accuracy", _ratio(1)), ("log_loss", _ratio(2)), ("brier", _ratio(3))],
    REGRESSION: [
        ("rmse", lambda s: np.sqrt(s[:, 1] / s[:, 0])),
        ("mae", _ratio(2)),
        ("r2", _r2),
    ],
}
