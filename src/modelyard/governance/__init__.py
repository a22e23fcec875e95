"""Governance: users, passwords and MFA, access tokens, project roles, the audit chain.

Each concept is one service over a :class:`~modelyard.store.Store`; :class:`Governance`
builds them all around one shared audit log. ``docs/governance.md`` describes the rules.
"""

from modelyard.governance.audit import AuditEvent, AuditLog, ChainReport
from modelyard.governance.identity import SYSTEM, Actor, Principal, ReauthRequired
from modelyard.governance.mfa import (
    EncryptionReport,
    Enrolment,
    MfaEnrolmentRequired,
    MfaRequired,
    MfaService,
    MfaStatus,
)
from modelyard.governance.roles import Member, Role, RoleService
from modelyard.governance.secret_box import SecretBox, SecretUnreadable
from modelyard.governance.service import Governance
from modelyard.governance.sessions import NewSession, Session, SessionService
from modelyard.governance.tokens import NewToken, Token, TokenService
from modelyard.governance.users import User, UserService

__all__ = [
    "SYSTEM",
    "Actor",
    "AuditEvent",
    "AuditLog",
    "ChainReport",
    "EncryptionReport",
    "Enrolment",
    "Governance",
    "Member",
    "MfaEnrolmentRequired",
    "MfaRequired",
    "MfaService",
    "MfaStatus",
    "NewSession",
    "NewToken",
    "Principal",
    "ReauthRequired",
    "Role",
    "RoleService",
    "SecretBox",
    "SecretUnreadable",
    "Session",
    "SessionService",
    "Token",
    "TokenService",
    "User",
    "UserService",
]
