"""The data checks: input drift, prediction drift and live data quality, judged from a
window's :class:`~modelyard.monitoring.summary.Summary` (never the raw log).

* ``drift``: each feature of the window against the served version's training profile,
  with the data issue's drift engine (``modelyard.data.drift``: same tests, default rule,
  thresholds and ``drift_share``). Value: the share of drifted features among those
  tested; breached when it is at least ``drift_share``.
* ``prediction_drift``: the outputs against the version's evaluation: predicted classes
  against the evaluation's predicted class counts (its confusion matrix), class
  probabilities against its calibration counts, a regression's predictions against the
  evaluation's distribution of predictions. Value: the test's headline (the p-value of ks
  and chisquare, else the statistic); breached when it drifts.
* ``quality``: the training data's expectations (an expectation suite given in the config,
  or the one suggested from the training profile) applied to the window. Value: the share
  of failed expectations among those checked; breached when above ``max_failed_share``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from modelyard.data._accumulators import (
    CategoricalAccumulator,
    ColumnAccumulator,
    NumericAccumulator,
    iqr_fences,
)
from modelyard.data.drift import (
    CATEGORICAL_TESTS,
    NUMERIC_TESTS,
    FeatureDrift,
    compare_side,
    drift_of_summaries,
    side_of_counts,
    side_of_points,
    thresholds_of,
)
from modelyard.data.expectations import (
    Expectation,
    InRange,
    InSet,
    MaxCardinality,
    MaxOutliers,
    NotNull,
    Schema,
)
from modelyard.data.profile import Profile
from modelyard.data.suite import MIN_OUTLIER_SLACK, load_expectations, suggest_expectations
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring.entities import Finding
from modelyard.monitoring.summary import Summary, distinct_count

__all__ = ["DriftCheck", "PredictionDriftCheck", "QualityCheck"]

NO_ROWS = "no logged predictions in the window"
#: The calibration curve's bins of an evaluation report (tenths of [0, 1]).
CALIBRATION_BINS = 10
_SCORE = re.compile(r"^output(?:\.[^\[\]]+)?\[(.+)\]$")


# -- config --------------------------------------------------------------------------------


def _known_keys(config: Mapping[str, Any], keys: Sequence[str]) -> None:
    if not isinstance(config, Mapping):
        raise InvalidInput(f"config must be a mapping; got {config!r}", field="config")
    for key in config:
        if key not in keys:
            raise InvalidInput(
                f"config has no setting {key!r}; the settings are {', '.join(keys)}",
                field=f"config.{key}",
            )


def _tests(value: Any) -> dict[str, str | None]:
    """``{"numeric": test, "categorical": test}``, either left out for the default rule."""
    if value is None:
        return {"numeric": None, "categorical": None}
    if not isinstance(value, Mapping):
        raise InvalidInput(
            "tests must be a mapping such as {numeric: ks, categorical: chisquare}",
            field="config.tests",
        )
    tests: dict[str, str | None] = {"numeric": None, "categorical": None}
    for kind, test in value.items():
        allowed = {"numeric": NUMERIC_TESTS, "categorical": CATEGORICAL_TESTS}.get(kind)
        if allowed is None:
            raise InvalidInput(
                f"tests has no kind {kind!r}; the kinds are numeric and categorical",
                field="config.tests",
            )
        if test is not None and test not in allowed:
            raise InvalidInput(
                f"tests.{kind} must be one of {', '.join(allowed)}; got {test!r}",
                field="config.tests",
            )
        tests[kind] = test
    return tests


def _threshold(value: Any) -> float | dict[str, float] | None:
    try:
        thresholds_of(value)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="config.threshold") from None
    return dict(value) if isinstance(value, Mapping) else value


def _share(config: Mapping[str, Any], key: str, default: float, *, zero: bool) -> float:
    value = config.get(key, default)
    low_ok = value >= 0 if zero else value > 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not (low_ok and value <= 1):
        interval = "[0, 1]" if zero else "(0, 1]"
        raise InvalidInput(f"{key} must be in {interval}; got {value!r}", field=f"config.{key}")
    return float(value)


def _features(value: Any, reference: Reference | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidInput("features must be a non-empty list of names", field="config.features")
    names = list(dict.fromkeys(value))
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"features must be names; got {name!r}", field="config.features")
    if reference is not None:
        known = set(reference.features) or (
            set(reference.profile.names) if reference.profile is not None else set()
        )
        unknown = [name for name in names if known and name not in known]
        if unknown:
            raise InvalidInput(
                f"features names {unknown[0]!r}, which {reference.version} does not take "
                f"(its features: {', '.join(sorted(known))})",
                field="config.features",
            )
        if reference.profile is not None:
            absent = [name for name in names if name not in reference.profile.names]
            if absent:
                raise InvalidInput(
                    f"features names {absent[0]!r}, which the training profile of "
                    f"{reference.version} lacks",
                    field="config.features",
                )
    return names


def _plain(value: float | None) -> float | str | None:
    """A float for JSON: NaN and ±inf as the strings "nan", "inf", "-inf"."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def _no_data(threshold: float | None, note: str, rows: int = 0) -> Finding:
    return Finding(value=None, threshold=threshold, breached=False, rows=rows, note=note)


