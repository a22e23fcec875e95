"""TOTP secrets at rest: encrypted with the server key, legacy plain rows, rotation, a lost
key, and where the key comes from (the setting or <home>/secret.key)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from governance_support import OPERATOR, PASSWORD, FakeClock, actions, cheap_hasher
from sqlalchemy import select, update

from modelyard.config import load_settings
from modelyard.errors import Conflict, InvalidInput, PermissionDenied
from modelyard.governance import (
    Actor,
    Enrolment,
    Governance,
    SecretBox,
    SecretUnreadable,
    User,
)
from modelyard.store import Store
from modelyard.store.tables import mfa_secrets


def _stored(store: Store, user: User) -> str:
    with store.read() as conn:
        return conn.execute(
            select(mfa_secrets.c.secret).where(mfa_secrets.c.user_id == user.id)
        ).scalar_one()


def _set_stored(store: Store, user: User, value: str) -> None:
    with store.write() as conn:
        conn.execute(
            update(mfa_secrets).where(mfa_secrets.c.user_id == user.id).values(secret=value)
        )


def _enrolled(gov: Governance, clock: FakeClock, username: str = "alice") -> Enrolment:
    enrolment = gov.mfa.enrol(username, actor=OPERATOR)
    gov.mfa.confirm(username, clock.totp(enrolment.secret), actor=OPERATOR)
    clock.advance(30)
    return enrolment


def _with_key(store: Store, clock: FakeClock, box: SecretBox) -> Governance:
    return Governance(store, secret_box=box, hasher=cheap_hasher(), clock=clock)


def test_the_secret_is_stored_encrypted_and_codes_still_verify(
    gov: Governance, store: Store, alice: User, clock: FakeClock, server_key: bytes
) -> None:
    enrolment = _enrolled(gov, clock)
    stored = _stored(store, alice)
    assert stored.startswith("fernet:") and enrolment.secret not in stored
    assert Fernet(server_key).decrypt(stored.removeprefix("fernet:")).decode() == enrolment.secret
    signed_in = gov.users.authenticate("alice", PASSWORD, totp_code=clock.totp(enrolment.secret))
    assert signed_in.username == "alice"
    clock.advance(30)
    assert gov.mfa.verify("alice", clock.totp(enrolment.secret)) == "totp"
    assert _stored(store, alice) == stored  # nothing to re-encrypt


def test_a_legacy_plain_secret_works_and_is_encrypted_by_the_next_verify(
    gov: Governance, store: Store, alice: User, clock: FakeClock
) -> None:
    enrolment = _enrolled(gov, clock)
    _set_stored(store, alice, enrolment.secret)  # as stored before encryption
    with pytest.raises(PermissionDenied, match="not valid"):
        gov.mfa.verify("alice", clock.totp(enrolment.secret, 10))  # outside the window
    assert _stored(store, alice) == enrolment.secret  # a wrong code changes nothing
    assert gov.mfa.verify("alice", clock.totp(enrolment.secret)) == "totp"
    stored = _stored(store, alice)
    assert stored.startswith("fernet:") and enrolment.secret not in stored
    clock.advance(30)
    assert gov.users.authenticate("alice", PASSWORD, totp_code=clock.totp(enrolment.secret))


def test_a_legacy_pending_enrolment_is_encrypted_by_confirm(
    gov: Governance, store: Store, alice: User, clock: FakeClock
) -> None:
    enrolment = gov.mfa.enrol("alice", actor=OPERATOR)
    _set_stored(store, alice, enrolment.secret)
    gov.mfa.confirm("alice", clock.totp(enrolment.secret), actor=OPERATOR)
    assert _stored(store, alice).startswith("fernet:")


def test_rotation_keeps_previous_keys_working_and_moves_secrets_to_the_new_key(
    gov: Governance, store: Store, alice: User, root: User, clock: FakeClock, server_key: bytes
) -> None:
    alices = _enrolled(gov, clock)
    roots = _enrolled(gov, clock, "root")
    new_key = Fernet.generate_key()
    rotated = _with_key(store, clock, SecretBox(new_key, previous=[server_key]))
    assert rotated.mfa.verify("alice", clock.totp(alices.secret)) == "totp"
    assert SecretBox(new_key).is_current(_stored(store, alice))  # moved on the verify
    assert not SecretBox(new_key).is_current(_stored(store, root))

    report = rotated.mfa.encrypt_secrets(actor=OPERATOR)
    assert (report.encrypted, report.already_current, report.unreadable) == (1, 1, ())
    assert SecretBox(new_key).is_current(_stored(store, root))
    assert actions(gov)[-1] == "mfa.secrets_encrypted"
    only_new = _with_key(store, clock, SecretBox(new_key))
    clock.advance(30)
    assert only_new.mfa.verify("root", clock.totp(roots.secret)) == "totp"


def test_encrypt_secrets_encrypts_legacy_rows_and_lists_unreadable_ones(
    gov: Governance, store: Store, alice: User, root: User, clock: FakeClock
) -> None:
    enrolment = _enrolled(gov, clock)
    _set_stored(store, alice, enrolment.secret)
    gov.users.create_user("bob", PASSWORD, actor=OPERATOR)
    _enrolled(_with_key(store, clock, SecretBox(Fernet.generate_key())), clock, "bob")
    with pytest.raises(PermissionDenied, match="encrypt multi-factor secrets"):
        gov.mfa.encrypt_secrets(actor=Actor.of(alice.principal()))
    report = gov.mfa.encrypt_secrets(actor=OPERATOR)
    assert (report.encrypted, report.already_current, report.unreadable) == (1, 0, ("bob",))
    assert _stored(store, alice).startswith("fernet:")
    event = list(gov.audit.export(actor=OPERATOR))[-1]
    assert (event["action"], event["actor"]) == ("mfa.secrets_encrypted", OPERATOR.name)
    assert event["summary"] == (
        "1 TOTP secrets encrypted with the current server key, 0 already were, 1 unreadable"
    )


def test_a_secret_no_key_decrypts_is_a_clear_error_with_the_way_out(
    gov: Governance, store: Store, alice: User, clock: FakeClock
) -> None:
    enrolment = _enrolled(gov, clock)
    lost = _with_key(store, clock, SecretBox(Fernet.generate_key()))
    code = clock.totp(enrolment.secret)
    with pytest.raises(SecretUnreadable) as info:
        lost.users.authenticate("alice", PASSWORD, totp_code=code)
    assert isinstance(info.value, Conflict) and info.value.code == "secret_unreadable"
    message = info.value.message
    assert "TOTP secret of user alice cannot be decrypted" in message
    assert "modelyard mfa reset alice" in message
    with pytest.raises(SecretUnreadable, match="user alice"):
        lost.mfa.verify("alice", code)
    assert "login.failure" not in actions(gov)  # not the user's fault, not counted

    recovery = enrolment.recovery_codes[0]  # recovery codes do not need the key
    assert lost.users.authenticate("alice", PASSWORD, totp_code=recovery).username == "alice"
    lost.mfa.reset("alice", actor=OPERATOR)
    again = lost.mfa.enrol("alice", actor=OPERATOR)
    lost.mfa.confirm("alice", clock.totp(again.secret), actor=OPERATOR)


def test_a_service_without_a_key_refuses_secrets_only(store: Store, clock: FakeClock) -> None:
    keyless = Governance(store, hasher=cheap_hasher(), clock=clock)
    keyless.users.create_user("alice", PASSWORD, actor=OPERATOR)
    assert keyless.users.authenticate("alice", PASSWORD).username == "alice"
    with pytest.raises(InvalidInput, match="secret_box"):
        keyless.mfa.enrol("alice", actor=OPERATOR)


def test_the_key_file_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home")
    key_file = tmp_path / "home" / "secret.key"
    box = SecretBox.from_settings(settings)
    assert not key_file.exists()  # created on first need, not before
    sealed = box.seal("JBSWY3DPEHPK3PXP")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    again = SecretBox.from_settings(settings)
    assert again.open(sealed) == "JBSWY3DPEHPK3PXP" and again.is_current(sealed)
    assert key_file.read_bytes() == key
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]  # no temp left


def test_a_process_that_loses_the_race_uses_the_winners_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "secret.key"
    winner = Fernet.generate_key()
    link = os.link

    def racing_link(src: str | Path, dst: str | Path) -> None:
        Path(dst).write_bytes(winner + b"\n")  # another process got there first
        link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    sealed = SecretBox(key_file=key_file).seal("JBSWY3DPEHPK3PXP")
    assert Fernet(winner).decrypt(sealed.removeprefix("fernet:")) == b"JBSWY3DPEHPK3PXP"
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_a_configured_key_wins_over_the_key_file(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(home=tmp_path / "home", server={"secret_key": key})
    sealed = SecretBox.from_settings(settings).seal("JBSWY3DPEHPK3PXP")
    assert not (tmp_path / "home" / "secret.key").exists()
    assert SecretBox(key).is_current(sealed)


def test_the_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("MODELYARD_SERVER_SECRET_KEY", new)
    monkeypatch.setenv("MODELYARD_SERVER_PREVIOUS_SECRET_KEYS", f'["{old}"]')
    settings = load_settings()
    sealed = SecretBox(old).seal("JBSWY3DPEHPK3PXP")
    assert SecretBox.from_settings(settings).open(sealed) == "JBSWY3DPEHPK3PXP"
    assert new not in repr(settings)


@pytest.mark.parametrize(
    ("server", "field"),
    [
        ({"secret_key": "not-a-valid-key"}, "server.secret_key"),
        ({"secret_key": "c2hvcnQta2V5"}, "server.secret_key"),  # base64, but 9 bytes
        ({"previous_secret_keys": ["not-a-valid-key"]}, "server.previous_secret_keys"),
    ],
)
def test_a_configured_key_that_is_not_a_fernet_key_is_invalid_input(
    server: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput, match="Fernet key") as info:
        load_settings(server=server)
    assert info.value.field == field
    assert "not-a-valid-key" not in info.value.message and "c2hvcnQ" not in info.value.message


def test_a_key_given_directly_is_checked_too() -> None:
    with pytest.raises(InvalidInput, match="Fernet key") as info:
        SecretBox("not-a-key")
    assert info.value.field == "server.secret_key"
    with pytest.raises(InvalidInput, match="Fernet key") as previous:
        SecretBox(Fernet.generate_key(), previous=["not-a-key"])
    assert previous.value.field == "server.previous_secret_keys"


def test_a_key_file_that_holds_no_key_is_invalid_input(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text("garbage\n")
    with pytest.raises(InvalidInput, match=f"key file {key_file}"):
        SecretBox(key_file=key_file).seal("x")
