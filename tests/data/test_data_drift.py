"""Drift statistics agree with scipy; the default tests keep their false-positive rate and
catch real shifts; stored profiles stand in for the reference data; bad input is named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelyard.data import DriftReport, Profile, drift, profile
from modelyard.data.drift import chi_square, jensen_shannon, psi
from modelyard.errors import InvalidInput, NotFound


def _frame(**columns: object) -> pd.DataFrame:
    return pd.DataFrame(columns)


@pytest.mark.parametrize(
    ("n1", "n2", "shift"),
    [
        (8, 11, 0.0),
        (50, 60, 0.3),
        (500, 500, 0.1),
        (300, 700, 0.0),
        (1000, 999, 0.2),
        (4000, 6000, 0.05),
        (20_000, 15_000, 0.03),
    ],
)
def test_ks_matches_scipy(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(n1 + n2)
    reference, current = rng.normal(size=n1), rng.normal(shift, 1, size=n2)
    feature = drift(_frame(x=reference), _frame(x=current), numeric_test="ks")["x"]
    expected = stats.ks_2samp(reference, current)
    assert feature.test == "ks" and feature.statistic == pytest.approx(
        expected.statistic, abs=1e-15
    )
    assert feature.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-10)
    assert feature.drifted == (expected.pvalue < 0.05)


def test_ks_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(21)
    reference, current = rng.integers(0, 6, 400), rng.integers(0, 7, 300)
    feature = drift(_frame(x=reference), _frame(x=current), numeric_test="ks")["x"]
    expected = stats.ks_2samp(reference, current)
    assert feature.statistic == pytest.approx(expected.statistic, abs=1e-15)
    assert feature.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("size", [300, 20_000])
def test_normalised_wasserstein_matches_scipy(size: int) -> None:
    rng = np.random.default_rng(size)
    reference, current = rng.lognormal(size=size), rng.lognormal(0.1, 1.1, size=size + 17)
    feature = drift(_frame(x=reference), _frame(x=current), numeric_test="wasserstein")["x"]
    expected = stats.wasserstein_distance(reference, current) / reference.std()
    assert feature.statistic == pytest.approx(expected, rel=1e-9)
    assert feature.p_value is None and feature.threshold == 0.1


def test_large_data_is_within_the_sketch_error() -> None:
    rng = np.random.default_rng(22)
    reference, current = rng.normal(size=200_000), rng.normal(0.02, 1, size=150_000)
    report = drift(_frame(x=reference), _frame(x=current), numeric_test="ks")
    expected = stats.ks_2samp(reference, current)
    assert report["x"].statistic == pytest.approx(expected.statistic, abs=5e-4)
    wasserstein = drift(_frame(x=reference), _frame(x=current))["x"]
    assert wasserstein.test == "wasserstein"  # the default for large samples
    scipy_value = stats.wasserstein_distance(reference, current) / reference.std()
    assert wasserstein.statistic == pytest.approx(scipy_value, abs=1e-3)


def test_psi_and_jensen_shannon_on_reference_quantile_bins() -> None:
    rng = np.random.default_rng(23)
    reference, current = rng.normal(size=5000), rng.normal(0.3, 1.2, size=4000)
    report_psi = drift(_frame(x=reference), _frame(x=current), numeric_test="psi")["x"]
    report_js = drift(_frame(x=reference), _frame(x=current), numeric_test="jensenshannon")["x"]
    ordered = np.sort(reference)

    def shares(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
        probabilities = np.arange(1, bins) / bins
        edges = np.unique(np.quantile(ordered, probabilities, method="inverted_cdf"))

        def count(sample: np.ndarray) -> np.ndarray:
            return (
                np.diff(
                    np.concatenate(
                        [[0], np.searchsorted(np.sort(sample), edges, side="right"), [sample.size]]
                    )
                )
                / sample.size
            )

        return count(reference), count(values)

    ref10, cur10 = shares(current, 10)
    expected_psi = np.sum((cur10 - ref10) * np.log(cur10 / ref10))
    assert report_psi.statistic == pytest.approx(expected_psi, rel=1e-12)
    assert report_psi.drifted == (expected_psi > 0.1)
    ref20, cur20 = shares(current, 20)
    assert report_js.statistic == pytest.approx(jensenshannon(ref20, cur20), rel=1e-12)


def test_distance_functions_match_scipy() -> None:
    rng = np.random.default_rng(24)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(8)), rng.dirichlet(np.ones(8))
        q[rng.integers(8)] = 0
        assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q), rel=1e-12)
    assert jensen_shannon(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.5, 0.1])) == pytest.approx(
        (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.1 - 1e-4) * np.log(0.1 / 1e-4)
    )


@pytest.mark.parametrize("categories", [2, 3, 12])
def test_chi_square_matches_scipy_contingency(categories: int) -> None:
    rng = np.random.default_rng(categories)
    reference = rng.multinomial(400, rng.dirichlet(np.ones(categories)))
    current = rng.multinomial(350, rng.dirichlet(np.ones(categories)))
    statistic, p_value = chi_square(reference.astype(float), current.astype(float))
    expected = stats.chi2_contingency(np.array([reference, current]))
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_categorical_drift_end_to_end() -> None:
    rng = np.random.default_rng(25)
    reference = rng.choice(["a", "b", "c", "d"], 600, p=[0.4, 0.3, 0.2, 0.1])
    current = rng.choice(["a", "b", "c", "e"], 500, p=[0.3, 0.3, 0.3, 0.1])
    feature = drift(_frame(c=reference), _frame(c=current))["c"]
    labels = sorted(set(reference) | set(current))
    table = np.array(
        [[np.sum(reference == x) for x in labels], [np.sum(current == x) for x in labels]]
    )
    expected = stats.chi2_contingency(table)
    assert feature.test == "chisquare" and feature.drifted
    assert feature.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert feature.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert feature.new_categories == ("e",) and feature.missing_categories == ("d",)
    js = drift(_frame(c=reference), _frame(c=current), categorical_test="jensenshannon")["c"]
    assert js.statistic == pytest.approx(jensenshannon(table[0], table[1]), rel=1e-12)
    big = drift(_frame(c=np.tile(reference, 5)), _frame(c=np.tile(current, 5)))["c"]
    assert big.test == "jensenshannon" and big.threshold == 0.1


def test_false_positive_rate_and_power_of_the_default_tests() -> None:
    """KS at alpha 0.05 on n=500 normal vs normal: at most 8 % of 200 pairs drift; a shift of
    half a standard deviation is caught every time."""
    rng = np.random.default_rng(26)
    false_alarms = caught = 0
    for _ in range(200):
        reference = pa.table({"x": rng.normal(size=500)})
        same = pa.table({"x": rng.normal(size=500)})
        shifted = pa.table({"x": rng.normal(0.5, 1, size=500)})
        false_alarms += drift(reference, same)["x"].drifted
        caught += drift(reference, shifted)["x"].drifted
    assert false_alarms / 200 <= 0.08
    assert caught == 200


def test_categorical_false_positive_rate() -> None:
    rng = np.random.default_rng(27)
    shares = [0.5, 0.2, 0.2, 0.1]
    alarms = sum(
        drift(
            pa.table({"c": rng.choice(list("abcd"), 400, p=shares)}),
            pa.table({"c": rng.choice(list("abcd"), 400, p=shares)}),
        )["c"].drifted
        for _ in range(200)
    )
    assert alarms / 200 <= 0.08


def test_a_stored_profile_replaces_the_reference_data() -> None:
    rng = np.random.default_rng(28)
    frame = pd.DataFrame(
        {
            "small_int": rng.integers(0, 20, 100_000),
            "wide": rng.normal(10, 2, 100_000),
            "city": rng.choice(["paris", "lyon", "lille"], 100_000, p=[0.5, 0.3, 0.2]),
        }
    )
    current = pd.DataFrame(
        {
            "small_int": rng.integers(0, 22, 800),
            "wide": rng.normal(10.3, 2, 800),
            "city": rng.choice(["paris", "lyon", "nice"], 800, p=[0.4, 0.4, 0.2]),
        }
    )
    stored = Profile.from_dict(json.loads(json.dumps(profile(frame).to_dict())))
    from_data = drift(frame, current)
    from_profile = drift(stored, current)
    for name in frame.columns:
        raw, summary = from_data[name], from_profile[name]
        assert raw.test == summary.test
        assert summary.statistic == pytest.approx(raw.statistic, abs=2e-3)
        assert summary.drifted == raw.drifted
    assert from_profile["city"].new_categories == ("nice",)
    assert from_profile["city"].missing_categories == ("lille",)
    both_profiles = drift(stored, profile(current))
    assert both_profiles["wide"].statistic == pytest.approx(from_data["wide"].statistic, abs=2e-3)


def test_default_rule_thresholds_and_dataset_verdict() -> None:
    rng = np.random.default_rng(29)
    reference = pd.DataFrame({f"x{i}": rng.normal(size=3000) for i in range(4)})
    current = reference.copy()
    current["x0"] += 1.0
    report = drift(reference, current)
    assert [feature.test for feature in report.features] == ["wasserstein"] * 4
    assert report.drifted == ("x0",) and report.share_drifted == 0.25
    assert not report.dataset_drifted
    assert drift(reference, current, drift_share=0.25).dataset_drifted
    strict = drift(reference, current, threshold={"wasserstein": 2.0})
    assert strict.drifted == () and strict["x0"].threshold == 2.0
    assert drift(reference.head(900), current.head(900))["x0"].test == "ks"
    subset = drift(reference, current, columns=["x1", "x0"])
    assert [feature.column for feature in subset.features] == ["x1", "x0"]
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert DriftReport.from_dict(json.loads(text)) == report
    with pytest.raises(NotFound):
        report.feature("absent")


def test_constant_reference_scores() -> None:
    same = drift(_frame(x=[3.0] * 2000), _frame(x=[3.0] * 2000))["x"]
    assert same.test == "wasserstein" and same.statistic == 0 and not same.drifted
    moved = drift(_frame(x=[3.0] * 2000), _frame(x=[3.0] * 1000 + [4.0] * 1000))["x"]
    assert moved.statistic == float("inf") and moved.drifted
    report = drift(_frame(x=[3.0] * 2000), _frame(x=[3.0] * 1000 + [4.0] * 1000))
    assert DriftReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


# -- bad input (issue 4, item 8) -------------------------------------------------------------


def test_different_columns_are_named() -> None:
    reference = _frame(a=[1.0, 2.0], b=["x", "y"])
    with pytest.raises(InvalidInput, match=r"only reference has \['b'\]; only current has \['c'\]"):
        drift(reference, _frame(a=[1.0], c=[2.0]))
    assert drift(reference, _frame(a=[1.0], c=[2.0]), columns=["a"])["a"].test == "ks"
    with pytest.raises(InvalidInput, match="current has no column 'b'"):
        drift(reference, _frame(a=[1.0]), columns=["a", "b"])
    with pytest.raises(InvalidInput, match="column 'b' is categorical in reference but numeric"):
        drift(reference, _frame(a=[1.0], b=[1.0]))


def test_empty_all_null_single_row_nan_and_inf() -> None:
    reference = _frame(x=[1.0, 2.0, 3.0], empty=[None, None, None], s=["a", "b", "a"])
    with pytest.raises(InvalidInput, match="current has no rows"):
        drift(reference, reference.head(0))
    report = drift(reference, _frame(x=[2.0], empty=[None], s=[None]))
    assert report["x"].test == "ks" and report["x"].current_count == 1
    assert report["empty"].test is None and "no values to compare in reference and current" in (
        report["empty"].note or ""
    )
    assert report["s"].test is None and report["s"].current_missing == 1.0
    assert report.share_drifted in (0.0, 1.0)
    noisy = drift(_frame(x=[1.0, 2.0, np.nan, np.inf]), _frame(x=[1.0, -np.inf, 2.0, 2.5]))["x"]
    assert (noisy.reference_count, noisy.current_count) == (2, 3)
    assert noisy.reference_missing == 0.25 and noisy.current_missing == 0.0


def test_datetime_columns_are_reported_but_not_tested() -> None:
    times = pd.date_range("2024-01-01", periods=3, freq="D")
    report = drift(_frame(t=times, x=[1.0, 2.0, 3.0]), _frame(t=times, x=[1.0, 2.0, 3.0]))
    assert report["t"].test is None and report["t"].note == "datetime columns are not compared"
    with pytest.raises(InvalidInput, match="drift compares numeric and categorical columns"):
        drift(_frame(t=times), _frame(t=times), columns=["t"])


def test_bad_arguments() -> None:
    frame = _frame(x=[1.0, 2.0])
    with pytest.raises(InvalidInput, match="numeric_test must be one of"):
        drift(frame, frame, numeric_test="t-test")
    with pytest.raises(InvalidInput, match="categorical_test must be one of"):
        drift(frame, frame, categorical_test="ks")
    with pytest.raises(InvalidInput, match="p-value cut-off"):
        drift(frame, frame, threshold=1.5)
    with pytest.raises(InvalidInput, match="unknown test 'kl'"):
        drift(frame, frame, threshold={"kl": 0.1})
    with pytest.raises(InvalidInput, match="drift_share"):
        drift(frame, frame, drift_share=0)
    with pytest.raises(InvalidInput, match="mixes value types"):
        drift(frame, _frame(x=[1, "a"]))
    with pytest.raises(InvalidInput, match="not a stored drift report"):
        DriftReport.from_dict({})


def test_summary_names_each_drifted_feature_with_its_test_and_cut_off() -> None:
    rng = np.random.default_rng(5)
    reference = _frame(
        x=rng.normal(size=300),
        y=rng.normal(size=300),
        plan=rng.choice(["free", "pro"], 300),
        t=pd.date_range("2024-01-01", periods=300, freq="h"),
    )
    current = _frame(
        x=rng.normal(2.0, 1, size=200),
        y=rng.normal(size=200),
        plan=rng.choice(["free", "pro"], 200),
        t=pd.date_range("2024-02-01", periods=200, freq="h"),
    )
    report = drift(reference, current, threshold={"psi": 0.2}, categorical_test="psi")
    x, plan = report["x"], report["plan"]
    assert report.drifted == ("x",) and x.p_value is not None and plan.statistic is not None
    lines = report.summary().splitlines()
    assert lines[0] == (
        "no dataset drift: 1 of 3 tested features drifted (33%; the dataset drifts at 50% or more)"
    )
    assert lines[1] == "300 reference rows against 200 current rows"
    assert lines[2] == (
        f"- x: drifted (ks statistic {x.statistic:.4g}, p-value {x.p_value:.3g} < 0.05)"
    )
    assert lines[3] == "- t: not tested (datetime columns are not compared)"
    assert len(lines) == 4
    assert plan.describe() == f"plan: no drift (psi {plan.statistic:.4g} <= 0.2)"
    assert str(report) == report.summary()


def test_printing_a_report_or_feature_is_short() -> None:
    rng = np.random.default_rng(6)
    report = drift(_frame(x=rng.normal(size=50)), _frame(x=rng.normal(3, 1, size=50)))
    assert repr(report) == "<DriftReport: 1 of 1 feature drifted, dataset_drifted=True>"
    assert "chart" not in repr(report["x"]) and len(repr(report["x"])) < 400
