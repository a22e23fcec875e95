"""The account (MFA enrolment, tokens), sign-in with a one-time code, user
administration, a project's members and the audit log, in Chromium."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyotp
import pytest
from sqlalchemy import select, update
from ui_support import PASSWORD, PROJECT, UiServer, Watched, critical_violations, pretty, sign_in

from modelyard.governance import SYSTEM, Governance
from modelyard.sdk.client import Client
from modelyard.store.tables import audit_events

if TYPE_CHECKING:
    from playwright.sync_api import Page

EVIL = "<script>window.__owned = 1</script><b>bold</b>"
SEEDED_EVENTS = 60


@dataclass(frozen=True)
class Otp:
    """The authenticator of the user ``otp``: its secret and recovery codes."""

    secret: str
    codes: list[str]


@pytest.fixture(scope="module")
def gov(ui_server: UiServer) -> Iterator[Governance]:
    with Client(ui_server.settings) as client:
        yield client.services.governance


@pytest.fixture(scope="module")
def seeded(ui_server: UiServer, gov: Governance) -> Otp:
    """``otp`` with a confirmed authenticator (its secret and recovery codes), ``enroller``
    and ``late`` without one, ``padmin`` the project's admin (not a global one), a user
    whose email holds markup, and enough audit events for two pages."""
    for name in ("otp", "enroller", "late", "padmin"):
        gov.users.create_user(name, PASSWORD, actor=SYSTEM)
    gov.roles.grant(PROJECT, "padmin", "admin", actor=SYSTEM)
    gov.users.create_user("marked", PASSWORD, actor=SYSTEM, email="<i>x</i>@example.org")
    enrolment = gov.mfa.enrol("otp", actor=SYSTEM)
    gov.mfa.confirm("otp", pyotp.TOTP(enrolment.secret).now(), actor=SYSTEM)
    with gov.store.write() as conn:
        for i in range(SEEDED_EVENTS):
            gov.audit.append(
                conn,
                actor="seeder",
                action="thing.touched",
                object_type="thing",
                object_id=str(i),
                summary=EVIL,
            )
    return Otp(enrolment.secret, list(enrolment.recovery_codes))


def _password_step(page: Page, base: str, username: str, next: str = "/") -> None:
    page.goto(f"{base}/signin?next={next}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _code_step(page: Page, code: str) -> None:
    page.get_by_label("One-time code or recovery code").fill(code)
    page.get_by_role("button", name="Sign in").click()


def _next_code(secret: str) -> str:
    """The code of the next 30-second step (the current one may have been used)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_sign_in_with_a_one_time_code(
    ui_server: UiServer,
    seeded: Otp,
    new_page: Callable[[], Page],
    watched: Watched,
) -> None:
    watched.allow("status of 403")  # the password alone is answered mfa_required
    page = new_page()
    _password_step(page, ui_server.url, "otp", "/account")
    code_box = page.get_by_label("One-time code or recovery code")
    code_box.wait_for()
    assert "6-digit code" in page.get_by_role("alert").inner_text()
    assert page.url.startswith(f"{ui_server.url}/signin")
    _code_step(page, _next_code(seeded.secret))
    page.wait_for_url(f"{ui_server.url}/account")
    assert page.locator("#h-mfa + p").inner_text().startswith("Status: enrolled")


def test_a_recovery_code_works_once(
    ui_server: UiServer,
    seeded: Otp,
    new_page: Callable[[], Page],
    watched: Watched,
) -> None:
    watched.allow("status of 403")
    watched.allow("status of 401")  # the recovery code used a second time
    code = seeded.codes[0]
    page = new_page()
    _password_step(page, ui_server.url, "otp")
    _code_step(page, code)
    page.wait_for_url(f"{ui_server.url}/")
    page.goto(f"{ui_server.url}/account")
    assert "9 recovery codes left" in page.locator("#h-mfa + p").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{ui_server.url}/signin")
    _password_step(page, ui_server.url, "otp")
    page.get_by_label("One-time code or recovery code").wait_for()
    with page.expect_response("**/api/v1/auth/login") as answer:
        _code_step(page, code)
    assert answer.value.status == 401
    assert "not valid" in page.get_by_role("alert").inner_text()


