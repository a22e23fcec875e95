"""Checks and conversions of expectation fields: names, flags, shares, bounds, times,
regular expressions and durations. Each raises InvalidInput naming the field."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modelyard.errors import InvalidInput

__all__ = [
    "anchored",
    "bound",
    "flag",
    "format_duration",
    "names",
    "parse_duration",
    "parse_time",
    "regex_engine",
    "share",
]

Bound = float | str | None


def names(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"{name} must be a list of column names; got {value!r}", field=name)
    names: dict[str, None] = {}
    for item in value:
        if not isinstance(item, str) or not item:
            raise InvalidInput(f"{name} must hold non-empty strings; got {item!r}", field=name)
        names[item] = None
    return tuple(names)


def flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false; got {value!r}", field=name)


def share(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= 1  # also refuses NaN
    ):
        raise InvalidInput(f"{name} must be a number from 0 to 1; got {value!r}", field=name)
    return float(value)


def bound(value: Any, name: str) -> Bound:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            parse_time(value)
        except ValueError:
            raise InvalidInput(
                f"{name} must be a number or an ISO 8601 time; got {value!r}", field=name
            ) from None
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidInput(
            f"{name} must be a number or an ISO 8601 time; got {value!r}", field=name
        )
    return value


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 date or time as a naive UTC datetime (aware times are converted)."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def regex_engine(pattern: str) -> str | None:
    """ "re2" when Arrow compiles ``pattern``, else "python" when ``re`` does, else None."""
    try:
        pc.match_substring_regex(pa.array([""]), pattern=anchored(pattern))
        return "re2"
    except pa.ArrowException:
        pass
    try:
        re.compile(pattern)
        return "python"
    except re.error:
        return None


def anchored(pattern: str) -> str:
    """``pattern`` matching whole strings only (RE2: ``$`` is the end of the text)."""
    return f"^(?:{pattern})$"


_DURATION = re.compile(
    r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(weeks?|w|days?|d|hours?|h|minutes?|min|m|seconds?|sec|s)\b"
    r"\s*,?",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(value: Any, name: str = "max_age") -> dt.timedelta:
    """A positive duration from a ``timedelta``, seconds, or text like "1d 12h"."""
    if isinstance(value, dt.timedelta):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        result = dt.timedelta(seconds=value)
    elif isinstance(value, str):
        text = value.strip()
        position, seconds = 0, 0.0
        for found in _DURATION.finditer(text):
            if found.start() != position:
                break
            seconds += float(found.group(1)) * _UNIT_SECONDS[found.group(2)[0].lower()]
            position = found.end()
        if not text or position != len(text):
            raise InvalidInput(
                f"{name} must be a duration such as '36h', '1d 12h', '2 days', '90m' or "
                f"'45s' (units weeks, days, hours, minutes, seconds); got {value!r}",
                field=name,
            )
        result = dt.timedelta(seconds=seconds)
    else:
        raise InvalidInput(
            f"{name} must be a duration (text like '1d 12h', seconds, or a timedelta); "
            f"got {value!r}",
            field=name,
        )
    if result <= dt.timedelta(0):
        raise InvalidInput(f"{name} must be positive; got {value!r}", field=name)
    return result


def format_duration(value: dt.timedelta) -> str:
    """Compact text :func:`parse_duration` reads back exactly: "1d 12h", "90s", "0.5s"."""
    micros = value // dt.timedelta(microseconds=1)
    parts = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        count, micros = divmod(micros, size)
        if count:
            parts.append(f"{count}{unit}")
    if micros or not parts:
        seconds, fraction = divmod(micros, 1_000_000)
        parts.append(f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".") + "s")
    return " ".join(parts)
