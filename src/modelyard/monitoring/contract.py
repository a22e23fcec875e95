"""The contracts of the monitoring services: each one typed surface with two
implementations, in this process and through a server (``tests/remote/test_contracts.py``
checks that their signatures are the contract's).

* :class:`MonitorContract`: monitors on deployments, their passes and window values;
* :class:`AlertContract`: alerts and their history, health scores;
* :class:`CostContract`: serving and training costs, budgets;
* :class:`LoopContract`: the closed loop's policies and runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from modelyard.monitoring.entities import (
    Alert,
    Budget,
    CostFigure,
    Health,
    LoopPolicy,
    LoopRun,
    Monitor,
    PassReport,
    WindowValue,
)

__all__ = ["AlertContract", "CostContract", "LoopContract", "MonitorContract"]


class MonitorContract(Protocol):
    def create(
        self,
        deployment: str,
        name: str,
        kind: str,
        *,
        project: str,
        config: Mapping[str, Any] | None = None,
        window: str = "hour",
        slide: str | None = None,
        severity: str = "warning",
    ) -> Monitor:
        """A new monitor on ``deployment``; InvalidInput naming the field when the kind,
        the window or the config is wrong, or when what it needs is missing (a drift
        monitor on a version without a training profile)."""
        ...

    def apply(self, spec: str | Mapping[str, Any], *, project: str) -> list[Monitor]:
        """Create or update the monitors a YAML document (or its parsed mapping) declares:
        ``{deployment: NAME, monitors: [{name, kind, window, slide, severity, ...config}]}``."""
        ...

    def get(self, deployment: str, name: str, *, project: str) -> Monitor: ...

    def list_monitors(self, deployment: str, *, project: str) -> list[Monitor]: ...

    def delete(self, deployment: str, name: str, *, project: str) -> None: ...

    def run_pass(
        self,
        deployment: str,
        *,
        project: str,
        on_segment: Callable[[int, int], None] | None = None,
    ) -> PassReport:
        """Read the deployment's log segments not yet read and the labels given since the
        last pass, rebuild the windows they touch and judge every enabled monitor on them
        (a pass run twice changes nothing the second time). ``on_segment(done, total)``
        is told as segments are merged (through a server: once, when the pass is done)."""
        ...

    def values(
        self,
        deployment: str,
        name: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        version: str | None = None,
        newest: int | None = None,
    ) -> list[WindowValue]:
        """A monitor's values per window from ``since`` to ``until`` (ms), oldest first
        (only the ``newest`` of them when given)."""
        ...


class AlertContract(Protocol):
    def list_alerts(
        self,
        project: str,
        *,
        status: str | None = None,
        severity: str | None = None,
        deployment: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Alerts of a project, newest first."""
        ...

    def get(self, alert_id: str, *, project: str) -> Alert:
        """One alert with its history."""
        ...

    def acknowledge(self, alert_id: str, *, project: str, comment: str = "") -> Alert: ...

    def resolve(self, alert_id: str, *, project: str, comment: str = "") -> Alert: ...

    def comment(self, alert_id: str, comment: str, *, project: str) -> Alert: ...

    def health(self, deployment: str, *, project: str, version: str | None = None) -> Health:
        """The health of a deployment, or of one of its versions (``model/3``) as served
        there, with its components."""
        ...

    def health_history(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
    ) -> list[Health]:
        """The deployment's health per window, oldest first (for dashboards)."""
        ...


class CostContract(Protocol):
    def serving_cost(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        by_version: bool = False,
    ) -> list[CostFigure]:
        """What serving ``deployment`` cost (one figure, or one per version)."""
        ...

    def serving_cost_series(
        self,
        deployment: str,
        *,
        project: str,
        since: int | None = None,
        until: int | None = None,
        unit: str = "day",
        by_version: bool = False,
    ) -> list[CostFigure]:
        """What serving ``deployment`` cost per hour or day, oldest first (dashboards)."""
        ...

    def training_cost(self, model: str, version: int, *, project: str) -> CostFigure:
        """What training a model version cost: the sum of its pipeline runs."""
        ...

    def set_budget(
        self,
        project: str,
        amount: float,
        *,
        scope: str = "all",
        thresholds: tuple[float, ...] = (0.5, 0.8, 1.0),
    ) -> Budget: ...

    def list_budgets(self, project: str) -> list[Budget]:
        """A project's budgets with what was spent this month."""
        ...

    def delete_budget(self, project: str, *, scope: str = "all") -> None: ...


class LoopContract(Protocol):
    def set_policy(
        self, deployment: str, config: Mapping[str, Any] | str, *, project: str
    ) -> LoopPolicy:
        """Set the deployment's loop policy (a mapping or YAML), checked whole."""
        ...

    def get_policy(self, deployment: str, *, project: str) -> LoopPolicy: ...

    def start(self, deployment: str, *, project: str, reason: str = "") -> LoopRun:
        """Start a loop now (a person's trigger); Conflict while one is running."""
        ...

    def get_run(self, run_id: str, *, project: str) -> LoopRun: ...

    def list_runs(self, deployment: str, *, project: str, limit: int = 50) -> list[LoopRun]: ...

    def decide(self, run_id: str, *, project: str, approve: bool, comment: str = "") -> LoopRun:
        """A person's decision on a loop waiting for one (production approval)."""
        ...

    def cancel(self, run_id: str, *, project: str, reason: str = "") -> LoopRun: ...
