"""MFA: enrolment, TOTP window and replay, recovery codes, the "required for all" switch."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from governance_support import OPERATOR, PASSWORD, FakeClock, actions
from sqlalchemy import select

from modelyard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelyard.governance import (
    Actor,
    Enrolment,
    Governance,
    MfaEnrolmentRequired,
    MfaRequired,
    User,
)
from modelyard.store import Store
from modelyard.store.tables import recovery_codes


def _enrolled(gov: Governance, clock: FakeClock, username: str = "alice") -> Enrolment:
    enrolment = gov.mfa.enrol(username, actor=OPERATOR)
    gov.mfa.confirm(username, clock.totp(enrolment.secret), actor=OPERATOR)
    clock.advance(30)  # the confirming code is spent; sign-ins use the next one
    return enrolment


def test_enrolment_gives_uri_qr_png_and_recovery_codes(
    gov: Governance, store: Store, alice: User
) -> None:
    enrolment = gov.mfa.enrol("alice", actor=OPERATOR)
    uri = urlparse(enrolment.uri)
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Modelyard:alice")
    query = parse_qs(uri.query)
    assert query["issuer"] == ["Modelyard"] and query["secret"] == [enrolment.secret]
    assert enrolment.qr_png.startswith(b"\x89PNG\r\n\x1a\n") and len(enrolment.qr_png) > 200
    assert len(enrolment.recovery_codes) == len(set(enrolment.recovery_codes)) == 10
    assert all(len(c) == 19 and c.count("-") == 3 for c in enrolment.recovery_codes)
    assert enrolment.secret not in repr(enrolment)
    with store.read() as conn:
        stored = conn.execute(select(recovery_codes.c.code_hash)).scalars().all()
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in enrolment.recovery_codes} & set(stored)
    status = gov.mfa.status("alice", actor=OPERATOR)
    assert (status.enrolled, status.confirmed, status.recovery_codes_left) == (True, False, 10)


def test_an_unconfirmed_enrolment_does_not_guard_sign_in(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    enrolment = gov.mfa.enrol("alice", actor=OPERATOR)
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"
    with pytest.raises(PermissionDenied, match="does not match"):
        gov.mfa.confirm("alice", clock.totp(enrolment.secret, 10), actor=OPERATOR)
    with pytest.raises(PermissionDenied, match="not valid"):
        gov.mfa.verify("alice", clock.totp(enrolment.secret))
    gov.mfa.confirm("alice", clock.totp(enrolment.secret), actor=OPERATOR)
    with pytest.raises(Conflict, match="already confirmed"):
        gov.mfa.confirm("alice", clock.totp(enrolment.secret), actor=OPERATOR)
    with pytest.raises(Conflict, match="reset it"):
        gov.mfa.enrol("alice", actor=OPERATOR)
    assert actions(gov)[-2:] == ["mfa.failure", "mfa.confirmed"]


def test_sign_in_demands_the_code_once_enrolled(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    enrolment = _enrolled(gov, clock)
    with pytest.raises(MfaRequired, match="6-digit code"):
        gov.users.authenticate("alice", PASSWORD)
    with pytest.raises(PermissionDenied, match="one-time code is not valid"):
        gov.users.authenticate("alice", PASSWORD, totp_code="12345x")
    user = gov.users.authenticate("alice", PASSWORD, totp_code=clock.totp(enrolment.secret))
    assert user.username == "alice"
    assert actions(gov)[-1] == "login.success"
    assert list(gov.audit.export(actor=OPERATOR))[-1]["summary"] == (
        "signed in with a password and TOTP"
    )
    with pytest.raises(PermissionDenied, match="invalid username or password"):
        gov.users.authenticate(
            "alice", "wrong-password-here", totp_code=clock.totp(enrolment.secret, 1)
        )


@pytest.mark.parametrize(
    ("steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_totp_window_is_one_step_either_side(
    gov: Governance, alice: User, clock: FakeClock, steps: int, accepted: bool
) -> None:
    enrolment = _enrolled(gov, clock)
    clock.advance(120)
    code = clock.totp(enrolment.secret, steps)
    if accepted:
        assert gov.mfa.verify("alice", code) == "totp"
    else:
        with pytest.raises(PermissionDenied):
            gov.mfa.verify("alice", code)


def test_a_code_cannot_be_replayed(gov: Governance, alice: User, clock: FakeClock) -> None:
    enrolment = _enrolled(gov, clock)
    code = clock.totp(enrolment.secret)
    assert gov.users.authenticate("alice", PASSWORD, totp_code=code).username == "alice"
    with pytest.raises(PermissionDenied, match="not valid"):
        gov.users.authenticate("alice", PASSWORD, totp_code=code)
    clock.advance(10)  # same step, still inside the window
    with pytest.raises(PermissionDenied):
        gov.mfa.verify("alice", code)
    with pytest.raises(PermissionDenied):  # an older code in the window is refused too
        gov.mfa.verify("alice", clock.totp(enrolment.secret, -1))
    clock.advance(30)
    assert gov.mfa.verify("alice", clock.totp(enrolment.secret)) == "totp"


def test_the_confirming_code_is_spent(gov: Governance, alice: User, clock: FakeClock) -> None:
    enrolment = gov.mfa.enrol("alice", actor=OPERATOR)
    code = clock.totp(enrolment.secret)
    gov.mfa.confirm("alice", code, actor=OPERATOR)
    with pytest.raises(PermissionDenied):
        gov.mfa.verify("alice", code)


def test_recovery_codes_work_once(gov: Governance, alice: User, clock: FakeClock) -> None:
    enrolment = _enrolled(gov, clock)
    first, second = enrolment.recovery_codes[:2]
    user = gov.users.authenticate("alice", PASSWORD, totp_code=first)
    assert user.username == "alice"
    assert actions(gov)[-2:] == ["mfa.recovery_code_used", "login.success"]
    with pytest.raises(PermissionDenied, match="not valid"):
        gov.users.authenticate("alice", PASSWORD, totp_code=first)
    assert gov.mfa.verify("alice", second.lower().replace("-", " ")) == "recovery"
    with pytest.raises(PermissionDenied):
        gov.mfa.verify("alice", second)
    assert gov.mfa.status("alice", actor=OPERATOR).recovery_codes_left == 8
    summaries = [e["summary"] for e in gov.audit.export(actor=OPERATOR)]
    assert "recovery code used; 8 left" in summaries


def test_another_users_recovery_code_does_not_work(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    gov.users.create_user("bob", PASSWORD, actor=OPERATOR)
    alices = _enrolled(gov, clock, "alice")
    _enrolled(gov, clock, "bob")
    with pytest.raises(PermissionDenied):
        gov.mfa.verify("bob", alices.recovery_codes[0])


def test_wrong_codes_count_towards_the_lock_out(
    gov: Governance, alice: User, clock: FakeClock
) -> None:
    _enrolled(gov, clock)
    for _ in range(5):
        with pytest.raises(PermissionDenied, match="one-time code is not valid"):
            gov.users.authenticate("alice", PASSWORD, totp_code="AAAA-AAAA-AAAA-AAAA")
    with pytest.raises(PermissionDenied, match="too many"):
        gov.users.authenticate("alice", PASSWORD, totp_code="000000")


def test_mfa_required_for_everyone(
    gov: Governance, alice: User, root: User, clock: FakeClock
) -> None:
    assert not gov.mfa.is_required()
    with pytest.raises(PermissionDenied, match="must be an administrator"):
        gov.mfa.set_required(True, actor=Actor.of(alice.principal()))
    gov.mfa.set_required(True, actor=Actor.of(root.principal()))
    assert gov.mfa.is_required()
    with pytest.raises(MfaEnrolmentRequired, match="enrol an authenticator app first") as info:
        gov.users.authenticate("alice", PASSWORD)
    assert isinstance(info.value, PermissionDenied) and info.value.code == "mfa_enrolment_required"
    with pytest.raises(PermissionDenied, match="invalid username or password"):
        gov.users.authenticate("alice", "wrong-password-here")
    enrolment = gov.mfa.enrol("alice", actor=Actor.of(alice.principal()), password=PASSWORD)
    with pytest.raises(MfaEnrolmentRequired):  # not confirmed yet
        gov.users.authenticate("alice", PASSWORD)
    gov.mfa.confirm("alice", clock.totp(enrolment.secret), actor=Actor.of(alice.principal()))
    clock.advance(30)
    with pytest.raises(MfaRequired):
        gov.users.authenticate("alice", PASSWORD)
    assert gov.users.authenticate("alice", PASSWORD, totp_code=clock.totp(enrolment.secret))
    gov.mfa.set_required(False, actor=OPERATOR)
    assert not gov.mfa.status("alice", actor=OPERATOR).required
    assert actions(gov).count("mfa.required_changed") == 2


def test_reset_by_an_administrator(
    gov: Governance, alice: User, root: User, clock: FakeClock
) -> None:
    _enrolled(gov, clock)
    with pytest.raises(PermissionDenied, match="must be an administrator"):
        gov.mfa.reset("alice", actor=Actor.of(alice.principal()))
    gov.mfa.reset("alice", actor=Actor.of(root.principal()))
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"
    assert gov.mfa.status("alice", actor=OPERATOR).recovery_codes_left == 0
    with pytest.raises(NotFound):
        gov.mfa.reset("alice", actor=OPERATOR)
    assert gov.mfa.enrol("alice", actor=OPERATOR).username == "alice"


def test_who_may_enrol(gov: Governance, alice: User) -> None:
    bob = gov.users.create_user("bob", PASSWORD, actor=OPERATOR)
    # Another user's account is as a missing one (no existence oracle).
    with pytest.raises(NotFound, match=r"^user 'alice' does not exist$"):
        gov.mfa.enrol("alice", actor=Actor.of(bob.principal()))
    with pytest.raises(NotFound, match=r"^user 'alice' does not exist$"):
        gov.mfa.status("alice", actor=Actor.of(bob.principal()))
    with pytest.raises(NotFound, match=r"^user 'alice' does not exist$"):
        gov.mfa.confirm("alice", "123456", actor=Actor.of(bob.principal()))
    gov.users.create_service_account("bot", actor=OPERATOR)
    with pytest.raises(InvalidInput, match="service account"):
        gov.mfa.enrol("bot", actor=OPERATOR)
