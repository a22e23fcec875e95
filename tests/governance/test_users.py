"""Users: creation, argon2id hashes, sign-in, lock-out, disabling, password changes."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from governance_support import OPERATOR, PASSWORD, FakeClock, actions
from sqlalchemy import select

from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from modelyard.governance import Actor, Governance, ReauthRequired, User, UserService
from modelyard.store import Store
from modelyard.store.tables import users


def _hash(store: Store, username: str) -> str:
    with store.read() as conn:
        return conn.execute(
            select(users.c.password_hash).where(users.c.username == username)
        ).scalar_one()


def _fail(gov: Governance, username: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(PermissionDenied):
            gov.users.authenticate(username, "not-the-password-at-all")


def test_passwords_are_stored_as_argon2id(gov: Governance, store: Store, alice: User) -> None:
    stored = _hash(store, "alice")
    assert stored.startswith("$argon2id$v=19$")
    assert PASSWORD not in stored
    assert UserService(store).hasher.type is Type.ID  # production default


def test_create_user_rules(gov: Governance, alice: User) -> None:
    assert alice.username == "alice" and not alice.is_admin and not alice.is_service_account
    with pytest.raises(AlreadyExists):
        gov.users.create_user("ALICE", PASSWORD, actor=OPERATOR)
    with pytest.raises(InvalidInput, match="username"):
        gov.users.create_user("bad name!", PASSWORD, actor=OPERATOR)
    with pytest.raises(InvalidInput, match="email"):
        gov.users.create_user("bob", PASSWORD, actor=OPERATOR, email="not-an-email")
    with pytest.raises(InvalidInput, match="at least 12"):
        gov.users.create_user("bob", "short", actor=OPERATOR)
    assert [u.username for u in gov.users.list_users(actor=OPERATOR)] == ["alice"]
    assert actions(gov) == ["user.created"]


def test_sign_in_succeeds_and_is_recorded(gov: Governance, alice: User, clock: FakeClock) -> None:
    user = gov.users.authenticate("Alice", PASSWORD, client_addr="10.0.0.7")
    assert user.id == alice.id and user.last_login_at == clock.ms
    event = list(gov.audit.export(actor=OPERATOR))[-1]
    assert (event["action"], event["actor"], event["client_addr"]) == (
        "login.success",
        "alice",
        "10.0.0.7",
    )


def test_wrong_password_and_unknown_user_look_the_same(gov: Governance, alice: User) -> None:
    messages = []
    for username in ("alice", "nobody"):
        with pytest.raises(PermissionDenied) as info:
            gov.users.authenticate(username, "not-the-password-at-all")
        messages.append(info.value.message)
    assert messages[0] == messages[1] == "invalid username or password"
    failures = [e for e in gov.audit.export(actor=OPERATOR) if e["action"] == "login.failure"]
    assert [e["summary"] for e in failures] == [
        "sign-in failed: wrong password",
        "sign-in failed: unknown user",
    ]


@pytest.mark.parametrize("username", ["al\x00ice", "x" * 5000, "", " ", "\u202eecila"])
def test_odd_usernames_are_just_denied(gov: Governance, alice: User, username: str) -> None:
    with pytest.raises(PermissionDenied, match="invalid username or password"):
        gov.users.authenticate(username, PASSWORD)
    assert actions(gov)[-1] == "login.failure"


def test_lock_out_after_repeated_failures_then_expiry(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    _fail(gov, "alice", 5)
    with pytest.raises(PermissionDenied, match="too many failed sign-ins: try again in 15"):
        gov.users.authenticate("alice", PASSWORD)
    clock.advance(14 * 60)
    with pytest.raises(PermissionDenied, match="too many"):
        gov.users.authenticate("alice", PASSWORD)
    clock.advance(61)
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"
    assert (
        "locked for 15 minute(s) after 5 failures"
        in [e["summary"] for e in gov.audit.export(actor=OPERATOR)][-4]
    )


def test_unknown_usernames_lock_out_like_real_ones(gov: Governance) -> None:
    _fail(gov, "nobody", 5)
    with pytest.raises(PermissionDenied, match="too many"):
        gov.users.authenticate("nobody", "whatever-it-is-now")


def test_success_resets_the_count(gov: Governance, alice: User) -> None:
    _fail(gov, "alice", 4)
    gov.users.authenticate("alice", PASSWORD)
    _fail(gov, "alice", 4)
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"


def test_failures_outside_the_window_do_not_add_up(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    _fail(gov, "alice", 4)
    clock.advance(15 * 60)
    _fail(gov, "alice", 4)
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"


def test_lock_out_is_configurable_and_an_admin_can_unlock(store: Store, clock: FakeClock) -> None:
    from governance_support import cheap_hasher

    gov = Governance(store, hasher=cheap_hasher(), clock=clock, max_failures=2, lockout_s=3600)
    gov.users.create_user("alice", PASSWORD, actor=OPERATOR)
    _fail(gov, "alice", 2)
    with pytest.raises(PermissionDenied, match="try again in 60 minute"):
        gov.users.authenticate("alice", PASSWORD)
    gov.users.unlock_user("alice", actor=OPERATOR)
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"
    assert "user.unlocked" in actions(gov)


def test_disabled_users_cannot_sign_in(gov: Governance, alice: User, root: User) -> None:
    assert gov.users.disable_user("alice", actor=OPERATOR).disabled
    with pytest.raises(PermissionDenied, match="disabled"):
        gov.users.authenticate("alice", PASSWORD)
    with pytest.raises(PermissionDenied, match="invalid username or password"):
        gov.users.authenticate("alice", "not-the-password-at-all")
    assert not gov.users.enable_user("alice", actor=OPERATOR).disabled
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"
    assert actions(gov)[-3:] == ["login.failure", "user.enabled", "login.success"]


def test_service_accounts_cannot_sign_in_with_a_password(gov: Governance) -> None:
    bot = gov.users.create_service_account("ci-bot", actor=OPERATOR)
    assert bot.is_service_account
    with pytest.raises(PermissionDenied, match="invalid username or password"):
        gov.users.authenticate("ci-bot", "")


def test_change_password(gov: Governance, alice: User, root: User) -> None:
    own = Actor.of(alice.principal())
    new = "another-fine-passphrase"
    with pytest.raises(PermissionDenied, match="current password"):
        gov.users.change_password("alice", new, actor=own)
    with pytest.raises(PermissionDenied, match="current password"):
        gov.users.change_password("alice", new, actor=own, current_password="wrong-password!")
    with pytest.raises(InvalidInput, match="too weak"):
        gov.users.change_password("alice", "alice12345678", actor=own, current_password=PASSWORD)
    gov.users.change_password("alice", new, actor=own, current_password=PASSWORD)
    with pytest.raises(PermissionDenied):
        gov.users.authenticate("alice", PASSWORD)
    assert gov.users.authenticate("alice", new).username == "alice"
    third = "a-third-passphrase-9"
    as_root = Actor.of(root.principal())
    with pytest.raises(ReauthRequired, match="to change another user's password"):
        gov.users.change_password("alice", third, actor=as_root)
    gov.users.change_password("alice", third, actor=as_root, current_password=PASSWORD)
    assert gov.users.authenticate("alice", third).username == "alice"
    bob = gov.users.create_user("bob", PASSWORD, actor=OPERATOR)
    with pytest.raises(NotFound, match=r"^user 'alice' does not exist$"):  # no oracle
        gov.users.change_password("alice", new, actor=Actor.of(bob.principal()))
    assert actions(gov).count("user.password_changed") == 2


def test_hashes_are_upgraded_on_sign_in(gov: Governance, store: Store, alice: User) -> None:
    old = _hash(store, "alice")
    stronger = Governance(store, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    stronger.users.authenticate("alice", PASSWORD)
    new = _hash(store, "alice")
    assert new != old and "t=2" in new and "m=16" in new
    assert stronger.users.authenticate("alice", PASSWORD).username == "alice"


def test_the_last_administrator_stays(gov: Governance, root: User) -> None:
    with pytest.raises(Conflict, match="last active administrator"):
        gov.users.disable_user("root", actor=OPERATOR)
    with pytest.raises(Conflict, match="last active administrator"):
        gov.users.set_admin("root", False, actor=OPERATOR)
    gov.users.create_user("second", PASSWORD, actor=OPERATOR, admin=True)
    assert not gov.users.set_admin("root", False, actor=OPERATOR).is_admin
    assert gov.users.set_admin("root", True, actor=OPERATOR).is_admin
    assert actions(gov)[-2:] == ["user.admin_revoked", "user.admin_granted"]


def test_only_administrators_manage_users(gov: Governance, alice: User, root: User) -> None:
    as_alice = Actor.of(alice.principal())
    for call in (
        lambda: gov.users.create_user("mallory", PASSWORD, actor=as_alice),
        lambda: gov.users.create_service_account("bot", actor=as_alice),
        lambda: gov.users.list_users(actor=as_alice),
        lambda: gov.users.disable_user("root", actor=as_alice),
        lambda: gov.users.set_admin("alice", True, actor=as_alice),
        lambda: gov.users.unlock_user("alice", actor=as_alice),
    ):
        with pytest.raises(PermissionDenied, match="must be an administrator"):
            call()
    as_root = Actor.of(root.principal(), client_addr="192.0.2.1")
    gov.users.create_user("carol", PASSWORD, actor=as_root)
    event = list(gov.audit.export(actor=as_root))[-1]
    assert (event["actor"], event["client_addr"], event["object_id"]) == (
        "root",
        "192.0.2.1",
        "carol",
    )
