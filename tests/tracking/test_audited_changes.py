"""Tracking changes are audit events written in the same transaction as the change: a
change that fails leaves no event, an event names the actor, and a signed-in principal's
project role is checked first."""

from __future__ import annotations

import pytest

from modelyard.errors import NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.store import Store
from service_support import project_service, tracking_service


def _actions(gov: Governance) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["summary"]) for e in gov.audit.export(actor=SYSTEM)]


def test_changes_are_audited_with_their_actor(store: Store) -> None:
    gov = Governance(store)
    tracking = tracking_service(store, Actor("local:ops"))
    run = tracking.create_run("p", name="r")
    tracking.end_run(run.id, "finished")
    tracking.resume_run(run.id)
    tracking.record_artifact(run.id, "model.pkl", "ab" * 32, "file", 10)
    tracking.delete_run(run.id)
    assert _actions(gov) == [
        ("local:ops", "project.created", "project created"),
        ("local:ops", "run.created", "run r in project p"),
        ("local:ops", "run.ended", "run ended: finished"),
        ("local:ops", "run.resumed", "run resumed (was finished)"),
        ("local:ops", "artifact.stored", "file model.pkl (10 bytes)"),
        ("local:ops", "run.deleted", "run deleted with 0 child run(s)"),
    ]
    assert gov.audit.verify(actor=SYSTEM).ok


def test_a_failed_change_leaves_no_event(store: Store) -> None:
    gov = Governance(store)
    tracking = tracking_service(store)
    project_service(store).create("p")
    before = _actions(gov)
    with pytest.raises(NotFound):
        tracking.create_run("p", parent_id="f" * 32)
    with pytest.raises(NotFound):
        tracking.end_run("e" * 32, "finished")
    assert _actions(gov) == before


def test_a_principal_needs_the_role_and_the_store_is_untouched(store: Store) -> None:
    gov = Governance(store)
    gov.users.create_service_account("ann", actor=SYSTEM)
    gov.users.create_service_account("ben", actor=SYSTEM)
    ann = Actor.of(gov.users.get_user("ann").principal())
    ben = Actor.of(gov.users.get_user("ben").principal())
    as_ann = tracking_service(store).acting_as(ann)
    run = as_ann.create_run("ann-project")  # creates the project: ann is its admin
    assert gov.roles.role_of(ann.principal, "ann-project").value == "admin"  # type: ignore[arg-type]

    as_ben = as_ann.acting_as(ben)
    events = len(_actions(gov))
    with pytest.raises(PermissionDenied):
        as_ben.create_run("ann-project")
    for attempt in (  # ben has no role there: as if nothing were there
        lambda: as_ben.get_run(run.id),
        lambda: as_ben.end_run(run.id, "failed"),
        lambda: as_ben.delete_run(run.id, permanent=True),
        lambda: as_ben.search_runs("ann-project"),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert len(_actions(gov)) == events
    assert as_ben.projects.list_projects() == []
    assert as_ann.get_run(run.id).status == "running"
