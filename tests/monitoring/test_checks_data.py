"""The data checks: drift, prediction drift and quality, judged from window summaries."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pytest

from modelyard.data.drift import drift
from modelyard.data.profile import profile
from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring.checks import CHECKS, check_for
from modelyard.monitoring.checks_data import DriftCheck, PredictionDriftCheck, QualityCheck
from modelyard.monitoring.summary import Summarizer, Summary

FEATURES = ("age", "plan", "spend")


def _training(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "age": pa.array(rng.normal(40, 10, rows)),
            "plan": pa.array(rng.choice(["basic", "pro", "team"], rows, p=[0.5, 0.3, 0.2])),
            "spend": pa.array(rng.gamma(2.0, 30.0, rows)),
            "churned": pa.array(rng.integers(0, 2, rows)),
        }
    )


def _log(table: pa.Table, outputs: Any = None) -> pa.Table:
    columns = {
        f"input.{name}": table.column(name) for name in FEATURES if name in table.column_names
    }
    if outputs is not None:
        columns["output"] = outputs
    return pa.table(columns)


def _reference(evaluation: dict[str, Any] | None = None, task: str | None = None) -> Reference:
    return Reference(
        "v1",
        "churn/1",
        FEATURES,
        profile=profile(_training(5000, 1)),
        evaluation=evaluation,
        task=task,
        classes=("no", "yes"),
        target="churned",
    )


def _window(reference: Reference, *tables: pa.Table) -> WindowInputs:
    summary = Summary()
    for table in tables:
        summary.merge(Summarizer().summarize(table, reference))
    return WindowInputs(0, 3_600_000, reference, summary)


def test_the_data_checks_are_registered() -> None:
    assert isinstance(check_for("drift"), DriftCheck)
    assert isinstance(CHECKS["prediction_drift"], PredictionDriftCheck)
    assert isinstance(CHECKS["quality"], QualityCheck)
    assert DriftCheck.needs_profile and QualityCheck.needs_profile
    assert not PredictionDriftCheck.needs_profile


@pytest.mark.parametrize("rows", [400, 20_000])
def test_drift_flags_the_shifted_feature_as_drift_on_raw_data_does(rows: int) -> None:
    reference = _reference()
    current = _training(rows, 2)
    current = current.set_column(0, "age", pa.array(current.column("age").to_numpy() + 8))
    check = DriftCheck()
    config = check.configure({}, reference)
    # the hour cut in pieces, as a pass stores it
    finding = check.judge(
        config,
        _window(reference, _log(current.slice(0, rows // 3)), _log(current.slice(rows // 3))),
    )
    raw = drift(reference.profile, current.select(FEATURES), columns=list(FEATURES))
    assert finding.details["drifted"] == ["age"] == list(raw.drifted)
    assert finding.value == pytest.approx(raw.share_drifted) == pytest.approx(1 / 3)
    assert finding.threshold == 0.5 and not finding.breached
    for feature in raw.features:
        mine = finding.details["features"][feature.column]
        assert mine["test"] == feature.test
        assert mine["drifted"] == feature.drifted
        assert mine["statistic"] == pytest.approx(feature.statistic, rel=0.02, abs=2e-3)
    assert finding.rows == rows


def test_drift_breaches_at_the_drift_share_and_takes_tests_and_thresholds() -> None:
    reference = _reference()
    current = _training(3000, 3)
    current = current.set_column(0, "age", pa.array(current.column("age").to_numpy() + 8))
    check = DriftCheck()
    config = check.configure(
        {"drift_share": 0.3, "tests": {"numeric": "psi"}, "threshold": {"psi": 0.2}}, reference
    )
    finding = check.judge(config, _window(reference, _log(current)))
    assert finding.breached
    assert finding.details["features"]["age"]["test"] == "psi"
    assert finding.details["features"]["age"]["threshold"] == 0.2


def test_drift_names_a_feature_missing_from_the_logs() -> None:
    reference = _reference()
    current = _training(500, 4).drop_columns(["plan"])
    check = DriftCheck()
    finding = check.judge(check.configure({}, reference), _window(reference, _log(current)))
    assert finding.details["missing_features"] == ["plan"]
    assert "plan" in (finding.note or "")
    assert finding.details["features"]["plan"]["test"] is None
    assert "missing from the logs" in finding.details["features"]["plan"]["note"]
    assert finding.details["tested"] == 2


def test_drift_leaves_out_a_configured_feature_the_profile_lacks() -> None:
    reference = _reference()
    check = DriftCheck()
    config = check.configure({"features": ["age", "height"]}, None)  # no reference to check by
    current = _training(500, 13).append_column("height", pa.array(np.ones(500)))
    log = _log(current).append_column("input.height", current.column("height"))
    finding = check.judge(config, _window(reference, log))
    assert finding.details["features"]["height"]["note"] == "not in the training profile"
    assert finding.details["tested"] == 1


def test_a_window_without_rows_has_no_value() -> None:
    reference = _reference()
    for check in (DriftCheck(), PredictionDriftCheck(), QualityCheck()):
        config = check.configure({}, reference)
        for summary in (None, Summary()):
            finding = check.judge(config, WindowInputs(0, 1, reference, summary))
            assert finding.value is None and not finding.breached and finding.note


def _classification_evaluation(counts: dict[str, int]) -> dict[str, Any]:
    labels = list(counts)
    matrix = np.diag([counts[label] for label in labels]).tolist()
    return {"task": "classification", "confusion_matrix": {"labels": labels, "matrix": matrix}}


def test_prediction_drift_on_classes_against_the_confusion_matrix() -> None:
    reference = _reference(_classification_evaluation({"0": 700, "1": 300}), "classification")
    check = PredictionDriftCheck()
    config = check.configure({}, reference)
    rows = _training(2000, 5)
    rng = np.random.default_rng(5)
    same = pa.array((rng.random(2000) < 0.3).astype(np.int64))
    shifted = pa.array((rng.random(2000) < 0.6).astype(np.int64))
    calm = check.judge(config, _window(reference, _log(rows, same)))
    moved = check.judge(config, _window(reference, _log(rows, shifted)))
    assert not calm.breached and moved.breached
    # 1000 evaluated rows: the small-sample test, whose value is its p-value
    assert moved.details["test"] == "chisquare"
    assert moved.value is not None and moved.threshold is not None
    assert moved.value < moved.threshold < calm.value  # type: ignore[operator]


def _calibration(scores: np.ndarray) -> list[dict[str, Any]]:
    bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], scores)
    used = np.unique(bins)
    return [
        {
            "label": "yes",
            "prob_pred": [float(scores[bins == b].mean()) for b in used],
            "prob_true": [0.5 for _ in used],
            "count": [int((bins == b).sum()) for b in used],
        }
    ]


def test_prediction_drift_on_probabilities_against_the_calibration_counts() -> None:
    rng = np.random.default_rng(14)
    evaluation = {
        **_classification_evaluation({"no": 2000, "yes": 1000}),
        "calibration": _calibration(rng.beta(2, 5, 3000)),
    }
    reference = _reference(evaluation, "classification")
    check = PredictionDriftCheck()
    config = check.configure({}, reference)
    rows = _training(2000, 15)

    def scores(a: float, b: float) -> pa.Array:
        p = rng.beta(a, b, 2000)
        return pa.array(np.column_stack([1 - p, p]).tolist(), pa.list_(pa.float64()))

    calm = check.judge(config, _window(reference, _log(rows, scores(2, 5))))
    moved = check.judge(config, _window(reference, _log(rows, scores(5, 2))))
    assert calm.details["output"] == moved.details["output"] == "output[yes]"
    assert set(moved.details["scores"]) == {"yes"}
    assert not calm.breached and moved.breached


def test_prediction_drift_on_regression_against_the_evaluated_predictions() -> None:
    from modelyard.registry._scoring import Regression

    rng = np.random.default_rng(6)

    class Model:
        features: ClassVar[list[str]] = ["x"]

        def predict(self, frame: Any) -> Any:
            return np.asarray(frame["x"], dtype=float) * 2

    regression = Regression(Model(), "y")  # type: ignore[arg-type]
    x = rng.normal(10, 2, 3000)
    regression.add(pa.table({"x": x, "y": x * 2 + rng.normal(0, 1, 3000)}), x * 2)
    evaluation = {"task": "regression", **regression.report()}
    reference = _reference(evaluation, "regression")
    check = PredictionDriftCheck()
    config = check.configure({}, reference)
    rows = _training(2500, 7)
    calm = check.judge(config, _window(reference, _log(rows, pa.array(rng.normal(20, 4, 2500)))))
    moved = check.judge(config, _window(reference, _log(rows, pa.array(rng.normal(26, 4, 2500)))))
    assert not calm.breached and moved.breached
    assert moved.details["test"] == "wasserstein"


def test_prediction_drift_on_an_old_regression_report_says_why_it_has_no_value() -> None:
    evaluation = {"task": "regression", "metrics": {"rmse": 1.0}, "residuals": {}}
    reference = _reference(evaluation, "regression")
    check = PredictionDriftCheck()
    finding = check.judge(
        check.configure({}, reference),
        _window(reference, _log(_training(100, 8), pa.array(np.ones(100)))),
    )
    assert finding.value is None and "evaluate the version again" in (finding.note or "")


def test_quality_passes_on_training_like_data_and_fails_on_nulls_new_categories_ranges() -> None:
    reference = _reference()
    check = QualityCheck()
    config = check.configure({}, reference)
    good = check.judge(config, _window(reference, _log(_training(3000, 9))))
    assert good.value == 0 and not good.breached, good.details["failed"]
    bad = _training(3000, 10)
    age = bad.column("age").to_numpy().copy()
    age[:600] = np.nan
    age[600] = 10_000.0
    plans = bad.column("plan").to_pylist()
    plans[:5] = ["enterprise"] * 5
    bad = bad.set_column(0, "age", pa.array(age)).set_column(1, "plan", pa.array(plans))
    finding = check.judge(config, _window(reference, _log(bad)))
    assert finding.breached
    failed = set(finding.details["failed"])
    assert {"not_null 'age'", "in_range 'age'", "in_set 'plan'"} <= failed
    plan = next(e for e in finding.details["expectations"] if e["expectation"] == "in_set 'plan'")
    assert plan["observed"]["new_values"] == ["enterprise"]
    assert finding.value == pytest.approx(len(failed) / finding.details["checked"])


def test_quality_takes_a_suite_of_yaml_and_counts_outliers_by_training_fences() -> None:
    reference = _reference()
    check = QualityCheck()
    suite = (
        "- kind: max_outliers\n  column: spend\n  max_share: 0.05\n"
        "- kind: max_cardinality\n  column: plan\n  max: 3\n"
        "- kind: unique\n  column: plan\n"
    )
    config = check.configure({"expectations": suite, "max_failed_share": 0.4}, reference)
    current = _training(2000, 11)
    spend = current.column("spend").to_numpy() * 3
    plans = [f"p{i % 6}" for i in range(2000)]
    current = current.set_column(2, "spend", pa.array(spend)).set_column(1, "plan", pa.array(plans))
    finding = check.judge(config, _window(reference, _log(current)))
    results = {e["expectation"]: e for e in finding.details["expectations"]}
    assert results["max_outliers 'spend'"]["passed"] is False
    assert results["max_cardinality 'plan'"]["observed"] == {"distinct": 6}
    assert results["unique 'plan'"]["passed"] is None
    assert finding.value == 1.0 and finding.details["checked"] == 2 and finding.breached


def test_quality_reports_a_feature_missing_from_the_logs() -> None:
    reference = _reference()
    check = QualityCheck()
    finding = check.judge(
        check.configure({}, reference),
        _window(reference, _log(_training(500, 12).drop_columns(["plan"]))),
    )
    assert finding.breached
    schema = next(e for e in finding.details["expectations"] if e["kind"] == "schema")
    assert schema["observed"] == {"missing_from_logs": ["plan"]}


@pytest.mark.parametrize(
    ("check", "config", "field"),
    [
        (DriftCheck(), {"nope": 1}, "config.nope"),
        (DriftCheck(), {"drift_share": 0}, "config.drift_share"),
        (DriftCheck(), {"drift_share": True}, "config.drift_share"),
        (DriftCheck(), {"features": "age"}, "config.features"),
        (DriftCheck(), {"features": ["height"]}, "config.features"),
        (DriftCheck(), {"tests": {"numeric": "chisquare"}}, "config.tests"),
        (DriftCheck(), {"tests": {"text": "ks"}}, "config.tests"),
        (DriftCheck(), {"threshold": {"ks": 2}}, "config.threshold"),
        (DriftCheck(), {"threshold": -1}, "config.threshold"),
        (PredictionDriftCheck(), {"output": "input.age"}, "config.output"),
        (PredictionDriftCheck(), {"threshold": {"nope": 0.1}}, "config.threshold"),
        (QualityCheck(), {"expectations": "- kind: nope\n  column: age\n"}, "config.expectations"),
        (QualityCheck(), {"expectations": "suite.yaml"}, "config.expectations"),
        (QualityCheck(), {"max_failed_share": 2}, "config.max_failed_share"),
    ],
)
def test_bad_config_is_refused_naming_the_key(
    check: Any, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        check.configure(config, _reference())
    assert caught.value.field == field


def test_configure_fills_in_defaults() -> None:
    assert DriftCheck().configure({}, _reference()) == {
        "features": None,
        "tests": {"numeric": None, "categorical": None},
        "threshold": None,
        "drift_share": 0.5,
    }
    assert QualityCheck().configure({}, None) == {"expectations": None, "max_failed_share": 0.0}
