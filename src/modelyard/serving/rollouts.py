"""Rollouts: the guard rails a deployment's candidates are judged by, the stepping
schedule, and what the inference servers report to the control plane to judge them.

A server reports, per deployment and version, the requests it answered since its last
report, the errors among them (5xx the version caused: a failed prediction, a version that
cannot load) and their latencies as a histogram over :data:`LATENCY_BUCKETS_MS` (fixed, so
reports of many servers add up). The control plane adds up the reports of a window and
compares each candidate (a live route besides the champion) with the champion
(:func:`judge`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from modelyard import limits
from modelyard._util import validate_name
from modelyard.errors import InvalidInput

__all__ = [
    "LATENCY_BUCKETS_MS",
    "Breach",
    "Live",
    "LiveValue",
    "Rollout",
    "RolloutAction",
    "ServingReport",
    "Totals",
    "UnhealthyVersion",
    "VersionStats",
    "check_report",
    "check_rollout",
    "judge",
    "live_value",
]

#: The upper bounds (ms) of the latency histogram's buckets; one more bucket counts what
#: took longer than the last.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
    1000, 2000, 5000, 10000,
)  # fmt: skip
#: At most this many version entries (and as many unhealthy versions) in one report.
REPORT_ENTRIES = 1000
#: A reason: at most this many characters; a server's name at most ``REPORT_SERVER``.
REPORT_TEXT = 1000
REPORT_SERVER = 255
#: A version id: at most this many characters.
REPORT_ID = 64


@dataclass(frozen=True, slots=True)
class Rollout:
    """The guard rails of a deployment's candidates and its stepping schedule.

    Over the last ``window_s`` seconds (since the rollout began at most), once a candidate
    answered ``min_requests`` requests, it breaches when its error rate is over
    ``max_error_rate`` or over the champion's plus ``max_error_rate_delta``, or its p99
    latency is over ``max_p99_ms`` or over the champion's times ``max_p99_ratio`` (the
    relative bounds only once the champion too answered ``min_requests``).

    The live guard: ``live_monitor`` names a ``performance`` monitor of the deployment,
    and once the monitoring pass judged both the candidate and the champion in windows
    that ended since the rollout began, the candidate breaches when its live value (its
    windows' values weighted by their rows) is worse than the champion's by more than
    ``max_live_drop``, in the metric's units (worse: lower, or higher for an error or a
    loss). Until both are judged the steps wait.

    A breach sends all traffic to the champion and ends the rollout. ``steps``
    (percentages, rising): every ``step_every_s`` seconds while the guards hold, the
    candidate's weight moves to the next step; the last step, 100, promotes it.
    """

    max_error_rate: float | None = None
    max_error_rate_delta: float | None = None
    max_p99_ms: float | None = None
    max_p99_ratio: float | None = None
    window_s: int = 60
    min_requests: int = 100
    steps: tuple[int, ...] = ()
    step_every_s: int = 600
    live_monitor: str | None = None
    max_live_drop: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = list(self.steps)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rollout:
        return cls(**{**data, "steps": tuple(data.get("steps") or ())})


def _bound(value: object, field: str, *, top: float | None = None) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (top is not None and value > top)
    ):
        upto = f" to {top:g}" if top is not None else ""
        raise InvalidInput(
            f"{field} must be a number from 0{upto}; got {limits.preview(value)}", field=field
        )
    return float(value)


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{field} must be a whole number from {low} to {high}; got {limits.preview(value)}",
            field=field,
        )
    return value


def check_rollout(rollout: object) -> Rollout:
    """A rollout as written, checked (InvalidInput naming the field): at least one guard,
    bounds that are numbers, a window of 1 s to a day, steps rising from 1 to 100."""
    if not isinstance(rollout, Rollout):
        raise InvalidInput("rollout must be a Rollout", field="rollout")
    steps = rollout.steps
    if not isinstance(steps, tuple | list) or len(steps) > 20:
        raise InvalidInput(
            "rollout.steps must be a list of at most 20 steps", field="rollout.steps"
        )
    checked = Rollout(
        max_error_rate=_bound(rollout.max_error_rate, "rollout.max_error_rate", top=1),
        max_error_rate_delta=_bound(
            rollout.max_error_rate_delta, "rollout.max_error_rate_delta", top=1
        ),
        max_p99_ms=_bound(rollout.max_p99_ms, "rollout.max_p99_ms"),
        max_p99_ratio=_bound(rollout.max_p99_ratio, "rollout.max_p99_ratio"),
        window_s=_whole(rollout.window_s, "rollout.window_s", 1, 86_400),
        min_requests=_whole(rollout.min_requests, "rollout.min_requests", 1, limits.INTEGER),
        steps=tuple(_whole(s, f"rollout.steps[{i}]", 1, 100) for i, s in enumerate(steps)),
        step_every_s=_whole(rollout.step_every_s, "rollout.step_every_s", 1, 30 * 86_400),
        live_monitor=rollout.live_monitor,
        max_live_drop=_bound(rollout.max_live_drop, "rollout.max_live_drop"),
    )
    if checked.live_monitor is not None:
        validate_name(checked.live_monitor, "rollout.live_monitor")
    if (checked.live_monitor is None) != (checked.max_live_drop is None):
        missing = "max_live_drop" if checked.max_live_drop is None else "live_monitor"
        raise InvalidInput(
            "the live guard needs both live_monitor (a performance monitor of the "
            f"deployment) and max_live_drop; {missing} is missing",
            field=f"rollout.{missing}",
        )
    guards = (
        checked.max_error_rate,
        checked.max_error_rate_delta,
        checked.max_p99_ms,
        checked.max_p99_ratio,
        checked.max_live_drop,
    )
    if all(g is None for g in guards):
        raise InvalidInput(
            "a rollout needs at least one guard (max_error_rate, max_error_rate_delta, "
            "max_p99_ms, max_p99_ratio, or live_monitor with max_live_drop)",
            field="rollout",
        )
    if any(b <= a for a, b in zip(checked.steps, checked.steps[1:], strict=False)):
        raise InvalidInput("rollout.steps must rise", field="rollout.steps")
    return checked


@dataclass(frozen=True, slots=True)
class VersionStats:
    """What one server answered with one version of a deployment in a report's window:
    requests, errors among them, and latencies counted per bucket of
    :data:`LATENCY_BUCKETS_MS` (one more count at the end: slower than the last)."""

    deployment: str
    version_id: str
    requests: int
    errors: int
    latency_ms: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnhealthyVersion:
    """A version of a deployment the server could not load, and why."""

    deployment: str
    version_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ServingReport:
    """One server's report: its name, the window it covers (ms since the epoch, start
    inclusive), per-version counts and the versions it found unhealthy, and what the
    server process used meanwhile: CPU-seconds (user + system) and memory-time (its RSS
    integrated over time, byte-seconds) from ``usage_start`` (the window's start when
    None; earlier when windows with no requests went unreported) to ``window_end``.
    A server older than the usage fields reports none (zeros)."""

    server: str
    window_start: int
    window_end: int
    stats: tuple[VersionStats, ...] = ()
    unhealthy: tuple[UnhealthyVersion, ...] = ()
    cpu_s: float = 0.0
    memory_byte_s: float = 0.0
    usage_start: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stats"] = [{**asdict(s), "latency_ms": list(s.latency_ms)} for s in self.stats]
        out["unhealthy"] = [asdict(u) for u in self.unhealthy]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServingReport:
        return cls(
            server=data["server"],
            window_start=data["window_start"],
            window_end=data["window_end"],
            stats=tuple(
                VersionStats(
                    s["deployment"],
                    s["version_id"],
                    s["requests"],
                    s["errors"],
                    tuple(s["latency_ms"]),
                )
                for s in data.get("stats", ())
            ),
            unhealthy=tuple(
                UnhealthyVersion(u["deployment"], u["version_id"], u["reason"])
                for u in data.get("unhealthy", ())
            ),
            cpu_s=data.get("cpu_s", 0.0),
            memory_byte_s=data.get("memory_byte_s", 0.0),
            usage_start=data.get("usage_start"),
        )


def _check_names(entry: VersionStats | UnhealthyVersion, where: str) -> None:
    validate_name(entry.deployment, f"{where}.deployment")
    limits.check_text(entry.version_id, f"{where}.version_id", REPORT_ID)


def check_report(report: object) -> ServingReport:
    """A report, checked (InvalidInput naming the field): bounded sizes, counts that are
    whole numbers (errors at most requests, the histogram adding up to requests), usage
    that is a finite number >= 0 from a start at most the window's."""
    if not isinstance(report, ServingReport):
        raise InvalidInput("report must be a ServingReport", field="report")
    limits.check_text(report.server, "server", REPORT_SERVER)
    if not report.server:
        raise InvalidInput("server must name the reporting server", field="server")
    start = _whole(report.window_start, "window_start", 0, limits.INTEGER)
    end = _whole(report.window_end, "window_end", start, limits.INTEGER)
    usage_start = (
        start if report.usage_start is None else _whole(report.usage_start, "usage_start", 0, start)
    )
    cpu_s = _bound(report.cpu_s, "cpu_s")
    memory_byte_s = _bound(report.memory_byte_s, "memory_byte_s")
    for name, group in (("stats", report.stats), ("unhealthy", report.unhealthy)):
        if not isinstance(group, tuple | list) or len(group) > REPORT_ENTRIES:
            raise InvalidInput(
                f"{name} must be a list of at most {REPORT_ENTRIES} entries", field=name
            )
    stats = []
    for i, s in enumerate(report.stats):
        where = f"stats[{i}]"
        if not isinstance(s, VersionStats):
            raise InvalidInput(f"{where} must be a VersionStats", field=where)
        _check_names(s, where)
        requests = _whole(s.requests, f"{where}.requests", 0, limits.INTEGER)
        errors = _whole(s.errors, f"{where}.errors", 0, requests)
        buckets = s.latency_ms
        if not isinstance(buckets, tuple | list) or len(buckets) != len(LATENCY_BUCKETS_MS) + 1:
            raise InvalidInput(
                f"{where}.latency_ms must count {len(LATENCY_BUCKETS_MS) + 1} buckets",
                field=f"{where}.latency_ms",
            )
        counts = tuple(_whole(c, f"{where}.latency_ms", 0, requests) for c in buckets)
        if sum(counts) != requests:
            raise InvalidInput(
                f"{where}.latency_ms must add up to requests ({requests})",
                field=f"{where}.latency_ms",
            )
        stats.append(VersionStats(s.deployment, s.version_id, requests, errors, counts))
    unhealthy = []
    for i, u in enumerate(report.unhealthy):
        where = f"unhealthy[{i}]"
        if not isinstance(u, UnhealthyVersion):
            raise InvalidInput(f"{where} must be an UnhealthyVersion", field=where)
        _check_names(u, where)
        limits.check_text(u.reason, f"{where}.reason", REPORT_TEXT)
        unhealthy.append(u)
    return ServingReport(
        report.server,
        start,
        end,
        tuple(stats),
        tuple(unhealthy),
        cpu_s=cpu_s or 0.0,
        memory_byte_s=memory_byte_s or 0.0,
        usage_start=usage_start,
    )