def _summary(window: WindowInputs) -> Summary | None:
    summary = window.summary
    if summary is None or summary.rows == 0:
        return None
    if not isinstance(summary, Summary):
        raise InvalidInput(f"the data checks read a Summary, not {type(summary).__name__}")
    return summary


def _feature_details(feature: FeatureDrift) -> dict[str, Any]:
    return {
        "kind": feature.kind,
        "test": feature.test,
        "statistic": _plain(feature.statistic),
        "p_value": _plain(feature.p_value),
        "threshold": feature.threshold,
        "drifted": feature.drifted,
        "reference_count": feature.reference_count,
        "current_count": feature.current_count,
        "reference_missing": feature.reference_missing,
        "current_missing": feature.current_missing,
        "new_categories": list(feature.new_categories),
        "missing_categories": list(feature.missing_categories),
        "note": feature.note,
    }


# -- drift ---------------------------------------------------------------------------------


class DriftCheck:
    """Input drift per feature against the training profile (see the module docstring).

    Config: ``features`` (default: every numeric and categorical feature of the training
    profile that the version takes), ``tests`` (``{numeric: ..., categorical: ...}``;
    default: drift's rule by sample size), ``threshold`` (one number for every test, or
    one per test), ``drift_share`` (default 0.5)."""

    needs_profile = True
    KEYS = ("features", "tests", "threshold", "drift_share")

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        _known_keys(config, self.KEYS)
        return {
            "features": _features(config.get("features"), reference),
            "tests": _tests(config.get("tests")),
            "threshold": _threshold(config.get("threshold")),
            "drift_share": _share(config, "drift_share", 0.5, zero=False),
        }

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        share = float(config.get("drift_share", 0.5))
        summary = _summary(window)
        if summary is None:
            return _no_data(share, NO_ROWS)
        reference = window.reference
        if reference is None or reference.profile is None:
            return _no_data(
                share, "the version has no training profile to compare with", summary.rows
            )
        profile = reference.profile
        names = config.get("features") or _default_features(reference, profile)
        unknown = [name for name in names if name not in profile.names]
        current: dict[str, ColumnAccumulator] = {}
        missing: list[str] = []
        for name in names:
            if name in unknown:
                continue
            column = summary.feature(name)
            if column is None:
                missing.append(name)
                column = ColumnAccumulator(name, pa.null())
                column.count = column.missing = summary.rows
            current[name] = column
        tests = config.get("tests") or {}
        report = drift_of_summaries(
            profile,
            current,
            summary.rows,
            numeric_test=tests.get("numeric"),
            categorical_test=tests.get("categorical"),
            threshold=config.get("threshold"),
            drift_share=share,
        )
        features: dict[str, Any] = {}
        for feature in report.features:
            details = _feature_details(feature)
            if feature.column in missing:
                details["note"] = "missing from the logs: no logged row has this feature"
            elif summary.absent.get(feature.column):
                details["absent_rows"] = summary.absent[feature.column]
            features[feature.column] = details
        for name in unknown:
            features[name] = {"test": None, "drifted": False, "note": "not in the training profile"}
        tested = sum(feature.test is not None for feature in report.features)
        note = f"missing from the logs: {', '.join(missing)}" if missing else None
        if not tested:
            return _no_data(share, note or "no feature could be tested", summary.rows)
        return Finding(
            value=report.share_drifted,
            threshold=share,
            breached=report.dataset_drifted,
            rows=summary.rows,
            details={
                "drifted": list(report.drifted),
                "tested": tested,
                "missing_features": missing,
                "features": features,
            },
            note=note,
        )


