"""The contract of the deployment service: one typed surface with two implementations,
in this process and through a server (``tests/remote/test_contracts.py`` checks that
their signatures are the contract's)."""

from __future__ import annotations

from typing import Protocol

from modelyard.serving.entities import Deployment, PlanRevision, TrafficPlan
from modelyard.serving.rollouts import Rollout, ServingReport

__all__ = ["DeploymentContract"]


class DeploymentContract(Protocol):
    def create(
        self,
        name: str,
        plan: TrafficPlan | str,
        *,
        project: str,
        description: str = "",
        sample_rate: float = 1.0,
    ) -> Deployment:
        """A new deployment; ``plan`` is a plan or one route as ``model@alias`` /
        ``model/3`` (all traffic to it)."""
        ...

    def get(self, name: str, *, project: str) -> Deployment:
        """The deployment with its plan's routes resolved to versions now."""
        ...

    def list_deployments(self, project: str) -> list[Deployment]:
        """Every deployment of a project, resolved as :meth:`get` resolves one."""
        ...

    def set_traffic(
        self,
        name: str,
        plan: TrafficPlan,
        *,
        project: str,
        reason: str = "",
        expected_revision: int | None = None,
        rollout: Rollout | None = None,
    ) -> Deployment:
        """A new revision of the plan; Conflict when ``expected_revision`` is given and
        is not the current one. ``rollout``: the guard rails its candidates are judged by
        (and its stepping schedule) from now; without it, the plan has none."""
        ...

    def promote(
        self,
        name: str,
        *,
        project: str,
        model: str | None = None,
        ref: str | None = None,
        alias: str = "champion",
        reason: str = "",
    ) -> Deployment:
        """Move ``alias`` to a route's version (the plan's one non-champion live route
        unless named) and make the plan all traffic to the alias, in one step."""
        ...

    def rollback(
        self,
        name: str,
        *,
        project: str,
        to_revision: int | None = None,
        reason: str = "",
    ) -> Deployment:
        """A new revision equal to an earlier one (by default, all traffic to the
        champion route)."""
        ...

    def delete(self, name: str, *, project: str) -> None: ...

    def history(self, name: str, *, project: str) -> list[PlanRevision]:
        """Every revision of the plan, oldest first."""
        ...

    def report(self, project: str, report: ServingReport) -> None:
        """An inference server's counts per deployment and version since its last report,
        and the versions it found unhealthy (needs ``contributor``)."""
        ...