@dataclass(slots=True)
class Totals:
    """A version's reports over a window, added up."""

    requests: int = 0
    errors: int = 0
    latency_ms: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))

    def add(self, requests: int, errors: int, latency_ms: Iterable[int]) -> None:
        self.requests += requests
        self.errors += errors
        for i, count in enumerate(latency_ms):
            self.latency_ms[i] += count

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p99_ms(self) -> float:
        """The upper bound of the bucket holding the 99th percentile (infinite past the
        last bound)."""
        return self.quantile_ms(0.99)

    def quantile_ms(self, quantile: float) -> float:
        """The upper bound of the bucket holding the ``quantile`` (0-1] of the requests'
        latencies (infinite past the last bound)."""
        wanted, seen = math.ceil(quantile * self.requests), 0
        for bound, count in zip((*LATENCY_BUCKETS_MS, math.inf), self.latency_ms, strict=True):
            seen += count
            if seen >= wanted:
                return bound
        return 0.0


@dataclass(frozen=True, slots=True)
class Breach:
    """A guard a candidate broke: which, and the values measured."""

    version_id: str
    guard: str
    reason: str


def _ms(value: float) -> str:
    return f">{LATENCY_BUCKETS_MS[-1]:g} ms" if math.isinf(value) else f"{value:g} ms"


