"""What every page shares: who is looking (:class:`Viewer`), rendering a template with
the layout's context, and the answers that are not a page (sign in first, not found).

A page is a plain FastAPI route answering HTML. It asks :func:`viewer` who is looking:
the same authenticator as the API (the session cookie of a sign-in, or a bearer token), so
a page shows exactly what the API would answer that person, and every action a page
offers is a call to the API (``static/app.js`` sends it with the session's CSRF token),
which checks the role again. Without credentials, or with an expired session, a page
answers a redirect to ``/signin?next=<the page>``; an unknown or deleted object is a
friendly 404 page, a role the viewer lacks a 403 page.

Templates are Jinja2 with autoescaping on: whatever a user wrote (run names, params,
tags, comments) renders as text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelyard.errors import ModelyardError, NotFound, PermissionDenied, Unauthenticated
from modelyard.governance import Actor
from modelyard.governance.mfa import MfaEnrolmentRequired
from modelyard.governance.roles import Role

__all__ = ["TEMPLATES", "Viewer", "page", "render", "viewer"]

UI_DIR = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(UI_DIR / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _fmt_duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = max(0, end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def health_class(score: float | None) -> str:
    """A health score's badge class: good from 80, fair from 50, poor below."""
    if score is None:
        return ""
    return "good" if score >= 80 else ("fair" if score >= 50 else "poor")


TEMPLATES.filters["time"] = _fmt_time
TEMPLATES.filters["value"] = _fmt_value
TEMPLATES.globals["duration"] = _fmt_duration
TEMPLATES.globals["health_class"] = health_class
TEMPLATES.globals["quote"] = lambda text: quote(str(text), safe="")


@dataclass(slots=True)
class Viewer:
    """Who is looking at a page: their actor (for the services), name, whether they are a
    global admin, and their role in each project they are a member of (everything for
    the local operator of a ``--no-auth`` server)."""

    actor: Actor
    name: str
    is_admin: bool
    signed_in: bool
    roles: dict[str, Role] = field(default_factory=dict)

    def role(self, project: str) -> Role | None:
        if self.is_admin:
            return Role.ADMIN
        return self.roles.get(project)

    def can(self, project: str, needed: str) -> bool:
        """Whether the viewer's role in ``project`` includes ``needed`` (a page offers
        an action only then; the API checks again)."""
        role = self.role(project)
        return role is not None and role.includes(Role.parse(needed))


class SignInFirst(Exception):
    """No credentials, or a session that expired: the page redirects to sign-in."""


class EnrolFirst(Exception):
    """The account must enrol in MFA before it may look at anything else."""


def viewer(request: Request) -> Viewer:
    """The viewer of this request, authenticated as the API authenticates (raises
    :class:`SignInFirst` without credentials, :class:`EnrolFirst` before MFA enrolment)."""
    from modelyard.api._services import get_services
    from modelyard.api.auth import get_actor

    try:
        actor = get_actor(request)
    except MfaEnrolmentRequired:
        raise EnrolFirst from None
    except (Unauthenticated, PermissionDenied):
        raise SignInFirst from None
    principal = actor.principal
    if principal is None:
        return Viewer(actor, actor.name, is_admin=True, signed_in=False)
    roles = get_services(request).governance.roles.projects_of(principal)
    return Viewer(actor, principal.username, principal.is_admin, signed_in=True, roles=roles)


def render(
    request: Request, template: str, who: Viewer | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """``template`` rendered with the layout's context: the viewer, the request's path,
    and the project the page is about (``project=...``, for the navigation)."""
    html = TEMPLATES.get_template(template).render(
        request=request, viewer=who, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status, headers=_NO_STORE)


#: Pages show what one person may see: never kept by a shared cache.
_NO_STORE = {"Cache-Control": "no-store"}


def page(endpoint: Callable[..., Response]) -> Callable[..., Response]:
    """Wrap a page: a redirect to sign-in when nobody is signed in, a 404 page for a
    missing object, a 403 page for a role the viewer lacks, and a 422-style page for a
    bad query parameter (the message and its field)."""

    @functools.wraps(endpoint)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return endpoint(*args, **kwargs)
        except SignInFirst:
            return sign_in_redirect(request)
        except EnrolFirst:
            return RedirectResponse("/account/mfa", status_code=303)
        except NotFound as exc:
            return render(request, "error.html", _quiet_viewer(request), 404, error=exc)
        except PermissionDenied as exc:
            return render(request, "error.html", _quiet_viewer(request), 403, error=exc)
        except ModelyardError as exc:
            status = exc.http_status if 400 <= exc.http_status < 500 else 500
            return render(request, "error.html", _quiet_viewer(request), status, error=exc)

    return wrapped


def sign_in_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, which comes back to this page once signed in."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


def _quiet_viewer(request: Request) -> Viewer | None:
    """The viewer for an error page (None when that fails too: the page still shows)."""
    try:
        return viewer(request)
    except Exception:
        return None
