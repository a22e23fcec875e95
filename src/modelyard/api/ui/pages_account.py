"""The account (who you are, MFA enrolment, personal access tokens), user administration,
a project's members, and the audit log with the chain's verification status.

Every action on these pages is a call to the API (``static/account.js``): the pages only
show, and offer an action only to whom the API would allow it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from modelyard.api._services import get_services
from modelyard.api.auth import before_mfa_enrolment
from modelyard.api.ui._pages import Viewer, page, render, viewer
from modelyard.errors import InvalidInput, PermissionDenied
from modelyard.governance import MfaStatus, Role

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: Events on a page of the audit log.
AUDIT_ROWS = 50
ROLES = [r.value for r in Role]
_SEQ = re.compile(r"[0-9]{1,18}")


@router.get("/account", response_class=HTMLResponse)
@page
def account(request: Request) -> Response:
    """Who the viewer is, their project roles, their MFA status and enrolment, and their
    personal access tokens (create, revoke)."""
    who = viewer(request)
    if not who.signed_in:
        return render(request, "account.html", who, mfa=None, tokens=[])
    gov = get_services(request).governance
    tokens = gov.tokens.list_tokens(who.name, actor=who.actor)
    return render(request, "account.html", who, mfa=_mfa(request, who), tokens=tokens)


@router.get("/account/mfa", response_class=HTMLResponse)
@page
@before_mfa_enrolment
def account_mfa(request: Request) -> Response:
    """MFA enrolment alone: where an account that must enrol before anything else is
    sent (its session serves this page and the enrolment calls only)."""
    who = viewer(request)
    if not who.signed_in:
        raise PermissionDenied("sign in as a user to enrol an authenticator")
    return render(request, "account_mfa.html", who, mfa=_mfa(request, who))


@router.get("/admin/users", response_class=HTMLResponse)
@page
def users(request: Request) -> Response:
    """Every account (global administrators): create, disable or enable, admin rights,
    each one's multi-factor authentication (reset when its device is lost), and whether
    every account must use it."""
    who = viewer(request)
    _require_admin(who, "manage users")
    gov = get_services(request).governance
    found = gov.users.list_users(actor=who.actor)
    mfa = {u.username: gov.mfa.status(u.username, actor=who.actor) for u in found}
    return render(
        request,
        "account_users.html",
        who,
        users=found,
        mfa=mfa,
        mfa_required=gov.mfa.is_required(),
    )


@router.get("/projects/{project}/members", response_class=HTMLResponse)
@page
def members(request: Request, project: str) -> Response:
    """The project's members and roles (anyone who may view the project); its admins
    grant and revoke roles."""
    who = viewer(request)
    gov = get_services(request).governance
    found = gov.roles.list_members(project, actor=who.actor)
    known = [u.username for u in gov.users.list_users(actor=who.actor)] if who.is_admin else []
    return render(
        request,
        "account_members.html",
        who,
        project=project,
        members=found,
        roles=ROLES,
        known=known,
        can_manage=who.can(project, "admin"),
    )


@router.get("/projects/{project}/audit", response_class=HTMLResponse)
@page
def audit(
    request: Request,
    project: str,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    since: str = "",
    until: str = "",
    before: str = "",
) -> Response:
    """The audit log, newest first, filtered by actor, action, object kind and days, a
    page of :data:`AUDIT_ROWS` at a time, under the chain's verification status. The log
    is the server's (one chain for every project): global administrators read it."""
    who = viewer(request)
    services = get_services(request)
    services.projects.acting_as(who.actor).get(project)
    _require_admin(who, "read the audit log")
    log = services.governance.audit
    error: InvalidInput | None = None
    try:
        since_ms = _day_ms(since, "since")
        until_ms = _day_ms(until, "until", days=1)
        if before and not _SEQ.fullmatch(before):
            raise InvalidInput("before must be an event number", field="before")
        events = log.search(
            actor=who.actor,
            who=actor or None,
            action=action or None,
            object_type=object_type or None,
            since_ms=since_ms,
            until_ms=until_ms,
            before=int(before) if before else None,
            limit=AUDIT_ROWS + 1,
        )
    except InvalidInput as exc:
        error, events = exc, []
    more = len(events) > AUDIT_ROWS
    events = events[:AUDIT_ROWS]
    filters = {
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "since": since,
        "until": until,
    }
    kept = {k: v for k, v in filters.items() if v}
    path = request.url.path
    return render(
        request,
        "account_audit.html",
        who,
        project=project,
        events=events,
        chain=log.verify(actor=who.actor),
        error=error,
        filters=filters,
        older_url=f"{path}?{urlencode({**kept, 'before': events[-1].seq})}" if more else None,
        newest_url=(f"{path}?{urlencode(kept)}" if kept else path) if before else None,
    )


def _mfa(request: Request, who: Viewer) -> MfaStatus:
    return get_services(request).governance.mfa.status(who.name, actor=who.actor)


def _require_admin(who: Viewer, doing: str) -> None:
    if not who.is_admin:
        raise PermissionDenied(f"only global administrators may {doing}")


def _day_ms(text: str, field: str, days: int = 0) -> int | None:
    """The first millisecond (UTC) of the day ``text`` (YYYY-MM-DD), ``days`` later."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field} must be a day, YYYY-MM-DD", field=field) from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=days)
    return int(start.timestamp() * 1000)