@dataclass(frozen=True, slots=True)
class LiveValue:
    """A version's live value of the live guard's monitor: its windows' values weighted
    by their rows, over ``windows`` windows and ``rows`` rows."""

    value: float
    windows: int
    rows: int


def live_value(windows: Iterable[tuple[float, int]]) -> LiveValue | None:
    """The live value of ``(value, rows)`` windows (None without a window with rows)."""
    judged = [(v, r) for v, r in windows if r > 0 and math.isfinite(v)]
    rows = sum(r for _, r in judged)
    if not rows:
        return None
    return LiveValue(sum(v * r for v, r in judged) / rows, len(judged), rows)


@dataclass(frozen=True, slots=True)
class Live:
    """What the live guard judges: the monitor's ``metric``, whether higher is better,
    the champion's live value and each candidate's by version id (None or missing: not
    judged yet)."""

    metric: str
    higher_is_better: bool
    champion: LiveValue | None
    candidates: Mapping[str, LiveValue]


def _live_breach(
    rollout: Rollout, live: Live, version_id: str, name: str
) -> tuple[Breach | None, bool]:
    """The live guard's breach of one candidate, and whether it could be judged."""
    mine, theirs = live.candidates.get(version_id), live.champion
    if mine is None or theirs is None or rollout.max_live_drop is None:
        return None, False
    worse = theirs.value - mine.value if live.higher_is_better else mine.value - theirs.value
    if worse <= rollout.max_live_drop:
        return None, True
    way = "under" if live.higher_is_better else "over"
    return Breach(
        version_id,
        "max_live_drop",
        f"{name}: live {live.metric} {mine.value:.4g} over {mine.windows} windows "
        f"({mine.rows} rows), {way} the champion's {theirs.value:.4g} by {worse:.4g}, "
        f"more than max_live_drop {rollout.max_live_drop:g}",
    ), True


