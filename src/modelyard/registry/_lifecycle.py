"""A version's status and its changes through policy gates (the rules behind
:class:`~modelyard.registry.service.ModelService`'s ``request_transition``, ``approve``,
``reject``, ``get_policy`` and ``set_policy``).

A status change is a request, judged against the gate of its target status in the
model's policy (the model's own, else its project's, else none): every rule but the
approvals must pass when it is made, or it is refused (kept as ``refused``, with each
failed rule, its observed value and its bound, and :class:`PolicyViolation` names them
all). A request that needs approvals stays ``open``; each approval or rejection comes from
an approver who is not the requester, and once enough approvals are in and every rule
still passes the status changes, in the transaction of the last approval. Every request,
decision and change is an audit event in its own transaction.

:func:`change_status` is the one place a version's status changes
(``ModelService.change_status``, which the retirement policies use too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from modelyard._util import new_id, now_ms
from modelyard.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyViolation
from modelyard.events import kinds as event_kinds
from modelyard.governance.roles import Role
from modelyard.lineage.edges import MODEL_VERSION
from modelyard.registry._rows import hydrate_versions, version_select
from modelyard.registry.alerts import CRITICAL, unresolved_alerts
from modelyard.registry.cards import filled_fields
from modelyard.registry.entities import Decision, ModelVersion, RuleCheck, TransitionRequest
from modelyard.registry.policy import RETIRED, ModelPolicy, Policy, check_transition
from modelyard.store.tables import (
    dataset_reports,
    dataset_versions,
    datasets,
    model_aliases,
    model_evaluations,
    model_policies,
    model_transition_decisions,
    model_transition_requests,
    model_versions,
    projects,
    registered_models,
)

if TYPE_CHECKING:
    from modelyard.artifacts import BlobStore
    from modelyard.governance.access import Access
    from modelyard.registry.service import ModelService

__all__ = ["change_status"]

MODEL = "model"
OPEN = "open"
APPLIED = "applied"
REJECTED = "rejected"
REFUSED = "refused"
APPROVE = "approve"
REJECT = "reject"


def change_status(
    conn: Connection,
    access: Access,
    version: ModelVersion,
    to: str,
    reason: str,
    at: int | None = None,
) -> None:
    """Move ``version`` from the status it had when read to ``to`` (a legal move), in the
    caller's transaction, with its audit event; Conflict if its status changed since. A
    retired version keeps when (``at``, else now): its files' retention runs from then."""
    what = f"model version {version.project}/{version.ref}"
    check_transition(version.status, to, what)
    values: dict[str, Any] = {"status": to}
    if to == RETIRED:
        values["retired_at"] = at if at is not None else now_ms()
    moved = conn.execute(
        update(model_versions)
        .where(model_versions.c.id == version.id, model_versions.c.status == version.status)
        .values(**values)
    ).rowcount
    if moved != 1:
        raise Conflict(f"{what} changed status meanwhile; ask again", field="version")
    access.record(
        conn,
        "model.status_changed",
        MODEL_VERSION,
        version.id,
        f"{version.project}/{version.ref}: {version.status} -> {to} ({reason})",
    )


# -- policies ------------------------------------------------------------------------------


def _project_id(conn: Connection, project: str) -> str:
    found = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
    assert found is not None  # the caller checked the project
    return str(found)


def effective_policy(conn: Connection, project: str, name: str | None) -> ModelPolicy:
    """The policy in force for model ``name`` (its own, else the project's, else none), or
    the project's when ``name`` is None."""
    project_id = _project_id(conn, project)
    for scope, key in (("model", name), ("project", "")):
        if key is None:
            continue
        row = conn.execute(
            select(model_policies).where(
                model_policies.c.project_id == project_id, model_policies.c.model == key
            )
        ).first()
        if row is not None:
            return ModelPolicy(
                project,
                name,
                scope,
                Policy.from_dict(json.loads(row.spec)),
                row.source,
                row.updated_by,
                row.updated_at,
            )
    return ModelPolicy(project, name, "none", Policy(), "", None, None)


