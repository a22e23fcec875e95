"""The lineage service writes a run's edges with a role check and an audit event."""

from __future__ import annotations

import pytest

from modelyard.config import Settings
from modelyard.errors import NotFound, PermissionDenied
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.lineage.edges import ARTIFACT, INPUT, RUN
from modelyard.sdk.client import Client


@pytest.fixture
def settings(embedded_settings: Settings) -> Settings:
    return embedded_settings


def test_recording_a_runs_edges_needs_contributor_and_is_audited(settings: Settings) -> None:
    with Client(settings) as client:
        run = client.tracking.create_run("lab")
        services = client.services
        gov = Governance(services.store)
        viewer = gov.users.create_service_account("viewer", actor=SYSTEM)
        writer = gov.users.create_service_account("writer", actor=SYSTEM)
        outsider = gov.users.create_service_account("outsider", actor=SYSTEM)
        gov.roles.grant("lab", "viewer", "viewer", actor=SYSTEM)
        gov.roles.grant("lab", "writer", "contributor", actor=SYSTEM)
        edge = ((ARTIFACT, "a" * 64), (RUN, run.id), INPUT)

        as_viewer = services.lineage.acting_as(Actor.of(viewer.principal()))
        with pytest.raises(PermissionDenied), services.store.write() as conn:
            as_viewer.record_run_edges(conn, run.id, [edge])
        as_outsider = services.lineage.acting_as(Actor.of(outsider.principal()))
        with pytest.raises(NotFound), services.store.write() as conn:
            as_outsider.record_run_edges(conn, run.id, [edge])
        assert services.lineage.edges(RUN, run.id) == []

        as_writer = services.lineage.acting_as(Actor.of(writer.principal()))
        with services.store.write() as conn:
            as_writer.record_run_edges(conn, run.id, [edge])
        assert [(e.source_id, e.relation) for e in services.lineage.edges(RUN, run.id)] == [
            ("a" * 64, INPUT)
        ]
        events = gov.audit.list_events(actor=SYSTEM, limit=1000)
        recorded = [e for e in events if e.action == "lineage.recorded"]
        assert [(e.actor, e.object_id) for e in recorded] == [("writer", run.id)]
