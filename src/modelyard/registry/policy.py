"""Status lifecycle policies: which rules a version must pass to move to a status.

A policy has one *gate* per target status (a status it does not name has no rules: the
move needs no approval). It is written in YAML (or as a dict, or these dataclasses)::

    champion: champion          # the alias relative metric bounds compare with
    staging:
      card_fields: [intended_use]
    production:
      approvals: 2              # approvers other than the requester
      metrics:
        roc_auc: {min: 0.85, min_delta: 0.0}   # absolute; and minus the champion's value
        log_loss: {max: 0.4}
      evaluation: true          # an evaluation kept, and no metric worse than its baseline
      data_validation: true     # every training dataset version's latest validation passed
      no_critical_alerts: true  # no open critical alert on the model or the version
    serving: [staging, production]   # the statuses whose versions may take traffic

``serving`` names the statuses a version must have for a deployment to route traffic to
it, live or shadow (the default: staging and production; retired never).

An unknown status or rule, or a bound that is not what the rule takes, is InvalidInput
naming it (``production.metrics.roc_auc.min``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from modelyard import limits
from modelyard._util import validate_name
from modelyard.errors import Conflict, InvalidInput

__all__ = [
    "ARCHIVED",
    "PRODUCTION",
    "REGISTERED",
    "RETIRED",
    "SERVING",
    "STAGING",
    "STATUSES",
    "TRANSITIONS",
    "Gate",
    "MetricRule",
    "ModelPolicy",
    "Policy",
    "check_transition",
]

REGISTERED = "registered"
STAGING = "staging"
PRODUCTION = "production"
ARCHIVED = "archived"
RETIRED = "retired"
STATUSES = (REGISTERED, STAGING, PRODUCTION, ARCHIVED, RETIRED)
#: The legal moves: from each status, the statuses a version may go to (retired is final).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    REGISTERED: (STAGING, PRODUCTION, ARCHIVED, RETIRED),
    STAGING: (PRODUCTION, ARCHIVED),
    PRODUCTION: (STAGING, ARCHIVED),
    ARCHIVED: (STAGING, RETIRED),
    RETIRED: (),
}
#: The statuses whose versions may take traffic when a policy does not say.
SERVING: tuple[str, ...] = (STAGING, PRODUCTION)

_BOUNDS = ("min", "max", "min_delta", "max_delta")
_GATE_RULES = (
    "approvals",
    "metrics",
    "evaluation",
    "data_validation",
    "card_fields",
    "no_critical_alerts",
)
_MAX_APPROVALS = 100
_MAX_RULES = 100


def check_transition(current: str, to: object, what: str) -> str:
    """``to`` if ``what`` (a version, in words) may move from ``current`` to it; else
    InvalidInput naming the legal moves (Conflict for a retired version: none)."""
    if to not in STATUSES:
        raise InvalidInput(
            f"unknown status {limits.preview(to)}; use one of {', '.join(STATUSES)}", field="to"
        )
    assert isinstance(to, str)
    if current == RETIRED:
        raise Conflict(f"{what} is retired: retired is final", field="version")
    legal = TRANSITIONS[current]
    if to not in legal:
        then = f"it can move to {', '.join(legal)}" if legal else "retired is final"
        raise InvalidInput(f"{what} cannot move from {current} to {to}: {then}", field="to")
    return to


@dataclass(frozen=True, slots=True)
class MetricRule:
    """Bounds on one metric: ``min``/``max`` on the version's value, ``min_delta``/
    ``max_delta`` on its difference from the champion's value on the same evaluation data."""

    metric: str
    min: float | None = None
    max: float | None = None
    min_delta: float | None = None
    max_delta: float | None = None

    @property
    def relative(self) -> bool:
        return self.min_delta is not None or self.max_delta is not None

    def to_dict(self) -> dict[str, float]:
        return {b: getattr(self, b) for b in _BOUNDS if getattr(self, b) is not None}


@dataclass(frozen=True, slots=True)
class Gate:
    """The rules a version passes to move to one status."""

    approvals: int = 0
    metrics: tuple[MetricRule, ...] = ()
    evaluation: bool = False
    data_validation: bool = False
    card_fields: tuple[str, ...] = ()
    no_critical_alerts: bool = False

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.approvals:
            found["approvals"] = self.approvals
        if self.metrics:
            found["metrics"] = {m.metric: m.to_dict() for m in self.metrics}
        for flag in ("evaluation", "data_validation", "no_critical_alerts"):
            if getattr(self, flag):
                found[flag] = True
        if self.card_fields:
            found["card_fields"] = list(self.card_fields)
        return found


