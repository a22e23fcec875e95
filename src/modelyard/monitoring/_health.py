"""The health score: 0-100 from five components, each read from what the monitoring pass
stored (``monitor_values``: one row per monitor, version and window; ``monitor_windows``:
each hour's rows and how many are labelled). Pure functions over those rows, so a score
now and a history of scores are the same computation at different times.

The components (each 0-100, or None when there is nothing to judge: left out, and the
other weights renormalised):

* ``drift``: 100·(1 - the share of drifted features) of each drift monitor's latest
  window;
* ``performance``: each performance monitor's latest live value against the version's
  evaluated value (the check's ``details["baseline"]``): 100·min(1, live/evaluated) for a metric
  where higher is better, 100·min(1, evaluated/live) for an error;
* ``slo``: the share of latency and error windows without a breach over the last day;
* ``quality``: 100·(1 - the failed share) of each quality monitor's latest window;
* ``labels``: label freshness, 100 while every hour older than the expected delay is
  labelled (its labelled share at least the coverage), falling linearly to 0 as the oldest
  hour still waiting since the newest labelled one ages from the delay to the horizon.

"Latest" means the newest window that ended at most :data:`LOOKBACK_MS` before the time
the score is for; an older finding is stale and not judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.monitoring.entities import HealthComponent

__all__ = [
    "ALL_VERSIONS",
    "DAY_MS",
    "FORMULA",
    "LOOKBACK_MS",
    "WEIGHTS",
    "Hour",
    "LabelRules",
    "Value",
    "combine",
    "components",
]

#: ``monitor_values.version_id`` of a finding over all versions of a deployment together.
ALL_VERSIONS = ""
DAY_MS = 86_400_000
#: A finding older than this (its window's end before the time scored) is stale.
LOOKBACK_MS = 2 * DAY_MS
#: Each component's weight in the score.
WEIGHTS = {"drift": 0.25, "performance": 0.30, "slo": 0.20, "quality": 0.15, "labels": 0.10}
#: Metrics where lower is better (an error); any other is higher-is-better unless a
#: finding's ``details["higher_is_better"]`` says otherwise.
LOWER_IS_BETTER = frozenset(
    {
        "rmse",
        "mse",
        "mae",
        "mape",
        "median_absolute_error",
        "max_error",
        "log_loss",
        "brier",
        "brier_score",
        "error_rate",
    }
)
FORMULA = (
    "score = sum(weight * component) / sum(weight) over the components that could be "
    "judged; drift (0.25) = 100*(1 - drifted share of features), latest window; "
    "performance (0.30) = 100*min(1, live/evaluated), inverted for errors; slo (0.20) = "
    "100 * share of latency and error windows without a breach over the last day; "
    "quality (0.15) = 100*(1 - failed share), latest window; labels (0.10) = 100 while hours "
    "older than the expected label delay are labelled, falling linearly to 0 at the label "
    "horizon"
)


@dataclass(frozen=True, slots=True)
class Value:
    """A monitor's finding for one window (a ``monitor_values`` row with its monitor)."""

    monitor: str
    kind: str
    version_id: str
    window_end: int
    value: float | None
    status: str
    rows: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hour:
    """One hour of one version's log (a ``monitor_windows`` row): rows and labelled."""

    version_id: str
    window_start: int
    window_end: int
    rows: int
    labelled: int


@dataclass(frozen=True, slots=True)
class LabelRules:
    """When labels are fresh: expected within ``delay_ms``, hopeless at ``horizon_ms``, an
    hour labelled when ``coverage`` of its rows are."""

    delay_ms: int
    horizon_ms: int
    coverage: float


def _clamp(share: float) -> float:
    return min(1.0, max(0.0, share))


def _scoped(values: Iterable[Value], whole: bool) -> list[Value]:
    """For a deployment (``whole``): per monitor, its all-versions findings when it has
    any, else its per-version ones."""
    found = list(values)
    if not whole:
        return found
    pooled = {v.monitor for v in found if v.version_id == ALL_VERSIONS}
    return [v for v in found if v.monitor not in pooled or v.version_id == ALL_VERSIONS]


def _latest(values: Sequence[Value], kinds: set[str], at: int) -> dict[str, list[Value]]:
    """Each monitor of ``kinds``: its judged findings in its newest window that ended in
    ``(at - LOOKBACK_MS, at]`` (several: one per version)."""
    newest: dict[str, int] = {}
    for v in values:
        if v.kind in kinds and v.value is not None and at - LOOKBACK_MS < v.window_end <= at:
            newest[v.monitor] = max(newest.get(v.monitor, v.window_end), v.window_end)
    out: dict[str, list[Value]] = {}
    for v in values:
        if v.value is not None and newest.get(v.monitor) == v.window_end and v.kind in kinds:
            out.setdefault(v.monitor, []).append(v)
    return out


