"""How many children each run of a page has (the runs table's toggles): one grouped
count for the page, direct children only, deleted children left out, within the
project and only for someone who may view it."""

from __future__ import annotations

import pytest

from modelyard.errors import NotFound
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.store import Store
from modelyard.tracking.service import TrackingService
from service_support import project_service, tracking_service


@pytest.fixture
def tracking(store: Store) -> TrackingService:
    project_service(store).create("p")
    project_service(store).create("q")
    return tracking_service(store)


def test_direct_children_are_counted_and_deleted_ones_left_out(
    tracking: TrackingService,
) -> None:
    parent = tracking.create_run("p", name="sweep")
    kids = [tracking.create_run("p", name=f"t{i}", parent_id=parent.id) for i in range(3)]
    tracking.create_run("p", name="grandchild", parent_id=kids[0].id)
    gone = tracking.create_run("p", name="gone", parent_id=parent.id)
    tracking.delete_run(gone.id)
    lone = tracking.create_run("p", name="lone")

    ids = [parent.id, lone.id, *(k.id for k in kids)]
    assert tracking.child_counts("p", ids) == {parent.id: 3, kids[0].id: 1}
    assert tracking.child_counts("p", []) == {}


def test_more_ids_than_one_chunk_are_all_counted(tracking: TrackingService) -> None:
    parent = tracking.create_run("p")
    tracking.create_run("p", parent_id=parent.id)
    many = [f"{i:032x}" for i in range(1200)] + [parent.id]  # past two chunks of 500
    assert tracking.child_counts("p", many) == {parent.id: 1}


def test_children_are_counted_only_in_the_project_asked(tracking: TrackingService) -> None:
    parent = tracking.create_run("p")
    tracking.create_run("p", parent_id=parent.id)
    assert tracking.child_counts("q", [parent.id]) == {}
    with pytest.raises(NotFound):
        tracking.child_counts("nope", [parent.id])


def test_only_someone_who_may_view_the_project_gets_counts(
    store: Store, tracking: TrackingService
) -> None:
    parent = tracking.create_run("p")
    tracking.create_run("p", parent_id=parent.id)
    gov = Governance(store)
    for name, project in (("vic", "p"), ("olga", "q")):
        gov.users.create_service_account(name, actor=SYSTEM)
        gov.roles.grant(project, name, "viewer", actor=SYSTEM)
    as_user = {
        name: tracking.acting_as(Actor.of(gov.users.get_user(name).principal()))
        for name in ("vic", "olga")
    }
    assert as_user["vic"].child_counts("p", [parent.id]) == {parent.id: 1}
    with pytest.raises(NotFound):  # another project's viewer: as if it did not exist
        as_user["olga"].child_counts("p", [parent.id])
