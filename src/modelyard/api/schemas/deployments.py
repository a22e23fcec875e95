"""Deployments and their traffic plans on the wire."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelyard import limits
from modelyard.api.schemas._types import NUL_FREE, Description, Public, ShortText
from modelyard.serving.rollouts import (
    LATENCY_BUCKETS_MS,
    REPORT_ENTRIES,
    REPORT_ID,
    REPORT_SERVER,
    REPORT_TEXT,
)

__all__ = [
    "DeploymentCreate",
    "DeploymentPage",
    "DeploymentPublic",
    "PlanBody",
    "PlanPublic",
    "PlanRevisionPage",
    "PlanRevisionPublic",
    "PromoteBody",
    "ReportBody",
    "RollbackBody",
    "RolloutBody",
    "RouteBody",
    "RoutePublic",
    "TrafficBody",
]


class _Body(BaseModel):
    """A request body: an unknown field (a misspelt ``shadow``) is refused, never dropped."""

    model_config = ConfigDict(extra="forbid")


Name = Annotated[ShortText, Field(json_schema_extra={"maxLength": limits.NAME})]
#: One route as ``model@alias`` or ``model/3``.
RouteText = Annotated[ShortText, Field(json_schema_extra={"maxLength": 2 * limits.NAME + 1})]


class RouteBody(_Body):
    model: Name
    ref: Name = Field(description="A version number (`3`) or an alias (`champion`).")
    weight: int = Field(
        ge=0,
        le=100,
        description="A percentage: of live traffic for a live route (the live weights add "
        "up to 100), of requests copied for a shadow.",
    )


class PlanBody(_Body):
    routes: list[RouteBody] = Field(
        min_length=1,
        max_length=limits.PLAN_ROUTES,
        description="Live routes; the first is the champion (where traffic falls back to).",
    )
    shadows: list[RouteBody] = Field(
        [],
        max_length=limits.PLAN_ROUTES,
        description="Versions sent copies of requests: their answers are logged, never returned.",
    )
    sticky_key: Annotated[str, Field(max_length=128)] | None = Field(
        None,
        description="A/B: the request header whose value's hash picks the route, so one "
        "key always meets one version.",
    )


class DeploymentCreate(_Body):
    name: Name
    plan: PlanBody | RouteText = Field(
        description="A plan, or one route as `model@alias` or `model/3` (all traffic to it)."
    )
    description: Description = ""
    sample_rate: float = Field(1.0, ge=0, le=1, description="The share of predictions logged.")


class RolloutBody(_Body):
    max_error_rate: float | None = Field(
        None, ge=0, le=1, description="A candidate's highest error rate (0.01: 1%)."
    )
    max_error_rate_delta: float | None = Field(
        None, ge=0, le=1, description="A candidate's error rate at most the champion's plus this."
    )
    max_p99_ms: float | None = Field(None, ge=0, description="A candidate's highest p99 latency.")
    max_p99_ratio: float | None = Field(
        None, ge=0, description="A candidate's p99 at most the champion's times this."
    )
    window_s: int = Field(60, ge=1, le=86_400, description="The window judged, in seconds.")
    min_requests: int = Field(
        100,
        ge=1,
        le=limits.INTEGER,
        description="Requests a candidate answers before it is judged.",
    )
    steps: list[int] = Field(
        [], max_length=20, description="The candidate's weights, rising; 100 completes it."
    )
    step_every_s: int = Field(600, ge=1, le=30 * 86_400, description="Seconds between steps.")
    live_monitor: Name | None = Field(
        None,
        description="The live guard: a `performance` monitor of the deployment; the "
        "candidate's live value of its metric is compared with the champion's.",
    )
    max_live_drop: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="How much worse than the champion's the candidate's live value may be, "
        "in the metric's units.",
    )


class TrafficBody(_Body):
    plan: PlanBody
    rollout: RolloutBody | None = Field(
        None, description="Guard rails (and a stepping schedule) for the plan's candidates."
    )
    reason: Description = Field("", description="Why (kept with the revision).")
    expected_revision: int | None = Field(
        None,
        ge=1,
        le=limits.NUMBER,
        description="Refuse (409) unless the plan is at this revision now.",
    )


class PromoteBody(_Body):
    model: Name | None = Field(
        None, description="The route to promote (default: the one non-champion live route)."
    )
    ref: Name | None = None
    alias: Name = Field("champion", description="The alias moved to the route's version.")
    reason: Description = ""


class RollbackBody(_Body):
    to_revision: int | None = Field(
        None,
        ge=1,
        le=limits.NUMBER,
        description="The revision whose plan to restore (default: all traffic to the champion "
        "route).",
    )
    reason: Description = ""


class StatsBody(_Body):
    deployment: Name
    version_id: Annotated[ShortText, Field(max_length=REPORT_ID)]
    requests: int = Field(ge=0, le=limits.INTEGER)
    errors: int = Field(ge=0, le=limits.INTEGER)
    latency_ms: list[int] = Field(
        min_length=len(LATENCY_BUCKETS_MS) + 1,
        max_length=len(LATENCY_BUCKETS_MS) + 1,
        description="Counts per latency bucket (the last: slower than the last bound).",
    )


class UnhealthyBody(_Body):
    deployment: Name
    version_id: Annotated[ShortText, Field(max_length=REPORT_ID)]
    reason: Annotated[str, StringConstraints(max_length=REPORT_TEXT, pattern=NUL_FREE)]


class ReportBody(_Body):
    server: Annotated[ShortText, Field(min_length=1, max_length=REPORT_SERVER)]
    window_start: int = Field(ge=0, le=limits.INTEGER)
    window_end: int = Field(ge=0, le=limits.INTEGER)
    stats: list[StatsBody] = Field([], max_length=REPORT_ENTRIES)
    unhealthy: list[UnhealthyBody] = Field([], max_length=REPORT_ENTRIES)
    cpu_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    memory_byte_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    usage_start: int | None = Field(None, ge=0, le=limits.INTEGER)


class RolloutPublic(Public):
    max_error_rate: float | None
    max_error_rate_delta: float | None
    max_p99_ms: float | None
    max_p99_ratio: float | None
    window_s: int
    min_requests: int
    steps: list[int]
    step_every_s: int
    live_monitor: str | None = None
    max_live_drop: float | None = None


class RoutePublic(Public):
    model: str
    ref: str
    weight: int
    version: int | None = Field(description="The version the ref names now (null: none).")
    version_id: str | None


class PlanPublic(Public):
    routes: list[RoutePublic]
    shadows: list[RoutePublic]
    sticky_key: str | None
    strategy: str = Field(description="`single`, `canary` or `ab`.")


class DeploymentPublic(Public):
    id: str
    project: str
    name: str
    description: str
    plan: PlanPublic
    revision: int
    sample_rate: float
    created_by: str
    created_at: int
    updated_by: str
    updated_at: int
    rollout: RolloutPublic | None = Field(description="The rollout's guard rails and steps.")
    rollout_since: int | None = Field(description="When the rollout began.")


class DeploymentPage(Public):
    items: list[DeploymentPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class PlanRevisionPublic(Public):
    deployment: str
    revision: int
    plan: PlanPublic
    action: str = Field(
        description="`create`, `set_traffic`, `promote`, `rollback`, or a rollout's "
        "`auto-rollback` or `step`."
    )
    changed_by: str
    changed_at: int
    reason: str


class PlanRevisionPage(Public):
    items: list[PlanRevisionPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
