"""Lookups the governance services share: usernames and user rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from modelyard._util import validate_name
from modelyard.errors import NotFound
from modelyard.store.tables import users

__all__ = ["find_user", "normalize_username"]


def normalize_username(value: object) -> str:
    """Usernames are case-insensitive: validated like project names, stored lower-case."""
    return validate_name(value, "username").lower()


def find_user(conn: Connection, username: str) -> Any:
    """The ``users`` row of ``username``, or NotFound."""
    name = normalize_username(username)
    row = conn.execute(select(users).where(users.c.username == name)).first()
    if row is None:
        raise NotFound(f"user {name!r} does not exist", field="username")
    return row