def set_policy(
    svc: ModelService, policy: Policy | dict[str, Any] | str, project: str, name: str | None
) -> ModelPolicy:
    from modelyard.registry._deployed import check_serving_policy

    parsed = Policy.parse(policy)
    source = policy if isinstance(policy, str) else parsed.to_yaml()
    with svc.store.write() as conn:
        if name is not None:
            svc._model(conn, project, name)
        else:
            svc._project_visible(conn, project)
        svc.access.require(conn, project, Role.ADMIN)
        check_serving_policy(conn, project, name, parsed.serving)
        conn.execute(
            svc.store.upsert_stmt(
                model_policies,
                ["project_id", "model"],
                ["source", "spec", "updated_by", "updated_at"],
            ),
            {
                "project_id": _project_id(conn, project),
                "model": name or "",
                "source": source,
                "spec": json.dumps(parsed.to_dict(), sort_keys=True),
                "updated_by": svc._who(),
                "updated_at": now_ms(),
            },
        )
        target = f"{project}/{name}" if name is not None else project
        svc.access.record(
            conn, "model.policy_set", MODEL if name else "project", target, f"policy of {target}"
        )
        return effective_policy(conn, project, name)


# -- judging a gate --------------------------------------------------------------------------


def _latest_evaluation(conn: Connection, version_id: str, source: str | None = None) -> Any:
    stmt = select(model_evaluations).where(model_evaluations.c.version_id == version_id)
    if source is not None:
        stmt = stmt.where(model_evaluations.c.source == source)
    return conn.execute(
        stmt.order_by(model_evaluations.c.created_at.desc(), model_evaluations.c.id.desc()).limit(1)
    ).first()


def _num(value: float) -> str:
    return f"{value:.6g}"


def judge(
    conn: Connection,
    blobs: BlobStore,
    version: ModelVersion,
    model_id: str,
    policy: Policy,
    to: str,
    approvals: int,
) -> list[RuleCheck]:
    """Every rule of the gate to ``to``, judged for ``version`` now."""
    gate = policy.gate(to)
    checks: list[RuleCheck] = []
    latest = _latest_evaluation(conn, version.id)
    if gate.metrics:
        evaluated = json.loads(latest.metrics) if latest is not None else {}
        values = {**version.metrics, **evaluated}
        for rule in gate.metrics:
            value = values.get(rule.metric)
            for bound, sign in (("min", ">="), ("max", "<=")):
                limit = getattr(rule, bound)
                if limit is None:
                    continue
                name = f"metrics.{rule.metric}.{bound}"
                if value is None:
                    checks.append(RuleCheck(name, False, "no value", f"{sign} {_num(limit)}"))
                    continue
                passed = value >= limit if bound == "min" else value <= limit
                checks.append(RuleCheck(name, passed, _num(value), f"{sign} {_num(limit)}"))
            if rule.relative:
                checks += _relative(conn, blobs, version, model_id, policy.champion, rule, latest)
    if gate.evaluation:
        checks.append(_evaluation_check(blobs, latest))
    if gate.data_validation:
        checks += _validation_checks(conn, blobs, version)
    if gate.card_fields:
        fields = filled_fields(conn, version.id)
        for field in gate.card_fields:
            filled = bool(fields.get(field, "").strip())
            observed = "filled" if filled else "empty"
            checks.append(RuleCheck(f"card_fields.{field}", filled, observed, "filled"))
    if gate.no_critical_alerts:
        found = unresolved_alerts(
            conn, [(MODEL, model_id), (MODEL_VERSION, version.id)], severity=CRITICAL
        )
        observed = (
            f"{len(found)} unresolved critical ({', '.join(sorted({a.monitor for a in found}))})"
            if found
            else "0"
        )
        checks.append(RuleCheck("no_critical_alerts", not found, observed, "0 critical alerts"))
    if gate.approvals:
        checks.append(
            RuleCheck(
                "approvals",
                approvals >= gate.approvals,
                str(approvals),
                f">= {gate.approvals} from approvers other than the requester",
            )
        )
    return checks


