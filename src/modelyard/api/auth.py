"""Who is calling: the one authentication dependency of the API.

Every route under ``/api/v1`` except ``/health``, ``/auth/login`` and the OpenAPI
document depends on :func:`get_actor`, which asks the app's :class:`Authenticator`
(given to ``create_app(settings, auth=...)``) who made the request and returns the
:class:`~modelyard.governance.Actor` the services check and audit.

- :func:`governance_auth` (the default): ``Authorization: Bearer <access token>``, or the
  session cookie of a password sign-in; a cookie-authenticated request that changes state
  must echo the session's CSRF token in ``X-CSRF-Token``. No or bad credentials are 401
  with ``WWW-Authenticate: Bearer``. Refused bearer tokens count per client address
  (``app.state.token_throttle``): past the limit, that address's refused tokens are 429
  and no longer audited, while valid tokens from it still pass (many clients may share
  one address behind a proxy). A token refused because its account must enrol in MFA
  first counts too (and stays 403 ``mfa_enrolment_required``, no longer audited past the
  limit).
- :func:`no_auth` (``modelyard server --no-auth``, loopback only): every caller is the
  trusted local operator.

With MFA required for everyone, an account that has not enrolled may call only the routes
marked :func:`before_mfa_enrolment` (enrol, confirm, who am I, sign out, revoke a token);
its tokens and sessions get 403 ``mfa_enrolment_required`` anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from starlette.requests import Request

from modelyard.errors import PermissionDenied, Unauthenticated
from modelyard.governance.identity import Actor
from modelyard.governance.mfa import MfaEnrolmentRequired

if TYPE_CHECKING:
    from modelyard.api._throttle import AddressThrottle
    from modelyard.governance.sessions import Session

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Authenticator",
    "before_mfa_enrolment",
    "get_actor",
    "governance_auth",
    "no_auth",
    "request_session",
]

SESSION_COOKIE = "modelyard_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BEFORE_ENROLMENT = "_modelyard_before_mfa_enrolment"
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., object])


def before_mfa_enrolment(endpoint: _Endpoint) -> _Endpoint:
    """Mark a route an account that must still enrol in MFA may call with its token or
    session (enrolling, who am I, signing out, revoking a token)."""
    setattr(endpoint, _BEFORE_ENROLMENT, True)
    return endpoint


class Authenticator(Protocol):
    """Turns a request into its actor, or raises Unauthenticated / PermissionDenied."""

    def __call__(self, request: Request) -> Actor: ...


def no_auth(request: Request) -> Actor:
    """Authentication off: every caller is the local operator (trusted, not checked)."""
    return Actor("local", client_addr=_client_addr(request))


def governance_auth(request: Request) -> Actor:
    """A bearer access token or a session cookie (with CSRF on state changes)."""
    from modelyard.api._services import get_services

    governance = get_services(request).governance
    addr = _client_addr(request)
    for_enrolment = getattr(request.scope.get("endpoint"), _BEFORE_ENROLMENT, False)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, credential = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthenticated(
                "the Authorization header must read `Bearer <access token>`",
                field="Authorization",
            )
        throttle: AddressThrottle = request.app.state.token_throttle
        refused = throttle.refusal(addr)
        try:
            principal = governance.tokens.authenticate(
                credential.strip(),
                client_addr=addr,
                audit=refused is None,
                for_enrolment=for_enrolment,
            )
        except MfaEnrolmentRequired:
            throttle.failed(addr)  # counted, so its audit events stay bounded too
            raise
        except PermissionDenied as exc:
            if refused is not None:
                raise refused from None
            throttle.failed(addr)
            raise Unauthenticated(exc.message, field="Authorization") from None
        return Actor.of(principal, addr)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        principal, session = governance.sessions.authenticate(cookie, for_enrolment=for_enrolment)
        if request.method not in _SAFE_METHODS:
            governance.sessions.check_csrf(session, request.headers.get(CSRF_HEADER))
        request.state.session = session
        return Actor.of(principal, addr)
    raise Unauthenticated(
        "sign in first: send `Authorization: Bearer <access token>` "
        "(create one with `modelyard tokens create`) or sign in at POST /api/v1/auth/login"
    )


def get_actor(request: Request) -> Actor:
    """FastAPI dependency: the actor of this request, from the app's authenticator
    (established once per request)."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        authenticate: Authenticator = request.app.state.authenticate
        actor = authenticate(request)
        request.state.actor = actor
    return actor


def request_session(request: Request) -> Session | None:
    """The session a cookie-authenticated request came with (None for tokens)."""
    return getattr(request.state, "session", None)


def _client_addr(request: Request) -> str | None:
    return request.client.host if request.client is not None else None
