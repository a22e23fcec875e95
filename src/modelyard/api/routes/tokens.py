"""Access tokens of the caller (all tokens for administrators)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_governance
from modelyard.api.auth import before_mfa_enrolment, get_actor
from modelyard.api.schemas.governance import TokenCreate, TokenCreated, TokenPage, TokenPublic
from modelyard.errors import PermissionDenied
from modelyard.governance import Actor, Governance

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"], route_class=Route)
Gov = Annotated[Governance, Depends(get_governance)]
Caller = Annotated[Actor, Depends(get_actor)]


@router.get("", response_model=TokenPage)
def list_tokens(
    actor: Caller,
    gov: Gov,
    everyone: Annotated[bool, Query(alias="all", description="Every user's (admins).")] = False,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> TokenPage:
    """The caller's tokens, or with ``all=true`` every token (administrators)."""
    mine = None if everyone or actor.principal is None else actor.principal.username
    tokens = gov.tokens.list_tokens(mine, actor=actor)
    items, next_cursor = page(tokens, limit, cursor, "tokens", mine)
    return TokenPage(items=[TokenPublic.model_validate(t) for t in items], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, actor: Caller, gov: Gov) -> TokenCreated:
    """A new personal access token for the caller: the secret is in this answer only.

    Needs the password again: send ``password`` unless this is a session that signed in
    within ``server.reauth_window_s`` (403 ``reauth_required`` otherwise). A token minted
    with a token is its child: it expires no later than that token (a later expiry, or
    none, is capped to it) and is revoked with it.
    """
    if actor.principal is None:
        raise PermissionDenied("sign in as a user to create a personal access token")
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    new = gov.tokens.create(
        actor.principal.username,
        body.name,
        actor=actor,
        expires_in=expires,
        password=body.password,
    )
    return TokenCreated(token=TokenPublic.model_validate(new.token), secret=new.secret)


@router.delete("/{token_id}", status_code=204, response_class=Response)
@before_mfa_enrolment
def revoke_token(token_id: str, actor: Caller, gov: Gov) -> None:
    """Revoke a token (the caller's own, or any for administrators) and every token minted
    with it. An account that must still enrol in MFA may revoke too (it is signing out)."""
    gov.tokens.revoke(token_id, actor=actor)