def _enrol_in_the_page(page: Page) -> None:
    """Start an enrolment, check what it shows, confirm with the address's code."""
    page.get_by_role("button", name="Set up an authenticator app").click()
    qr = page.get_by_role("img", name="QR code of your authenticator address")
    qr.wait_for()
    assert page.evaluate("document.getElementById('mfa-qr').naturalWidth") > 100
    uri = page.locator("#mfa-uri").inner_text()
    assert uri.startswith("otpauth://totp/Modelyard:")
    assert page.locator("#mfa-codes li").count() == 10
    assert page.get_by_text("Keep these codes somewhere safe").is_visible()
    page.get_by_label("Code shown by the app").fill(pyotp.parse_uri(uri).now())
    page.get_by_role("button", name="Confirm").click()
    page.locator("#h-mfa + p", has_text="Status: enrolled").wait_for()
    assert page.url.endswith("/account")


def test_mfa_enrolment_in_the_browser(
    ui_server: UiServer, seeded: Otp, new_page: Callable[[], Page], gov: Governance
) -> None:
    page = new_page()
    sign_in(page, ui_server.url, "enroller")
    page.goto(f"{ui_server.url}/account")
    assert page.locator("#h-mfa + p").inner_text().startswith("Status: not enrolled")
    _enrol_in_the_page(page)
    assert gov.mfa.status("enroller", actor=SYSTEM).confirmed


def test_a_wrong_confirmation_code_says_so(
    ui_server: UiServer,
    seeded: Otp,
    signed_in: Callable[[str], Page],
    watched: Watched,
) -> None:
    watched.allow("status of 403")
    page = signed_in("approver")
    page.goto(f"{ui_server.url}/account")
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.get_by_label("Code shown by the app").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    page.locator("#mfa-confirm [data-error]", has_text="does not match").wait_for()


def test_an_account_that_must_enrol_is_sent_to_enrolment(
    ui_server: UiServer, seeded: Otp, new_page: Callable[[], Page], gov: Governance
) -> None:
    page = new_page()
    sign_in(page, ui_server.url, "late")
    gov.mfa.set_required(True, actor=SYSTEM)
    try:
        page.goto(f"{ui_server.url}/projects/{PROJECT}")
        page.wait_for_url(f"{ui_server.url}/account/mfa")
        assert "enrol before anything else" in page.locator("#h-mfa + p").inner_text()
        _enrol_in_the_page(page)
        page.goto(f"{ui_server.url}/")
        assert page.url == f"{ui_server.url}/"
    finally:
        gov.mfa.set_required(False, actor=SYSTEM)


def test_tokens_are_created_shown_once_and_revoked(
    ui_server: UiServer, seeded: Otp, signed_in: Callable[[str], Page]
) -> None:
    page = signed_in("viewer")
    page.goto(f"{ui_server.url}/account")
    page.get_by_label("Name").fill(EVIL)
    page.get_by_label("Expires in days").fill("7")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret")
    secret.wait_for()
    assert secret.inner_text().startswith("my_pat_")
    page.get_by_role("link", name="Done").click()
    page.wait_for_load_state()
    row = page.locator("#tokens tbody tr", has_text="bold")
    assert EVIL in row.inner_text()  # the name renders as text
    assert page.evaluate("window.__owned") is None
    assert "my_pat_" not in page.content()  # the secret is never shown again
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_load_state()
    page.locator("#tokens tbody tr", has_text="revoked").wait_for()


