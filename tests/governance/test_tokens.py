"""Access tokens: create, authenticate, expire, revoke, last-used, service accounts."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta

import pytest
from governance_support import OPERATOR, PASSWORD, FakeClock, actions
from sqlalchemy import select

from modelyard.errors import InvalidInput, NotFound, PermissionDenied
from modelyard.governance import Actor, Governance, Principal, User
from modelyard.store import Store
from modelyard.store.tables import access_tokens

DENIED = "invalid, expired or revoked token"


def test_token_lifecycle(gov: Governance, store: Store, alice: User, clock: FakeClock) -> None:
    new = gov.tokens.create("alice", "laptop", actor=Actor.of(alice.principal()), password=PASSWORD)
    assert re.fullmatch(r"my_pat_[0-9a-f]{16}_[a-z2-7]{52}", new.secret)
    assert new.secret not in repr(new)
    principal = gov.tokens.authenticate(new.secret)
    assert principal == Principal(alice.id, "alice", False, new.token.id)
    with store.read() as conn:
        stored = conn.execute(select(access_tokens)).one()
    assert new.secret.rsplit("_", 1)[1] not in str(stored._asdict().values())
    listed = gov.tokens.list_tokens("alice", actor=Actor.of(alice.principal()))
    assert [t.name for t in listed] == ["laptop"] and listed[0].state == "active"
    assert new.secret not in str([asdict(t) for t in listed])
    revoked = gov.tokens.revoke(new.token.id, actor=Actor.of(alice.principal()))
    assert revoked.state == "revoked" and revoked.revoked_at == clock.ms
    with pytest.raises(PermissionDenied, match=DENIED):
        gov.tokens.authenticate(new.secret)
    assert gov.tokens.revoke(new.token.id, actor=OPERATOR).state == "revoked"
    assert actions(gov)[-3:] == ["token.created", "token.revoked", "token.denied"]


def test_tokens_expire(gov: Governance, alice: User, clock: FakeClock) -> None:
    new = gov.tokens.create("alice", "ci", actor=OPERATOR, expires_in=timedelta(days=30))
    assert new.token.expires_at == clock.ms + 30 * 86_400_000
    clock.advance(30 * 86_400 - 1)
    assert gov.tokens.authenticate(new.secret).username == "alice"
    clock.advance(1)
    with pytest.raises(PermissionDenied, match=DENIED):
        gov.tokens.authenticate(new.secret)
    assert gov.tokens.list_tokens(actor=OPERATOR)[0].state == "expired"


@pytest.mark.parametrize("days", [0, -1, 366])
def test_lifetime_is_bounded(gov: Governance, alice: User, days: int) -> None:
    with pytest.raises(InvalidInput, match="at most 365 days"):
        gov.tokens.create("alice", "x", actor=OPERATOR, expires_in=timedelta(days=days))


def test_last_used_is_written_at_most_once_a_minute(
    gov: Governance, store: Store, alice: User, clock: FakeClock
) -> None:
    new = gov.tokens.create("alice", "ci", actor=OPERATOR)

    def last_used() -> int | None:
        return gov.tokens.list_tokens("alice", actor=OPERATOR)[0].last_used_at

    assert last_used() is None
    first = clock.ms
    gov.tokens.authenticate(new.secret)
    assert last_used() == first
    clock.advance(59)
    gov.tokens.authenticate(new.secret)
    assert last_used() == first
    clock.advance(1)
    gov.tokens.authenticate(new.secret)
    assert last_used() == clock.ms


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("a" if s[-1] != "a" else "b"),  # wrong secret
        lambda s: s.replace("my_pat_", "my_sat_"),  # the kind is part of the token
        lambda s: s[:7] + "0123456789abcdef" + s[23:],  # unknown id
        lambda s: s + "x",
        lambda s: "",
        lambda s: "Bearer " + s,
    ],
)
def test_wrong_tokens_all_fail_the_same_way(gov: Governance, alice: User, mangle) -> None:
    secret = gov.tokens.create("alice", "ci", actor=OPERATOR).secret
    with pytest.raises(PermissionDenied, match=DENIED):
        gov.tokens.authenticate(mangle(secret))


def test_tokens_of_disabled_users_stop_working(gov: Governance, alice: User, root: User) -> None:
    secret = gov.tokens.create("alice", "ci", actor=OPERATOR).secret
    gov.users.disable_user("alice", actor=OPERATOR)
    with pytest.raises(PermissionDenied, match=DENIED):
        gov.tokens.authenticate(secret)
    with pytest.raises(InvalidInput, match="disabled"):
        gov.tokens.create("alice", "again", actor=OPERATOR)
    gov.users.enable_user("alice", actor=OPERATOR)
    assert gov.tokens.authenticate(secret).username == "alice"


def test_service_account_tokens(gov: Governance, alice: User, root: User) -> None:
    bot = gov.users.create_service_account("ci-bot", actor=OPERATOR)
    with pytest.raises(NotFound, match=r"^user 'ci-bot' does not exist$"):
        gov.tokens.create("ci-bot", "deploy", actor=Actor.of(alice.principal()))
    with pytest.raises(PermissionDenied, match="must be an administrator"):
        gov.tokens.create("ci-bot", "deploy", actor=Actor.of(bot.principal()))
    new = gov.tokens.create("ci-bot", "deploy", actor=Actor.of(root.principal()), password=PASSWORD)
    assert new.secret.startswith("my_sat_") and new.token.service_account
    principal = gov.tokens.authenticate(new.secret)
    assert (principal.user_id, principal.username, principal.is_admin) == (bot.id, "ci-bot", False)


def test_who_may_see_and_revoke_tokens(gov: Governance, alice: User, root: User) -> None:
    bob = gov.users.create_user("bob", PASSWORD, actor=OPERATOR)
    as_alice, as_bob = Actor.of(alice.principal()), Actor.of(bob.principal())
    token = gov.tokens.create("alice", "ci", actor=as_alice, password=PASSWORD).token
    gov.tokens.create("bob", "ci", actor=as_bob, password=PASSWORD)
    # Another user's account and tokens are as missing ones to a user who is not an
    # administrator (no existence oracle).
    with pytest.raises(NotFound, match=r"^user 'alice' does not exist$"):
        gov.tokens.create("alice", "sneaky", actor=as_bob)
    with pytest.raises(NotFound, match=r"^user 'alice' does not exist$"):
        gov.tokens.list_tokens("alice", actor=as_bob)
    with pytest.raises(PermissionDenied, match="must be an administrator"):
        gov.tokens.list_tokens(actor=as_alice)
    with pytest.raises(NotFound, match=rf"^token '{token.id}' does not exist$"):
        gov.tokens.revoke(token.id, actor=as_bob)
    assert gov.tokens.list_tokens("alice", actor=as_alice)[0].state == "active"
    everyone = gov.tokens.list_tokens(actor=Actor.of(root.principal()))
    assert sorted(t.username for t in everyone) == ["alice", "bob"]
    with pytest.raises(NotFound):
        gov.tokens.revoke("0123456789abcdef", actor=OPERATOR)
    with pytest.raises(InvalidInput, match="token name"):
        gov.tokens.create("alice", "", actor=as_alice)


def test_a_token_keeps_the_admin_flag_current(gov: Governance, alice: User, root: User) -> None:
    secret = gov.tokens.create("alice", "ci", actor=OPERATOR).secret
    assert not gov.tokens.authenticate(secret).is_admin
    gov.users.set_admin("alice", True, actor=OPERATOR)
    assert gov.tokens.authenticate(secret).is_admin


def test_refused_tokens_that_name_a_stored_token_are_audited(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    secret = gov.tokens.create("alice", "ci", actor=OPERATOR).secret
    wrong = secret[:-1] + ("a" if secret[-1] != "a" else "b")
    unknown = secret[:7] + "0123456789abcdef" + secret[23:]
    for attempt in (wrong, unknown, "garbage"):
        with pytest.raises(PermissionDenied, match=DENIED):
            gov.tokens.authenticate(attempt, client_addr="10.1.2.3")
    gov.tokens.revoke(secret.split("_")[2], actor=OPERATOR)
    with pytest.raises(PermissionDenied, match=DENIED):
        gov.tokens.authenticate(secret)
    denied = [e for e in gov.audit.export(actor=OPERATOR) if e["action"] == "token.denied"]
    assert [(e["actor"], e["object_id"], e["client_addr"]) for e in denied] == [
        ("alice", secret.split("_")[2], "10.1.2.3"),
        ("alice", secret.split("_")[2], None),
    ]
    assert denied[0]["summary"] == "token 'ci' refused: wrong secret"
    assert denied[1]["summary"] == "token 'ci' refused: revoked at 2026-01-01T00:00:00+00:00"
    assert gov.audit.verify(actor=OPERATOR).ok


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("expire", "expired at 2026-01-31T00:00:00+00:00"),
        ("disable", "the account is disabled"),
    ],
)
def test_the_audited_reason_of_a_refusal(
    gov: Governance, alice: User, clock: FakeClock, spoil: str, reason: str
) -> None:
    new = gov.tokens.create("alice", "ci", actor=OPERATOR, expires_in=timedelta(days=30))
    if spoil == "expire":
        clock.advance(30 * 86_400)
    else:
        gov.users.disable_user("alice", actor=OPERATOR)
    with pytest.raises(PermissionDenied, match=DENIED):
        gov.tokens.authenticate(new.secret)
    assert actions(gov)[-1] == "token.denied"
    *_, last = gov.audit.export(actor=OPERATOR)
    assert last["summary"] == f"token 'ci' refused: {reason}"