def _weighted(scored: list[tuple[float, int]]) -> float:
    """The mean of scores weighted by rows (a version that answered more counts more)."""
    total = sum(max(rows, 1) for _, rows in scored)
    return sum(score * max(rows, 1) for score, rows in scored) / total


def _per_monitor(latest: dict[str, list[Value]], score: Any) -> tuple[float | None, dict[str, Any]]:
    """The mean over monitors of each one's score (``score(value)`` -> 0-100 or None)."""
    monitors: dict[str, Any] = {}
    for name, found in sorted(latest.items()):
        scored = [(s, v.rows) for v in found if (s := score(v)) is not None]
        if scored:
            monitors[name] = {
                "score": round(_weighted(scored), 2),
                "window_end": found[0].window_end,
                "value": found[0].value if len(found) == 1 else None,
            }
    if not monitors:
        return None, {}
    mean = sum(m["score"] for m in monitors.values()) / len(monitors)
    return mean, {"monitors": monitors}


def _unaffected(v: Value) -> float | None:
    """100 less the share (of drifted features, of failed checks) found."""
    return 100.0 * (1.0 - _clamp(float(v.value or 0.0)))


def _performance(v: Value) -> float | None:
    evaluated = v.details.get("baseline")
    if isinstance(evaluated, bool) or not isinstance(evaluated, int | float) or evaluated <= 0:
        return None
    live = float(v.value or 0.0)
    higher = v.details.get("higher_is_better")
    if not isinstance(higher, bool):
        higher = str(v.details.get("metric", "")).lower() not in LOWER_IS_BETTER
    if higher:
        return 100.0 * _clamp(live / evaluated)
    return 100.0 if live <= 0 else 100.0 * _clamp(evaluated / live)


def _slo(values: Sequence[Value], at: int) -> tuple[float | None, dict[str, Any]]:
    judged = [
        v
        for v in values
        if v.kind in ("latency", "errors")
        and v.status in ("ok", "breach")
        and at - DAY_MS < v.window_end <= at
    ]
    if not judged:
        return None, {}
    breached = sum(v.status == "breach" for v in judged)
    score = 100.0 * (len(judged) - breached) / len(judged)
    return score, {"windows": len(judged), "breached": breached}


def _labels(
    hours: Sequence[Hour], at: int, rules: LabelRules
) -> tuple[float | None, dict[str, Any]]:
    """Label freshness from the hours (summed over versions) that ended by ``at``."""
    by_hour: dict[int, list[int]] = {}
    for h in hours:
        if h.window_end <= at and h.rows > 0:
            counts = by_hour.setdefault(h.window_end, [0, 0])
            counts[0] += h.rows
            counts[1] += h.labelled
    if not by_hour:
        return None, {}
    labelled = [end for end, (rows, got) in by_hour.items() if got >= rules.coverage * rows]
    newest_labelled = max(labelled, default=None)
    waiting = [
        end
        for end in by_hour
        if (newest_labelled is None or end > newest_labelled) and at - end > rules.delay_ms
    ]
    details: dict[str, Any] = {
        "newest_labelled_hour_end": newest_labelled,
        "expected_delay_ms": rules.delay_ms,
        "horizon_ms": rules.horizon_ms,
    }
    if not waiting:
        return 100.0, details
    oldest = min(waiting)
    late = at - oldest - rules.delay_ms
    span = max(rules.horizon_ms - rules.delay_ms, 1)
    details["oldest_waiting_hour_end"] = oldest
    return 100.0 * _clamp(1.0 - late / span), details


def components(
    values: Sequence[Value],
    hours: Sequence[Hour],
    *,
    at: int,
    whole: bool,
    rules: LabelRules,
    labels_judged: bool,
) -> tuple[HealthComponent, ...]:
    """The five components at ``at``; ``whole``: for a deployment (all versions), else
    ``values`` and ``hours`` are one version's; ``labels_judged``: whether label freshness
    counts (the deployment has a performance monitor)."""
    scoped = _scoped(values, whole)
    drift = _per_monitor(_latest(scoped, {"drift"}, at), _unaffected)
    performance = _per_monitor(_latest(scoped, {"performance"}, at), _performance)
    slo = _slo(scoped, at)
    quality = _per_monitor(_latest(scoped, {"quality"}, at), _unaffected)
    labels: tuple[float | None, dict[str, Any]] = (
        _labels(hours, at, rules) if labels_judged else (None, {})
    )
    parts = {
        "drift": drift,
        "performance": performance,
        "slo": slo,
        "quality": quality,
        "labels": labels,
    }
    return tuple(
        HealthComponent(name, None if score is None else round(score, 2), WEIGHTS[name], details)
        for name, (score, details) in parts.items()
    )


def combine(parts: Sequence[HealthComponent]) -> float | None:
    """The weighted mean of the components that have a score (None: none has)."""
    judged = [c for c in parts if c.score is not None]
    if not judged:
        return None
    total = sum(c.weight for c in judged)
    return round(sum(c.weight * (c.score or 0.0) for c in judged) / total, 1)