def test_an_admin_creates_a_user_and_grants_a_role(
    ui_server: UiServer,
    seeded: Otp,
    signed_in: Callable[[str], Page],
    gov: Governance,
) -> None:
    page = signed_in("admin")
    page.goto(f"{ui_server.url}/admin/users")
    assert "<i>x</i>@example.org" in page.locator("tr[data-user=marked]").inner_text()
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    row = page.locator("tr[data-user=newbie]")
    row.wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Disable").click()
    page.locator("tr[data-user=newbie]", has_text="disabled").wait_for()
    page.locator("tr[data-user=newbie]").get_by_role("button", name="Enable").click()
    page.locator("tr[data-user=newbie]", has_text="active").wait_for()
    assert not gov.users.get_user("newbie").disabled

    page.goto(f"{ui_server.url}/projects/{PROJECT}/members")
    page.get_by_label("User", exact=True).fill("newbie")
    page.get_by_label("Role", exact=True).select_option("contributor")
    page.get_by_role("button", name="Grant").click()
    member = page.locator("tr[data-member=newbie]")
    member.wait_for()
    assert "contributor" in member.inner_text()
    assert gov.roles.role_of(gov.users.get_user("newbie").principal(), PROJECT) == "contributor"
    page.once("dialog", lambda dialog: dialog.accept())
    member.get_by_role("button", name="Revoke").click()
    page.wait_for_load_state()
    page.locator("tr[data-member=newbie]").wait_for(state="detached")


def test_an_admin_resets_a_lost_authenticator_and_requires_two_factor(
    ui_server: UiServer, seeded: Otp, signed_in: Callable[[str], Page], gov: Governance
) -> None:
    gov.users.create_user("lost", PASSWORD, actor=SYSTEM)
    enrolment = gov.mfa.enrol("lost", actor=SYSTEM)
    gov.mfa.confirm("lost", pyotp.TOTP(enrolment.secret).now(), actor=SYSTEM)
    page = signed_in("admin")
    page.goto(f"{ui_server.url}/admin/users")
    row = page.locator("tr[data-user=lost]")
    assert row.locator("td.mfa").inner_text() == "on (10 recovery codes left)"
    assert page.locator("tr[data-user=marked] td.mfa").inner_text() == "off"
    assert page.locator("tr[data-user=marked]").get_by_role("button", name="Reset").count() == 0
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Reset two-factor lost").click()
    page.locator("tr[data-user=lost] td.mfa", has_text="off").wait_for()
    assert not gov.mfa.status("lost", actor=SYSTEM).enrolled
    assert page.locator("tr[data-user=lost]").get_by_role("button", name="Reset").count() == 0
    try:
        assert page.locator("#mfa-required").inner_text().startswith("Not required")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Require it for everyone").click()
        page.wait_for_url(f"{ui_server.url}/account/mfa")  # this admin has no authenticator
        assert gov.mfa.is_required()
    finally:
        gov.mfa.set_required(False, actor=SYSTEM)  # the module's other users sign in without


def test_a_weak_password_is_refused_beside_the_form(
    ui_server: UiServer,
    seeded: Otp,
    signed_in: Callable[[str], Page],
    watched: Watched,
) -> None:
    watched.allow("status of 422")
    page = signed_in("admin")
    page.goto(f"{ui_server.url}/admin/users")
    page.get_by_label("Username").fill("weakling")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create user").click()
    page.locator("#user-create [data-error]", has_text="password").wait_for()
    assert page.locator("tr[data-user=weakling]").count() == 0


def test_who_may_not_administer_gets_403_and_no_buttons(
    ui_server: UiServer,
    seeded: Otp,
    signed_in: Callable[[str], Page],
    watched: Watched,
) -> None:
    watched.allow("status of 403")
    page = signed_in("viewer")
    for path in ("/admin/users", f"/projects/{PROJECT}/audit"):
        answer = page.goto(f"{ui_server.url}{path}")
        assert answer is not None and answer.status == 403, path
        assert page.get_by_role("heading", name="Not allowed").is_visible()
    page.goto(f"{ui_server.url}/projects/{PROJECT}/members")
    assert page.locator("tr[data-member=viewer]").is_visible()
    assert page.get_by_role("button", name="Grant").count() == 0
    assert page.get_by_role("button", name="Revoke").count() == 0
    status = page.evaluate(
        """() => window.modelyard.api("PUT", "/projects/demo/members/viewer", {role: "admin"})
              .then(() => 200, (err) => err.status)"""
    )
    assert status == 403  # the API refuses anyway
    assert page.get_by_role("link", name="Users").count() == 0


