"""Live performance: realised metrics as scikit-learn computes them on the same rows, merges
and encodings that lose nothing, the confidence-based estimate against the realised value,
and the ``performance`` check's bounds."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from modelyard.errors import InvalidInput, StorageError
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring.checks import check_for
from modelyard.monitoring.entities import Finding
from modelyard.monitoring.performance import (
    LivePerformance,
    PerformanceSummarizer,
    normalise_label,
)

BINARY = Reference("v1", "churn/1", ("tenure",), task="classification", classes=("0", "1"))
THREE = Reference("v2", "iris/1", ("x",), task="classification", classes=("a", "b", "c"))
VALUES = Reference("v3", "price/1", ("x",), task="regression")


def _calibrated(n: int, seed: int, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from them (so the probabilities are calibrated)."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(classes, 0.6), size=n)
    truth = np.array([rng.choice(classes, p=p) for p in proba])
    return proba, truth


def _summary(proba: np.ndarray, labels: list[Any], reference: Reference) -> LivePerformance:
    table = pa.table({"output": pa.array(proba.tolist(), pa.list_(pa.float64()))})
    return PerformanceSummarizer().summarize(table, labels, reference)


def test_binary_metrics_equal_scikit_learns_on_the_labelled_rows() -> None:
    proba, truth = _calibrated(2000, 1)
    labels: list[Any] = [int(t) for t in truth]
    for i in range(0, 2000, 3):
        labels[i] = None  # not labelled yet
    found = _summary(proba, labels, BINARY)
    scored = np.array([i for i in range(2000) if labels[i] is not None])
    y, p = truth[scored], proba[scored]
    predicted = p.argmax(axis=1)
    m = found.metrics()
    assert (found.rows, found.labelled) == (2000, len(scored))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert m["precision"] == pytest.approx(skm.precision_score(y, predicted))
    assert m["recall"] == pytest.approx(skm.recall_score(y, predicted))
    assert m["f1"] == pytest.approx(skm.f1_score(y, predicted))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p[:, 1]))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]), abs=m["roc_auc_max_error"])


def test_multiclass_metrics_are_macro_averages_as_scikit_learns() -> None:
    proba, truth = _calibrated(1500, 2, classes=3)
    names = np.array(["a", "b", "c"])
    found = _summary(proba, list(names[truth]), THREE)
    predicted = names[proba.argmax(axis=1)]
    m = found.metrics()
    y = names[truth]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    for name, score in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        assert m[name] == pytest.approx(score(y, predicted, average="macro")), name
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=names))
    auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert m["roc_auc"] == pytest.approx(auc, abs=m["roc_auc_max_error"] + 1e-9)


def test_regression_metrics_equal_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(50, 10, 800)
    predicted = y + rng.normal(1.5, 4, 800)
    labels: list[Any] = [float(v) for v in y]
    labels[5] = None
    labels[6] = "not a number"  # counted, not scored
    labels[7] = str(labels[7])  # a number as text is read as the number
    table = pa.table({"output": predicted})
    found = PerformanceSummarizer().summarize(table, labels, VALUES)
    keep = np.array([i for i in range(800) if i not in (5, 6)])
    m = found.metrics()
    assert (found.rows, found.labelled, found.unscored) == (800, 798, 1)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y[keep], predicted[keep])))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y[keep], predicted[keep]))
    assert m["r2"] == pytest.approx(skm.r2_score(y[keep], predicted[keep]))
    assert m["mean_error"] == pytest.approx(float(np.mean(y[keep] - predicted[keep])))
    assert found.estimate() is None


def test_a_class_logged_without_probabilities_is_compared_after_normalising() -> None:
    table = pa.table({"output": [1, 0, 1, 1, 0, 1]})
    labels: list[Any] = ["1", 0.0, True, 1, "0", None]  # True is not the class 1
    found = PerformanceSummarizer().summarize(table, labels, BINARY)
    assert found.labelled == 5
    assert found.metrics()["accuracy"] == pytest.approx(4 / 5)
    assert found.estimate() is None
    assert "log_loss" not in found.metrics()
    assert [normalise_label(v) for v in (1, 1.0, "1", " 1.0", True, "TRUE", 2.5, "x")] == [
        "1",
        "1",
        "1",
        "1",
        "True",
        "True",
        "2.5",
        "x",
    ]


def test_named_outputs_give_the_prediction_and_per_class_probabilities() -> None:
    proba, truth = _calibrated(300, 4)
    table = pa.table(
        {
            "output.label": proba.argmax(axis=1),
            "output.0": proba[:, 0],
            "output.1": proba[:, 1],
        }
    )
    found = PerformanceSummarizer().summarize(table, [int(t) for t in truth], BINARY)
    whole = _summary(proba, [int(t) for t in truth], BINARY)
    assert found.metrics() == whole.metrics()
    assert found.estimate() == whole.estimate()


def test_rows_without_probabilities_are_counted_not_scored() -> None:
    column = pa.array(
        [[0.2, 0.8], None, [0.6, None], [0.9, 0.1], [0.3, 0.7]], pa.list_(pa.float64())
    )
    found = PerformanceSummarizer().summarize(
        pa.table({"output": column}), [1, 1, 0, 0, None], BINARY
    )
    assert (found.rows, found.labelled, found.unscored) == (5, 2, 2)
    assert found.metrics()["accuracy"] == 1.0
    estimate = found.estimate()
    assert estimate is not None and estimate["accuracy"] == pytest.approx((0.8 + 0.9 + 0.7) / 3)


def test_without_a_task_fractional_outputs_are_regression_and_others_classes() -> None:
    bare = Reference("v", "m/1", ())
    values = PerformanceSummarizer().summarize(pa.table({"output": [0.5, 2.25]}), [1, 2], bare)
    assert values.task == "regression" and values.metrics()["mae"] == pytest.approx(0.375)
    classes = PerformanceSummarizer().summarize(pa.table({"output": ["a", "b"]}), ["a", "a"], bare)
    assert classes.task == "classification" and classes.metrics()["accuracy"] == 0.5


def test_two_halves_merged_equal_the_whole_and_encodings_round_trip() -> None:
    proba, truth = _calibrated(1000, 5, classes=3)
    labels: list[Any] = [["a", "b", "c"][t] if i % 4 else None for i, t in enumerate(truth)]
    whole = _summary(proba, labels, THREE)
    first = _summary(proba[:400], labels[:400], THREE)
    second = _summary(proba[400:], labels[400:], THREE)
    summarizer = PerformanceSummarizer()
    merged = summarizer.load(first.to_bytes()).merge(summarizer.load(second.to_bytes()))
    assert (merged.rows, merged.labelled) == (whole.rows, whole.labelled)
    for name, value in whole.metrics().items():
        assert merged.metrics()[name] == pytest.approx(value), name
    estimate, merged_estimate = whole.estimate(), merged.estimate()
    assert estimate is not None and merged_estimate is not None
    for name, value in estimate.items():
        assert merged_estimate[name] == pytest.approx(value), name
    empty = _summary(np.zeros((0, 3)), [], THREE)
    assert empty.estimate() is None and empty.metrics() == {}
    assert merged.merge(empty).metrics() == merged.metrics()
    again = summarizer.load(whole.to_bytes())
    assert again.to_bytes() == whole.to_bytes()
    assert len(whole.to_bytes()) < 12_000


def test_regression_halves_merge_and_round_trip() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(size=500)
    table = pa.table({"output": y + rng.normal(0, 0.3, 500)})
    labels = [float(v) for v in y]
    summarizer = PerformanceSummarizer()
    whole = summarizer.summarize(table, labels, VALUES)
    halves = [
        summarizer.summarize(table.slice(a, 250), labels[a : a + 250], VALUES) for a in (0, 250)
    ]
    merged = summarizer.load(halves[0].to_bytes()).merge(summarizer.load(halves[1].to_bytes()))
    for name, value in whole.metrics().items():
        assert merged.metrics()[name] == pytest.approx(value), name


def test_damaged_bytes_and_mismatched_merges_are_refused() -> None:
    summarizer = PerformanceSummarizer()
    good = _summary(*_calibrated(50, 7)[:1], [None] * 50, BINARY).to_bytes()
    for bad in (b"", b"junk", good[:5] + b"\x00" * 10, good[:4] + b"\x09" + good[5:]):
        with pytest.raises(StorageError):
            summarizer.load(bad)
    three = _summary(*_calibrated(50, 7, classes=3)[:1], [None] * 50, THREE)
    with pytest.raises(InvalidInput):
        summarizer.load(good).merge(three)
    with pytest.raises(InvalidInput, match="labels"):
        summarizer.summarize(pa.table({"output": [1, 0]}), [1], BINARY)


@pytest.mark.parametrize("reference", [BINARY, THREE], ids=["binary", "three classes"])
def test_the_estimate_on_calibrated_data_is_within_a_few_points_of_the_realised(
    reference: Reference,
) -> None:
    proba, truth = _calibrated(5000, 8, classes=len(reference.classes))
    found = _summary(proba, [reference.classes[t] for t in truth], reference)
    realised, estimate = found.metrics(), found.estimate()
    assert estimate is not None
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert abs(estimate[name] - realised[name]) < 0.03, name


def test_a_concept_shift_lowers_the_realised_metric_but_not_the_estimate() -> None:
    proba, truth = _calibrated(5000, 9)
    before = _summary(proba, [int(t) for t in truth], BINARY)
    rng = np.random.default_rng(10)
    flipped = np.where(rng.random(5000) < 0.4, 1 - truth, truth)  # same inputs, new meaning
    after = _summary(proba, [int(t) for t in flipped], BINARY)
    assert before.estimate() == after.estimate()
    assert after.metrics()["accuracy"] < before.metrics()["accuracy"] - 0.15
    estimate = after.estimate()
    assert estimate is not None
    assert estimate["accuracy"] > after.metrics()["accuracy"] + 0.15


# -- the check --------------------------------------------------------------------------

EVALUATED = Reference(
    "v1",
    "churn/1",
    ("tenure",),
    evaluation={"metrics": {"accuracy": 0.9, "log_loss": 0.3, "roc_auc": 0.95}},
    task="classification",
    classes=("0", "1"),
)


def _window(performance: LivePerformance | None, reference: Reference = EVALUATED) -> WindowInputs:
    return WindowInputs(0, 3_600_000, reference, None, performance)


def _judge(
    config: dict[str, Any], performance: LivePerformance | None, reference: Reference = EVALUATED
) -> Finding:
    check = check_for("performance")
    return check.judge(check.configure(config, reference), _window(performance, reference))


def _accuracy(right: int, wrong: int, unlabelled: int = 0) -> LivePerformance:
    """Rows of a class logged without probabilities: ``right`` and ``wrong`` labelled."""
    table = pa.table({"output": [1] * (right + wrong + unlabelled)})
    labels: list[Any] = [1] * right + [0] * wrong + [None] * unlabelled
    return PerformanceSummarizer().summarize(table, labels, EVALUATED)


def test_a_floor_and_a_ceiling_are_held() -> None:
    good = _judge({"min": 0.8}, _accuracy(90, 10))
    assert (good.value, good.threshold, good.breached, good.rows) == (0.9, 0.8, False, 100)
    assert good.details["judged"] == "realised"
    assert good.details["metrics"]["accuracy"] == 0.9
    bad = _judge({"metric": "accuracy", "min": 0.95}, _accuracy(90, 10))
    assert bad.breached and bad.threshold == 0.95
    loss = _judge({"metric": "log_loss", "max": 0.5}, _summary(*_loss_rows(0.9)))
    assert loss.value is not None and loss.value > 0.5 and loss.breached


def _loss_rows(p: float) -> tuple[np.ndarray, list[Any], Reference]:
    proba = np.tile([1 - p, p], (100, 1))
    return proba, [0] * 100, EVALUATED


def test_max_drop_is_against_the_versions_evaluation() -> None:
    within = _judge({"max_drop": 0.05}, _accuracy(86, 14))
    assert within.threshold == pytest.approx(0.85) and not within.breached
    assert within.details["baseline"] == 0.9
    fallen = _judge({"max_drop": 0.05}, _accuracy(80, 20))
    assert fallen.breached and fallen.value == pytest.approx(0.8)
    risen = _judge({"metric": "log_loss", "max_drop": 0.1}, _summary(*_loss_rows(0.6)))
    assert risen.threshold == pytest.approx(0.4) and risen.breached  # -log(0.4) = 0.92


def test_below_min_labelled_the_estimate_is_judged_else_nothing() -> None:
    proba, truth = _calibrated(500, 11)
    labels: list[Any] = [int(t) if i < 10 else None for i, t in enumerate(truth)]
    estimated = _judge({"min": 0.5}, _summary(proba, labels, EVALUATED))
    assert estimated.details["judged"] == "estimated"
    assert estimated.value == estimated.details["estimated"]
    assert estimated.details["labelled"] == 10 and estimated.details["rows"] == 500
    assert estimated.details["realised"] is not None  # shown, not judged
    json.dumps(estimated.details, allow_nan=False)  # stored as JSON as it is
    none = _judge({"min": 0.5}, _accuracy(5, 5, unlabelled=90))
    assert none.value is None and not none.breached
    assert none.note is not None and "min_labelled 30" in none.note
    assert "no probabilities" in none.note
    enough = _judge({"min": 0.4, "min_labelled": 10}, _accuracy(5, 5, unlabelled=90))
    assert enough.value == 0.5 and enough.details["judged"] == "realised"
    empty = _judge({"min": 0.5}, None)
    assert empty.value is None and empty.note == "no rows in the window"


def test_regression_defaults_to_rmse() -> None:
    check = check_for("performance")
    assert check.configure({"max": 2.0}, VALUES) == {
        "metric": "rmse",
        "max": 2.0,
        "min_labelled": 30,
    }
    table = pa.table({"output": [1.0] * 40})
    found = PerformanceSummarizer().summarize(table, [4.0] * 40, VALUES)
    finding = check.judge(check.configure({"max": 2.0}, VALUES), _window(found, VALUES))
    assert finding.value == pytest.approx(3.0) and finding.breached


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"metric": "rmse", "min": 0.5}, "config.metric"),
        ({"metric": "auc", "min": 0.5}, "config.metric"),
        ({"metric": "accuracy"}, "config.min"),
        ({"min": "high"}, "config.min"),
        ({"min": 0.9, "max": 0.5}, "config.min"),
        ({"max": float("nan")}, "config.max"),
        ({"max_drop": -0.1}, "config.max_drop"),
        ({"metric": "f1", "max_drop": 0.1}, "config.max_drop"),  # not in the evaluation
        ({"min": 0.5, "min_labelled": 0}, "config.min_labelled"),
        ({"min": 0.5, "min_labelled": True}, "config.min_labelled"),
        ({"min": 0.5, "window": "day"}, "config.window"),
    ],
)
def test_bad_config_names_the_key(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_for("performance").configure(config, EVALUATED)
    assert caught.value.field == field


def test_regression_refuses_classification_metrics_and_mean_error_drops() -> None:
    check = check_for("performance")
    with pytest.raises(InvalidInput) as caught:
        check.configure({"metric": "accuracy", "min": 0.5}, VALUES)
    assert caught.value.field == "config.metric"
    with pytest.raises(InvalidInput) as caught:
        check.configure({"metric": "mean_error", "max_drop": 1.0}, VALUES)
    assert caught.value.field == "config.max_drop"
    unknown = Reference("v", "m/1", ())
    with pytest.raises(InvalidInput) as caught:
        check.configure({"min": 0.5}, unknown)
    assert caught.value.field == "config.metric"
