"""Who is calling: the one authentication dependency of the API.

Every route under ``/api/v1`` except ``/health`` depends on :func:`get_principal`, which
asks the app's :class:`Authenticator` (given to ``create_app(settings, auth=...)``) who
made the request. The only authenticator today is :func:`no_auth` (everyone is the local
operator; the CLI allows it on loopback addresses only). Token and session authentication
plug in here as another ``Authenticator``: a callable that reads the request (the
``Authorization`` header, a session cookie) and returns a :class:`Principal` or raises
``PermissionDenied``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

__all__ = ["LOCAL_OPERATOR", "Authenticator", "Principal", "get_principal", "no_auth"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as the authenticator established it."""

    name: str
    authenticated: bool


class Authenticator(Protocol):
    """Turns a request into its principal, or raises ``PermissionDenied``."""

    def __call__(self, request: Request) -> Principal: ...


LOCAL_OPERATOR = Principal(name="local", authenticated=False)


def no_auth(request: Request) -> Principal:
    """Authentication off (``modelyard server --no-auth``): every caller is the local
    operator."""
    return LOCAL_OPERATOR


def get_principal(request: Request) -> Principal:
    """FastAPI dependency: the principal of this request, from the app's authenticator."""
    authenticate: Authenticator = request.app.state.authenticate
    return authenticate(request)