def _relative(
    conn: Connection,
    blobs: BlobStore,
    version: ModelVersion,
    model_id: str,
    alias: str,
    rule: Any,
    latest: Any,
) -> list[RuleCheck]:
    bounds = [
        (f"metrics.{rule.metric}.{b}", b, getattr(rule, b))
        for b in ("min_delta", "max_delta")
        if getattr(rule, b) is not None
    ]

    def text(bound: str, limit: float) -> str:
        sign = ">=" if bound == "min_delta" else "<="
        return f"{sign} {limit:+.6g} against {alias}"

    champion = conn.execute(
        select(model_versions.c.id, model_versions.c.version)
        .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
        .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
    ).first()
    if champion is None or champion.id == version.id:
        why = f"no {alias} to compare with" if champion is None else f"this version is {alias}"
        return [RuleCheck(n, True, why, text(b, lim)) for n, b, lim in bounds]
    if latest is None:
        return [RuleCheck(n, False, "no evaluation kept", text(b, lim)) for n, b, lim in bounds]
    theirs = _latest_evaluation(conn, champion.id, latest.source)
    if theirs is not None:
        base = json.loads(theirs.metrics).get(rule.metric)
    elif latest.baseline_version_id == champion.id:  # compared on the same rows
        report = json.loads(blobs.get_bytes(latest.data_digest))
        compared = (report.get("comparison") or {}).get("metrics", {})
        base = compared.get(rule.metric, {}).get("baseline")
    else:
        data = latest.source or "the same data"
        why = f"{alias} (version {champion.version}) has no evaluation on {data}"
        return [RuleCheck(n, False, why, text(b, lim)) for n, b, lim in bounds]
    mine = json.loads(latest.metrics).get(rule.metric)
    if mine is None or base is None:
        return [RuleCheck(n, False, "no value", text(b, lim)) for n, b, lim in bounds]
    delta = mine - base
    observed = f"{delta:+.6g} ({_num(mine)} against {_num(base)} of version {champion.version})"
    return [
        RuleCheck(n, delta >= lim if b == "min_delta" else delta <= lim, observed, text(b, lim))
        for n, b, lim in bounds
    ]


def _evaluation_check(blobs: BlobStore, latest: Any) -> RuleCheck:
    bound = "an evaluation kept, no metric worse than its baseline"
    if latest is None:
        return RuleCheck("evaluation", False, "none kept", bound)
    report = json.loads(blobs.get_bytes(latest.data_digest))
    compared = (report.get("comparison") or {}).get("metrics", {})
    worse = sorted(m for m, c in compared.items() if c.get("verdict") == "worse")
    if worse:
        return RuleCheck(
            "evaluation", False, f"worse than its baseline on {', '.join(worse)}", bound
        )
    return RuleCheck("evaluation", True, f"kept on {latest.rows} rows", bound)


def _validation_checks(
    conn: Connection, blobs: BlobStore, version: ModelVersion
) -> list[RuleCheck]:
    bound = "its latest validation passed"
    if not version.dataset_versions:
        return [RuleCheck("data_validation", False, "no training dataset versions recorded", bound)]
    checks = []
    for dataset_version in version.dataset_versions:
        row = conn.execute(
            select(datasets.c.name, dataset_versions.c.version)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(dataset_versions.c.id == dataset_version)
        ).first()
        label = f"{row.name}/{row.version}" if row is not None else dataset_version
        digest = conn.execute(
            select(dataset_reports.c.data_digest)
            .where(
                dataset_reports.c.version_id == dataset_version,
                dataset_reports.c.kind == "validation",
            )
            .order_by(dataset_reports.c.created_at.desc(), dataset_reports.c.id)
            .limit(1)
        ).scalar()
        name = f"data_validation.{label}"
        if digest is None:
            checks.append(RuleCheck(name, False, "not validated", bound))
            continue
        report = json.loads(blobs.get_bytes(digest))
        failed = sum(
            1
            for r in report.get("results", [])
            if not r.get("passed") and r.get("severity") == "critical"
        )
        ok = bool(report.get("ok"))
        observed = "passed" if ok else f"{failed} critical expectation(s) failed"
        checks.append(RuleCheck(name, ok, observed, bound))
    return checks


# -- requests ---------------------------------------------------------------------------------


def request_select() -> Any:
    return (
        select(
            model_transition_requests,
            model_versions.c.version,
            model_versions.c.model_id,
            registered_models.c.name.label("model_name"),
            projects.c.name.label("project"),
        )
        .join(model_versions, model_versions.c.id == model_transition_requests.c.version_id)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .join(projects, projects.c.id == registered_models.c.project_id)
    )


def hydrate_request(conn: Connection, row: Any) -> TransitionRequest:
    decisions = conn.execute(
        select(model_transition_decisions)
        .where(model_transition_decisions.c.request_id == row.id)
        .order_by(model_transition_decisions.c.decided_at, model_transition_decisions.c.decided_by)
    ).all()
    return TransitionRequest(
        id=row.id,
        project=row.project,
        name=row.model_name,
        version=row.version,
        from_status=row.from_status,
        to_status=row.to_status,
        comment=row.comment,
        state=row.state,
        approvals_needed=row.approvals_needed,
        checks=[RuleCheck(**c) for c in json.loads(row.checks)],
        decisions=[Decision(d.decided_by, d.decision, d.comment, d.decided_at) for d in decisions],
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        closed_at=row.closed_at,
    )


