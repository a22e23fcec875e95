"""The value objects of serving (never table rows): what the deployment service returns,
the same embedded and through a server."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from modelyard.serving.rollouts import Rollout

__all__ = ["Deployment", "PlanRevision", "Route", "TrafficPlan"]

#: How a plan splits live traffic: one route; weights drawn at random per request
#: (canary); weights picked by the hash of a request key, so one key always meets one
#: version (A/B).
Strategy = Literal["single", "canary", "ab"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where a share of requests goes: a model's version, named by number or alias.

    ``ref`` is what the plan's author wrote (``"3"`` or ``"champion"``); ``version`` and
    ``version_id`` are what it resolves to when the deployment is read (an alias that
    moves takes its route with it). ``weight`` is a percentage: of live traffic for a
    live route (a plan's live weights add up to 100), of requests copied for a shadow.
    """

    model: str
    ref: str
    weight: int
    version: int | None = None
    version_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """Live routes (``routes[0]`` is the champion: where traffic falls back to), shadow
    routes (sent copies of requests; their answers are logged, never returned) and, for
    A/B, the request header whose value's hash picks the route."""

    routes: tuple[Route, ...]
    shadows: tuple[Route, ...] = ()
    sticky_key: str | None = None

    @property
    def champion(self) -> Route:
        return self.routes[0]

    @property
    def strategy(self) -> Strategy:
        if len(self.routes) == 1:
            return "single"
        return "ab" if self.sticky_key else "canary"

    def as_dict(self) -> dict[str, Any]:
        return {
            "routes": [r.as_dict() for r in self.routes],
            "shadows": [r.as_dict() for r in self.shadows],
            "sticky_key": self.sticky_key,
            "strategy": self.strategy,
        }


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment: its name in a project, its plan and the plan's revision (1 at
    creation, one more at each change), and the share of predictions it logs."""

    id: str
    project: str
    name: str
    description: str
    plan: TrafficPlan
    revision: int
    sample_rate: float
    created_by: str
    created_at: int
    updated_by: str
    updated_at: int
    #: The guard rails and stepping schedule of its candidates (None: no rollout), and
    #: when the rollout began.
    rollout: Rollout | None = None
    rollout_since: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["plan"] = self.plan.as_dict()
        out["rollout"] = self.rollout.as_dict() if self.rollout is not None else None
        return out


@dataclass(frozen=True, slots=True)
class PlanRevision:
    """One revision of a deployment's plan: who made it, when, how and why."""

    deployment: str
    revision: int
    plan: TrafficPlan
    action: str
    changed_by: str
    changed_at: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["plan"] = self.plan.as_dict()
        return out
