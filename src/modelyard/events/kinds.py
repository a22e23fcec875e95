"""Every event kind, in one place, with the shape of its payload.

An event is ``{"id", "kind", "project", "actor", "created_at", "payload"}``; the payload
of each kind is documented here (and in ``docs/webhooks.md``). Times are milliseconds
since the epoch; versions are numbers; ids are the store's. A service emits them with
:func:`modelyard.events.emit` in the transaction of the change.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ALIAS_DELETED",
    "ALIAS_MOVED",
    "DATASET_VERSION_CREATED",
    "EVENT_KINDS",
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
    }
)
