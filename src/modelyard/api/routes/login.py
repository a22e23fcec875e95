"""Sign-in: password (and one-time code) to a session cookie, sign-out, who am I, MFA."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from modelyard._util import now_ms
from modelyard.api._routing import Route
from modelyard.api._services import get_governance
from modelyard.api._throttle import AddressThrottle
from modelyard.api.auth import (
    SESSION_COOKIE,
    before_mfa_enrolment,
    get_actor,
    request_session,
)
from modelyard.api.schemas.governance import (
    LoginRequest,
    LoginResponse,
    MfaCode,
    MfaEnrol,
    MfaEnrolmentPublic,
    MfaRequirement,
    WhoAmI,
)
from modelyard.errors import PermissionDenied, Unauthenticated
from modelyard.governance import Actor, Governance, MfaEnrolmentRequired, MfaRequired

__all__ = ["public_router", "router"]

public_router = APIRouter(prefix="/auth", tags=["auth"], route_class=Route)
router = APIRouter(prefix="/auth", tags=["auth"], route_class=Route)
Gov = Annotated[Governance, Depends(get_governance)]
Caller = Annotated[Actor, Depends(get_actor)]


@public_router.post("/login", response_model=LoginResponse)
def login(body: LoginRequest, request: Request, response: Response, gov: Gov) -> LoginResponse:
    """Sign in with a password (and the one-time code when MFA applies).

    Sets the session cookie (HttpOnly, SameSite=Strict; Secure over HTTPS) and answers the
    CSRF token to send as ``X-CSRF-Token`` with state-changing requests. Wrong
    credentials are 401; a right password that still needs a code is 403
    ``mfa_required`` (or ``mfa_enrolment_required``). Repeated failures lock the
    username out for a while, and many from one client address refuse that address's
    sign-ins with 429 for a while.
    """
    addr = request.client.host if request.client is not None else None
    throttle: AddressThrottle = request.app.state.login_throttle
    throttle.check(addr)
    try:
        new = gov.sessions.sign_in(
            body.username, body.password, totp_code=body.totp_code, client_addr=addr
        )
    except (MfaRequired, MfaEnrolmentRequired):
        raise
    except PermissionDenied as exc:
        throttle.failed(addr)
        raise Unauthenticated(exc.message) from None
    max_age = max(0, (new.expires_at - now_ms()) // 1000)
    response.set_cookie(
        SESSION_COOKIE,
        new.cookie,
        max_age=max_age,
        path=_cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return LoginResponse.model_validate(
        {"user": new.user, "csrf_token": new.csrf_token, "expires_at": new.expires_at}
    )


@router.post("/logout", status_code=204, response_class=Response)
@before_mfa_enrolment
def logout(request: Request, response: Response, actor: Caller, gov: Gov) -> None:
    """End the session of this cookie (a token-authenticated call changes nothing)."""
    session = request_session(request)
    if session is not None:
        gov.sessions.sign_out(session.id, actor=actor)
    response.delete_cookie(
        SESSION_COOKIE, path=_cookie_path(request), httponly=True, samesite="strict"
    )


@router.get("/me", response_model=WhoAmI)
@before_mfa_enrolment
def whoami(request: Request, actor: Caller, gov: Gov) -> WhoAmI:
    """The caller: name, admin flag, how they signed in, and their project roles."""
    principal = actor.principal
    if principal is None:
        return WhoAmI(username=actor.name, is_admin=True, authenticated_by="none", projects={})
    how = "session" if request_session(request) is not None else "token"
    roles = {name: role.value for name, role in gov.roles.projects_of(principal).items()}
    return WhoAmI(
        username=principal.username,
        is_admin=principal.is_admin,
        authenticated_by=how,
        projects=roles,
    )


@router.post("/mfa/enrol", response_model=MfaEnrolmentPublic)
@before_mfa_enrolment
def enrol_mfa(actor: Caller, gov: Gov, body: MfaEnrol | None = None) -> MfaEnrolmentPublic:
    """Start enrolling an authenticator app for the caller; confirm with a first code.

    Whoever enrols holds the second factor, so this needs the password again: send
    ``password`` unless this is a session that signed in within ``server.reauth_window_s``
    (403 ``reauth_required`` otherwise; a token alone never enrols).
    """
    password = body.password if body is not None else None
    enrolment = gov.mfa.enrol(_own_username(actor), actor=actor, password=password)
    return MfaEnrolmentPublic(
        uri=enrolment.uri,
        qr_png_base64=base64.b64encode(enrolment.qr_png).decode(),
        recovery_codes=list(enrolment.recovery_codes),
    )


@router.post("/mfa/confirm", status_code=204, response_class=Response)
@before_mfa_enrolment
def confirm_mfa(body: MfaCode, actor: Caller, gov: Gov) -> None:
    """Complete the caller's enrolment with the current code of the authenticator."""
    gov.mfa.confirm(_own_username(actor), body.code, actor=actor)


@router.put("/mfa/required", response_model=MfaRequirement)
def require_mfa(body: MfaRequirement, actor: Caller, gov: Gov) -> MfaRequirement:
    """Require multi-factor authentication of every account that signs in with a password,
    or stop requiring it (global administrators; audited as ``mfa.required_changed``)."""
    gov.mfa.set_required(body.required, actor=actor)
    return MfaRequirement(required=gov.mfa.is_required())


def _cookie_path(request: Request) -> str:
    """The server's root (under the prefix a proxy mounts it at): the API and the pages."""
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"


def _own_username(actor: Actor) -> str:
    if actor.principal is None:
        raise PermissionDenied("sign in as a user to manage your own authenticator")
    return actor.principal.username