def _default_features(reference: Reference, profile: Profile) -> list[str]:
    wanted = reference.features or profile.names
    return [
        name
        for name in wanted
        if name in profile.names
        and profile.column(name).kind in ("numeric", "categorical")
        and name != reference.target
    ]


# -- prediction drift ----------------------------------------------------------------------


class PredictionDriftCheck:
    """The outputs' distribution against the version's evaluation (see the module
    docstring). Config: ``output`` (the log's output column; default ``output``, else the
    only one), ``tests`` and ``threshold`` as for ``drift``.

    A classifier's logged probabilities (``output[<class>]``) are compared too, per class,
    with the evaluation's calibration counts (tenths of [0, 1]; two classes: the positive
    class), in ``details["scores"]``; when no labels are logged the first of them is the
    headline."""

    needs_profile = False
    KEYS = ("output", "tests", "threshold")

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        _known_keys(config, self.KEYS)
        output = config.get("output")
        if output is not None and (not isinstance(output, str) or not output.startswith("output")):
            raise InvalidInput(
                f"output must name an output column (output or output.<name>); got {output!r}",
                field="config.output",
            )
        return {
            "output": output,
            "tests": _tests(config.get("tests")),
            "threshold": _threshold(config.get("threshold")),
        }

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        summary = _summary(window)
        if summary is None:
            return _no_data(None, NO_ROWS)
        reference = window.reference
        evaluation = reference.evaluation if reference is not None else None
        if reference is None or not evaluation:
            return _no_data(None, "the version has no evaluation to compare with", summary.rows)
        tests = config.get("tests") or {}
        chosen = (tests.get("numeric"), tests.get("categorical"))
        thresholds = thresholds_of(config.get("threshold"))
        scores: dict[str, FeatureDrift] = {}
        score_sides = _score_sides(evaluation) if reference.task != "regression" else {}
        for label, column_name in _score_columns(summary).items():
            if label in score_sides:
                scores[label] = compare_side(
                    column_name,
                    score_sides[label],
                    summary.outputs[column_name],
                    chosen,
                    thresholds,
                )
        name: str = config.get("output") or _main_output(summary) or "output"
        column = summary.outputs.get(name)
        feature: FeatureDrift | None = None
        if column is not None:
            try:
                side = _evaluation_side(evaluation, reference.task)
            except ModelyardError as exc:
                return _no_data(None, exc.message, summary.rows)
            feature = compare_side(name, side, column, chosen, thresholds)
        elif scores and config.get("output") is None:
            feature = next(iter(scores.values()))  # no labels logged: the first class's scores
        else:
            return _no_data(None, f"no output column {name!r} in the logs", summary.rows)
        if feature.test is None or feature.statistic is None:
            return _no_data(feature.threshold, feature.note or "not tested", summary.rows)
        value = feature.p_value if feature.p_value is not None else feature.statistic
        details = {"output": feature.column, **_feature_details(feature)}
        if scores:
            details["scores"] = {label: _feature_details(s) for label, s in scores.items()}
        return Finding(
            value=value if math.isfinite(value) else None,
            threshold=feature.threshold,
            breached=feature.drifted,
            rows=summary.rows,
            details=details,
            note=None if math.isfinite(value) else f"the statistic is {value}",
        )


def _main_output(summary: Summary) -> str | None:
    if "output" in summary.outputs:
        return "output"
    return next(iter(summary.outputs), None) if len(summary.outputs) == 1 else None


def _evaluation_side(evaluation: Mapping[str, Any], task: str | None) -> Any:
    """The evaluation's distribution of predictions as a drift side: predicted class counts
    (its confusion matrix's column sums) for classification; the predictions' quantile
    points for regression (reports from before those were kept have none: InvalidInput)."""
    task = task or evaluation.get("task")
    if task == "classification":
        confusion = evaluation.get("confusion_matrix") or {}
        labels, matrix = confusion.get("labels"), confusion.get("matrix")
        if not labels or not matrix:
            raise InvalidInput("the evaluation has no confusion matrix")
        counts = np.asarray(matrix, dtype=np.int64).sum(axis=0)
        return side_of_counts(
            {_label(label): int(c) for label, c in zip(labels, counts, strict=True)}
        )
    predictions = evaluation.get("predictions")
    if not isinstance(predictions, Mapping) or not predictions.get("values"):
        raise InvalidInput(
            "the evaluation has no distribution of predictions (evaluated before it was "
            "kept): evaluate the version again"
        )
    return side_of_points(
        predictions["values"],
        predictions["cdf"],
        bool(predictions["interpolated"]),
        predictions.get("std"),
        int(predictions["count"]),
    )


