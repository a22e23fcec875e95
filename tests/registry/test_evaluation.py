"""The evaluation functions over Arrow batches, checked against scikit-learn's own metric
functions: exact where the module says exact, within the reported bound where binned."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterator
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.errors import InvalidInput
from modelyard.registry._report_html import render
from modelyard.registry.evaluation import evaluate, scorer_for

EXACT = 1e-12


def _batches(frame: pd.DataFrame, rows: int) -> list[pa.RecordBatch]:
    return pa.Table.from_pandas(frame, preserve_index=False).to_batches(max_chunksize=rows)


@pytest.fixture(scope="module")
def cancer() -> tuple[object, pd.DataFrame, pd.Series]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    model.fit(x[:300], y[:300])
    return model, x[300:], y[300:]


def test_binary_classification_matches_scikit_learn(cancer: tuple) -> None:
    model, x, y = cancer
    report = evaluate(_batches(x.assign(target=y), 40), target="target", model=scorer_for(model))
    predicted, proba = model.predict(x), model.predict_proba(x)[:, 1]
    found = report["metrics"]
    assert report["rows"] == len(y) and report["averaging"] == "binary (positive class)"
    assert found["accuracy"] == pytest.approx(metrics.accuracy_score(y, predicted), abs=EXACT)
    assert found["precision"] == pytest.approx(metrics.precision_score(y, predicted), abs=EXACT)
    assert found["recall"] == pytest.approx(metrics.recall_score(y, predicted), abs=EXACT)
    assert found["f1"] == pytest.approx(metrics.f1_score(y, predicted), abs=EXACT)
    assert found["log_loss"] == pytest.approx(
        metrics.log_loss(y, model.predict_proba(x)), abs=EXACT
    )
    assert found["brier"] == pytest.approx(metrics.brier_score_loss(y, proba), abs=EXACT)
    matrix = report["confusion_matrix"]
    assert matrix["labels"] == [0, 1]
    assert matrix["matrix"] == metrics.confusion_matrix(y, predicted).tolist()
    prob_true, prob_pred = calibration_curve(y, proba, n_bins=10)
    assert report["calibration"][0]["prob_true"] == pytest.approx(prob_true, abs=EXACT)
    assert report["calibration"][0]["prob_pred"] == pytest.approx(prob_pred, abs=EXACT)
    # Binned: within the bound the report states, and the bound is small.
    roc = metrics.roc_auc_score(y, proba)
    assert abs(found["roc_auc"] - roc) <= found["roc_auc_max_error"] + EXACT
    ap = metrics.average_precision_score(y, proba)
    assert abs(found["pr_auc"] - ap) <= found["pr_auc_max_error"] + EXACT
    assert found["roc_auc_max_error"] < 0.001 and found["pr_auc_max_error"] < 0.001
    coarse = evaluate(
        _batches(x.assign(target=y), 40), target="target", model=scorer_for(model), score_bins=10
    )["metrics"]
    assert coarse["roc_auc_max_error"] > 0 and coarse["pr_auc_max_error"] > 0
    assert abs(coarse["roc_auc"] - roc) <= coarse["roc_auc_max_error"] + EXACT
    assert abs(coarse["pr_auc"] - ap) <= coarse["pr_auc_max_error"] + EXACT
    assert report["roc_curve"][0]["points"][0] == [0.0, 0.0]
    assert report["roc_curve"][0]["points"][-1] == [1.0, 1.0]


def test_bins_holding_one_score_each_make_the_auc_exact() -> None:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    forest = RandomForestClassifier(n_estimators=40, random_state=0).fit(x[::2], y[::2])
    test_x, test_y = x[1::2], y[1::2]
    report = evaluate(_batches(test_x.assign(t=test_y), 64), target="t", model=scorer_for(forest))[
        "metrics"
    ]
    proba = forest.predict_proba(test_x)[:, 1]  # votes: multiples of 1/40, many tied
    assert report["roc_auc_max_error"] == 0 and report["pr_auc_max_error"] == 0
    assert report["roc_auc"] == pytest.approx(metrics.roc_auc_score(test_y, proba), abs=EXACT)
    assert report["pr_auc"] == pytest.approx(
        metrics.average_precision_score(test_y, proba), abs=EXACT
    )


def test_multiclass_classification_matches_scikit_learn() -> None:
    x, y = load_wine(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000)).fit(x, y)
    report = evaluate(_batches(x.assign(kind=y), 50), target="kind", model=scorer_for(model))
    predicted, proba = model.predict(x), model.predict_proba(x)
    found = report["metrics"]
    for name, fn in (
        ("precision", metrics.precision_score),
        ("recall", metrics.recall_score),
        ("f1", metrics.f1_score),
    ):
        assert found[name] == pytest.approx(fn(y, predicted, average="macro"), abs=EXACT)
        assert found[f"{name}_weighted"] == pytest.approx(
            fn(y, predicted, average="weighted"), abs=EXACT
        )
    assert found["log_loss"] == pytest.approx(metrics.log_loss(y, proba), abs=EXACT)
    assert found["brier"] == pytest.approx(metrics.brier_score_loss(y, proba), abs=EXACT)
    assert report["confusion_matrix"]["matrix"] == metrics.confusion_matrix(y, predicted).tolist()
    roc = metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert abs(found["roc_auc"] - roc) <= found["roc_auc_max_error"] + EXACT
    ap = metrics.average_precision_score(y, proba, average="macro")
    assert abs(found["pr_auc"] - ap) <= found["pr_auc_max_error"] + EXACT
    assert [c["label"] for c in report["calibration"]] == [0, 1, 2]
    assert [c["label"] for c in report["per_class"]] == [0, 1, 2]


def test_regression_matches_scikit_learn() -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge(alpha=0.5).fit(x, y)
    report = evaluate(_batches(x.assign(y=y), 64), target="y", model=scorer_for(model))
    predicted = model.predict(x)
    residual = y - predicted
    found = report["metrics"]
    assert report["task"] == "regression"
    assert found["rmse"] == pytest.approx(metrics.root_mean_squared_error(y, predicted), abs=1e-9)
    assert found["mae"] == pytest.approx(metrics.mean_absolute_error(y, predicted), abs=1e-9)
    assert found["r2"] == pytest.approx(metrics.r2_score(y, predicted), abs=1e-12)
    summary = report["residuals"]
    assert summary["mean"] == pytest.approx(residual.mean(), abs=1e-9)
    assert summary["std"] == pytest.approx(residual.std(ddof=0), abs=1e-9)
    assert (summary["min"], summary["max"]) == pytest.approx((residual.min(), residual.max()))
    width = summary["bin_width"]
    for q, value in summary["quantiles"].items():
        assert abs(value - np.percentile(residual, int(q))) <= width
    assert sum(count for _, _, count in summary["histogram"]) == len(y)
    assert len(summary["histogram"]) <= 64


def _stream(batches: int, rows: int, seed: int = 7) -> Iterator[pa.RecordBatch]:
    """Batches made on demand: never all in memory at once."""
    rng = np.random.default_rng(seed)
    for _ in range(batches):
        signal = rng.normal(size=rows)
        noise = rng.normal(size=rows)
        label = (signal + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
        region = rng.choice(np.array(["north", "south", "east"]), size=rows)
        yield pa.RecordBatch.from_pydict(
            {"signal": signal, "noise": noise, "region": region, "label": label}
        )


def _fitted() -> LogisticRegression:
    sample = pa.Table.from_batches(list(_stream(1, 2000, seed=1))).to_pandas()
    return LogisticRegression().fit(sample[["signal", "noise"]], sample["label"])


def test_a_generator_of_many_batches_streams_and_cutting_changes_nothing() -> None:
    model = _fitted()
    consumed = []

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in _stream(30, 3_000):
            consumed.append(batch.num_rows)
            yield batch

    streamed = evaluate(
        batches(), target="label", model=scorer_for(model), slices=["region", "noise"]
    )
    assert consumed == [3_000] * 30 and streamed["rows"] == 90_000
    whole = pa.Table.from_batches(list(_stream(30, 3_000)))
    at_once = evaluate(
        whole.to_batches(max_chunksize=65_536),
        target="label",
        model=scorer_for(model),
        slices=["region", "noise"],
    )
    assert streamed == at_once  # every draw per row, in row order: no batch boundary shows
    frame = whole.to_pandas()
    assert streamed["metrics"]["accuracy"] == pytest.approx(
        metrics.accuracy_score(frame["label"], model.predict(frame[["signal", "noise"]])),
        abs=EXACT,
    )
    assert streamed["importance"]["rows"] == 5000  # the bounded sample


def test_slices_by_value_and_quantile_flag_the_ones_far_below() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    score = rng.random(n)
    group = np.where(np.arange(n) % 3 == 0, "bad", "good")
    truth = (score > 0.5).astype(int)
    # The model is right on "good" rows and a coin toss on "bad" ones.
    noisy = np.where(group == "bad", rng.integers(0, 2, n), truth)
    frame = pd.DataFrame({"score": score, "group": group, "label": noisy})
    model = DummyClassifier().fit(frame[["score"]], frame["label"])
    model.predict = lambda x: (x["score"].to_numpy() > 0.5).astype(int)  # type: ignore[method-assign]
    with_missing = frame.assign(group=frame["group"].where(np.arange(n) % 50 != 1, None))
    report = evaluate(
        _batches(with_missing, 500),
        target="label",
        model=scorer_for(model, ["score"]),
        slices=["group", "score"],
    )
    by_name = {(s["column"], s["slice"]): s for s in report["slices"]}
    assert by_name[("group", "bad")]["flagged"] is True
    assert by_name[("group", "good")]["flagged"] is False
    assert by_name[("group", "good")]["metrics"]["accuracy"] == 1.0
    assert by_name[("group", "(missing)")]["rows"] == n // 50
    quantiles = [s for s in report["slices"] if s["column"] == "score"]
    assert len(quantiles) == 4 and all(abs(s["rows"] - n / 4) < n * 0.02 for s in quantiles)
    assert re.fullmatch(r"\[[-0-9.e]+, [-0-9.e]+\)", quantiles[0]["slice"])
    assert "accuracy < overall" in report["method"]["flag_rule"]


def test_permutation_importance_is_seeded_and_finds_the_signal() -> None:
    model = _fitted()
    first = evaluate(_stream(3, 2000), target="label", model=scorer_for(model), sample_rows=1000)
    again = evaluate(_stream(3, 2000), target="label", model=scorer_for(model), sample_rows=1000)
    other = evaluate(
        _stream(3, 2000), target="label", model=scorer_for(model), sample_rows=1000, seed=5
    )
    features = {f["feature"]: f["mean"] for f in first["importance"]["features"]}
    assert features["signal"] > 0.2 and abs(features["noise"]) < 0.02
    assert first["importance"] == again["importance"]
    assert first["importance"] != other["importance"]
    assert first["importance"]["rows"] == 1000


def test_a_model_answering_named_fields_is_scored_and_permuted_by_its_first() -> None:
    """A classifier whose predict answers a frame (``label`` first, then each class's
    probability, as the prediction log keeps named fields) is evaluated as the plain one,
    permutation importance included (it compared the whole frame with the target)."""
    model = _fitted()
    plain = evaluate(_stream(3, 2000), target="label", model=scorer_for(model), sample_rows=1000)

    def named(x: pd.DataFrame) -> pd.DataFrame:
        proba = model.predict_proba(x)
        frame = pd.DataFrame(proba, columns=[str(c) for c in model.classes_])
        frame.insert(0, "label", model.classes_[proba.argmax(axis=1)])
        return frame

    report = evaluate(
        _stream(3, 2000), target="label", model=scorer_for(model, predict=named), sample_rows=1000
    )
    assert report["metrics"] == plain["metrics"]
    assert report["importance"] == plain["importance"]


def test_the_baseline_comparison_has_seeded_paired_bootstrap_intervals() -> None:
    model = _fitted()
    sample = pa.Table.from_batches(list(_stream(1, 500, seed=2))).to_pandas()
    weak = LogisticRegression().fit(sample[["noise"]], sample["label"])
    report = evaluate(
        _stream(4, 2000), target="label", model=scorer_for(model), baseline=scorer_for(weak)
    )
    accuracy = report["comparison"]["metrics"]["accuracy"]
    low, high = accuracy["ci95"]
    assert 0 < low <= accuracy["difference"] <= high and accuracy["verdict"] == "better"
    assert report["comparison"]["metrics"]["log_loss"]["verdict"] == "better"
    assert report["comparison"]["metrics"]["roc_auc"]["verdict"] == "better"
    assert accuracy["baseline"] == report["baseline_metrics"]["accuracy"]
    same = evaluate(
        _stream(4, 2000), target="label", model=scorer_for(model), baseline=scorer_for(model)
    )
    for found in same["comparison"]["metrics"].values():
        assert found["difference"] == 0 and found["ci95"] == [0.0, 0.0]
        assert found["verdict"] == "no clear difference"
    again = evaluate(
        _stream(4, 2000), target="label", model=scorer_for(model), baseline=scorer_for(weak)
    )
    assert again["comparison"] == report["comparison"]


def test_regression_against_a_baseline() -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    good, weak = LinearRegression().fit(x, y), Ridge(alpha=100).fit(x, y)
    report = evaluate(
        _batches(x.assign(y=y), 100),
        target="y",
        model=scorer_for(good),
        baseline=scorer_for(weak),
        slices=["sex"],
    )
    compared = report["comparison"]["metrics"]
    assert compared["rmse"]["verdict"] == "better" and compared["r2"]["verdict"] == "better"
    assert compared["rmse"]["ci95"][1] < 0 < compared["r2"]["ci95"][0]
    assert {s["rows"] for s in report["slices"]} == set(x["sex"].value_counts())


def test_bad_input_is_refused_naming_the_field(cancer: tuple) -> None:
    model, x, y = cancer
    data = x.assign(target=y)
    cases = [
        ({"target": "nope"}, "target"),
        ({"target": "target", "slices": ["nope"]}, "slices"),
        ({"target": "target", "task": "ranking"}, "task"),
        ({"target": "target", "seed": -1}, "seed"),
        ({"target": "target", "bootstrap": 2}, "bootstrap"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInput) as exc:
            evaluate(_batches(data, 100), model=scorer_for(model), **kwargs)
        assert exc.value.field == field
    with pytest.raises(InvalidInput) as exc:
        evaluate(iter([]), target="target", model=scorer_for(model))
    assert exc.value.field == "data"
    with pytest.raises(InvalidInput) as exc:
        evaluate(
            _batches(data.drop(columns=["mean radius"]), 100),
            target="target",
            model=scorer_for(model),
        )
    assert exc.value.field == "data" and "mean radius" in str(exc.value)


def test_the_html_page_is_self_contained_and_escaped(cancer: tuple) -> None:
    model, x, y = cancer
    frame = x.assign(**{"<script>alert(1)</script>": y})
    report = evaluate(
        _batches(frame, 100),
        target="<script>alert(1)</script>",
        model=scorer_for(model),
        baseline=scorer_for(model),
        slices=["mean radius"],
    )
    page = render(report, "Evaluation of <b>m</b>/1")
    assert "Confusion matrix" in page and "Slices" in page and "Against the baseline" in page
    charts = re.findall(r"<svg.*?</svg>", page, re.DOTALL)
    assert len(charts) == 3  # ROC, calibration, importance
    for chart in charts:
        ElementTree.fromstring(chart)  # well-formed
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"(https?:)?//|url\(|@import|<link|src=", page)


def test_memory_does_not_grow_with_the_rows() -> None:
    """Peak memory (NumPy's, traced, and Arrow's, sampled as each batch is handed over)
    is the same for 30,000 rows as for 240,000."""
    model = _fitted()

    def peaks(batches: int) -> tuple[int, int]:
        arrow = []

        def watched() -> Iterator[pa.RecordBatch]:
            for batch in _stream(batches, 10_000):
                arrow.append(pa.total_allocated_bytes())
                yield batch

        tracemalloc.start()
        try:
            evaluate(
                watched(),
                target="label",
                model=scorer_for(model),
                baseline=scorer_for(model),
                slices=["region", "noise"],
                bootstrap=50,
            )
            return tracemalloc.get_traced_memory()[1], max(arrow)
        finally:
            tracemalloc.stop()

    few, many = peaks(3), peaks(24)
    assert many[0] < few[0] * 1.2 and many[1] < few[1] * 1.2 + 1_000_000


def test_rows_without_a_target_are_counted_and_slice_values_capped() -> None:
    rng = np.random.default_rng(4)
    n = 1200
    x = rng.normal(size=n)
    label = pa.array([None if i % 100 == 0 else int(v > 0) for i, v in enumerate(x)])
    table = pa.table({"x": x, "shop": [f"shop-{i % 60:02d}" for i in range(n)], "label": label})
    known = np.asarray(label.is_valid())
    model = LogisticRegression().fit(pd.DataFrame({"x": x[known]}), label.drop_null())
    report = evaluate(
        table.to_batches(max_chunksize=256),
        target="label",
        model=scorer_for(model, ["x"]),
        slices=["shop"],
    )
    assert (report["rows"], report["rows_without_target"]) == (n - 12, 12)
    shops = [s["slice"] for s in report["slices"]]
    assert len(shops) == 51 and "(other)" in shops  # the first 50 values seen, then the rest
    assert sum(s["rows"] for s in report["slices"]) == n - 12


def test_a_regression_page_charts_the_residuals() -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    report = evaluate(_batches(x.assign(y=y), 100), target="y", model=scorer_for(Ridge().fit(x, y)))
    page = render(report, "diabetes")
    assert "Residuals (actual - predicted)" in page and "p95" in page
