"""The ``performance`` check: a window's live performance held to bounds.

Config: ``metric`` (classification: accuracy, precision, recall, f1, log_loss, brier,
roc_auc; regression: rmse, mae, r2, mean_error; default accuracy or rmse by the version's
task); at least one bound of ``min``, ``max`` (the metric's value) and ``max_drop`` (how
far it may fall from the version's evaluation: below it by more for a metric where higher
is better, above it by more for log_loss, brier, rmse and mae); ``min_labelled`` (default
30): with fewer labelled rows the realised value is not judged and the confidence-based
estimate is, when the model logs probabilities (the estimate has no mean_error, log_loss
nor brier); else the value is None with a note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring.entities import Finding
from modelyard.monitoring.performance import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    LivePerformance,
)
from modelyard.registry._scoring import CLASSIFICATION, REGRESSION
from modelyard.registry.directions import LOWER_IS_BETTER, NO_DIRECTION, higher_is_better

__all__ = ["LOWER_IS_BETTER", "PerformanceCheck"]

_KEYS = ("metric", "min", "max", "max_drop", "min_labelled")
_DEFAULT = {CLASSIFICATION: "accuracy", REGRESSION: "rmse"}
_METRICS = {CLASSIFICATION: CLASSIFICATION_METRICS, REGRESSION: REGRESSION_METRICS}
MIN_LABELLED = 30


class PerformanceCheck:
    """Live performance against bounds (see the module's docstring)."""

    needs_profile = False

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        for key in config:
            if key not in _KEYS:
                raise InvalidInput(
                    f"unknown setting {key!r} of a performance monitor; known: {list(_KEYS)}",
                    field=f"config.{key}",
                )
        task = reference.task if reference is not None else None
        metric = config.get("metric", _DEFAULT.get(task or ""))
        known = _METRICS.get(task or "", CLASSIFICATION_METRICS + REGRESSION_METRICS)
        if metric is None:
            raise InvalidInput(
                "the version's task is unknown: name the metric", field="config.metric"
            )
        if metric not in known:
            raise InvalidInput(
                f"metric must be one of {list(known)}"
                + (f" for a {task} model" if task else "")
                + f"; got {metric!r}",
                field="config.metric",
            )
        found: dict[str, Any] = {"metric": metric}
        for key in ("min", "max", "max_drop"):
            if config.get(key) is not None:
                found[key] = _number(config[key], f"config.{key}")
        if not any(key in found for key in ("min", "max", "max_drop")):
            raise InvalidInput("give a bound: min, max or max_drop", field="config.min")
        if "min" in found and "max" in found and found["min"] > found["max"]:
            raise InvalidInput("min is above max", field="config.min")
        if "max_drop" in found:
            if found["max_drop"] < 0:
                raise InvalidInput("max_drop must be at least 0", field="config.max_drop")
            if metric in NO_DIRECTION:
                raise InvalidInput(
                    "mean_error has no better direction: give min or max",
                    field="config.max_drop",
                )
            if reference is not None and _baseline(reference, metric) is None:
                raise InvalidInput(
                    f"max_drop is against the version's evaluation, and {reference.version} "
                    f"has no evaluation with {metric}",
                    field="config.max_drop",
                )
        least = config.get("min_labelled", MIN_LABELLED)
        if isinstance(least, bool) or not isinstance(least, int) or least < 1:
            raise InvalidInput(
                f"min_labelled must be a whole number of at least 1; got {least!r}",
                field="config.min_labelled",
            )
        found["min_labelled"] = least
        return found

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        metric, least = config["metric"], config["min_labelled"]
        baseline = _baseline(window.reference, metric) if window.reference else None
        low, high = config.get("min"), config.get("max")
        if config.get("max_drop") is not None and baseline is not None:
            if metric in LOWER_IS_BETTER:
                high = _tighter(high, baseline + config["max_drop"], min)
            else:
                low = _tighter(low, baseline - config["max_drop"], max)
        details: dict[str, Any] = {
            "metric": metric,
            "higher_is_better": higher_is_better(metric),
            "judged": None,
            "realised": None,
            "estimated": None,
            "labelled": 0,
            "rows": 0,
            "unscored": 0,
            "min_labelled": least,
            "metrics": {},
            "estimated_metrics": None,
            "baseline": baseline,
            "min": low,
            "max": high,
        }
        if config.get("max_drop") is not None and baseline is None:
            details["bounds_note"] = "max_drop not applied: the version has no evaluation"
        threshold = _threshold(metric, low, high)
        perf = window.performance
        if perf is None or perf.rows == 0:
            return Finding(None, threshold, False, 0, details, note="no rows in the window")
        if not isinstance(perf, LivePerformance):
            raise InvalidInput(
                f"a performance check reads live performance, not {type(perf).__name__}",
                field="performance",
            )
        realised_metrics, estimate = perf.metrics(), perf.estimate()
        realised = realised_metrics.get(metric)
        estimated = estimate.get(metric) if estimate else None
        details.update(
            realised=realised,
            estimated=estimated,
            labelled=perf.labelled,
            rows=perf.rows,
            unscored=perf.unscored,
            metrics=realised_metrics,
            estimated_metrics=estimate,
        )
        if perf.labelled >= least and realised is not None:
            value, details["judged"] = realised, "realised"
        elif estimated is not None:
            value, details["judged"] = estimated, "estimated"
        else:
            reason = (
                f"{perf.labelled} labelled rows (fewer than min_labelled {least})"
                if perf.labelled < least
                else f"{metric} is undefined on the labelled rows"
            )
            why = "no probabilities logged" if estimate is None else f"no estimate of {metric}"
            return Finding(None, threshold, False, perf.rows, details, note=f"{reason}; {why}")
        below = low is not None and value < low
        above = high is not None and value > high
        if below or above:
            threshold = low if below else high
        return Finding(float(value), threshold, below or above, perf.rows, details)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"must be a finite number; got {value!r}", field=field)
    return float(value)


def _baseline(reference: Reference, metric: str) -> float | None:
    metrics = (reference.evaluation or {}).get("metrics") or {}
    value = metrics.get(metric)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _tighter(bound: float | None, other: float, pick: Any) -> float:
    return other if bound is None else float(pick(bound, other))


def _threshold(metric: str, low: float | None, high: float | None) -> float | None:
    """The bound a metric is mostly held to: its floor where higher is better."""
    if metric in LOWER_IS_BETTER:
        return high if high is not None else low
    return low if low is not None else high
