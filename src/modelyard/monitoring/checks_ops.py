"""The operational checks: ``volume`` (rows against the season), ``latency`` and
``errors`` (SLOs from the servers' reports) and ``data_load`` (the pipelines' ingest
steps). Each is a :class:`~modelyard.monitoring._parts.Check`; ``docs/monitoring.md``
("Volume, latency and errors", "Data loads") documents their settings and findings.

What the pass gives them beyond :class:`~modelyard.monitoring._parts.WindowInputs`'s
fields, in ``extra``: :data:`VOLUME_BASIS` (where ``expected_rows`` came from) and
:data:`VOLUME_SCALE` (live rows per training row, for the seasonal expectation) for
``volume``; :data:`~modelyard.monitoring.loads.STEP_RUNS` (the window's step runs, from
:func:`~modelyard.monitoring.loads.step_runs_in`) for ``data_load``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelyard import limits
from modelyard.errors import InvalidInput
from modelyard.monitoring._parts import Reference, WindowInputs
from modelyard.monitoring.entities import Finding
from modelyard.monitoring.loads import STEP_RUNS
from modelyard.monitoring.seasonal import seasonal_expectation
from modelyard.serving.rollouts import LATENCY_BUCKETS_MS, Totals

__all__ = [
    "BASES",
    "DIRECTIONS",
    "VOLUME_BASIS",
    "VOLUME_SCALE",
    "DataLoadCheck",
    "ErrorsCheck",
    "LatencyCheck",
    "VolumeCheck",
]

#: ``extra`` key: where the pass took ``expected_rows`` from, one of :data:`BASES`.
VOLUME_BASIS = "volume_basis"
#: ``extra`` key: live rows per training row
#: (:func:`~modelyard.monitoring.seasonal.traffic_scale` over the week before the window),
#: used when ``expected_rows`` is None and the monitor sets no ``scale``.
VOLUME_SCALE = "volume_scale"
#: Where a volume expectation comes from: the same window a week earlier, or the training
#: data's seasonal profile.
BASES = ("last_week", "seasonal_profile")
DIRECTIONS = ("low", "high", "both")
#: At most this many loads are listed in a data_load finding's details.
LISTED_LOADS = 50


def _settings(config: object, kind: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(config, Mapping):
        raise InvalidInput(
            f"config must be a mapping of settings; got {limits.preview(config)}", field="config"
        )
    for key in config:
        if key not in known:
            raise InvalidInput(
                f"config.{key} is not a setting of {kind} monitors; they have {list(known)}",
                field=f"config.{key}",
            )
    return config


def _number(
    config: Mapping[str, Any],
    key: str,
    default: float | None,
    *,
    low: float,
    high: float | None = None,
    open_low: bool = False,
) -> float | None:
    """``config[key]`` (``default`` when absent or None) as a finite float from ``low``
    (excluded when ``open_low``) to ``high``."""
    value = config.get(key)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < low
        or (open_low and value == low)
        or (high is not None and value > high)
    ):
        above = f"over {low:g}" if open_low else f"from {low:g}"
        upto = f" to {high:g}" if high is not None else ""
        raise InvalidInput(
            f"config.{key} must be a number {above}{upto}; got {limits.preview(value)}",
            field=f"config.{key}",
        )
    return float(value)


def _whole(config: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limits.INTEGER:
        raise InvalidInput(
            f"config.{key} must be a whole number from 0; got {limits.preview(value)}",
            field=f"config.{key}",
        )
    return value


def _choice(config: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = config.get(key)
    if value is None:
        return default
    if value not in choices:
        raise InvalidInput(
            f"config.{key} must be one of {list(choices)}; got {limits.preview(value)}",
            field=f"config.{key}",
        )
    return str(value)


def _nothing(rows: int, note: str, details: dict[str, Any]) -> Finding:
    """A window with nothing to judge: value None, and why."""
    return Finding(None, None, False, rows, details, note)


class VolumeCheck:
    """Rows in the window against what the season expects: the same window a week
    earlier (the pass's ``expected_rows``), else the training data's seasonal profile
    scaled to the deployment's traffic. Breaches when the rows fall below
    ``(1 - tolerance) * expected`` (``direction`` low or both) or rise above
    ``(1 + tolerance) * expected`` (high or both). The value is rows / expected."""

    needs_profile = False
    settings = ("tolerance", "direction", "scale", "min_expected")

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        config = _settings(config, "volume", self.settings)
        return {
            "tolerance": _number(config, "tolerance", 0.5, low=0, open_low=True),
            "direction": _choice(config, "direction", "both", DIRECTIONS),
            "scale": _number(config, "scale", None, low=0, open_low=True),
            "min_expected": _number(config, "min_expected", 0.0, low=0),
        }

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        rows = window.summary.rows if window.summary is not None else 0
        expected, basis, scale = self._expected(config, window)
        details: dict[str, Any] = {"rows": rows, "expected": expected, "basis": basis}
        if scale is not None:
            details["scale"] = scale
        if expected is None:
            return _nothing(
                rows,
                "no expectation for this window: nothing logged a week earlier, and no "
                "seasonal profile of the training data with a traffic scale",
                details | {"ratio": None},
            )
        if expected <= config["min_expected"] or expected <= 0:
            return _nothing(
                rows,
                f"too few rows expected to judge ({expected:.4g}; "
                f"min_expected {config['min_expected']:g})",
                details | {"ratio": None},
            )
        tolerance, direction = config["tolerance"], config["direction"]
        lower, upper = (1 - tolerance) * expected, (1 + tolerance) * expected
        low = direction in ("low", "both") and rows < lower
        high = direction in ("high", "both") and rows > upper
        ratio = rows / expected
        if direction == "low" or (direction == "both" and ratio < 1):
            threshold = 1 - tolerance
        else:
            threshold = 1 + tolerance
        details.update(ratio=ratio, lower=lower, upper=upper, direction=direction)
        return Finding(ratio, threshold, low or high, rows, details)

    @staticmethod
    def _expected(
        config: Mapping[str, Any], window: WindowInputs
    ) -> tuple[float | None, str | None, float | None]:
        """The expectation, its basis, and the traffic scale when it was computed here."""
        if window.expected_rows is not None:
            basis = window.extra.get(VOLUME_BASIS, "last_week")
            if basis not in BASES:
                raise InvalidInput(
                    f"extra[{VOLUME_BASIS!r}] must be one of {list(BASES)}; got "
                    f"{limits.preview(basis)}",
                    field=VOLUME_BASIS,
                )
            return float(window.expected_rows), basis, None
        profile = window.reference.profile if window.reference is not None else None
        scale = config["scale"] if config["scale"] is not None else window.extra.get(VOLUME_SCALE)
        if profile is None or scale is None:
            return None, None, None
        expected = seasonal_expectation(profile, window.start, window.end, scale)
        if expected is None:
            return None, None, None
        return expected, "seasonal_profile", float(scale)


class LatencyCheck:
    """The servers' latency histogram of the window: the upper bound of the bucket
    holding the ``quantile`` of the requests (the value) against ``max_ms``, and the
    share of requests over ``max_ms`` (a bucket reaching past ``max_ms`` counts as
    over: exact when ``max_ms`` is a bucket bound)."""

    needs_profile = False
    settings = ("quantile", "max_ms", "min_requests")

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        config = _settings(config, "latency", self.settings)
        if config.get("max_ms") is None:
            raise InvalidInput(
                "config.max_ms is required: the latency (ms) the quantile must stay within",
                field="config.max_ms",
            )
        return {
            "quantile": _number(config, "quantile", 0.99, low=0, high=1, open_low=True),
            "max_ms": _number(
                config, "max_ms", None, low=0, high=LATENCY_BUCKETS_MS[-1], open_low=True
            ),
            "min_requests": _whole(config, "min_requests", 100),
        }

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        counts = window.latency_ms
        if counts and len(counts) != len(LATENCY_BUCKETS_MS) + 1:
            raise InvalidInput(
                f"latency_ms must count {len(LATENCY_BUCKETS_MS) + 1} buckets; got {len(counts)}",
                field="latency_ms",
            )
        requests = sum(counts)
        max_ms, quantile = config["max_ms"], config["quantile"]
        if requests == 0 or requests < config["min_requests"]:
            return _nothing(
                requests,
                f"too few requests to judge ({requests}; min_requests {config['min_requests']})",
                {"requests": requests},
            )
        totals = Totals(requests, window.errors, list(counts))
        bound = totals.quantile_ms(quantile)
        beyond = math.isinf(bound)
        value = float(LATENCY_BUCKETS_MS[-1] if beyond else bound)
        over = sum(
            count
            for top, count in zip((*LATENCY_BUCKETS_MS, math.inf), counts, strict=True)
            if top > max_ms
        )
        share = over / requests
        details = {
            "requests": requests,
            "quantile": quantile,
            "quantile_ms": value,
            "past_last_bucket": beyond,
            "max_ms": max_ms,
            "over_max_share": share,
            "compliance": 1 - share,
        }
        return Finding(value, max_ms, beyond or bound > max_ms, requests, details)


class ErrorsCheck:
    """The servers' error rate in the window (errors / requests, the value) against
    ``max_rate``, once they answered ``min_requests``."""

    needs_profile = False
    settings = ("max_rate", "min_requests")

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        config = _settings(config, "errors", self.settings)
        return {
            "max_rate": _number(config, "max_rate", 0.01, low=0, high=1),
            "min_requests": _whole(config, "min_requests", 100),
        }

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        requests, errors = window.requests, window.errors
        details: dict[str, Any] = {"requests": requests, "errors": errors}
        if requests == 0 or requests < config["min_requests"]:
            return _nothing(
                requests,
                f"too few requests to judge ({requests}; min_requests {config['min_requests']})",
                details,
            )
        rate = errors / requests
        max_rate = config["max_rate"]
        details.update(rate=rate, max_rate=max_rate)
        return Finding(rate, max_rate, rate > max_rate, requests, details)


class DataLoadCheck:
    """The loads of a pipeline's ingest steps in the window (``pipeline`` and/or
    ``step``), from the step runs the pass gives in ``extra``: breaches when fewer than
    ``min_runs`` loads finished, more than ``max_failures`` failed, a load brought fewer
    than ``min_rows`` rows or one took longer than ``max_duration_s``. The value is how
    many loads finished; a step run served from the cache loaded nothing and is only
    counted as ``cached``."""

    needs_profile = False
    settings = ("pipeline", "step", "min_runs", "min_rows", "max_duration_s", "max_failures")

    def configure(self, config: Mapping[str, Any], reference: Reference | None) -> dict[str, Any]:
        config = _settings(config, "data_load", self.settings)
        names = {}
        for key in ("pipeline", "step"):
            value = config.get(key)
            if value is not None:
                if not isinstance(value, str) or not value:
                    raise InvalidInput(
                        f"config.{key} must be a name; got {limits.preview(value)}",
                        field=f"config.{key}",
                    )
                limits.check_text(value, f"config.{key}", limits.SHORT_TEXT)
            names[key] = value
        if names["pipeline"] is None and names["step"] is None:
            raise InvalidInput(
                "config.pipeline or config.step must name the loads to watch",
                field="config.pipeline",
            )
        return {
            **names,
            "min_runs": _whole(config, "min_runs", 1),
            "min_rows": _whole(config, "min_rows", None),
            "max_duration_s": _number(config, "max_duration_s", None, low=0, open_low=True),
            "max_failures": _whole(config, "max_failures", 0),
        }

    def judge(self, config: Mapping[str, Any], window: WindowInputs) -> Finding:
        if STEP_RUNS not in window.extra:
            raise InvalidInput(
                f"a data_load check needs the window's step runs in extra[{STEP_RUNS!r}]",
                field=STEP_RUNS,
            )
        entries = list(window.extra[STEP_RUNS])
        loads = [e for e in entries if not e["cached"]]
        done = [e for e in loads if not e["failed"]]
        failed = len(loads) - len(done)
        known = [e["rows"] for e in done if e["rows"] is not None]
        rows = sum(known)
        details: dict[str, Any] = {
            "runs": len(done),
            "failed": failed,
            "cached": len(entries) - len(loads),
            "rows": rows,
            "rows_unknown": len(done) - len(known),
            "fewest_rows": min(known) if known else None,
            "longest_s": max((e["duration_s"] for e in loads), default=None),
        }
        if not loads and config["min_runs"] == 0:
            return _nothing(0, "no loads in the window", details | {"breaches": []})
        breaches = self._breaches(config, done, loads, failed)
        details["breaches"] = breaches
        details["loads"] = [
            {key: e[key] for key in ("run_id", "step", "finished_at", "duration_s", "rows")}
            | {"failed": e["failed"]}
            for e in loads[-LISTED_LOADS:]
        ]
        return Finding(float(len(done)), float(config["min_runs"]), bool(breaches), rows, details)

    @staticmethod
    def _breaches(
        config: Mapping[str, Any],
        done: list[Mapping[str, Any]],
        loads: list[Mapping[str, Any]],
        failed: int,
    ) -> list[str]:
        """What the window's loads broke, one sentence each."""
        found = []
        if len(done) < config["min_runs"]:
            found.append(f"{len(done)} loads finished, fewer than min_runs {config['min_runs']}")
        if failed > config["max_failures"]:
            found.append(f"{failed} loads failed, more than max_failures {config['max_failures']}")
        min_rows = config["min_rows"]
        if min_rows is not None:
            found.extend(
                f"run {e['run_id']} ({e['step']}) loaded {e['rows']} rows, under min_rows "
                f"{min_rows}"
                for e in done
                if e["rows"] is not None and e["rows"] < min_rows
            )
        longest = config["max_duration_s"]
        if longest is not None:
            found.extend(
                f"run {e['run_id']} ({e['step']}) took {e['duration_s']:.1f} s, over "
                f"max_duration_s {longest:g}"
                for e in loads
                if e["duration_s"] > longest
            )
        return found[:LISTED_LOADS]