def _refusal(request: TransitionRequest) -> PolicyViolation:
    failed = [c for c in request.failures if c.rule != "approvals"]
    lines = "\n".join(f"- {c.describe()}" for c in failed)
    return PolicyViolation(
        f"the policy refuses moving {request.project}/{request.name}/{request.version} from "
        f"{request.from_status} to {request.to_status}: {len(failed)} rule(s) failed "
        f"(request {request.id})\n{lines}",
        field=failed[0].rule,
    )


def _checks_json(checks: list[RuleCheck]) -> str:
    return json.dumps([c.as_dict() for c in checks])


def request_transition(
    svc: ModelService,
    version: ModelVersion,
    to: object,
    comment: str,
    *,
    guard: Callable[[Connection, ModelVersion, str], None] | None = None,
) -> TransitionRequest:
    """Judge and record a request to move ``version`` to ``to`` (applied at once when no
    approvals are needed). ``guard(conn, current, to)`` runs under the model's lock on the
    version as it is then, before anything is recorded: what it raises refuses the
    request."""
    refused: TransitionRequest | None = None
    with svc.store.write() as conn:
        row = svc._locked(conn, version.project, version.name)
        current = hydrate_versions(
            conn, [conn.execute(version_select().where(model_versions.c.id == version.id)).one()]
        )[0]
        what = f"model version {current.project}/{current.ref}"
        target = check_transition(current.status, to, what)
        if guard is not None:
            guard(conn, current, target)
        pending = conn.execute(
            select(model_transition_requests.c.id, model_transition_requests.c.to_status).where(
                model_transition_requests.c.version_id == current.id,
                model_transition_requests.c.state == OPEN,
            )
        ).first()
        if pending is not None:
            raise Conflict(
                f"{what} has an open request {pending.id} to move to {pending.to_status}; "
                "approve or reject it first",
                field="version",
            )
        policy = effective_policy(conn, current.project, current.name).policy
        checks = judge(conn, svc.blobs, current, row.id, policy, target, 0)
        failed = [c for c in checks if not c.passed and c.rule != "approvals"]
        needed = policy.gate(target).approvals
        state = REFUSED if failed else (OPEN if needed else APPLIED)
        request_id = new_id()
        now = now_ms()
        conn.execute(
            model_transition_requests.insert().values(
                id=request_id,
                version_id=current.id,
                from_status=current.status,
                to_status=target,
                comment=comment,
                state=state,
                approvals_needed=needed,
                checks=_checks_json(checks),
                requested_by=svc._who(),
                requested_at=now,
                closed_at=None if state == OPEN else now,
            )
        )
        svc.access.record(
            conn,
            "model.transition_requested" if not failed else "model.transition_refused",
            MODEL_VERSION,
            current.id,
            f"{current.project}/{current.ref}: {current.status} -> {target} (request "
            f"{request_id}, {state}){': ' + comment if comment else ''}",
        )
        svc._emit(
            conn,
            current.project,
            event_kinds.TRANSITION_REQUESTED,
            {
                "model": current.name,
                "version": current.version,
                "version_id": current.id,
                "request_id": request_id,
                "from_status": current.status,
                "to_status": target,
                "state": state,
                "requested_by": svc._who(),
                "comment": comment,
            },
        )
        if state == APPLIED:
            svc.change_status(conn, current, target, reason=f"request {request_id}")
        found = hydrate_request(
            conn,
            conn.execute(
                request_select().where(model_transition_requests.c.id == request_id)
            ).one(),
        )
        if failed:
            refused = found
    if refused is not None:
        raise _refusal(refused)
    return found


def _request_row(svc: ModelService, conn: Connection, request_id: str) -> Any:
    missing = NotFound(f"status change request {request_id!r} does not exist", field="request_id")
    if not isinstance(request_id, str) or not request_id:
        raise missing
    row = conn.execute(request_select().where(model_transition_requests.c.id == request_id)).first()
    if row is None:
        raise missing
    svc.access.require(conn, row.project, Role.VIEWER, hidden=missing)
    return row


def get_request(svc: ModelService, request_id: str) -> TransitionRequest:
    with svc.store.read() as conn:
        return hydrate_request(conn, _request_row(svc, conn, request_id))


