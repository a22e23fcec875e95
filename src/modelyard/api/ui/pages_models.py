"""The models of a project, one model (its versions with their status timelines, alias
history, policy, and status change requests with approve and reject for approvers), and
one version (its facts, signature, model card, evaluations, datasets and run).

A version's status changes only through a status change request that was applied (the
registry's lifecycle: a request by hand, or retirement's by the system), so a version's
timeline is its registration and then its applied requests, in the order they closed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from modelyard.api._services import get_services
from modelyard.api.ui._pages import page, render, viewer
from modelyard.errors import NotFound
from modelyard.registry.entities import ModelVersion, TransitionRequest

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_NUMBER = re.compile(r"^[1-9][0-9]{0,17}$")
#: Versions listed on a model's page: the newest this many.
VERSIONS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Step:
    """One point of a version's status timeline: the status it reached, when, who asked
    (or registered it), who approved, and why (the request's comment)."""

    status: str
    at: int
    by: str
    why: str
    approved_by: tuple[str, ...] = ()


@router.get("/projects/{project}/models", response_class=HTMLResponse)
@page
def models(request: Request, project: str) -> Response:
    """The project's models: newest version, aliases, owners, last change."""
    who = viewer(request)
    services = get_services(request)
    services.projects.acting_as(who.actor).get(project)
    found = services.models.acting_as(who.actor).list_models(project)
    return render(request, "models_list.html", who, project=project, models=found)


@router.get("/projects/{project}/models/{name}", response_class=HTMLResponse)
@page
def model(request: Request, project: str, name: str) -> Response:
    """One model: versions with their status timelines, alias history, the policy in
    force, and its status change requests (approve and reject for approvers)."""
    who = viewer(request)
    registry = get_services(request).models.acting_as(who.actor)
    found = registry.get_model(name, project=project)
    after = max(0, (found.latest_version or 0) - VERSIONS_SHOWN)
    versions = list(reversed(registry.list_versions(name, project=project, after=after)))
    requests = registry.list_requests(name, project=project)
    return render(
        request,
        "models_model.html",
        who,
        project=project,
        model=found,
        versions=versions,
        more_versions=after > 0,
        timelines=_timelines(versions, requests),
        moves=list(reversed(registry.history(name, project=project))),
        policy=registry.get_policy(project=project, name=name),
        open_requests=[r for r in requests if r.state == "open"],
        closed_requests=[r for r in reversed(requests) if r.state != "open"],
        can_decide=who.can(project, "approver"),
    )


@router.get("/projects/{project}/models/{name}/versions/{number}", response_class=HTMLResponse)
@page
def version(request: Request, project: str, name: str, number: str) -> Response:
    """One version: its facts, signature, model card, evaluations (each report's page
    in a sandboxed frame), datasets and run."""
    who = viewer(request)
    registry = get_services(request).models.acting_as(who.actor)
    if not _NUMBER.match(number):
        registry.get_model(name, project=project)  # an unknown model says so first
        raise NotFound(f"model {name!r} has no version {number!r}", field="version")
    found = registry.get_version(name, project=project, version=int(number))
    return render(
        request,
        "models_version.html",
        who,
        project=project,
        version=found,
        card=registry.get_card(name, project=project, version=found.version),
        evaluations=registry.evaluations(name, project=project, version=found.version, limit=None),
        requests=registry.list_requests(name, project=project, version=found.version),
    )


def _timelines(
    versions: list[ModelVersion], requests: list[TransitionRequest]
) -> dict[int, list[Step]]:
    """Each version's status changes, oldest first: registered, then each applied request."""
    found: dict[int, list[Step]] = defaultdict(list)
    for v in versions:
        found[v.version].append(Step("registered", v.created_at, v.created_by, ""))
    applied = [r for r in requests if r.state == "applied" and r.closed_at is not None]
    for r in sorted(applied, key=lambda r: (r.closed_at or 0, r.requested_at)):
        approvers = tuple(d.decided_by for d in r.decisions if d.decision == "approve")
        step = Step(r.to_status, r.closed_at or 0, r.requested_by, r.comment, approvers)
        found[r.version].append(step)
    return dict(found)
