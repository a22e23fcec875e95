"""Project members: who holds which role (project admins manage them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from modelyard.api._pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, page
from modelyard.api._routing import Route
from modelyard.api._services import get_governance
from modelyard.api.auth import get_actor
from modelyard.api.schemas.governance import MemberGrant, MemberPage, MemberPublic
from modelyard.governance import Actor, Governance

__all__ = ["router"]

router = APIRouter(prefix="/projects/{name}/members", tags=["members"], route_class=Route)
Gov = Annotated[Governance, Depends(get_governance)]
Caller = Annotated[Actor, Depends(get_actor)]


@router.get("", response_model=MemberPage)
def list_members(
    name: str, actor: Caller, gov: Gov, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> MemberPage:
    """Members of the project with their roles (any member may look)."""
    members = gov.roles.list_members(name, actor=actor)
    items, next_cursor = page(members, limit, cursor, "members", name)
    return MemberPage(
        items=[MemberPublic.model_validate(m) for m in items], next_cursor=next_cursor
    )


@router.put("/{username}", response_model=MemberPublic)
def grant_role(
    name: str, username: str, body: MemberGrant, actor: Caller, gov: Gov
) -> MemberPublic:
    """Give a user a role on the project, replacing any role they had (project admins)."""
    return MemberPublic.model_validate(gov.roles.grant(name, username, body.role, actor=actor))


@router.delete("/{username}", status_code=204, response_class=Response)
def revoke_role(name: str, username: str, actor: Caller, gov: Gov) -> None:
    """Remove a user from the project (project admins)."""
    gov.roles.revoke(name, username, actor=actor)
