"""Small helpers shared across services: ids, clocks, name validation."""

from __future__ import annotations

import re
import time
import uuid

from modelyard.errors import InvalidInput

__all__ = ["new_id", "now_ms", "validate_key", "validate_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_KEY_LENGTH = 250


def new_id() -> str:
    """A new 32-hex-digit identifier."""
    return uuid.uuid4().hex


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def validate_name(value: object, field: str) -> str:
    """Project-style names: letters, digits, ``.``, ``_``, ``-``; 1-128 chars."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(
            f"{field} must be 1-128 characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; got {value!r}",
            field=field,
        )
    return value


def validate_key(value: object, field: str) -> str:
    """Metric, param and tag keys: any printable text up to 250 characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{field} must be a non-empty string of at most {MAX_KEY_LENGTH} characters; "
            f"got {value!r}",
            field=field,
        )
    if _CONTROL.search(value) or value != value.strip():
        raise InvalidInput(
            f"{field} {value!r} has control characters or surrounding spaces", field=field
        )
    return value
