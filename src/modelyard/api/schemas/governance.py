"""Sign-in, the caller, access tokens, project members and the audit log on the wire."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from modelyard.api.schemas._types import Public, ShortText
from modelyard.governance._passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from modelyard.governance.tokens import MAX_TOKEN_LIFETIME

__all__ = [
    "AuditEventPublic",
    "AuditPage",
    "LoginRequest",
    "LoginResponse",
    "MemberGrant",
    "MemberPage",
    "MemberPublic",
    "MfaCode",
    "MfaEnrolmentPublic",
    "MfaRequirement",
    "MfaStatusPublic",
    "TokenCreate",
    "TokenCreated",
    "TokenPage",
    "TokenPublic",
    "UserAccount",
    "UserCreate",
    "UserPage",
    "UserUpdate",
    "WhoAmI",
]


class LoginRequest(BaseModel):
    username: ShortText
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    totp_code: ShortText | None = Field(
        None, description="The 6-digit code of the authenticator app, or a recovery code."
    )


class UserPublic(Public):
    username: str
    email: str | None
    is_admin: bool
    is_service_account: bool


class UserAccount(UserPublic):
    id: str
    disabled_at: int | None
    created_at: int
    last_login_at: int | None


class UserPage(Public):
    items: list[UserAccount]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class UserCreate(BaseModel):
    username: ShortText
    password: str = Field(max_length=MAX_PASSWORD_LENGTH, description="Checked against the policy.")
    email: ShortText | None = None
    is_admin: bool = Field(False, description="A global administrator.")


class UserUpdate(BaseModel):
    disabled: bool | None = Field(None, description="Disable (true) or enable (false) the account.")
    is_admin: bool | None = Field(
        None, description="Grant (true) or withdraw (false) admin rights."
    )


class LoginResponse(Public):
    user: UserPublic
    csrf_token: str = Field(
        description="Send as the `X-CSRF-Token` header with every state-changing request "
        "authenticated by the session cookie."
    )
    expires_at: int = Field(description="When the session ends at the latest (ms since epoch).")


class WhoAmI(Public):
    username: str
    is_admin: bool
    authenticated_by: Literal["token", "session", "none"]
    projects: dict[str, str] = Field(description="Project name -> the caller's role there.")


class MfaEnrolmentPublic(Public):
    uri: str = Field(description="otpauth:// URI for the authenticator app (shown once).")
    qr_png_base64: str = Field(description="The same URI as a QR code, PNG, base64.")
    recovery_codes: list[str] = Field(description="Single-use recovery codes (shown once).")


class MfaCode(BaseModel):
    code: ShortText


class MfaStatusPublic(Public):
    username: str
    enrolled: bool = Field(description="An authenticator is enrolled (confirmed or not).")
    confirmed: bool = Field(description="Its enrolment is confirmed: sign-in asks for a code.")
    recovery_codes_left: int
    required: bool = Field(description="Every account must use MFA to sign in with a password.")


class MfaRequirement(BaseModel):
    required: bool = Field(description="Require MFA of every account signing in with a password.")


_REAUTH = (
    "Your current password (re-authentication): needed with an access token, or when the "
    "session signed in more than `server.reauth_window_s` ago."
)


class MfaEnrol(BaseModel):
    password: str | None = Field(None, max_length=MAX_PASSWORD_LENGTH, description=_REAUTH)


class TokenCreate(BaseModel):
    name: ShortText
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKEN_LIFETIME.days,
        description=f"Days until it expires, at most {MAX_TOKEN_LIFETIME.days}; omit for no "
        "expiry.",
    )

    password: str | None = Field(None, max_length=MAX_PASSWORD_LENGTH, description=_REAUTH)


class TokenPublic(Public):
    id: str
    username: str
    name: str
    service_account: bool
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    last_used_at: int | None
    state: str
    parent_id: str | None = Field(
        description="The token that minted this one: it expires no later and is revoked with it."
    )


class TokenPage(Public):
    items: list[TokenPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class TokenCreated(Public):
    token: TokenPublic
    secret: str = Field(description="The whole token: shown this once, never again.")


class MemberGrant(BaseModel):
    role: ShortText = Field(description="viewer, contributor, approver or admin.")


class MemberPublic(Public):
    project: str
    username: str
    role: str
    granted_at: int
    granted_by: str


class MemberPage(Public):
    items: list[MemberPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class AuditEventPublic(Public):
    seq: int
    time: int
    actor: str
    action: str
    object_type: str
    object_id: str
    summary: str
    client_addr: str | None
    prev_digest: str
    digest: str


class AuditPage(Public):
    items: list[AuditEventPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
