"""Lookups the governance services share: usernames and user rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from modelyard._util import validate_name
from modelyard.errors import NotFound
from modelyard.store.tables import users

__all__ = ["find_user", "missing_user", "normalize_username"]


def normalize_username(value: object) -> str:
    """Usernames are case-insensitive: validated like project names, stored lower-case."""
    return validate_name(value, "username").lower()


def find_user(conn: Connection, username: str) -> Any:
    """The ``users`` row of ``username``, or NotFound."""
    name = normalize_username(username)
    row = conn.execute(select(users).where(users.c.username == name)).first()
    if row is None:
        raise missing_user(name)
    return row


def missing_user(username: str) -> NotFound:
    """The answer for a user that does not exist, or another account a user may not act
    on (``require_self_or_admin``): the same, so that neither can be told apart."""
    return NotFound(f"user {normalize_username(username)!r} does not exist", field="username")
