"""Retirement: the policies that archive and retire versions, a version's last load, and
which retired versions' files garbage collection may take (the rules behind
:class:`~modelyard.registry.service.ModelService`'s ``archive``, ``retire``,
``get_retirement_policy``, ``set_retirement_policy``, ``run_retirement`` and
``tree_digests``).

Every move, by hand or by a policy, is a status change request
(:func:`~modelyard.registry._lifecycle.request_transition`) judged by the model's lifecycle
policy; a policy's moves are requested by the system actor with the rule as the comment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select, update

from modelyard._util import now_ms
from modelyard.errors import Conflict, ModelyardError, PolicyViolation
from modelyard.governance.identity import SYSTEM
from modelyard.governance.roles import Role
from modelyard.registry import _lifecycle
from modelyard.registry._deployed import held_by_deployments
from modelyard.registry._rows import hydrate_versions, version_select
from modelyard.registry.policy import ARCHIVED, PRODUCTION, REGISTERED, RETIRED, STAGING
from modelyard.registry.retirement import (
    DAY_MS,
    ModelRetirementPolicy,
    RetirementMove,
    RetirementPolicy,
)
from modelyard.store.tables import (
    model_aliases,
    model_retirement_policies,
    model_transition_requests,
    model_versions,
    projects,
    registered_models,
)

if TYPE_CHECKING:
    from modelyard.registry.entities import ModelVersion
    from modelyard.registry.service import ModelService

#: A version's last load is written only when the stored one is older than this: loads
#: of a busy model cost a read, not a write each.
LOAD_RESOLUTION_MS = 3600 * 1000
PLANNED = "planned"
APPLIED = "applied"
REQUESTED = "requested"
REFUSED = "refused"
SKIPPED = "skipped"
_ARCHIVABLE = (REGISTERED, STAGING, PRODUCTION)
_RETIRABLE = (REGISTERED, ARCHIVED)


# -- policies ------------------------------------------------------------------------------


def effective_policy(conn: Connection, project: str, name: str | None) -> ModelRetirementPolicy:
    """The retirement policy in force for model ``name`` (its own, else the project's,
    else none), or the project's when ``name`` is None."""
    project_id = _lifecycle._project_id(conn, project)
    for scope, key in (("model", name), ("project", "")):
        if key is None:
            continue
        row = conn.execute(
            select(model_retirement_policies).where(
                model_retirement_policies.c.project_id == project_id,
                model_retirement_policies.c.model == key,
            )
        ).first()
        if row is not None:
            return ModelRetirementPolicy(
                project,
                name,
                scope,
                RetirementPolicy.from_dict(json.loads(row.spec)),
                row.source,
                row.updated_by,
                row.updated_at,
            )
    return ModelRetirementPolicy(project, name, "none", RetirementPolicy(), "", None, None)


def set_policy(
    svc: ModelService,
    policy: RetirementPolicy | dict[str, Any] | str,
    project: str,
    name: str | None,
) -> ModelRetirementPolicy:
    parsed = RetirementPolicy.parse(policy)
    source = policy if isinstance(policy, str) else parsed.to_yaml()
    with svc.store.write() as conn:
        if name is not None:
            svc._model(conn, project, name)
        else:
            svc._project_visible(conn, project)
        svc.access.require(conn, project, Role.ADMIN)
        conn.execute(
            svc.store.upsert_stmt(
                model_retirement_policies,
                ["project_id", "model"],
                ["source", "spec", "updated_by", "updated_at"],
            ),
            {
                "project_id": _lifecycle._project_id(conn, project),
                "model": name or "",
                "source": source,
                "spec": json.dumps(parsed.to_dict(), sort_keys=True),
                "updated_by": svc._who(),
                "updated_at": now_ms(),
            },
        )
        target = f"{project}/{name}" if name is not None else project
        svc.access.record(
            conn,
            "model.retirement_policy_set",
            _lifecycle.MODEL if name else "project",
            target,
            f"retirement policy of {target}",
        )
        return effective_policy(conn, project, name)