def decide(svc: ModelService, request_id: str, decision: str, comment: str) -> TransitionRequest:
    """An approver's approval or rejection of an open request; applies the change when
    it is the last approval needed and every rule passes."""
    with svc.store.write() as conn:
        row = _request_row(svc, conn, request_id)
        svc.access.require(conn, row.project, Role.APPROVER)
        svc._locked(conn, row.project, row.model_name)
        row = _request_row(svc, conn, request_id)  # as it is now, under the model's lock
        who = svc._who()
        if row.requested_by == who:
            raise PermissionDenied(
                f"separation of duties: {who} requested this change (request {row.id}) and "
                f"may not {decision} it; another approver must"
            )
        if row.state != OPEN:
            raise Conflict(f"request {row.id} is {row.state}, not open", field="request_id")
        earlier = conn.execute(
            select(model_transition_decisions.c.decision).where(
                model_transition_decisions.c.request_id == row.id,
                model_transition_decisions.c.decided_by == who,
            )
        ).scalar()
        if earlier is not None:
            raise Conflict(
                f"{who} already decided on request {row.id} ({earlier})", field="request_id"
            )
        now = now_ms()
        conn.execute(
            model_transition_decisions.insert().values(
                request_id=row.id,
                decided_by=who,
                decision=decision,
                comment=comment,
                decided_at=now,
            )
        )
        ref = f"{row.project}/{row.model_name}/{row.version}"
        svc.access.record(
            conn,
            "model.transition_approved" if decision == APPROVE else "model.transition_rejected",
            MODEL_VERSION,
            row.version_id,
            f"{ref}: {row.from_status} -> {row.to_status} (request {row.id})"
            f"{': ' + comment if comment else ''}",
        )
        approved = decision == APPROVE
        svc._emit(
            conn,
            row.project,
            event_kinds.TRANSITION_APPROVED if approved else event_kinds.TRANSITION_REJECTED,
            {
                "model": row.model_name,
                "version": row.version,
                "version_id": row.version_id,
                "request_id": row.id,
                "to_status": row.to_status,
                ("approved_by" if approved else "rejected_by"): who,
                "comment": comment,
            },
        )
        values: dict[str, Any]
        if decision == REJECT:
            values = {"state": REJECTED, "closed_at": now}
        else:
            version = hydrate_versions(
                conn,
                [conn.execute(version_select().where(model_versions.c.id == row.version_id)).one()],
            )[0]
            approvals = conn.execute(
                select(model_transition_decisions.c.decided_by).where(
                    model_transition_decisions.c.request_id == row.id,
                    model_transition_decisions.c.decision == APPROVE,
                )
            ).all()
            policy = effective_policy(conn, row.project, row.model_name).policy
            checks = judge(
                conn, svc.blobs, version, row.model_id, policy, row.to_status, len(approvals)
            )
            values = {"checks": _checks_json(checks)}
            if len(approvals) >= row.approvals_needed and all(c.passed for c in checks):
                if version.status != row.from_status:
                    raise Conflict(
                        f"model version {ref} is {version.status} now, not {row.from_status}: "
                        "reject this request and ask again",
                        field="request_id",
                    )
                svc.change_status(conn, version, row.to_status, reason=f"request {row.id}")
                values |= {"state": APPLIED, "closed_at": now}
        conn.execute(
            update(model_transition_requests)
            .where(model_transition_requests.c.id == row.id)
            .values(**values)
        )
        return hydrate_request(
            conn,
            conn.execute(request_select().where(model_transition_requests.c.id == row.id)).one(),
        )


def list_requests(
    svc: ModelService, project: str, name: str, version: int | None, state: str | None
) -> list[TransitionRequest]:
    if state is not None and state not in (OPEN, APPLIED, REJECTED, REFUSED):
        raise InvalidInput(
            f"state must be one of {OPEN}, {APPLIED}, {REJECTED}, {REFUSED}", field="state"
        )
    with svc.store.read() as conn:
        model = svc._model(conn, project, name)
        stmt = request_select().where(model_versions.c.model_id == model.id)
        if version is not None:
            stmt = stmt.where(model_versions.c.version == version)
        if state is not None:
            stmt = stmt.where(model_transition_requests.c.state == state)
        rows = conn.execute(
            stmt.order_by(model_transition_requests.c.requested_at, model_transition_requests.c.id)
        ).all()
        return [hydrate_request(conn, r) for r in rows]
