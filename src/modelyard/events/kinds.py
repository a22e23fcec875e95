"""Every event kind, in one place, with the shape of its payload.

An event is ``{"id", "kind", "project", "actor", "created_at", "payload"}``; the payload
of each kind is documented here (and in ``docs/webhooks.md``). Times are milliseconds
since the epoch; versions are numbers; ids are the store's. A service emits them with
:func:`modelyard.events.emit` in the transaction of the change.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ALERT_OPENED",
    "ALERT_RESOLVED",
    "ALIAS_DELETED",
    "ALIAS_MOVED",
    "DATASET_VERSION_CREATED",
    "DEPLOYMENT_CREATED",
    "DEPLOYMENT_DELETED",
    "DEPLOYMENT_PLAN_CHANGED",
    "DEPLOYMENT_PROMOTED",
    "DEPLOYMENT_ROLLED_BACK",
    "DEPLOYMENT_VERSION_UNHEALTHY",
    "EVENT_KINDS",
    "LOOP_FINISHED",
    "LOOP_STARTED",
    "LOOP_STEP_COMPLETED",
    "MODEL_VERSION_CREATED",
    "STATUS_CHANGED",
    "TRANSITION_APPROVED",
    "TRANSITION_REJECTED",
    "TRANSITION_REQUESTED",
    "VERSION_RETIRED",
]

MODEL_VERSION_CREATED = "model.version_created"
ALIAS_MOVED = "model.alias_moved"
ALIAS_DELETED = "model.alias_deleted"
TRANSITION_REQUESTED = "model.transition_requested"
TRANSITION_APPROVED = "model.transition_approved"
TRANSITION_REJECTED = "model.transition_rejected"
STATUS_CHANGED = "model.status_changed"
VERSION_RETIRED = "model.version_retired"
DATASET_VERSION_CREATED = "dataset.version_created"
DEPLOYMENT_CREATED = "deployment.created"
DEPLOYMENT_PLAN_CHANGED = "deployment.plan_changed"
DEPLOYMENT_PROMOTED = "deployment.promoted"
DEPLOYMENT_ROLLED_BACK = "deployment.rolled_back"
DEPLOYMENT_DELETED = "deployment.deleted"
DEPLOYMENT_VERSION_UNHEALTHY = "deployment.version_unhealthy"
ALERT_OPENED = "alert.opened"
ALERT_RESOLVED = "alert.resolved"
LOOP_STARTED = "loop.started"
LOOP_STEP_COMPLETED = "loop.step_completed"
LOOP_FINISHED = "loop.finished"

_PLAN = (
    "plan (routes and shadows, each model, ref, weight; sticky_key; strategy: single, canary or ab)"
)

#: Each kind and its payload, in words: what a subscriber receives.
EVENT_KINDS: MappingProxyType[str, str] = MappingProxyType(
    {
        MODEL_VERSION_CREATED: (
            "a model version was registered: model, version, version_id, flavor, "
            "tree_digest, run_id (or null), created_by"
        ),
        ALIAS_MOVED: (
            "an alias was set or moved: model, alias, from_version (null when it is new), "
            "to_version, moved_by, reason"
        ),
        ALIAS_DELETED: (
            "an alias was removed: model, alias, from_version, to_version (null), moved_by, reason"
        ),
        TRANSITION_REQUESTED: (
            "a status change was requested: model, version, version_id, request_id, "
            "from_status, to_status, state (open, applied at once, or refused by the "
            "policy), requested_by, comment"
        ),
        TRANSITION_APPROVED: (
            "a requested status change was approved: model, version, version_id, "
            "request_id, to_status, approved_by, comment"
        ),
        TRANSITION_REJECTED: (
            "a requested status change was rejected: model, version, version_id, "
            "request_id, to_status, rejected_by, comment"
        ),
        STATUS_CHANGED: (
            "a version's status changed: model, version, version_id, from_status, "
            "to_status, changed_by, reason"
        ),
        VERSION_RETIRED: (
            "a version was retired, by hand or by policy (after its model.status_changed): "
            "model, version, version_id, retired_by, reason"
        ),
        DATASET_VERSION_CREATED: (
            "a dataset version was registered: dataset, version, version_id, digest, rows, "
            "created_by, run_id (or null)"
        ),
        DEPLOYMENT_CREATED: (
            f"a deployment was created: deployment, deployment_id, revision (1), {_PLAN}, "
            "sample_rate, created_by"
        ),
        DEPLOYMENT_PLAN_CHANGED: (
            f"a deployment's traffic plan changed: deployment, deployment_id, revision, "
            f"{_PLAN}, rollout (or null), action (set_traffic, or step: a rollout's step), "
            "changed_by, reason"
        ),
        DEPLOYMENT_PROMOTED: (
            "a route was promoted (its version now has the alias, and the plan sends all "
            "traffic to the alias): deployment, deployment_id, revision, model, alias, "
            f"from_version, to_version, {_PLAN}, changed_by, reason"
        ),
        DEPLOYMENT_ROLLED_BACK: (
            "a deployment's plan went back to an earlier one: deployment, deployment_id, "
            f"revision, to_revision (null: all traffic to the champion route), {_PLAN}, "
            "changed_by, reason; an automatic rollback (a rollout's guard breached) has "
            "automatic true, changed_by system, guard and version_id"
        ),
        DEPLOYMENT_DELETED: (
            "a deployment was deleted: deployment, deployment_id, revision (its last), deleted_by"
        ),
        DEPLOYMENT_VERSION_UNHEALTHY: (
            "an inference server could not load a version a deployment routes to (once per "
            "incident, not per report): deployment, deployment_id, version_id, model, "
            "version, server, reason"
        ),
        ALERT_OPENED: (
            "an alert opened (a monitor's finding, a budget passed): alert_id, subject_kind "
            "(deployment, model_version or project), subject_id, subject, monitor, "
            "severity, title, details, opened_at"
        ),
        ALERT_RESOLVED: (
            "an alert was resolved, by a person or because its condition cleared: "
            "alert_id, subject_kind, subject_id, subject, monitor, severity, title, "
            "resolved_by (system when it cleared), comment, resolved_at"
        ),
        LOOP_STARTED: (
            "a closed loop started on a deployment: loop_id, deployment, trigger (kind "
            "alert, schedule or manual, with the alert's id, monitor and finding, the "
            "schedule's occurrence, or who and why), started_by"
        ),
        LOOP_STEP_COMPLETED: (
            "a loop's step ended: loop_id, deployment, step (retrain, register, evaluate, "
            "approve, canary, compare, promote, rollback), status (done or failed), detail"
        ),
        LOOP_FINISHED: (
            "a loop ended: loop_id, deployment, state (promoted, rolled_back, rejected, "
            "failed, cancelled), decision"
        ),
    }
)
