"""Projects through the project service (``client.projects``): the service in this process
or its remote twin, the same calls and answers; who may see, create and write in one."""

from __future__ import annotations

import pytest

from modelyard import AlreadyExists, Client, NotFound, PermissionDenied
from modelyard.config import Settings
from modelyard.governance import SYSTEM, Actor, Governance
from modelyard.projects import ProjectService
from modelyard.remote.projects import RemoteProjects
from modelyard.store import open_store


def test_create_get_ensure_and_list(client: Client) -> None:
    service = client.projects
    assert isinstance(service, RemoteProjects if client.is_remote else ProjectService)
    made = service.create("churn", "who leaves")
    assert made.name == "churn" and made.description == "who leaves"
    assert service.get("churn") == made == client.get_project("churn")
    with pytest.raises(AlreadyExists, match="project 'churn' already exists"):
        service.create("churn")
    assert service.ensure("churn") == made  # there: not made again
    assert service.ensure("vision").name == "vision"  # missing: made
    with pytest.raises(NotFound, match="project 'nope' does not exist"):
        service.get("nope")
    assert [p.name for p in service.list_projects()] == ["churn", "vision"]
    assert client.list_projects() == service.list_projects()
    with client.start_run("forecast"):  # a run's project is ensured by the project service
        pass
    assert service.get("forecast").name == "forecast"


@pytest.mark.local_only(reason="signs users in on the store; the API tests cover the wire")
def test_a_principal_sees_its_projects_only_and_creating_is_audited(settings: Settings) -> None:
    store = open_store(settings.store_url, auto_upgrade=True)
    try:
        gov = Governance(store)
        for name in ("ann", "ben"):
            gov.users.create_service_account(name, actor=SYSTEM)
        ann, ben = (Actor.of(gov.users.get_user(n).principal()) for n in ("ann", "ben"))
        with Client(settings) as client:
            service = client.projects
            assert isinstance(service, ProjectService)
            service.acting_as(ann).create("ann-project")
            assert gov.roles.projects_of(ann.principal) == {"ann-project": "admin"}  # type: ignore[arg-type]
            as_ben = service.acting_as(ben)
            assert as_ben.list_projects() == []
            with pytest.raises(NotFound, match="project 'ann-project' does not exist"):
                as_ben.get("ann-project")
            with pytest.raises(PermissionDenied, match="needs role contributor"):
                as_ben.ensure("ann-project")  # writing in it under its name: told
            gov.roles.grant("ann-project", "ben", "viewer", actor=SYSTEM)
            assert [p.name for p in as_ben.list_projects()] == ["ann-project"]
        created = [
            (e["actor"], e["object_type"], e["object_id"])
            for e in gov.audit.export(actor=SYSTEM)
            if e["action"] == "project.created"
        ]
        assert created == [("ann", "project", "ann-project")]
    finally:
        store.dispose()