# -- what a policy would do -----------------------------------------------------------------


def _day(at: int) -> str:
    return datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m-%d")


def _days(value: float) -> str:
    return f"{value:g}"


def plan(
    conn: Connection, project: str, name: str | None, now: int
) -> list[tuple[ModelVersion, RetirementMove, int | None]]:
    """The moves the retirement policies of ``project`` (of model ``name`` only, when
    given) would make at time ``now``, oldest version first within each model, each with
    the version's last load as it was read."""
    stmt = version_select().where(projects.c.name == project)
    if name is not None:
        stmt = stmt.where(registered_models.c.name == name)
    rows = conn.execute(
        stmt.order_by(registered_models.c.name, model_versions.c.version.desc())
    ).all()
    ids = [r.id for r in rows]
    held = (
        held_by_deployments(conn)
        | set(
            conn.execute(
                select(model_aliases.c.version_id).where(model_aliases.c.version_id.in_(ids))
            ).scalars()
        )
        | set(
            conn.execute(
                select(model_transition_requests.c.version_id).where(
                    model_transition_requests.c.version_id.in_(ids),
                    model_transition_requests.c.state == _lifecycle.OPEN,
                )
            ).scalars()
        )
    )
    by_model: dict[str, list[Any]] = {}
    for row in rows:
        by_model.setdefault(row.model_name, []).append(row)
    found: list[tuple[ModelVersion, RetirementMove, int | None]] = []
    for model, versions in by_model.items():
        policy = effective_policy(conn, project, model).policy
        moves = []
        for rank, row in enumerate(versions):  # newest first
            if row.id in held:
                continue
            if policy.keep_last is not None and rank < policy.keep_last:
                continue
            move = _move(policy, row, now)
            if move is not None:
                moves.append((row, move))
        if moves:
            hydrated = hydrate_versions(conn, [r for r, _ in moves])
            found += [
                (version, move, row.last_loaded_at)
                for version, (row, move) in zip(hydrated, moves, strict=True)
            ][::-1]
    return found


def _move(policy: RetirementPolicy, row: Any, now: int) -> RetirementMove | None:
    """The move ``policy`` makes of the version in ``row`` (neither held nor among the
    newest kept), or None."""
    days = policy.retire_unused_after_days
    if days is not None and row.status in _RETIRABLE:
        used = row.last_loaded_at or row.created_at
        if used <= now - days * DAY_MS:
            what = (
                f"last loaded {_day(row.last_loaded_at)}"
                if row.last_loaded_at
                else f"never loaded, registered {_day(row.created_at)}"
            )
            return _planned(row, RETIRED, f"retire_unused_after_days: {_days(days)}", what)
    if row.status not in _ARCHIVABLE:
        return None
    if policy.keep_last is not None:
        return _planned(
            row,
            ARCHIVED,
            f"keep_last: {policy.keep_last}",
            f"not among the newest {policy.keep_last} versions",
        )
    days = policy.archive_unaliased_after_days
    if days is not None and row.created_at <= now - days * DAY_MS:
        return _planned(
            row,
            ARCHIVED,
            f"archive_unaliased_after_days: {_days(days)}",
            f"no alias, registered {_day(row.created_at)}",
        )
    return None


def _planned(row: Any, to: str, rule: str, detail: str) -> RetirementMove:
    return RetirementMove(
        project=row.project,
        name=row.model_name,
        version=row.version,
        from_status=row.status,
        to_status=to,
        rule=rule,
        outcome=PLANNED,
        detail=detail,
    )


