"""Evaluate a model on a stream of Arrow record batches, in bounded memory.

:func:`evaluate` reads the batches once. For each batch it asks the model (and the
baseline, when there is one) for predictions, adds them to additive accumulators
(:mod:`~modelyard.registry._scoring`, :mod:`~modelyard.registry._metrics`; the sample and
the bootstrap in :mod:`~modelyard.registry._compare`) and forgets the batch; what it
keeps does not grow with the number of rows: sums, confusion counts, fixed-bin
histograms, a sample of at most ``sample_rows`` rows, and the bootstrap's per-replicate
sums. Results do not depend on how
the rows were cut into batches (every random draw is made per row, in row order).

Exact (up to floating-point rounding): accuracy, precision, recall, F1, the confusion
matrix, log loss, Brier score, the calibration curve (10 equal bins over [0, 1], as
scikit-learn's ``calibration_curve(strategy="uniform")``), RMSE, MAE, R², the residuals'
mean, standard deviation, minimum and maximum, and every per-slice metric. Binned: ROC AUC
and PR AUC (average precision), from ``score_bins`` equal bins of the scores per class, each
reported with the bound on its error (``roc_auc_max_error``, ``pr_auc_max_error``); the
residuals' quantiles and histogram, and the edges of numeric quantile slices (to one bin
width, ``bin_width``). Sketched: a regression's distribution of predictions
(``predictions``: the exact step CDF while at most 1001 distinct values, else 1001
quantiles within 0.001 plus ``rank_error`` of the CDF; monitoring's prediction drift
compares live outputs with it; reports made before it was kept lack it). Permutation
importance is computed on a seeded uniform sample of at most ``sample_rows`` rows. The
comparison with a baseline uses a seeded Poisson bootstrap (each row weighted by a
Poisson(1) draw per replicate), paired (both models on the same rows and weights); its ROC
AUC replicates use 100 bins.

Averaging: for two classes, precision, recall and F1 are those of the positive class (the
second of the model's ``classes_``, as scikit-learn's ``pos_label=1`` for 0/1 labels), ROC
AUC and PR AUC those of its score, and Brier score is the mean of ``(y - p)²``; for more,
precision, recall and F1 are given macro-averaged (the headline) and weighted by support,
over the labels seen in the target or the predictions, ROC AUC and PR AUC are one-vs-rest
macro averages, and Brier score is the mean over rows of ``Σ_k (1[y = k] - p_k)²``.

Slices far below the overall are flagged (``flagged``): a slice of at least 30 rows whose
accuracy is below the overall accuracy by more than ``max(0.05, 2·sqrt(a(1-a)/n))`` (a the
overall accuracy, n the slice's rows: more than two standard errors of a random subset of
its size, and at least five points), or, for regression, whose RMSE is more than 1.25
times the overall RMSE.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from modelyard.errors import InvalidInput
from modelyard.registry._compare import Bootstrap, Sample, importance
from modelyard.registry._metrics import GrowingHistogram, plain
from modelyard.registry._scoring import (
    CLASSIFICATION,
    REGRESSION,
    Classification,
    Labels,
    Regression,
    Scorer,
    scorer_for,
)

__all__ = ["FLAG_RULE", "Scorer", "evaluate", "scorer_for"]

FLAG_RULE = {
    CLASSIFICATION: "rows >= 30 and accuracy < overall - max(0.05, 2*sqrt(a*(1-a)/rows))",
    REGRESSION: "rows >= 30 and rmse > 1.25 * overall rmse",
}
_MIN_SLICE_ROWS = 30
_MAX_SLICE_VALUES = 50
_MAX_FEATURES = 100


def evaluate(
    batches: Iterable[pa.RecordBatch],
    *,
    target: str,
    model: Scorer,
    baseline: Scorer | None = None,
    task: str | None = None,
    slices: Sequence[str] = (),
    seed: int = 0,
    sample_rows: int = 5000,
    importance_repeats: int = 5,
    bootstrap: int = 200,
    score_bins: int = 1000,
    quantile_bins: int = 4,
) -> dict[str, Any]:
    """The evaluation report (a JSON-ready dict) of ``model`` on ``batches``; see the
    module docstring for what is exact, what is binned and how slices are flagged."""
    task = _task(task, model)
    for name, value, low in (
        ("sample_rows", sample_rows, 10),
        ("importance_repeats", importance_repeats, 1),
        ("bootstrap", bootstrap, 10),
        ("score_bins", score_bins, 10),
        ("quantile_bins", quantile_bins, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInput(f"{name} must be an integer of at least {low}", field=name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput("seed must be a non-negative integer", field="seed")
    if baseline is not None and _task(task, baseline) != task:
        raise InvalidInput("the baseline must be a model of the same task", field="baseline")
    sample_rng, boot_rng, perm_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    run = _Run(task, target, model, baseline, list(slices), score_bins, quantile_bins)
    sample = Sample(sample_rows, sample_rng)
    boot = Bootstrap(bootstrap, boot_rng) if baseline is not None else None
    for batch in batches:
        run.add(batch, sample, boot)
    if run.rows == 0:
        raise InvalidInput(f"no rows with a value of {target!r} to evaluate on", field="data")
    report = run.report()
    report["importance"] = importance(
        sample.table(), target, task, model, perm_rng, importance_repeats, report["features"]
    )
    if boot is not None and run.base is not None:
        report["comparison"] = boot.report(task, run.main, run.base)
    report["method"] = {
        "seed": seed,
        "sample_rows": sample_rows,
        "importance_repeats": importance_repeats,
        "bootstrap": bootstrap if baseline is not None else None,
        "score_bins": score_bins,
        "quantile_bins": quantile_bins,
        "flag_rule": FLAG_RULE[task],
        "exact": _EXACT[task],
        "binned": _BINNED[task],
    }
    return report


_EXACT = {
    CLASSIFICATION: [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "confusion_matrix",
        "log_loss",
        "brier",
        "calibration",
        "slices",
    ],
    REGRESSION: ["rmse", "mae", "r2", "residual mean, std, min, max", "slices"],
}
_BINNED = {
    CLASSIFICATION: [
        "roc_auc (error at most roc_auc_max_error)",
        "pr_auc (error at most pr_auc_max_error)",
        "numeric slice edges (to one bin width)",
        "bootstrap roc_auc replicates (100 bins)",
    ],
    REGRESSION: [
        "residual quantiles and histogram (to one bin width)",
        "predictions' distribution (1001 quantiles, within 0.001 plus rank_error)",
        "numeric slice edges (to one bin width)",
    ],
}


def _task(task: str | None, model: Scorer) -> str:
    if task is None:
        return CLASSIFICATION if model.classes is not None else REGRESSION
    if task not in (CLASSIFICATION, REGRESSION):
        raise InvalidInput(
            f"task must be 'classification' or 'regression'; got {task!r}", field="task"
        )
    return task


class _Run:
    """What one pass over the batches accumulates."""

    def __init__(
        self,
        task: str,
        target: str,
        model: Scorer,
        baseline: Scorer | None,
        slices: list[str],
        score_bins: int,
        quantile_bins: int,
    ) -> None:
        self.task = task
        self.target = target
        self.model = model
        self.baseline = baseline
        self.slice_columns = slices
        self.quantile_bins = quantile_bins
        self.rows = 0
        self.skipped = 0
        self.features: list[str] | None = None
        make: Callable[[Scorer], Classification | Regression]
        if task == CLASSIFICATION:
            self.labels = Labels()

            def make(s: Scorer) -> Classification | Regression:
                return Classification(self.labels, s, target, score_bins)

        else:

            def make(s: Scorer) -> Classification | Regression:
                return Regression(s, target)

        self.main = make(model)
        self.base = make(baseline) if baseline is not None else None
        self.slices = _Slices(slices, self.main.stats_width)

    def _check(self, schema: pa.Schema) -> None:
        names = schema.names
        if self.target not in names:
            raise InvalidInput(
                f"the data has no column {self.target!r} (its columns: {', '.join(names)})",
                field="target",
            )
        for column in self.slice_columns:
            if column not in names:
                raise InvalidInput(f"the data has no column {column!r} to slice by", field="slices")
        for scorer in (self.model, self.baseline):
            missing = [f for f in (scorer.features or []) if f not in names] if scorer else []
            if missing:
                raise InvalidInput(
                    f"the data lacks the model's input columns {', '.join(missing)}",
                    field="data",
                )
        self.features = self.model.features or [n for n in names if n != self.target]

    def add(self, batch: pa.RecordBatch, sample: Sample, boot: Bootstrap | None) -> None:
        if self.features is None:
            self._check(batch.schema)
            self.slices.start(batch.schema)
        known = batch.column(self.target).is_valid()
        if known.false_count:
            self.skipped += known.false_count
            batch = batch.filter(known)
        if batch.num_rows == 0:
            return
        self.rows += batch.num_rows
        table = pa.Table.from_batches([batch])
        y = table.column(self.target).to_numpy(zero_copy_only=False)
        stats = self.main.add(table, y)
        base_stats = self.base.add(table, y) if self.base is not None else None
        self.slices.add(batch, stats)
        sample.add(batch)
        if boot is not None and base_stats is not None and self.base is not None:
            boot.add(stats, base_stats, self.main, self.base)

    def report(self) -> dict[str, Any]:
        main = self.main.report()
        report: dict[str, Any] = {
            "task": self.task,
            "target": self.target,
            "rows": self.rows,
            "rows_without_target": self.skipped,
            "features": (self.features or [])[:_MAX_FEATURES],
            **main,
        }
        if self.base is not None:
            report["baseline_metrics"] = self.base.report()["metrics"]
        report["slices"] = self.slices.report(self.main, main["metrics"], self.quantile_bins)
        return report


# -- slices ------------------------------------------------------------------------------


class _Slices:
    """Row stats summed per value of categorical columns and per fine bin of numeric ones
    (merged into quantile bins at the end)."""

    def __init__(self, columns: list[str], width: int) -> None:
        self.columns = columns
        self.width = width
        self.numeric: dict[str, GrowingHistogram] = {}
        self.values: dict[str, dict[Any, np.ndarray]] = {}
        self.missing: dict[str, np.ndarray] = {}

    def start(self, schema: pa.Schema) -> None:
        for column in self.columns:
            kind = schema.field(column).type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind):
                self.numeric[column] = GrowingHistogram(self.width, max_bins=512)
            elif (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or pa.types.is_boolean(kind)
                or pa.types.is_dictionary(kind)
            ):
                self.values[column] = {}
            else:
                raise InvalidInput(
                    f"slice column {column!r} is {kind}: slice by a categorical (text, "
                    "boolean, dictionary) or numeric column",
                    field="slices",
                )
            self.missing[column] = np.zeros(self.width)

    def add(self, batch: pa.RecordBatch, stats: np.ndarray) -> None:
        for column in self.columns:
            array = batch.column(column)
            values = array.to_numpy(zero_copy_only=False)
            valid = np.asarray(array.is_valid())
            if column in self.numeric:
                values = values.astype(np.float64)
                valid &= np.isfinite(values)
                self.numeric[column].add(values[valid], stats[valid])
            else:
                self._add_values(column, values[valid], stats[valid])
            self.missing[column] += stats[~valid].sum(axis=0)

    def _add_values(self, column: str, values: np.ndarray, stats: np.ndarray) -> None:
        found = self.values[column]
        keys, inverse = np.unique(values.astype(str), return_inverse=True)
        sums = np.zeros((len(keys), self.width))
        np.add.at(sums, inverse.reshape(-1), stats)
        for key, row in zip(keys.tolist(), sums, strict=True):
            if key not in found and len(found) >= _MAX_SLICE_VALUES:
                key = "(other)"
            found[key] = found[key] + row if key in found else row

    def report(
        self, main: Classification | Regression, overall: dict[str, Any], bins: int
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for column in self.columns:
            groups: list[tuple[str, str, np.ndarray]] = []
            if column in self.numeric:
                groups += _quantile_groups(self.numeric[column], bins)
            else:
                groups += [("value", str(k), v) for k, v in sorted(self.values[column].items())]
            if self.missing[column][0]:
                groups.append(("missing", "(missing)", self.missing[column]))
            for kind, label, stats in groups:
                metrics = {k: plain(v) for k, v in main.metric_of(stats).items()}
                found.append(
                    {
                        "column": column,
                        "kind": kind,
                        "slice": label,
                        "rows": int(stats[0]),
                        "metrics": metrics,
                        "flagged": _flagged(int(stats[0]), metrics, overall),
                    }
                )
        return found


def _quantile_groups(hist: GrowingHistogram, bins: int) -> list[tuple[str, str, np.ndarray]]:
    rows = hist.sorted()
    total = sum(r[2][0] for r in rows)
    groups: list[tuple[str, str, np.ndarray]] = []
    start, sums, seen = None, None, 0.0
    for lower, upper, row in rows:
        start = lower if start is None else start
        sums = row.copy() if sums is None else sums + row
        seen += row[0]
        if seen >= total * (len(groups) + 1) / bins - 1e-9 or upper == rows[-1][1]:
            groups.append(("quantile", f"[{_num(start)}, {_num(upper)})", sums))
            start, sums = None, None
    return groups


def _num(value: float) -> str:
    return f"{value:.6g}"


def _flagged(rows: int, metrics: dict[str, Any], overall: dict[str, Any]) -> bool:
    if rows < _MIN_SLICE_ROWS:
        return False
    if "accuracy" in overall:
        a = overall["accuracy"]
        return bool(metrics["accuracy"] < a - max(0.05, 2 * math.sqrt(a * (1 - a) / rows)))
    return bool(metrics["rmse"] > 1.25 * overall["rmse"])