def test_the_audit_log_with_its_chain_status_and_filters(
    ui_server: UiServer,
    seeded: Otp,
    signed_in: Callable[[str], Page],
    gov: Governance,
) -> None:
    page = signed_in("admin")
    page.goto(f"{ui_server.url}/projects/{PROJECT}/audit")
    chain = page.get_by_role("status")
    assert chain.get_by_role("heading", name="Chain verified").is_visible()
    total = gov.audit.verify(actor=SYSTEM).count
    assert f"All {total} events are intact" in chain.inner_text()
    seqs = [int(s) for s in page.locator("#events tbody td.num").all_inner_texts()]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 50 and seqs[0] >= total - 5
    assert EVIL in page.locator("#events").inner_text()  # summaries render as text
    assert page.evaluate("window.__owned") is None

    page.get_by_role("link", name="Older events").click()
    page.wait_for_url("**before=*")
    older = [int(s) for s in page.locator("#events tbody td.num").all_inner_texts()]
    assert older[0] == seqs[-1] - 1
    page.get_by_role("link", name="Newest").click()

    page.get_by_label("Action", exact=True).fill("user")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**action=user*")
    actions = page.locator("#events tbody td:nth-child(4)").all_inner_texts()
    assert actions and all(a.startswith("user.") for a in actions)
    page.get_by_label("Action", exact=True).fill("")
    page.get_by_label("Actor", exact=True).fill("seeder")
    page.get_by_label("From", exact=True).fill("2000-01-01")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**actor=seeder*")
    actors = page.locator("#events tbody td:nth-child(3)").all_inner_texts()
    assert set(actors) == {"seeder"} and len(actors) == 50
    page.get_by_label("To", exact=True).fill("2000-01-02")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("No events match.").wait_for()


def test_a_broken_chain_is_shown_where_it_breaks(
    ui_server: UiServer,
    seeded: Otp,
    signed_in: Callable[[str], Page],
    gov: Governance,
) -> None:
    with gov.store.read() as conn:
        seq, summary = conn.execute(
            select(audit_events.c.seq, audit_events.c.summary).where(
                audit_events.c.actor == "seeder"
            )
        ).first()  # type: ignore[misc]
    with gov.store.write() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(summary="x"))
    try:
        page = signed_in("admin")
        page.goto(f"{ui_server.url}/projects/{PROJECT}/audit")
        chain = page.get_by_role("status")
        assert chain.get_by_role("heading", name=f"Chain broken at event {seq}").is_visible()
        assert f"event {seq} was altered" in chain.inner_text()
        assert f"Verified up to event {seq - 1}" in chain.inner_text()
    finally:
        with gov.store.write() as conn:
            conn.execute(
                update(audit_events).where(audit_events.c.seq == seq).values(summary=summary)
            )


@pytest.mark.parametrize(
    ("role", "paths"),
    [
        ("admin", ["/account", "/admin/users", "/projects/demo/members", "/projects/demo/audit"]),
        ("viewer", ["/account", "/projects/demo/members"]),
        ("otp", ["/account"]),
        ("padmin", ["/account", "/projects/demo/members"]),
    ],
)
def test_each_page_loads_with_no_critical_violation(
    ui_server: UiServer,
    seeded: Otp,
    new_page: Callable[[], Page],
    watched: Watched,
    role: str,
    paths: list[str],
) -> None:
    page = new_page()
    if role == "otp":
        watched.allow("status of 403")
        _password_step(page, ui_server.url, "otp")
        _code_step(page, seeded.codes[1])
        page.wait_for_url(f"{ui_server.url}/")
    else:
        sign_in(page, ui_server.url, role)
    for path in paths:
        answer = page.goto(f"{ui_server.url}{path}")
        assert answer is not None and answer.status == 200, path
        found = critical_violations(page)
        assert found == [], f"{path}: {pretty(found)}"
    if role == "padmin":  # a project's admin manages its members, not the users
        assert page.get_by_role("button", name="Grant").is_visible()
        assert page.locator("#known-users").count() == 0
    if role != "otp":
        page.goto(f"{ui_server.url}/account")
        page.get_by_role("button", name="Set up an authenticator app").click()
        page.locator("#mfa-qr").wait_for()
        found = critical_violations(page)
        assert found == [], pretty(found)
