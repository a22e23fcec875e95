"""The value objects of monitoring (never table rows): monitors and what they found per
window, alerts and their history, health scores, costs and budgets, and the closed loop's
policies and runs. The monitoring services return these, the same embedded and through a
server."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The registry's status gate reads the same alerts: its words are the one source.
from modelyard.registry.alerts import ALERT_STATUSES, SEVERITIES

__all__ = [
    "ALERT_STATUSES",
    "MONITOR_KINDS",
    "SEVERITIES",
    "WINDOW_UNITS",
    "Alert",
    "AlertNote",
    "Budget",
    "CostFigure",
    "Finding",
    "Health",
    "HealthComponent",
    "LoopPolicy",
    "LoopRun",
    "LoopStep",
    "Monitor",
    "PassReport",
    "WindowValue",
]

#: What a monitor checks. ``drift``: each input feature against the served version's
#: training profile; ``prediction_drift``: the outputs against the version's evaluation;
#: ``performance``: metrics from delayed labels, estimated before they come;
#: ``volume``: rows against the season; ``latency``, ``errors``: SLOs from the servers'
#: reports; ``quality``: the training data's expectations on incoming rows;
#: ``data_load``: row counts and durations of the pipelines' ingest steps.
MONITOR_KINDS = (
    "drift",
    "prediction_drift",
    "performance",
    "volume",
    "latency",
    "errors",
    "quality",
    "data_load",
)
#: Window lengths; summaries are kept per hour and merged for a day.
WINDOW_UNITS = ("hour", "day")


@dataclass(frozen=True, slots=True)
class Monitor:
    """A check on a deployment. ``window`` is its length (hour or day); ``slide`` None
    makes windows tumble (back to back), ``"hour"`` makes day windows slide by an hour.
    ``config`` holds the kind's settings (features, tests, thresholds, the metric and its
    bound, the SLO...), as the kind's documentation in ``docs/monitoring.md`` lists."""

    id: str
    project: str
    deployment: str
    name: str
    kind: str
    config: dict[str, Any]
    window: str
    slide: str | None
    severity: str
    enabled: bool
    created_by: str
    created_at: int
    updated_at: int
    last_pass_at: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check found in one window: the headline ``value`` (the share of drifted
    features, a metric, a rate...), the ``threshold`` it is held to, whether it is
    ``breached``, how many ``rows`` it saw, and the kind's ``details`` (per feature, per
    metric). ``value`` None with ``note``: nothing to judge (no rows, no labels)."""

    value: float | None
    threshold: float | None
    breached: bool
    rows: int
    details: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True, slots=True)
class WindowValue:
    """A monitor's finding for one window (ms since the epoch, start inclusive) and one
    model version (``version`` ``"model/3"``; None: all versions of the deployment
    together). ``status``: ok, breach or no_data."""

    monitor: str
    deployment: str
    version: str | None
    window_start: int
    window_end: int
    value: float | None
    threshold: float | None
    status: str
    rows: int
    details: dict[str, Any]
    computed_at: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one monitoring pass over a deployment did: segments and rows it read, the
    windows it (re)built, labels it joined, values it wrote, alerts it opened and resolved,
    and the errors it met (a monitor that failed is reported, the others still run);
    ``unknown_labels``: labels of prediction ids in no window within the label horizon,
    ``repeated_labels``: labels that replaced one a window was already built with."""

    deployment: str
    segments: int
    rows: int
    windows: int
    labels: int
    values: int
    opened: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    seconds: float = 0.0
    unknown_labels: int = 0
    repeated_labels: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("opened", "resolved", "errors"):
            out[name] = list(out[name])
        return out


