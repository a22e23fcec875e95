"""Other users' runs: reopening a run (resume) and writing to, ending or adding a child
under a lost one are its owner's acts or an admin's; a tag changed on someone else's run
is audited with its old value."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modelyard.errors import Conflict, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.store import Store
from modelyard.tracking._buffer import Batch
from modelyard.tracking.service import TrackingService
from service_support import project_service, tracking_service


@dataclass
class Team:
    gov: Governance
    alice: TrackingService  # contributor, owns the runs
    bob: TrackingService  # contributor
    carol: TrackingService  # project admin
    viewer: TrackingService


@pytest.fixture
def team(store: Store) -> Team:
    gov = Governance(store)
    tracking = tracking_service(store)
    project_service(store).create("p")
    services = {}
    for name, role in (
        ("alice", "contributor"),
        ("bob", "contributor"),
        ("carol", "admin"),
        ("vic", "viewer"),
    ):
        gov.users.create_service_account(name, actor=SYSTEM)
        gov.roles.grant("p", name, role, actor=SYSTEM)
        services[name] = tracking.acting_as(Actor.of(gov.users.get_user(name).principal()))
    return Team(gov, services["alice"], services["bob"], services["carol"], services["vic"])


def _events(gov: Governance, action: str) -> list[tuple[str, str, str]]:
    return [
        (e["actor"], e["object_id"], e["summary"])
        for e in gov.audit.export(actor=SYSTEM)
        if e["action"] == action
    ]


@pytest.mark.parametrize("status", ["finished", "failed", "killed"])
def test_resume_is_the_owners_or_an_admins(team: Team, status: str) -> None:
    run = team.alice.create_run("p", name="mine")
    team.alice.end_run(run.id, status)
    with pytest.raises(PermissionDenied, match="only its owner or an admin of project p"):
        team.bob.resume_run(run.id)
    with pytest.raises(PermissionDenied):
        team.viewer.resume_run(run.id)
    assert team.alice.get_run(run.id).status == status

    assert team.alice.resume_run(run.id).status == "running"
    team.alice.end_run(run.id, status)
    assert team.carol.resume_run(run.id).status == "running"  # a project admin
    assert _events(team.gov, "run.resumed") == [
        ("alice", run.id, f"run resumed (was {status})"),
        ("carol", run.id, f"run resumed (was {status})"),
    ]


def test_a_lost_run_is_its_owners(team: Team, store: Store) -> None:
    run = team.alice.create_run("p", name="mine")
    assert tracking_service(store, heartbeat_timeout_s=0.0).sweep_lost() == 1  # no heartbeat
    assert team.alice.get_run(run.id).status == "lost"

    intrusion = Batch(metrics=[(run.id, "loss", 9.0, 0, 1)], heartbeats=[run.id])
    refused = team.bob.write_batch(intrusion, batch_id="bob-batch-1")
    assert isinstance(refused, Conflict) and "only its owner (alice)" in refused.message
    with pytest.raises(Conflict, match="is lost"):
        team.bob.record_artifact(run.id, "x.bin", "ab" * 32, "file", 1)
    with pytest.raises(PermissionDenied):
        team.bob.resume_run(run.id)
    with pytest.raises(Conflict, match="only its owner") as ending:  # ending closes it
        team.bob.end_run(run.id, "killed")
    assert ending.value.field == "run_id"
    with pytest.raises(Conflict, match="is lost") as child:
        team.bob.create_run("p", name="under-hers", parent_id=run.id)
    assert child.value.field == "parent_id"
    stored = team.alice.get_run(run.id)
    assert stored.status == "lost" and stored.metrics == {}

    back = Batch(metrics=[(run.id, "loss", 1.0, 0, 1)], heartbeats=[run.id])
    assert team.alice.write_batch(back, batch_id="alice-batch-1") is None
    stored = team.alice.get_run(run.id)
    assert stored.status == "running" and stored.metrics == {"loss": 1.0}


def test_tags_on_someone_elses_run_are_audited_with_the_old_value(team: Team) -> None:
    run = team.alice.create_run("p", name="mine", tags_={"stage": "draft"})
    team.alice.write_batch(Batch(tags=[(run.id, "stage", "review")]))
    assert _events(team.gov, "run.tag_set") == []  # her own run: data, not audited
    team.alice.end_run(run.id, "finished")

    team.bob.write_batch(Batch(tags=[(run.id, "stage", "rejected"), (run.id, "note", "meh")]))
    team.bob.write_batch(Batch(tags=[(run.id, "note", "meh")]))  # no change: no event
    assert team.alice.get_run(run.id).tags == {"stage": "rejected", "note": "meh"}
    assert _events(team.gov, "run.tag_set") == [
        ("bob", run.id, "tag 'note' of alice's run set to 'meh' (was unset)"),
        ("bob", run.id, "tag 'stage' of alice's run set to 'rejected' (was 'review')"),
    ]
    with pytest.raises(PermissionDenied):  # tags need the contributor role
        team.viewer.write_batch(Batch(tags=[(run.id, "stage", "gone")]))
    assert team.alice.get_run(run.id).tags["stage"] == "rejected"
    assert team.gov.audit.verify(actor=SYSTEM).ok


def test_an_operator_is_trusted_and_audited_on_others_runs(store: Store) -> None:
    ops = tracking_service(store, Actor("local:ops"))
    run = tracking_service(store, Actor("local:dana")).create_run("p", user="dana")
    ops.end_run(run.id, "failed")
    assert ops.resume_run(run.id).status == "running"
    ops.write_batch(Batch(tags=[(run.id, "k", "v")]))
    # A server without sign-in acts as "local" for every caller: no one to tell apart.
    tracking_service(store, Actor("local")).write_batch(Batch(tags=[(run.id, "k", "w")]))
    gov = Governance(store)
    assert _events(gov, "run.tag_set") == [
        ("local:ops", run.id, "tag 'k' of dana's run set to 'v' (was unset)")
    ]