def _score_sides(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """Per class, the evaluation's distribution of that class's probability as a drift
    side: its calibration curve's counts per tenth of [0, 1] (bins told apart by their mean
    probability), linear within a bin. Two classes: the positive class's only."""
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    sides: dict[str, Any] = {}
    for entry in evaluation.get("calibration") or []:
        counts = np.zeros(CALIBRATION_BINS)
        bins = np.searchsorted(edges[1:-1], np.asarray(entry["prob_pred"], dtype=np.float64))
        np.add.at(counts, bins, np.asarray(entry["count"], dtype=np.float64))
        total = counts.sum()
        if total:
            cdf = np.concatenate([[0.0], np.cumsum(counts) / total])
            sides[_label(entry["label"])] = side_of_points(
                edges.tolist(), cdf.tolist(), True, None, int(total)
            )
    return sides


def _score_columns(summary: Summary) -> dict[str, str]:
    """The log's probability columns (``output[<class>]``, ``output.<name>[<class>]``) by
    class."""
    found: dict[str, str] = {}
    for name in summary.outputs:
        match = _SCORE.match(name)
        if match is not None:
            found.setdefault(match.group(1), name)
    return found


def _label(label: Any) -> str:
    """A label as the log's categories spell it (Arrow writes booleans true and false)."""
    return str(label).lower() if isinstance(label, bool) else str(label)


# -- quality -------------------------------------------------------------------------------


class QualityCheck:
    """The training data's expectations applied to the window (see the module docstring).

    Config: ``expectations`` (an expectation suite: YAML text, or a list of expectations as
    mappings; default: the suite suggested from the training profile, plus, for each
    feature with nulls in training, ``not_null`` at twice its training share of nulls or
    that share plus 2 %, whichever is more), ``max_failed_share`` (default 0: any failed
    expectation breaches).

    From a summary: ``schema`` (the columns are logged), ``not_null``, ``in_range`` (the
    window's minimum and maximum; ±inf are out of any range), ``in_set`` (categorical
    values), ``max_outliers`` (by the IQR fences of the training profile, or the window's
    own MAD fences), ``max_cardinality`` (categorical). Other kinds (``unique``,
    ``matches``, ``fresh``, ``row_count``) are listed as not checked."""

    needs_profile = True
    KEYS = ("expectations", "max_failed_share")

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        _known_keys(config, self.KEYS)
        given = config.get("expectations")
        suite = None
        if given is not None:
            if (
                isinstance(given, str)
                and "\n" not in given
                and given.strip().endswith((".yaml", ".yml"))
            ):
                raise InvalidInput(
                    "expectations must be the suite's YAML text or a list, not a file name",
                    field="config.expectations",
                )
            try:
                parsed = load_expectations(given)
            except ModelyardError as exc:
                raise InvalidInput(
                    f"expectations: {exc.message}", field="config.expectations"
                ) from None
            suite = [expectation.to_dict() for expectation in parsed]
        return {
            "expectations": suite,
            "max_failed_share": _share(config, "max_failed_share", 0.0, zero=True),
        }

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        limit = float(config.get("max_failed_share", 0.0))
        summary = _summary(window)
        if summary is None:
            return _no_data(limit, NO_ROWS)
        reference = window.reference
        if reference is None or reference.profile is None:
            return _no_data(limit, "the version has no training profile", summary.rows)
        features = (
            _default_features(reference, reference.profile)
            if reference.features == ()
            else [name for name in reference.features if name != reference.target]
        )
        stored = config.get("expectations")
        suite = (
            [Expectation.from_dict(entry) for entry in stored]
            if stored is not None
            else _suggested(reference.profile, features)
        )
        results = [_evaluate(e, summary, reference.profile, set(features)) for e in suite]
        checked = [r for r in results if r["passed"] is not None]
        failed = [r for r in checked if not r["passed"]]
        if not checked:
            return _no_data(limit, "no expectation can be checked from the logs", summary.rows)
        value = len(failed) / len(checked)
        return Finding(
            value=value,
            threshold=limit,
            breached=value > limit,
            rows=summary.rows,
            details={
                "checked": len(checked),
                "failed": [r["expectation"] for r in failed],
                "expectations": results,
            },
        )


def _suggested(profile: Profile, features: Sequence[str]) -> list[Expectation]:
    suite: list[Expectation] = []
    for expectation in suggest_expectations(profile):
        if isinstance(expectation, Schema):
            suite.append(Schema(tuple(n for n in expectation.columns if n in features)))
        elif expectation.target in features:
            suite.append(expectation)
    for name in features:
        column = profile.column(name) if name in profile.names else None
        if column is not None and column.count and column.missing:
            share = column.missing / column.count
            bound = min(1.0, max(2 * share, share + MIN_OUTLIER_SLACK))
            suite.append(NotNull(name, max_share=round(bound, 4), severity="warning"))
    return suite


def _evaluate(
    expectation: Expectation, summary: Summary, profile: Profile, features: set[str]
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "expectation": expectation.describe(),
        "kind": expectation.kind,
        "column": expectation.target,
        "severity": expectation.severity,
        "passed": None,
        "observed": None,
        "note": None,
    }
    if isinstance(expectation, Schema):
        absent = [name for name in expectation.columns if summary.feature(name) is None]
        result["passed"], result["observed"] = not absent, {"missing_from_logs": absent}
        return result
    name = expectation.target
    column = summary.feature(name) if name is not None else None
    if name is not None and name not in features:
        result["note"] = "not a feature the version takes"
        return result
    if column is None:
        result["note"] = "missing from the logs"
        result["passed"] = False
        return result
    outcome = _column_outcome(expectation, column, profile, summary.absent.get(name or "", 0))
    if outcome is None:
        result["note"] = "not checked from summaries"
        return result
    result["passed"], result["observed"] = outcome
    return result


def _column_outcome(
    expectation: Expectation, column: ColumnAccumulator, profile: Profile, absent: int
) -> tuple[bool, Any] | None:
    """(passed, what was observed), or None when a summary cannot tell."""
    if isinstance(expectation, NotNull):
        rows = column.count + absent
        share = (column.missing + absent) / rows if rows else 0.0
        return share <= expectation.max_share, {"null_share": share}
    if isinstance(expectation, InRange) and isinstance(column, NumericAccumulator):
        if expectation.times:
            return None
        low = -math.inf if expectation.min is None else float(expectation.min)
        high = math.inf if expectation.max is None else float(expectation.max)
        moments = column.moments
        outside = column.infinite + column.sketch.count_outside(low, high)
        if not expectation.inclusive:
            values, weights = column.sketch.items()
            outside += int(weights[(values == low) | (values == high)].sum())
        observed = {
            "min": _plain(moments.min) if moments.n else None,
            "max": _plain(moments.max) if moments.n else None,
            "outside": outside,
        }
        return outside == 0, observed
    if isinstance(expectation, InSet) and isinstance(column, CategoricalAccumulator):
        allowed = {str(v).lower() if isinstance(v, bool) else str(v) for v in expectation.values}
        new = sorted(v for v in column.frequencies.values.to_pylist() if v not in allowed)
        return not new, {"new_values": new[:20], "new_count": len(new)}
    if isinstance(expectation, MaxOutliers) and isinstance(column, NumericAccumulator):
        fences = _training_fences(profile, column.name) if expectation.method == "iqr" else None
        if fences is None:
            fences = column.fences(expectation.method)
        finite = column.sketch.n
        outliers = column.sketch.count_outside(*fences) if fences and finite else 0
        outlier_share = outliers / finite if finite else 0.0
        return outlier_share <= expectation.max_share, {
            "outlier_share": outlier_share,
            "fences": fences,
        }
    if isinstance(expectation, MaxCardinality) and isinstance(column, CategoricalAccumulator):
        distinct = distinct_count(column)
        return distinct <= expectation.max, {"distinct": distinct}
    return None


def _training_fences(profile: Profile, name: str) -> tuple[float, float] | None:
    if name not in profile.names:
        return None
    quantiles = profile.column(name).quantiles
    if not quantiles:
        return None
    return iqr_fences(quantiles["p25"], quantiles["p75"])
