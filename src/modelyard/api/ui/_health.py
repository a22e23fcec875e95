"""A deployment's health as the pages show it: the score now, or, when nothing was
judged in the score's lookback before now but monitors have passed (a replay of past
data on its own clock, as the quickstart's story; or monitoring that stopped), the score
at the newest window judged before the last pass, with that time shown beside it. A page
never shows an old score as if it were today's."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.api._services import Services
from modelyard.governance import Actor
from modelyard.monitoring._health import LOOKBACK_MS
from modelyard.monitoring.entities import Health

__all__ = ["ShownHealth", "shown_health"]


@dataclass(frozen=True, slots=True)
class ShownHealth:
    """The health a page shows; ``as_of`` is its time (ms) when it is not now's."""

    health: Health
    as_of: int | None = None

    @property
    def score(self) -> float | None:
        return self.health.score


def shown_health(services: Services, actor: Actor, project: str, deployment: str) -> ShownHealth:
    """The deployment's health now; when that is not judged, the health at the newest
    window judged up to its monitors' last pass, if that pass was before now."""
    alerts = services.alerts.acting_as(actor)
    now = alerts.health(deployment, project=project)
    if now.score is not None:
        return ShownHealth(now)
    declared = services.monitors.acting_as(actor).list_monitors(deployment, project=project)
    passes = [m.last_pass_at for m in declared if m.last_pass_at is not None]
    if not passes or max(passes) >= now.at:
        return ShownHealth(now)
    last = max(passes)
    before = alerts.health_history(
        deployment, project=project, since=max(0, last - LOOKBACK_MS), until=last
    )
    judged = [h for h in before if h.score is not None]
    return ShownHealth(judged[-1], judged[-1].at) if judged else ShownHealth(now)