@dataclass(frozen=True, slots=True)
class Policy:
    """A gate per target status, the alias relative bounds compare with, and the statuses
    whose versions may take traffic (``serving``)."""

    gates: dict[str, Gate] = field(default_factory=dict)
    champion: str = "champion"
    serving: tuple[str, ...] = SERVING

    def gate(self, status: str) -> Gate:
        """The rules of moving to ``status`` (none when the policy does not name it)."""
        return self.gates.get(status, Gate())

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"champion": self.champion} if self.champion != "champion" else {}
        for status in STATUSES:
            if status in self.gates:
                found[status] = self.gates[status].to_dict()
        if self.serving != SERVING:
            found["serving"] = list(self.serving)
        return found

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, data: object) -> Policy:
        """A policy from its mapping; InvalidInput naming the first unknown rule or bad
        bound."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidInput("a policy must be a mapping of statuses to rules", field="policy")
        gates = {}
        champion = "champion"
        serving: tuple[str, ...] = SERVING
        for key, value in data.items():
            if key == "champion":
                champion = validate_name(value, "champion")
            elif key == "serving":
                serving = _serving(value)
            elif key in STATUSES:
                gates[key] = _gate(key, value)
            else:
                raise InvalidInput(
                    f"unknown rule {limits.preview(key)} in the policy: its keys are champion, "
                    f"serving and the statuses {', '.join(STATUSES)}",
                    field=str(key),
                )
        return cls(gates, champion, serving)

    @classmethod
    def from_yaml(cls, text: str) -> Policy:
        import yaml

        if not isinstance(text, str):
            raise InvalidInput("a policy's YAML must be text", field="policy")
        limits.check_text(text, "policy", limits.MODEL_JSON)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"the policy is not YAML: {exc}", field="policy") from None
        return cls.from_dict(data)

    @classmethod
    def parse(cls, policy: Policy | dict[str, Any] | str) -> Policy:
        """A policy from itself, its mapping or its YAML."""
        if isinstance(policy, Policy):
            return cls.from_dict(policy.to_dict())
        if isinstance(policy, str):
            return cls.from_yaml(policy)
        return cls.from_dict(policy)


@dataclass(frozen=True, slots=True)
class ModelPolicy:
    """The policy in force for a project (``model`` None) or one model: where it comes from
    (``scope``: ``model``, ``project`` or ``none`` when nothing is set), its YAML as it was
    set, who set it and when."""

    project: str
    model: str | None
    scope: str
    policy: Policy
    source: str
    updated_by: str | None
    updated_at: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "model": self.model,
            "scope": self.scope,
            "policy": self.policy.to_dict(),
            "source": self.source,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


def _serving(value: object) -> tuple[str, ...]:
    """The statuses that may take traffic: known ones, never retired, in lifecycle order."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidInput("serving must be a list of statuses", field="serving")
    for status in value:
        if status not in STATUSES or status == RETIRED:
            raise InvalidInput(
                f"serving names {limits.preview(status)}: use statuses among "
                f"{', '.join(s for s in STATUSES if s != RETIRED)} (a retired version is "
                "never served)",
                field="serving",
            )
    return tuple(s for s in STATUSES if s in value)


def _gate(status: str, value: object) -> Gate:
    if value is None:
        return Gate()
    if not isinstance(value, dict):
        raise InvalidInput(f"the rules of {status} must be a mapping", field=status)
    for key in value:
        if key not in _GATE_RULES:
            raise InvalidInput(
                f"unknown rule {limits.preview(key)} under {status}: the rules are "
                f"{', '.join(_GATE_RULES)}",
                field=f"{status}.{key}",
            )
    approvals = value.get("approvals", 0)
    if (
        isinstance(approvals, bool)
        or not isinstance(approvals, int)
        or not 0 <= approvals <= _MAX_APPROVALS
    ):
        raise InvalidInput(
            f"{status}.approvals must be a whole number from 0 to {_MAX_APPROVALS}; got "
            f"{limits.preview(approvals)}",
            field=f"{status}.approvals",
        )
    flags = {}
    for flag in ("evaluation", "data_validation", "no_critical_alerts"):
        flags[flag] = value.get(flag, False)
        if not isinstance(flags[flag], bool):
            raise InvalidInput(
                f"{status}.{flag} must be true or false; got {limits.preview(flags[flag])}",
                field=f"{status}.{flag}",
            )
    fields = value.get("card_fields", [])
    if isinstance(fields, str) or not isinstance(fields, list) or len(fields) > _MAX_RULES:
        raise InvalidInput(
            f"{status}.card_fields must be a list of card field names",
            field=f"{status}.card_fields",
        )
    from modelyard.registry.cards import check_field_name

    return Gate(
        approvals=approvals,
        metrics=_metrics(status, value.get("metrics", {})),
        evaluation=flags["evaluation"],
        data_validation=flags["data_validation"],
        card_fields=tuple(check_field_name(f, f"{status}.card_fields") for f in fields),
        no_critical_alerts=flags["no_critical_alerts"],
    )


def _metrics(status: str, value: object) -> tuple[MetricRule, ...]:
    where = f"{status}.metrics"
    if not isinstance(value, dict) or len(value) > _MAX_RULES:
        raise InvalidInput(
            f"{where} must map metric names to bounds ({', '.join(_BOUNDS)})", field=where
        )
    rules = []
    for metric, bounds in value.items():
        if not isinstance(metric, str):
            raise InvalidInput(f"{where} has a metric name that is not text", field=where)
        limits.check_text(metric, where, limits.KEY)
        at = f"{where}.{metric}"
        if not isinstance(bounds, dict) or not bounds:
            raise InvalidInput(f"{at} must map bounds ({', '.join(_BOUNDS)}) to numbers", field=at)
        checked: dict[str, float] = {}
        for bound, number in bounds.items():
            if bound not in _BOUNDS:
                raise InvalidInput(
                    f"unknown bound {limits.preview(bound)} in {at}: use {', '.join(_BOUNDS)}",
                    field=f"{at}.{bound}",
                )
            if (
                isinstance(number, bool)
                or not isinstance(number, int | float)
                or not math.isfinite(number)
            ):
                raise InvalidInput(
                    f"{at}.{bound} must be a finite number; got {limits.preview(number)}",
                    field=f"{at}.{bound}",
                )
            checked[bound] = float(number)
        for low, high in (("min", "max"), ("min_delta", "max_delta")):
            if low in checked and high in checked and checked[low] > checked[high]:
                raise InvalidInput(
                    f"{at}.{low} ({checked[low]}) is above {at}.{high} ({checked[high]})",
                    field=f"{at}.{low}",
                )
        rules.append(MetricRule(metric, **checked))
    return tuple(rules)