@dataclass(frozen=True, slots=True)
class AlertNote:
    """One line of an alert's history: ``action`` is opened, seen (found again: sightings
    in a row are one note, at the last), acknowledged, commented, resolved (by a person)
    or cleared (auto-resolved when its condition cleared). A resolved alert is never
    reopened: the condition back opens a new alert."""

    action: str
    by: str
    at: int
    comment: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Alert:
    """A finding that needs attention, on a subject (``subject_kind`` deployment,
    model_version or project; ``subject`` its readable name). One alert stays open per
    monitor and subject: a breach seen again bumps ``occurrences`` and ``last_seen_at``."""

    id: str
    project: str
    subject_kind: str
    subject_id: str
    subject: str
    monitor: str
    severity: str
    status: str
    title: str
    details: dict[str, Any]
    opened_at: int
    last_seen_at: int | None
    occurrences: int
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    resolved_at: int | None = None
    resolved_by: str | None = None
    history: tuple[AlertNote, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = [note.as_dict() for note in self.history]
        return out


@dataclass(frozen=True, slots=True)
class HealthComponent:
    """One part of a health score: its own score (0-100; None: nothing to judge, left out
    of the weighted mean), its weight and what it was computed from."""

    name: str
    score: float | None
    weight: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Health:
    """A deployment's or a model version's health at ``at``: 0-100 (None when no
    component could be judged), its components and the formula that combined them."""

    subject_kind: str
    subject: str
    score: float | None
    components: tuple[HealthComponent, ...]
    formula: str
    at: int

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["components"] = [asdict(c) for c in self.components]
        return out


@dataclass(frozen=True, slots=True)
class CostFigure:
    """What something cost over ``[start, end)`` (ms) in ``currency``: a deployment or a
    version's serving (``per_1000`` predictions, CPU-seconds and GiB-hours behind it), or
    a model version's training (the sum of its runs)."""

    subject_kind: str
    subject: str
    start: int
    end: int
    cost: float
    currency: str
    predictions: int | None = None
    per_1000: float | None = None
    cpu_s: float = 0.0
    gib_hours: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Budget:
    """A project's monthly budget for ``scope`` (all, serving or training); an alert opens
    as spending this month passes each of ``thresholds`` (shares of ``amount``)."""

    id: str
    project: str
    scope: str
    amount: float
    thresholds: tuple[float, ...]
    created_by: str
    created_at: int
    spent: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["thresholds"] = list(self.thresholds)
        return out


@dataclass(frozen=True, slots=True)
class LoopPolicy:
    """When and how a deployment retrains itself. ``triggers``: monitor names whose alert
    starts a loop (drift above, performance below...) and/or a ``schedule`` (cron);
    ``pipeline``: the retraining pipeline (``MODULE:NAME`` or ``FILE.py:NAME``) and its
    ``params``; the registry gates it passes (``auto_approve_staging``; production may
    require a person); the canary's ``rollout`` and how long live performance and health
    are compared (``compare_s``) before promoting or rolling back."""

    deployment: str
    enabled: bool
    config: dict[str, Any]
    updated_by: str
    updated_at: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LoopStep:
    """One step of a loop run: ``name`` (retrain, register, evaluate, approve, canary,
    compare, promote or rollback), ``status`` (pending, running, waiting for a person, done,
    failed, skipped), when it ran, how often it was tried, and what it decided or produced."""

    name: str
    status: str
    started_at: int | None
    ended_at: int | None
    attempts: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoopRun:
    """One turn of the closed loop on a deployment, from what triggered it (an alert, a
    schedule, a person) to its decision, as one record: its steps in order, the champion
    it started from and the candidate it trained; ``state`` running, waiting (for a
    person), promoted, rolled_back, rejected (the candidate did not beat the champion, or a
    person rejected it before staging), failed or cancelled."""

    id: str
    project: str
    deployment: str
    trigger: dict[str, Any]
    state: str
    steps: tuple[LoopStep, ...]
    champion: str | None
    candidate: str | None
    decision: str | None
    created_by: str
    created_at: int
    updated_at: int
    ended_at: int | None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = [asdict(s) for s in self.steps]
        return out
