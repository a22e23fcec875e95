"""Project roles: the ordering, deny by default, global admins, managing members."""

from __future__ import annotations

import pytest
from governance_support import OPERATOR, PASSWORD

from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.governance import Actor, Governance, Role, User
from modelyard.store import Store
from service_support import project_service

ORDER = [Role.PREDICTOR, Role.VIEWER, Role.CONTRIBUTOR, Role.APPROVER, Role.ADMIN]


@pytest.fixture
def churn(store: Store) -> str:
    return project_service(store).create("churn").name


def test_roles_are_ordered() -> None:
    assert list(Role) == ORDER
    for held in ORDER:
        for needed in ORDER:
            assert held.includes(needed) is (ORDER.index(held) >= ORDER.index(needed))
    assert Role.parse("Approver") is Role.APPROVER
    with pytest.raises(
        InvalidInput, match="use one of predictor, viewer, contributor, approver, admin"
    ):
        Role.parse("owner")


@pytest.mark.parametrize("held", [None, *ORDER, "global admin"])
@pytest.mark.parametrize("needed", ORDER)
def test_role_matrix(
    gov: Governance, churn: str, alice: User, held: Role | str | None, needed: Role
) -> None:
    if held == "global admin":
        gov.users.set_admin("alice", True, actor=OPERATOR)
        allowed = True
    elif held is not None:
        gov.roles.grant(churn, "alice", held, actor=OPERATOR)
        allowed = Role(held).includes(needed)
    else:
        allowed = False
    principal = gov.users.get_user("alice").principal()
    if allowed:
        assert gov.roles.require(principal, churn, needed) is not None
        return
    with pytest.raises(PermissionDenied) as info:
        gov.roles.require(principal, churn, needed)
    has = f"has {held}" if held else "has no role there"
    assert info.value.message == f"user alice needs role {needed} on project churn ({has})"


def test_no_membership_elsewhere(gov: Governance, churn: str, alice: User, store: Store) -> None:
    project_service(store).create("vision")
    gov.roles.grant(churn, "alice", "admin", actor=OPERATOR)
    principal = alice.principal()
    assert gov.roles.role_of(principal, "vision") is None
    with pytest.raises(PermissionDenied):
        gov.roles.require(principal, "vision", Role.VIEWER)
    with pytest.raises(PermissionDenied):  # a project that does not exist reveals nothing
        gov.roles.require(principal, "secret-project", "viewer")
    assert gov.roles.projects_of(principal) == {"churn": Role.ADMIN}


def test_grant_change_list_revoke(gov: Governance, churn: str, alice: User) -> None:
    gov.users.create_user("bob", PASSWORD, actor=OPERATOR)
    member = gov.roles.grant(churn, "ALICE", Role.CONTRIBUTOR, actor=OPERATOR)
    assert (member.project, member.username, member.role, member.granted_by) == (
        "churn",
        "alice",
        Role.CONTRIBUTOR,
        "tester",
    )
    gov.roles.grant(churn, "alice", "approver", actor=OPERATOR)
    gov.roles.grant(churn, "alice", "approver", actor=OPERATOR)  # no change, no event
    gov.roles.grant(churn, "bob", "viewer", actor=OPERATOR)
    members = gov.roles.list_members(churn, actor=OPERATOR)
    assert [(m.username, m.role) for m in members] == [
        ("alice", Role.APPROVER),
        ("bob", Role.VIEWER),
    ]
    gov.roles.revoke(churn, "bob", actor=OPERATOR)
    with pytest.raises(NotFound, match="not a member"):
        gov.roles.revoke(churn, "bob", actor=OPERATOR)
    assert [m.username for m in gov.roles.list_members(churn, actor=OPERATOR)] == ["alice"]
    events = [e for e in gov.audit.export(actor=OPERATOR) if e["action"].startswith("role.")]
    assert [(e["action"], e["object_id"], e["summary"]) for e in events] == [
        ("role.granted", "churn", "alice granted contributor"),
        ("role.granted", "churn", "alice granted contributor -> approver"),
        ("role.granted", "churn", "bob granted viewer"),
        ("role.revoked", "churn", "bob lost viewer"),
    ]


def test_only_project_admins_manage_members(gov: Governance, churn: str, alice: User) -> None:
    bob = gov.users.create_user("bob", PASSWORD, actor=OPERATOR)
    carol = gov.users.create_user("carol", PASSWORD, actor=OPERATOR)
    gov.roles.grant(churn, "alice", "admin", actor=OPERATOR)
    gov.roles.grant(churn, "bob", "approver", actor=OPERATOR)
    as_bob = Actor.of(bob.principal())
    with pytest.raises(PermissionDenied, match="needs role admin on project churn to manage"):
        gov.roles.grant(churn, "carol", "viewer", actor=as_bob)
    with pytest.raises(PermissionDenied, match="needs role admin"):
        gov.roles.revoke(churn, "alice", actor=as_bob)
    gov.roles.grant(churn, "carol", "viewer", actor=Actor.of(alice.principal()))
    assert len(gov.roles.list_members(churn, actor=as_bob)) == 3
    assert len(gov.roles.list_members(churn, actor=Actor.of(carol.principal()))) == 3
    outsider = gov.users.create_user("dave", PASSWORD, actor=OPERATOR)
    as_outsider = Actor.of(outsider.principal())
    with pytest.raises(NotFound) as hidden:  # as if the project did not exist
        gov.roles.list_members(churn, actor=as_outsider)
    with pytest.raises(NotFound) as missing:
        gov.roles.list_members("nope", actor=as_outsider)
    assert hidden.value.message == missing.value.message.replace("nope", churn)
    grants = [e for e in gov.audit.export(actor=OPERATOR) if e["action"] == "role.granted"]
    assert (grants[-1]["actor"], grants[-1]["summary"]) == ("alice", "carol granted viewer")


def test_unknown_projects_and_users(gov: Governance, churn: str, alice: User) -> None:
    with pytest.raises(NotFound, match="project 'nope' does not exist"):
        gov.roles.grant("nope", "alice", "viewer", actor=OPERATOR)
    with pytest.raises(NotFound, match="user 'nobody' does not exist"):
        gov.roles.grant(churn, "nobody", "viewer", actor=OPERATOR)
    with pytest.raises(InvalidInput, match="unknown role"):
        gov.roles.grant(churn, "alice", "owner", actor=OPERATOR)
