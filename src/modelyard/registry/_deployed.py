"""What deployments hold of the registry: the versions their current traffic plans route
to, read from the serving tables inside the registry's own transactions, so that a
version taking traffic is neither retired, archived nor moved out of the statuses its
policy lets serve, and an alias a plan routes through moves only to a version that may.

A plan (``deployments.plan``, JSON) names each route by model and reference: a version
number (``"3"``) or an alias (``"champion"``; an alias never looks like a number). Routes
are resolved when read: an alias that moves takes its routes with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Connection, select

from modelyard.errors import Conflict, PolicyViolation
from modelyard.registry._lifecycle import effective_policy
from modelyard.store.tables import (
    deployments,
    model_aliases,
    model_versions,
    projects,
    registered_models,
)

__all__ = [
    "Resolved",
    "check_alias_move",
    "check_alias_removal",
    "check_serving_policy",
    "check_status_change",
    "held_by_deployments",
    "plan_refs",
    "resolve_refs",
    "serving_statuses",
]


class Resolved(NamedTuple):
    """The version a route's reference names now."""

    version_id: str
    version: int
    status: str


def plan_refs(plan: str) -> list[tuple[str, str]]:
    """The ``(model, ref)`` of every live and shadow route of a stored plan."""
    data = json.loads(plan)
    return [(r["model"], r["ref"]) for r in (*data["routes"], *data["shadows"])]


def resolve_refs(
    conn: Connection, project_id: str, refs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Resolved]:
    """The version each ``(model, ref)`` of a project names now (absent: none: an unknown
    model, version or alias). Three queries, however many routes."""
    wanted = set(refs)
    names = {model for model, _ in wanted}
    if not names:
        return {}
    models = dict(
        conn.execute(
            select(registered_models.c.name, registered_models.c.id).where(
                registered_models.c.project_id == project_id,
                registered_models.c.name.in_(names),
            )
        ).all()
    )
    numbers = {int(ref) for _, ref in wanted if ref.isascii() and ref.isdigit()}
    aliases = {ref for _, ref in wanted if not (ref.isascii() and ref.isdigit())}
    by_model = {model_id: name for name, model_id in models.items()}
    found: dict[tuple[str, str], Resolved] = {}
    columns = (model_versions.c.model_id, model_versions.c.id, model_versions.c.version)
    if numbers:
        for number in conn.execute(
            select(*columns, model_versions.c.status).where(
                model_versions.c.model_id.in_(list(by_model)),
                model_versions.c.version.in_(numbers),
            )
        ):
            found[(by_model[number.model_id], str(number.version))] = Resolved(
                number.id, number.version, number.status
            )
    if aliases:
        for row in conn.execute(
            select(*columns, model_versions.c.status, model_aliases.c.alias)
            .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
            .where(
                model_aliases.c.model_id.in_(list(by_model)),
                model_aliases.c.alias.in_(aliases),
            )
        ):
            found[(by_model[row.model_id], row.alias)] = Resolved(row.id, row.version, row.status)
    return {key: value for key, value in found.items() if key in wanted}


def serving_statuses(conn: Connection, project: str, model: str) -> tuple[str, ...]:
    """The statuses whose versions may take traffic, by the model's policy in force."""
    return effective_policy(conn, project, model).policy.serving


def _routes(conn: Connection, project_id: str | None = None) -> list[tuple[str, str, str, str]]:
    """``(deployment, project_id, model, ref)`` of every route of every current plan (of
    one project's deployments, when given)."""
    stmt = select(deployments.c.name, deployments.c.project_id, deployments.c.plan)
    if project_id is not None:
        stmt = stmt.where(deployments.c.project_id == project_id)
    return [
        (row.name, row.project_id, model, ref)
        for row in conn.execute(stmt.order_by(deployments.c.name))
        for model, ref in plan_refs(row.plan)
    ]


def held_by_deployments(conn: Connection) -> set[str]:
    """The ids of the versions any deployment's current plan routes to (live or shadow,
    by number or through an alias, resolved now)."""
    by_project: dict[str, set[tuple[str, str]]] = {}
    for _, project_id, model, ref in _routes(conn):
        by_project.setdefault(project_id, set()).add((model, ref))
    return {
        found.version_id
        for project_id, refs in by_project.items()
        for found in resolve_refs(conn, project_id, refs).values()
    }


def _project_id(conn: Connection, project: str) -> str:
    return str(conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar_one())


def _names(found: Iterable[str]) -> str:
    return ", ".join(sorted(set(found)))


def check_status_change(
    conn: Connection, project: str, model: str, version: int, version_id: str, to: str
) -> None:
    """Conflict naming the deployments when a version their plans route to would move to
    a status that may not take traffic (archived, retired, or any the policy leaves out)."""
    if to in serving_statuses(conn, project, model):
        return
    project_id = _project_id(conn, project)
    mine = [(d, m, r) for d, _, m, r in _routes(conn, project_id) if m == model]
    resolved = resolve_refs(conn, project_id, {(m, r) for _, m, r in mine})
    holding = [
        d for d, m, r in mine if (got := resolved.get((m, r))) and got.version_id == version_id
    ]
    if holding:
        raise Conflict(
            f"model version {project}/{model}/{version} takes traffic in deployment(s) "
            f"{_names(holding)}: change their plans before it is {to}",
            field="version",
        )


def check_alias_move(
    conn: Connection, project: str, model: str, alias: str, version: int, status: str
) -> None:
    """PolicyViolation when deployments route through ``model@alias`` and the version it
    would move to may not take traffic."""
    allowed = serving_statuses(conn, project, model)
    if status in allowed:
        return
    holding = [
        d for d, _, m, r in _routes(conn, _project_id(conn, project)) if (m, r) == (model, alias)
    ]
    if holding:
        raise PolicyViolation(
            f"deployment(s) {_names(holding)} route traffic through {model}@{alias}, and "
            f"model version {project}/{model}/{version} is {status}: only versions that "
            f"are {' or '.join(allowed) or 'nothing'} may take traffic",
            field="version",
        )


def check_alias_removal(conn: Connection, project: str, model: str, alias: str) -> None:
    """Conflict naming the deployments that route through ``model@alias``."""
    holding = [
        d for d, _, m, r in _routes(conn, _project_id(conn, project)) if (m, r) == (model, alias)
    ]
    if holding:
        raise Conflict(
            f"deployment(s) {_names(holding)} route traffic through {model}@{alias}: change "
            "their plans before the alias is removed",
            field="alias",
        )


def check_serving_policy(
    conn: Connection, project: str, model: str | None, serving: tuple[str, ...]
) -> None:
    """Conflict naming a deployment whose plan routes to a version that a new policy's
    ``serving`` would leave out (of model ``model``, or of every model that the project's
    policy governs when None)."""
    project_id = _project_id(conn, project)

    def governed(m: str) -> bool:
        if model is not None:
            return m == model
        return effective_policy(conn, project, m).scope != "model"

    routes = [(d, m, r) for d, _, m, r in _routes(conn, project_id) if governed(m)]
    resolved = resolve_refs(conn, project_id, {(m, r) for _, m, r in routes})
    for deployment, m, r in routes:
        found = resolved.get((m, r))
        if found is not None and found.status not in serving:
            raise Conflict(
                f"deployment {deployment} routes traffic to model version "
                f"{project}/{m}/{found.version}, which is {found.status}: the policy's serving "
                f"({', '.join(serving) or 'none'}) would leave it out; change the plan first",
                field="serving",
            )
