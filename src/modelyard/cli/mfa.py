"""``modelyard mfa``: enrol authenticators, reset them, require MFA for everyone, encrypt
the stored secrets with the server key."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import typer

from modelyard.cli._common import JsonOption, console, one_line_errors, print_json
from modelyard.cli._governance import governance, operator

app = typer.Typer(help="Multi-factor authentication (as the local operator).", no_args_is_help=True)


@app.command("enrol")
@one_line_errors
def enrol(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Username."),
    qr: Path | None = typer.Option(
        None, "--qr", help="Where to write the QR code PNG (default: ./<name>-mfa.png)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Start an enrolment: prints the otpauth:// URI and recovery codes, writes the QR code.

    The enrolment counts once confirmed with a first code (modelyard mfa confirm).
    """
    with governance(ctx) as gov:
        enrolment = gov.mfa.enrol(name, actor=operator())
    path = qr if qr is not None else Path(f"{enrolment.username}-mfa.png")
    _write_private(path, enrolment.qr_png)
    if as_json:
        print_json(
            {
                "username": enrolment.username,
                "uri": enrolment.uri,
                "qr_png": str(path),
                "recovery_codes": list(enrolment.recovery_codes),
            }
        )
        return
    console.print(f"authenticator URI: {enrolment.uri}", highlight=False, soft_wrap=True)
    console.print(f"QR code written to {path} (it holds the secret: delete it after use)")
    console.print("recovery codes (each works once; shown only now):")
    for code in enrolment.recovery_codes:
        console.print(f"  {code}", highlight=False)
    console.print(f"confirm with: modelyard mfa confirm {enrolment.username} <code>")


@app.command("confirm")
@one_line_errors
def confirm(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Username."),
    code: str = typer.Argument(..., help="The current 6-digit code from the authenticator."),
) -> None:
    """Complete an enrolment with a first valid code."""
    with governance(ctx) as gov:
        gov.mfa.confirm(name, code, actor=operator())
    console.print(f"authenticator of {name} confirmed")


@app.command("reset")
@one_line_errors
def reset(ctx: typer.Context, name: str = typer.Argument(..., help="Username.")) -> None:
    """Remove a user's authenticator and recovery codes (a lost device)."""
    with governance(ctx) as gov:
        gov.mfa.reset(name, actor=operator())
    console.print(f"multi-factor authentication of {name} reset")


@app.command("status")
@one_line_errors
def status(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Username."),
    as_json: bool = JsonOption,
) -> None:
    """Show whether a user has an authenticator and how many recovery codes are left."""
    with governance(ctx) as gov:
        st = gov.mfa.status(name, actor=operator())
    if as_json:
        print_json(asdict(st))
        return
    state = "confirmed" if st.confirmed else "pending confirmation" if st.enrolled else "none"
    console.print(
        f"{st.username}: authenticator {state}; {st.recovery_codes_left} recovery codes "
        f"left; MFA required for everyone: {'on' if st.required else 'off'}"
    )


@app.command("require")
@one_line_errors
def require(
    ctx: typer.Context,
    setting: str = typer.Argument(..., help="on or off.", metavar="on|off"),
) -> None:
    """Require multi-factor authentication for every password sign-in (or stop)."""
    from modelyard.errors import InvalidInput

    if setting not in {"on", "off"}:
        raise InvalidInput(f"expected on or off, got {setting!r}", field="setting")
    with governance(ctx) as gov:
        gov.mfa.set_required(setting == "on", actor=operator())
    console.print(f"multi-factor authentication required for everyone: {setting}")


@app.command("encrypt-secrets")
@one_line_errors
def encrypt_secrets(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Encrypt every stored TOTP secret with the current server key.

    Covers secrets stored in plain text by earlier versions and secrets under one of
    server.previous_secret_keys (after a key rotation).
    """
    from modelyard.governance import SecretUnreadable

    with governance(ctx) as gov:
        report = gov.mfa.encrypt_secrets(actor=operator())
    if as_json:
        print_json(asdict(report))
    else:
        console.print(
            f"{report.encrypted} TOTP secrets encrypted with the current server key "
            f"({report.already_current} already were)"
        )
    if report.unreadable:
        raise SecretUnreadable(
            f"the TOTP secrets of {', '.join(report.unreadable)} cannot be decrypted with "
            "the configured server key or a previous one: reset their MFA (modelyard mfa "
            "reset USER) and have them enrol again"
        )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (the QR code holds the TOTP secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
