"""A token cannot outlive or outrank what created it: tokens minted by tokens record their
parent, expire no later than it and die with it; creating tokens and enrolling an
authenticator need the password again; with MFA required, an account that has not enrolled
uses its tokens for enrolment only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from governance_support import OPERATOR, PASSWORD, FakeClock, actions
from sqlalchemy import update

from modelyard.errors import PermissionDenied
from modelyard.governance import (
    Actor,
    Governance,
    MfaEnrolmentRequired,
    NewToken,
    ReauthRequired,
    User,
)
from modelyard.store import Store
from modelyard.store.tables import access_tokens

DENIED = "invalid, expired or revoked token"


def _as(gov: Governance, token: NewToken) -> Actor:
    """The actor of a request authenticated by ``token``."""
    return Actor.of(gov.tokens.authenticate(token.secret), client_addr="192.0.2.7")


def _mint(gov: Governance, parent: NewToken, name: str, days: int | None = None) -> NewToken:
    expires = timedelta(days=days) if days is not None else None
    return gov.tokens.create(
        parent.token.username, name, actor=_as(gov, parent), expires_in=expires, password=PASSWORD
    )


def test_a_token_minted_by_a_token_is_its_child_capped_to_its_expiry(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR, expires_in=timedelta(days=30))
    assert laptop.token.parent_id is None and laptop.token.expires_at is not None
    forever = _mint(gov, laptop, "forever")  # asked for no expiry
    later = _mint(gov, laptop, "later", days=90)  # asked for more than the parent has
    sooner = _mint(gov, laptop, "sooner", days=1)
    assert forever.token.parent_id == later.token.parent_id == laptop.token.id
    assert forever.token.expires_at == later.token.expires_at == laptop.token.expires_at
    assert sooner.token.expires_at == clock.ms + 86_400_000
    listed = {t.name: t for t in gov.tokens.list_tokens("alice", actor=OPERATOR)}
    assert listed["forever"].parent_id == laptop.token.id
    assert listed["forever"].expires_at == laptop.token.expires_at
    created = [e for e in gov.audit.export(actor=OPERATOR) if e["action"] == "token.created"]
    assert "capped to its parent's expiry" in created[1]["summary"]
    assert f"minted by token {laptop.token.id}" in created[1]["summary"]

    clock.advance(30 * 86_400)  # the parent expires, and every child with it
    for token in (laptop, forever, later):
        with pytest.raises(PermissionDenied, match=DENIED):
            gov.tokens.authenticate(token.secret)


def test_revoking_a_token_revokes_its_descendants(gov: Governance, alice: User) -> None:
    root = gov.tokens.create("alice", "root", actor=OPERATOR)  # never expires
    child = _mint(gov, root, "child")
    grandchild = _mint(gov, child, "grandchild")
    assert grandchild.token.parent_id == child.token.id and grandchild.token.expires_at is None
    other = gov.tokens.create("alice", "other", actor=OPERATOR)
    gov.tokens.revoke(root.token.id, actor=Actor.of(gov.tokens.authenticate(other.secret)))
    for token in (root, child, grandchild):
        with pytest.raises(PermissionDenied, match=DENIED):
            gov.tokens.authenticate(token.secret)
    assert gov.tokens.authenticate(other.secret).username == "alice"
    states = {t.name: t.state for t in gov.tokens.list_tokens("alice", actor=OPERATOR)}
    assert states == {
        "root": "revoked",
        "child": "revoked",
        "grandchild": "revoked",
        "other": "active",
    }
    revoked = [e for e in gov.audit.export(actor=OPERATOR) if e["action"] == "token.revoked"]
    assert [e["object_id"] for e in revoked] == [root.token.id, child.token.id, grandchild.token.id]
    assert f"revoked with its parent token {child.token.id}" in revoked[2]["summary"]


def test_a_token_whose_ancestor_stands_no_more_is_refused(
    gov: Governance, store: Store, alice: User
) -> None:
    """Authentication checks the chain too (a revocation written by an older version, say)."""
    root = gov.tokens.create("alice", "root", actor=OPERATOR)
    child = _mint(gov, root, "child")
    grandchild = _mint(gov, child, "grandchild")
    with store.write() as conn:
        conn.execute(
            update(access_tokens).where(access_tokens.c.id == root.token.id).values(revoked_at=1)
        )
    with pytest.raises(PermissionDenied, match=DENIED):
        gov.tokens.authenticate(grandchild.secret)
    denied = [e for e in gov.audit.export(actor=OPERATOR) if e["action"] == "token.denied"]
    assert denied[-1]["object_id"] == grandchild.token.id
    assert f"its ancestor token {root.token.id} is refused" in denied[-1]["summary"]


def test_a_revoked_token_cannot_mint_even_mid_request(gov: Governance, alice: User) -> None:
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR)
    signed_in = _as(gov, laptop)  # authenticated just before its revocation
    gov.tokens.revoke(laptop.token.id, actor=OPERATOR)
    with pytest.raises(PermissionDenied, match="cannot mint tokens: revoked"):
        gov.tokens.create("alice", "late", actor=signed_in, password=PASSWORD)
    assert [t.name for t in gov.tokens.list_tokens("alice", actor=OPERATOR)] == ["laptop"]


def test_a_child_minted_while_its_parent_is_revoked_is_refused(
    gov: Governance, store: Store, alice: User
) -> None:
    """The revocation's transaction is open (parent updated, children not yet looked for)
    when the child is minted: minting waits for it and then sees the parent revoked."""
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR)
    signed_in = _as(gov, laptop)
    outcome: list[Exception | NewToken] = []

    def mint() -> None:
        try:
            outcome.append(gov.tokens.create("alice", "racer", actor=signed_in, password=PASSWORD))
        except Exception as exc:  # handed to the test thread
            outcome.append(exc)

    minter = threading.Thread(target=mint)
    with store.write() as conn:
        conn.execute(
            update(access_tokens).where(access_tokens.c.id == laptop.token.id).values(revoked_at=1)
        )
        minter.start()
        minter.join(timeout=0.5)  # it waits for this transaction (the lock on the parent)
        assert minter.is_alive() and not outcome
    minter.join()
    assert isinstance(outcome[0], PermissionDenied), outcome
    assert "cannot mint tokens: revoked" in str(outcome[0])
    assert [t.name for t in gov.tokens.list_tokens("alice", actor=OPERATOR)] == ["laptop"]


def test_a_token_alone_cannot_create_tokens(gov: Governance, alice: User) -> None:
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR)
    with pytest.raises(
        ReauthRequired, match="send your current password in the `password`"
    ) as info:
        gov.tokens.create("alice", "more", actor=_as(gov, laptop))
    assert info.value.code == "reauth_required" and info.value.field == "password"
    assert actions(gov)[-1] == "reauth.required"
    with pytest.raises(ReauthRequired, match="the password is not correct"):
        gov.tokens.create("alice", "more", actor=_as(gov, laptop), password="not-her-password")
    event = list(gov.audit.export(actor=OPERATOR))[-1]
    assert (event["action"], event["client_addr"]) == ("login.failure", "192.0.2.7")
    assert "re-authentication to create tokens: wrong password" in event["summary"]
    assert [t.name for t in gov.tokens.list_tokens("alice", actor=OPERATOR)] == ["laptop"]
    assert _mint(gov, laptop, "more").token.name == "more"


def test_wrong_reauthentication_passwords_lock_the_account_out(
    gov: Governance, alice: User
) -> None:
    """A stolen token is no way around the sign-in lock-out to guess the password."""
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR)
    for n in range(gov.users.max_failures):
        with pytest.raises(ReauthRequired, match="not correct"):
            gov.tokens.create("alice", "x", actor=_as(gov, laptop), password=f"guess-{n}-guess")
    with pytest.raises(PermissionDenied, match="too many failed sign-ins"):
        gov.tokens.create("alice", "x", actor=_as(gov, laptop), password=PASSWORD)
    with pytest.raises(PermissionDenied, match="too many failed sign-ins"):
        gov.users.authenticate("alice", PASSWORD)


def test_a_recent_password_session_needs_no_password_then_does(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    cookie = gov.sessions.sign_in("alice", PASSWORD).cookie
    principal, _ = gov.sessions.authenticate(cookie)
    assert principal.signed_in_at == clock.ms and principal.token_id is None
    session = Actor.of(principal)
    made = gov.tokens.create("alice", "from-the-browser", actor=session)
    assert made.token.parent_id is None
    clock.advance(gov.users.reauth_window_ms / 1000 + 1)
    with pytest.raises(ReauthRequired, match="a session that signed in 600 s ago or more"):
        gov.tokens.create("alice", "later", actor=Actor.of(gov.sessions.authenticate(cookie)[0]))
    with pytest.raises(ReauthRequired):
        gov.mfa.enrol("alice", actor=session)
    assert gov.tokens.create("alice", "later", actor=session, password=PASSWORD)
    assert gov.mfa.enrol("alice", actor=session, password=PASSWORD).username == "alice"


def test_a_token_alone_cannot_enrol_an_authenticator(gov: Governance, alice: User) -> None:
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR)
    with pytest.raises(ReauthRequired, match="to enrol an authenticator, send your current"):
        gov.mfa.enrol("alice", actor=_as(gov, laptop))
    assert not gov.mfa.status("alice", actor=OPERATOR).enrolled
    assert actions(gov)[-1] == "reauth.required"
    assert gov.mfa.enrol("alice", actor=_as(gov, laptop), password=PASSWORD).uri


def test_a_token_alone_cannot_change_the_password(gov: Governance, alice: User) -> None:
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR)
    new = "a-brand-new-passphrase"
    with pytest.raises(PermissionDenied, match="current password"):
        gov.users.change_password("alice", new, actor=_as(gov, laptop))
    for n in range(gov.users.max_failures):  # guessing counts towards the lock-out
        with pytest.raises(PermissionDenied, match="current password"):
            gov.users.change_password(
                "alice", new, actor=_as(gov, laptop), current_password=f"guess-{n}-guess"
            )
    with pytest.raises(PermissionDenied, match="too many failed sign-ins"):
        gov.users.change_password("alice", new, actor=_as(gov, laptop), current_password=PASSWORD)
    assert "user.password_changed" not in actions(gov)


def test_a_service_account_token_cannot_mint_tokens(gov: Governance, root: User) -> None:
    gov.users.create_service_account("ci-bot", actor=OPERATOR, admin=True)
    deploy = gov.tokens.create("ci-bot", "deploy", actor=OPERATOR)
    with pytest.raises(ReauthRequired, match="service account and has no password"):
        gov.tokens.create("ci-bot", "more", actor=_as(gov, deploy), password="anything-at-all")
    assert gov.tokens.create("ci-bot", "more", actor=OPERATOR).token.parent_id is None


def test_with_mfa_required_unenrolled_tokens_serve_enrolment_only(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    laptop = gov.tokens.create("alice", "laptop", actor=OPERATOR)
    gov.users.create_service_account("ci-bot", actor=OPERATOR)
    deploy = gov.tokens.create("ci-bot", "deploy", actor=OPERATOR)
    gov.mfa.set_required(True, actor=OPERATOR)
    with pytest.raises(MfaEnrolmentRequired, match="enrol an authenticator first") as info:
        gov.tokens.authenticate(laptop.secret, client_addr="192.0.2.7")
    assert info.value.code == "mfa_enrolment_required"
    event = list(gov.audit.export(actor=OPERATOR))[-1]
    assert (event["action"], event["object_id"]) == ("token.denied", laptop.token.id)
    assert "MFA enrolment required" in event["summary"]
    assert gov.tokens.authenticate(deploy.secret).username == "ci-bot"  # no MFA for robots

    enrolling = Actor.of(gov.tokens.authenticate(laptop.secret, for_enrolment=True))
    enrolment = gov.mfa.enrol("alice", actor=enrolling, password=PASSWORD)
    with pytest.raises(MfaEnrolmentRequired):  # not confirmed yet
        gov.tokens.authenticate(laptop.secret)
    gov.mfa.confirm("alice", clock.totp(enrolment.secret), actor=enrolling)
    assert gov.tokens.authenticate(laptop.secret).username == "alice"


def test_with_mfa_required_an_older_session_serves_enrolment_only(
    gov: Governance, alice: User
) -> None:
    cookie = gov.sessions.sign_in("alice", PASSWORD).cookie  # before the switch
    gov.mfa.set_required(True, actor=OPERATOR)
    with pytest.raises(MfaEnrolmentRequired):
        gov.sessions.authenticate(cookie)
    principal, _ = gov.sessions.authenticate(cookie, for_enrolment=True)
    assert gov.mfa.enrol("alice", actor=Actor.of(principal)).username == "alice"
