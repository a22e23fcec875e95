"""The deployments of a server: what ``client.deployments`` is in remote mode.
``RemoteDeployments`` has the methods of
:class:`~modelyard.serving.contract.DeploymentContract`, with the same signatures, results
and errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelyard._util import validate_name
from modelyard.remote._http import HttpSession
from modelyard.serving.entities import Deployment, PlanRevision, Route, TrafficPlan
from modelyard.serving.rollouts import Rollout, ServingReport

__all__ = ["RemoteDeployments"]


class RemoteDeployments:
    """Deployments and their traffic plans on a Modelyard server."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

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
        body = {
            "name": name,
            "plan": plan if isinstance(plan, str) else _plan_body(plan),
            "description": description,
            "sample_rate": sample_rate,
        }
        answer = self.http.call("POST", _path(project), json_body=body, idempotent=False)
        return _deployment(answer.json())

    def get(self, name: str, *, project: str) -> Deployment:
        """The deployment with its plan's routes resolved to versions now."""
        return _deployment(self.http.call("GET", _path(project, name)).json())

    def list_deployments(self, project: str) -> list[Deployment]:
        """Every deployment of a project, resolved as :meth:`get` resolves one."""
        return [_deployment(item) for item in self.http.all_pages(_path(project), {})]

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
        body = {
            "plan": _plan_body(plan),
            "reason": reason,
            "expected_revision": expected_revision,
            "rollout": rollout.as_dict() if rollout is not None else None,
        }
        answer = self.http.call(
            "PUT", f"{_path(project, name)}/plan", json_body=body, idempotent=False
        )
        return _deployment(answer.json())

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
        body = {"model": model, "ref": ref, "alias": alias, "reason": reason}
        answer = self.http.call(
            "POST", f"{_path(project, name)}/promote", json_body=body, idempotent=False
        )
        return _deployment(answer.json())

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
        body = {"to_revision": to_revision, "reason": reason}
        answer = self.http.call(
            "POST", f"{_path(project, name)}/rollback", json_body=body, idempotent=False
        )
        return _deployment(answer.json())

    def delete(self, name: str, *, project: str) -> None:
        self.http.call("DELETE", _path(project, name))

    def history(self, name: str, *, project: str) -> list[PlanRevision]:
        """Every revision of the plan, oldest first."""
        items = self.http.all_pages(f"{_path(project, name)}/history", {})
        return [
            PlanRevision(
                deployment=item["deployment"],
                revision=item["revision"],
                plan=_plan(item["plan"]),
                action=item["action"],
                changed_by=item["changed_by"],
                changed_at=item["changed_at"],
                reason=item["reason"],
            )
            for item in items
        ]

    def report(self, project: str, report: ServingReport) -> None:
        """An inference server's counts per deployment and version since its last report,
        and the versions it found unhealthy (needs ``contributor``)."""
        self.http.call(
            "POST", f"{_path(project)}/-/reports", json_body=report.as_dict(), idempotent=True
        )


def _path(project: str, name: str | None = None) -> str:
    validate_name(project, "project")
    path = f"/projects/{quote(project, safe='')}/deployments"
    if name is None:
        return path
    validate_name(name, "name")
    return f"{path}/{quote(name, safe='')}"


def _plan_body(plan: TrafficPlan) -> dict[str, Any]:
    def routes(group: tuple[Route, ...]) -> list[dict[str, Any]]:
        return [{"model": r.model, "ref": r.ref, "weight": r.weight} for r in group]

    return {
        "routes": routes(plan.routes),
        "shadows": routes(plan.shadows),
        "sticky_key": plan.sticky_key,
    }


def _route(data: dict[str, Any]) -> Route:
    return Route(data["model"], data["ref"], data["weight"], data["version"], data["version_id"])


def _plan(data: dict[str, Any]) -> TrafficPlan:
    return TrafficPlan(
        tuple(_route(r) for r in data["routes"]),
        tuple(_route(r) for r in data["shadows"]),
        data["sticky_key"],
    )


def _deployment(data: dict[str, Any]) -> Deployment:
    return Deployment(
        id=data["id"],
        project=data["project"],
        name=data["name"],
        description=data["description"],
        plan=_plan(data["plan"]),
        revision=data["revision"],
        sample_rate=data["sample_rate"],
        created_by=data["created_by"],
        created_at=data["created_at"],
        updated_by=data["updated_by"],
        updated_at=data["updated_at"],
        rollout=Rollout.from_dict(data["rollout"]) if data.get("rollout") else None,
        rollout_since=data.get("rollout_since"),
    )