def judge(
    rollout: Rollout,
    champion: Totals,
    candidates: Sequence[tuple[str, str, Totals]],
    live: Live | None = None,
) -> tuple[list[Breach], bool]:
    """The breaches of the candidates (``(version id, written name, totals)``), and
    whether every candidate was judged: answered enough requests and, with a live guard,
    has a live value beside the champion's (``live``; None: the monitor is gone, so
    nothing is judged live)."""
    breaches: list[Breach] = []
    judged = True
    relative = champion.requests >= rollout.min_requests
    for version_id, name, t in candidates:
        if rollout.live_monitor is not None:
            breach, seen = (
                (None, False) if live is None else _live_breach(rollout, live, version_id, name)
            )
            judged = judged and seen
            if breach is not None:
                breaches.append(breach)
        if t.requests < rollout.min_requests:
            judged = False
            continue
        rate, p99 = t.error_rate, t.p99_ms
        measured = f"{name}: {t.errors} errors in {t.requests} requests ({rate:.2%})"
        if rollout.max_error_rate is not None and rate > rollout.max_error_rate:
            breaches.append(
                Breach(version_id, "max_error_rate",
                       f"{measured}, over max_error_rate {rollout.max_error_rate:.2%}")
            )  # fmt: skip
        if (
            rollout.max_error_rate_delta is not None
            and relative
            and rate > champion.error_rate + rollout.max_error_rate_delta
        ):
            breaches.append(
                Breach(version_id, "max_error_rate_delta",
                       f"{measured}, over the champion's {champion.error_rate:.2%} + "
                       f"{rollout.max_error_rate_delta:.2%}")
            )  # fmt: skip
        if rollout.max_p99_ms is not None and p99 > rollout.max_p99_ms:
            breaches.append(
                Breach(version_id, "max_p99_ms",
                       f"{name}: p99 {_ms(p99)} over {t.requests} requests, over "
                       f"max_p99_ms {rollout.max_p99_ms:g}")
            )  # fmt: skip
        if (
            rollout.max_p99_ratio is not None
            and relative
            and p99 > champion.p99_ms * rollout.max_p99_ratio
        ):
            breaches.append(
                Breach(version_id, "max_p99_ratio",
                       f"{name}: p99 {_ms(p99)}, over the champion's {_ms(champion.p99_ms)} "
                       f"x {rollout.max_p99_ratio:g}")
            )  # fmt: skip
    return breaches, judged


@dataclass(frozen=True, slots=True)
class RolloutAction:
    """What judging a rollout did: ``auto-rollback``, ``step`` or ``promote``, the plan's
    new revision and why."""

    project: str
    deployment: str
    action: str
    revision: int
    reason: str
