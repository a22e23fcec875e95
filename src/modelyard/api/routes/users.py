"""User accounts (global administrators): list, create, disable or enable, admin rights,
and multi-factor authentication: a user's status and its reset (a lost authenticator)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_governance
from modelyard.api.auth import get_actor
from modelyard.api.schemas.governance import (
    MfaStatusPublic,
    UserAccount,
    UserCreate,
    UserPage,
    UserUpdate,
)
from modelyard.governance import Actor, Governance
from modelyard.governance.identity import require_admin

__all__ = ["router"]

router = APIRouter(prefix="/users", tags=["users"], route_class=Route)
Gov = Annotated[Governance, Depends(get_governance)]
Caller = Annotated[Actor, Depends(get_actor)]


@router.get("", response_model=UserPage)
def list_users(
    actor: Caller, gov: Gov, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> UserPage:
    """Every account, by username (global administrators)."""
    found = gov.users.list_users(actor=actor)
    items, next_cursor = page(found, limit, cursor, "users")
    return UserPage(items=[UserAccount.model_validate(u) for u in items], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=UserAccount)
def create_user(body: UserCreate, actor: Caller, gov: Gov) -> UserAccount:
    """A user who signs in with a password, checked against the password policy (global
    administrators)."""
    new = gov.users.create_user(
        body.username, body.password, actor=actor, admin=body.is_admin, email=body.email
    )
    return UserAccount.model_validate(new)


@router.patch("/{username}", response_model=UserAccount)
def update_user(username: str, body: UserUpdate, actor: Caller, gov: Gov) -> UserAccount:
    """Disable or enable an account, grant or withdraw administrator rights (global
    administrators; the last enabled administrator keeps both)."""
    require_admin(actor, "change accounts")
    if body.disabled is True:
        gov.users.disable_user(username, actor=actor)
    elif body.disabled is False:
        gov.users.enable_user(username, actor=actor)
    if body.is_admin is not None:
        gov.users.set_admin(username, body.is_admin, actor=actor)
    return UserAccount.model_validate(gov.users.get_user(username))


@router.get("/{username}/mfa", response_model=MfaStatusPublic)
def mfa_status(username: str, actor: Caller, gov: Gov) -> MfaStatusPublic:
    """A user's multi-factor authentication: enrolled, confirmed, recovery codes left, and
    whether every account must use it (the user, or global administrators)."""
    return MfaStatusPublic.model_validate(asdict(gov.mfa.status(username, actor=actor)))


@router.delete("/{username}/mfa", status_code=204, response_class=Response)
def reset_mfa(username: str, actor: Caller, gov: Gov) -> None:
    """Remove a user's authenticator and recovery codes, for a lost device (global
    administrators; audited as ``mfa.reset``). They enrol again at their next sign-in when
    MFA is required; 404 when none is enrolled."""
    gov.mfa.reset(username, actor=actor)
