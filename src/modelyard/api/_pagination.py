"""Cursor pagination of the API's lists (projects, artifacts).

A cursor is opaque to clients: the position after the last item of the page, bound to the
list it came from (a cursor of another list, or a forged one, is InvalidInput). Like the
search page tokens, it is a position: a list that changes between pages may shift.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from modelyard.errors import InvalidInput

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Cursor",
    "Limit",
    "cursor_at",
    "cursor_position",
    "page",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

T = TypeVar("T")

Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}.")
]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="next_cursor of the previous page; omit for the first."),
]


def page(
    items: Sequence[T], limit: int, cursor: str | None, *bound_to: Any
) -> tuple[list[T], str | None]:
    """One page of ``items`` and the cursor of the next (None at the end)."""
    fingerprint = _fingerprint(bound_to)
    start = _decode(cursor, fingerprint)
    end = start + limit
    more = end < len(items)
    return list(items[start:end]), _encode(end, fingerprint) if more else None


def cursor_position(cursor: str | None, *bound_to: Any) -> int:
    """The position a cursor of the list ``bound_to`` names (0 for none), for a list read
    a page at a time by a key (a version number) rather than sliced here."""
    return _decode(cursor, _fingerprint(bound_to))


def cursor_at(position: int, *bound_to: Any) -> str:
    """The cursor of the list ``bound_to`` that names ``position``."""
    return _encode(position, _fingerprint(bound_to))


def _fingerprint(bound_to: tuple[Any, ...]) -> str:
    return hashlib.blake2b(json.dumps(bound_to).encode(), digest_size=8).hexdigest()


def _encode(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, fingerprint]).encode()).decode()


def _decode(cursor: str | None, fingerprint: str) -> int:
    if not cursor:
        return 0
    try:
        offset, bound = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if type(offset) is not int or offset < 0 or bound != fingerprint:
            raise ValueError
    except (ValueError, TypeError, UnicodeError):
        raise InvalidInput(
            "cursor is invalid or belongs to a different list", field="cursor"
        ) from None
    return offset
