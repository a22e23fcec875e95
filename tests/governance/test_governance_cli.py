"""The governance commands: users, tokens, roles, mfa, audit (via CliRunner)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from cryptography.fernet import Fernet
from governance_support import OPERATOR, PASSWORD
from sqlalchemy import select, update
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.config import Settings
from modelyard.governance import Governance, SecretBox
from modelyard.store import open_store
from modelyard.store.tables import audit_events, mfa_secrets


@pytest.fixture
def cli(settings: Settings):
    runner = CliRunner()
    base = ["--store-url", settings.store_url, "--home", str(settings.home)]

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, [*base, *args], input=input)

    return invoke


@pytest.fixture
def gov(settings: Settings):
    store = open_store(settings.store_url)
    yield Governance(store, secret_box=SecretBox.from_settings(settings))  # the CLI's key
    store.dispose()


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_users_create_list_disable(cli, gov: Governance) -> None:
    out = _ok(cli("users", "create", "root", "--admin", "--password-stdin", input=PASSWORD + "\n"))
    assert "created user root (administrator)" in out
    _ok(cli("users", "create", "alice", input=f"{PASSWORD}\n{PASSWORD}\n"))
    assert gov.users.authenticate("alice", PASSWORD).username == "alice"
    listed = json.loads(_ok(cli("users", "list", "--json")))
    assert [(u["username"], u["is_admin"]) for u in listed] == [("alice", False), ("root", True)]
    _ok(cli("users", "disable", "alice"))
    assert "disabled" in _ok(cli("users", "list"))
    _ok(cli("users", "enable", "alice"))
    _ok(cli("users", "set-password", "alice", "--password-stdin", input="a-brand-new-passphrase\n"))
    assert gov.users.authenticate("alice", "a-brand-new-passphrase").username == "alice"
    events = list(gov.audit.export(actor=OPERATOR))
    assert events[0]["actor"].startswith("local:")


@pytest.mark.parametrize(
    ("args", "stdin", "code", "text"),
    [
        (["users", "create", "bob", "--password-stdin"], "short\n", 2, "password is too weak"),
        (["users", "create", "bad name!", "--password-stdin"], PASSWORD + "\n", 2, "username"),
        (["users", "disable", "nobody"], None, 4, "user 'nobody' does not exist"),
        (["roles", "grant", "churn", "alice", "owner"], None, 2, "unknown role"),
        (["tokens", "revoke", "0123456789abcdef"], None, 4, "does not exist"),
        (["mfa", "require", "maybe"], None, 2, "expected on or off"),
        (["audit", "verify", "--anchor", "x"], None, 2, "SEQ:DIGEST"),
    ],
)
def test_failures_are_one_readable_line(cli, args, stdin, code: int, text: str) -> None:
    result = cli(*args, input=stdin)
    assert result.exit_code == code, result.output
    assert text in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_tokens_create_list_revoke(cli, gov: Governance) -> None:
    _ok(cli("users", "create", "alice", "--password-stdin", input=PASSWORD + "\n"))
    out = _ok(
        cli("tokens", "create", "--user", "alice", "--name", "laptop", "--expires-days", "30")
    )
    secret = out.splitlines()[0].strip()
    assert secret.startswith("my_pat_") and "not shown again" in out
    assert gov.tokens.authenticate(secret).username == "alice"
    listed = json.loads(_ok(cli("tokens", "list", "--json")))
    assert [(t["name"], t["state"]) for t in listed] == [("laptop", "active")]
    assert secret not in json.dumps(listed)
    _ok(cli("tokens", "revoke", listed[0]["id"]))
    assert "revoked" in _ok(cli("tokens", "list", "--user", "alice"))
    result = cli("tokens", "create", "--user", "alice", "--name", "x", "--expires-days", "400")
    assert result.exit_code == 2 and "at most 365 days" in result.output


def test_service_account_tokens(cli, gov: Governance) -> None:
    out = _ok(
        cli(
            "tokens",
            "create",
            "--user",
            "ci-bot",
            "--name",
            "deploy",
            "--service-account",
            "--json",
        )
    )
    data = json.loads(out)
    assert data["secret"].startswith("my_sat_") and data["token"]["service_account"]
    assert gov.users.get_user("ci-bot").is_service_account
    _ok(cli("tokens", "create", "--user", "ci-bot", "--name", "again", "--service-account"))
    _ok(cli("users", "create", "alice", "--password-stdin", input=PASSWORD + "\n"))
    result = cli("tokens", "create", "--user", "alice", "--name", "x", "--service-account")
    assert result.exit_code == 2 and "not a service account" in result.output


def test_roles_grant_list_revoke(cli) -> None:
    _ok(cli("projects", "create", "churn"))
    _ok(cli("users", "create", "alice", "--password-stdin", input=PASSWORD + "\n"))
    assert "alice is contributor on project churn" in _ok(
        cli("roles", "grant", "churn", "alice", "contributor")
    )
    members = json.loads(_ok(cli("roles", "list", "churn", "--json")))
    assert [(m["username"], m["role"]) for m in members] == [("alice", "contributor")]
    assert "contributor" in _ok(cli("roles", "list", "churn"))
    _ok(cli("roles", "revoke", "churn", "alice"))
    assert json.loads(_ok(cli("roles", "list", "churn", "--json"))) == []
    assert _ok(cli("roles", "list", "churn")) == "project churn has no members with a role\n"


def test_empty_lists_say_so(cli) -> None:
    assert _ok(cli("users", "list")).startswith("no users yet: `modelyard users create NAME")
    assert _ok(cli("tokens", "list")).startswith("no tokens (searched the store ")
    _ok(cli("users", "create", "alice", "--password-stdin", input=PASSWORD + "\n"))
    assert _ok(cli("tokens", "list", "--user", "alice")).startswith("no tokens of user alice (")


def test_mfa_enrol_confirm_require(cli, gov: Governance, tmp_path: Path) -> None:
    _ok(cli("users", "create", "alice", "--password-stdin", input=PASSWORD + "\n"))
    qr = tmp_path / "alice.png"
    out = _ok(cli("mfa", "enrol", "alice", "--qr", str(qr)))
    uri = next(line for line in out.splitlines() if "otpauth://" in line).split(": ", 1)[1]
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    assert qr.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert stat.S_IMODE(qr.stat().st_mode) == 0o600
    codes = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(codes) == 10
    _ok(cli("mfa", "confirm", "alice", pyotp.TOTP(secret).now()))
    status = json.loads(_ok(cli("mfa", "status", "alice", "--json")))
    assert (status["confirmed"], status["recovery_codes_left"], status["required"]) == (
        True,
        10,
        False,
    )
    _ok(cli("mfa", "require", "on"))
    assert gov.mfa.is_required()
    assert gov.users.authenticate("alice", PASSWORD, totp_code=codes[0]).username == "alice"
    _ok(cli("mfa", "reset", "alice"))
    data = json.loads(_ok(cli("mfa", "enrol", "alice", "--json", "--qr", str(qr))))
    assert len(data["recovery_codes"]) == 10 and data["qr_png"] == str(qr)


def test_mfa_encrypt_secrets(cli, gov: Governance, settings: Settings) -> None:
    for name in ("alice", "bob"):
        _ok(cli("users", "create", name, "--password-stdin", input=PASSWORD + "\n"))
        _ok(cli("mfa", "enrol", name, "--json", "--qr", str(settings.home / f"{name}.png")))
    assert stat.S_IMODE((settings.home / "secret.key").stat().st_mode) == 0o600

    def store_secret(name: str, value: str) -> None:
        with gov.store.write() as conn:
            conn.execute(
                update(mfa_secrets)
                .where(mfa_secrets.c.user_id == gov.users.get_user(name).id)
                .values(secret=value)
            )

    store_secret("alice", pyotp.random_base32())  # as stored before encryption
    out = _ok(cli("mfa", "encrypt-secrets"))
    assert "1 TOTP secrets encrypted with the current server key (1 already were)" in out
    with gov.store.read() as conn:
        stored = conn.execute(select(mfa_secrets.c.secret)).scalars().all()
    assert len(stored) == 2 and all(s.startswith("fernet:") for s in stored)
    report = json.loads(_ok(cli("mfa", "encrypt-secrets", "--json")))
    assert report == {"encrypted": 0, "already_current": 2, "unreadable": []}

    store_secret("bob", "fernet:" + Fernet(Fernet.generate_key()).encrypt(b"X").decode())
    result = cli("mfa", "encrypt-secrets")
    assert result.exit_code == 5
    assert "the TOTP secrets of bob cannot be decrypted" in result.output
    assert "modelyard mfa reset USER" in result.output


def test_audit_verify_and_export(cli, gov: Governance, tmp_path: Path) -> None:
    _ok(cli("users", "create", "root", "--admin", "--password-stdin", input=PASSWORD + "\n"))
    _ok(cli("mfa", "require", "on"))
    _ok(cli("mfa", "require", "off"))
    out = _ok(cli("audit", "verify"))
    assert "audit chain intact: 3 events" in out
    report = json.loads(_ok(cli("audit", "verify", "--json")))
    anchor = f"{report['head_seq']}:{report['head_digest']}"
    _ok(cli("audit", "verify", "--anchor", anchor))
    target = tmp_path / "audit.jsonl"
    out = _ok(cli("audit", "export", "--since", "2026-01-01", "--out", str(target)))
    assert "wrote 3 events" in out
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [e["action"] for e in lines] == [
        "user.created",
        "mfa.required_changed",
        "mfa.required_changed",
    ]
    stdout = _ok(cli("audit", "export"))
    assert len(stdout.splitlines()) == 3
    assert _ok(cli("audit", "export", "--since", "2999-01-01")) == ""
    with gov.store.engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(summary="edited"))
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "audit chain broken at event 2: event 2 was altered" in result.output
