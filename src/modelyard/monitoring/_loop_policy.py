"""The closed loop's policy: what a deployment's ``loop_policies`` row holds, checked
whole (InvalidInput naming the field, ``evaluate.metric``, ``canary.rollout.steps``).

A policy is a mapping or its YAML::

    triggers:
      monitors: [drift, accuracy]   # an open alert of one of these on the deployment
      severities: [critical]        # of these severities (default: any)
      schedule: "0 3 * * 1"         # and/or a cron expression (in ``timezone``, UTC)
    pipeline: retrain.py:retrain    # MODULE:NAME or FILE.py:NAME, as schedules name one
    params: {rows: 5000}
    model: churn                    # the registered model the pipeline logs to
    evaluate: {metric: accuracy, min_improvement: 0.0, window_s: 86400}
    auto_approve_staging: true
    production: require_person      # or auto
    canary: {weight: 10, rollout: {max_error_rate: 0.05, window_s: 60}}
    compare_s: 3600
    promote_if: {monitor: accuracy, tolerance: 0.01, min_health: 70}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard import limits
from modelyard._refs import PipelineSources
from modelyard._util import validate_name
from modelyard.errors import InvalidInput
from modelyard.monitoring.entities import SEVERITIES
from modelyard.schedules.cron import Cron
from modelyard.schedules.service import check_params, check_ref
from modelyard.serving.rollouts import Rollout, check_rollout

__all__ = ["PRODUCTION_GATES", "Policy", "parse_policy"]

#: How a candidate reaches production once its canary held: a person decides, or the loop.
PRODUCTION_GATES = ("require_person", "auto")
_KEYS = (
    "enabled",
    "triggers",
    "pipeline",
    "params",
    "model",
    "evaluate",
    "auto_approve_staging",
    "production",
    "canary",
    "compare_s",
    "promote_if",
)
#: At most a week of labelled window or of canary.
_MAX_S = 7 * 86400
_MAX_MONITORS = 100


@dataclass(frozen=True, slots=True)
class Policy:
    """A policy as the loop reads it (defaults filled in)."""

    pipeline: str
    model: str
    metric: str
    params: dict[str, Any] = field(default_factory=dict)
    monitors: tuple[str, ...] = ()
    severities: tuple[str, ...] = SEVERITIES
    schedule: str | None = None
    timezone: str = "UTC"
    min_improvement: float = 0.0
    higher_is_better: bool = True
    window_s: int = 86400
    auto_approve_staging: bool = True
    production: str = "require_person"
    weight: int = 10
    rollout: Rollout | None = None
    compare_s: int = 3600
    compare_monitor: str | None = None
    tolerance: float = 0.0
    min_health: float | None = None
    enabled: bool = True

    def as_config(self) -> dict[str, Any]:
        """The policy as stored and shown: every field, defaults included."""
        triggers: dict[str, Any] = {
            "monitors": list(self.monitors),
            "severities": list(self.severities),
        }
        if self.schedule is not None:
            triggers |= {"schedule": self.schedule, "timezone": self.timezone}
        canary: dict[str, Any] = {"weight": self.weight}
        if self.rollout is not None:
            canary["rollout"] = self.rollout.as_dict()
        promote_if: dict[str, Any] = {"tolerance": self.tolerance}
        if self.compare_monitor is not None:
            promote_if["monitor"] = self.compare_monitor
        if self.min_health is not None:
            promote_if["min_health"] = self.min_health
        return {
            "enabled": self.enabled,
            "triggers": triggers,
            "pipeline": self.pipeline,
            "params": self.params,
            "model": self.model,
            "evaluate": {
                "metric": self.metric,
                "min_improvement": self.min_improvement,
                "higher_is_better": self.higher_is_better,
                "window_s": self.window_s,
            },
            "auto_approve_staging": self.auto_approve_staging,
            "production": self.production,
            "canary": canary,
            "compare_s": self.compare_s,
            "promote_if": promote_if,
        }


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} must be a mapping; got {type(value).__name__}", field=where)
    return value


def _only(found: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in found:
        if key not in known:
            name = f"{where}.{key}" if where else str(key)
            raise InvalidInput(
                f"unknown policy field {limits.preview(name)}; use {', '.join(known)}",
                field=name,
            )


def _number(value: object, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(
            f"{where} must be a number from {low:g} to {high:g}; got {limits.preview(value)}",
            field=where,
        )
    return float(value)


def _whole(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{where} must be a whole number from {low} to {high}; got {limits.preview(value)}",
            field=where,
        )
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{where} must be true or false", field=where)
    return value


def _names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or len(value) > _MAX_MONITORS:
        raise InvalidInput(f"{where} must be a list of names", field=where)
    return tuple(validate_name(v, where) for v in value)


def _load(config: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(config, str):
        import yaml

        limits.check_text(config, "policy", limits.SCHEDULE_PARAMS)
        try:
            config = yaml.safe_load(config)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"the policy is not YAML: {exc}", field="policy") from None
    if not isinstance(config, Mapping):
        raise InvalidInput("a loop policy is a mapping (or its YAML)", field="policy")
    json.dumps(config, default=str)
    return config


def parse_policy(config: Mapping[str, Any] | str, sources: PipelineSources) -> Policy:
    """The policy ``config`` says, checked whole: every field named, typed and bounded;
    the pipeline within ``sources`` (nothing imported: the worker imports it)."""
    found = _load(config)
    _only(found, _KEYS, "")
    for needed in ("pipeline", "model", "evaluate"):
        if needed not in found:
            raise InvalidInput(f"a loop policy needs {needed}", field=needed)
    pipeline = check_ref(found["pipeline"], sources)
    triggers = _mapping(found.get("triggers"), "triggers")
    _only(triggers, ("monitors", "severities", "schedule", "timezone"), "triggers")
    monitors = _names(triggers.get("monitors", []), "triggers.monitors")
    written = triggers.get("severities", list(SEVERITIES))
    if not isinstance(written, list | tuple) or any(
        not isinstance(s, str) or s not in SEVERITIES for s in written
    ):
        raise InvalidInput(
            f"triggers.severities must be a list of {', '.join(SEVERITIES)}",
            field="triggers.severities",
        )
    severities = tuple(written)
    schedule = triggers.get("schedule")
    timezone = triggers.get("timezone", "UTC")
    if schedule is not None:
        limits.check_text(schedule, "triggers.schedule", limits.CRON)
        limits.check_text(timezone, "triggers.timezone", limits.TIMEZONE)
        try:
            Cron(schedule, timezone)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="triggers.schedule") from None
        schedule = " ".join(schedule.split())
    try:
        params = check_params(found.get("params"))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="params") from None
    model = validate_name(found["model"], "model")
    evaluate = _mapping(found["evaluate"], "evaluate")
    _only(evaluate, ("metric", "min_improvement", "higher_is_better", "window_s"), "evaluate")
    if "metric" not in evaluate:
        raise InvalidInput("evaluate needs a metric", field="evaluate.metric")
    metric = validate_name(evaluate["metric"], "evaluate.metric")
    production = found.get("production", "require_person")
    if production not in PRODUCTION_GATES:
        raise InvalidInput(
            f"production must be one of {', '.join(PRODUCTION_GATES)}; got "
            f"{limits.preview(production)}",
            field="production",
        )
    canary = _mapping(found.get("canary"), "canary")
    _only(canary, ("weight", "rollout"), "canary")
    rollout = None
    if canary.get("rollout") is not None:
        written = _mapping(canary["rollout"], "canary.rollout")
        _only(written, tuple(Rollout.__dataclass_fields__), "canary.rollout")
        try:
            rollout = check_rollout(Rollout.from_dict(dict(written)))
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=f"canary.{exc.field or 'rollout'}") from None
        if rollout.steps and rollout.steps[-1] >= 100:
            raise InvalidInput(
                "the loop decides the promotion: canary.rollout.steps stay below 100",
                field="canary.rollout.steps",
            )
    promote_if = _mapping(found.get("promote_if"), "promote_if")
    _only(promote_if, ("monitor", "tolerance", "min_health"), "promote_if")
    compare_monitor = promote_if.get("monitor")
    if compare_monitor is not None:
        validate_name(compare_monitor, "promote_if.monitor")
    min_health = promote_if.get("min_health")
    return Policy(
        pipeline=pipeline,
        model=model,
        metric=metric,
        params=params,
        monitors=monitors,
        severities=severities,
        schedule=schedule,
        timezone=timezone,
        min_improvement=_number(
            evaluate.get("min_improvement", 0.0), "evaluate.min_improvement", -1e9, 1e9
        ),
        higher_is_better=_flag(evaluate.get("higher_is_better", True), "evaluate.higher_is_better"),
        window_s=_whole(evaluate.get("window_s", 86400), "evaluate.window_s", 1, _MAX_S),
        auto_approve_staging=_flag(found.get("auto_approve_staging", True), "auto_approve_staging"),
        production=production,
        weight=_whole(canary.get("weight", 10), "canary.weight", 1, 99),
        rollout=rollout,
        compare_s=_whole(found.get("compare_s", 3600), "compare_s", 0, _MAX_S),
        compare_monitor=compare_monitor,
        tolerance=_number(promote_if.get("tolerance", 0.0), "promote_if.tolerance", 0, 1e9),
        min_health=None
        if min_health is None
        else _number(min_health, "promote_if.min_health", 0, 100),
        enabled=_flag(found.get("enabled", True), "enabled"),
    )