def run(svc: ModelService, project: str, name: str | None, dry_run: bool) -> list[RetirementMove]:
    """The moves of the retirement policies (with ``dry_run``, only what they would be:
    viewers may ask; otherwise project admins), each made as a status change request by
    the system actor with its rule as the comment, unless an alias points at the version
    by then."""
    with svc.store.read() as conn:
        if name is not None:
            svc._model(conn, project, name)
        else:
            svc._project_visible(conn, project)
        if not dry_run:
            svc.access.require(conn, project, Role.ADMIN)
        planned = plan(conn, project, name, svc.clock())
    if dry_run:
        return [move for _, move, _ in planned]
    system = svc.acting_as(SYSTEM)
    done = []
    for version, move, loaded in planned:
        comment = f"retirement policy: {move.rule} ({move.detail})"
        guard = unaliased if move.to_status != RETIRED else _not_loaded_since(loaded)
        try:
            request = _lifecycle.request_transition(
                system, version, move.to_status, comment, guard=guard
            )
        except PolicyViolation as exc:
            done.append(_outcome(move, REFUSED, exc.message.splitlines()[0]))
            continue
        except ModelyardError as exc:
            done.append(_outcome(move, SKIPPED, exc.message))
            continue
        outcome = APPLIED if request.state == _lifecycle.APPLIED else REQUESTED
        done.append(_outcome(move, outcome, move.detail, request.id))
    return done


def unaliased(conn: Connection, version: ModelVersion, to: str) -> None:
    """Conflict if an alias points at ``version`` (read under the model's lock)."""
    if version.aliases:
        raise Conflict(
            f"model version {version.project}/{version.ref} has the alias(es) "
            f"{', '.join(version.aliases)}: move or delete them before it is {to}",
            field="version",
        )


def _not_loaded_since(seen: int | None) -> Callable[[Connection, ModelVersion, str], None]:
    """:func:`unaliased`, and Conflict if the version's last load is no longer ``seen``
    (it was loaded since the plan judged it unused)."""

    def guard(conn: Connection, version: ModelVersion, to: str) -> None:
        unaliased(conn, version, to)
        loaded = conn.execute(
            select(model_versions.c.last_loaded_at).where(model_versions.c.id == version.id)
        ).scalar()
        if loaded != seen:
            raise Conflict(
                f"model version {version.project}/{version.ref} was loaded since the "
                "retirement policy judged it unused",
                field="version",
            )

    return guard


def _outcome(
    move: RetirementMove, outcome: str, detail: str, request_id: str | None = None
) -> RetirementMove:
    return RetirementMove(
        project=move.project,
        name=move.name,
        version=move.version,
        from_status=move.from_status,
        to_status=move.to_status,
        rule=move.rule,
        outcome=outcome,
        detail=detail,
        request_id=request_id,
    )


# -- use and retention ----------------------------------------------------------------------


def record_load(svc: ModelService, version_id: str) -> None:
    """Note that the version was loaded now: a write only when the stored last load is
    older than :data:`LOAD_RESOLUTION_MS` (a read otherwise)."""
    now = svc.clock()
    stale = or_(
        model_versions.c.last_loaded_at.is_(None),
        model_versions.c.last_loaded_at < now - LOAD_RESOLUTION_MS,
    )
    with svc.store.read() as conn:
        due = conn.execute(
            select(model_versions.c.id).where(model_versions.c.id == version_id, stale)
        ).first()
    if due is not None:
        with svc.store.write() as conn:
            conn.execute(
                update(model_versions)
                .where(model_versions.c.id == version_id, stale)
                .values(last_loaded_at=now)
            )


def kept_trees(conn: Connection, now: int, retention_ms: int) -> set[str]:
    """The blob trees of every version but those garbage collection may take: retired
    more than ``retention_ms`` before ``now``, with no alias and no deployment pointing
    at them (a tree shared with a kept version is kept)."""
    rows = conn.execute(
        select(
            model_versions.c.id,
            model_versions.c.tree_digest,
            model_versions.c.status,
            model_versions.c.retired_at,
        )
    ).all()
    aliased = set(conn.execute(select(model_aliases.c.version_id)).scalars())
    deployed = held_by_deployments(conn)
    cutoff = now - retention_ms
    return {
        r.tree_digest
        for r in rows
        if not (
            r.status == RETIRED
            and r.retired_at is not None
            and r.retired_at <= cutoff
            and r.id not in aliased
            and r.id not in deployed
        )
    }
