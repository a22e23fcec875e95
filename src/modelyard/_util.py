"""Small helpers shared across services: ids, clocks, name validation, pausing the
garbage collector."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from modelyard import limits
from modelyard.errors import InvalidInput

__all__ = [
    "canonical_json",
    "gc_paused",
    "new_id",
    "now_ms",
    "refuse_duplicate_keys",
    "validate_key",
    "validate_name",
]


_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{limits.NAME - 1}}}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_id() -> str:
    """A new 32-hex-digit identifier."""
    return uuid.uuid4().hex


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def validate_name(value: object, field: str) -> str:
    """Project-style names: letters, digits, ``.``, ``_``, ``-``; 1-128 chars."""
    if isinstance(value, str):
        limits.check_text(value, field, limits.NAME)
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(
            f"{field} must be 1-{limits.NAME} characters of letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit; got {limits.preview(value)}",
            field=field,
        )
    return value


def validate_key(value: object, field: str) -> str:
    """Metric, param and tag keys: any printable text up to 250 characters."""
    if isinstance(value, str):
        limits.check_text(value, field, limits.KEY)
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{field} must be a non-empty string of at most {limits.KEY} characters; "
            f"got {limits.preview(value)}",
            field=field,
        )
    if _CONTROL.search(value) or value != value.strip():
        raise InvalidInput(
            f"{field} {value!r} has control characters or surrounding spaces", field=field
        )
    return value


class _GcPauses:
    """How many blocks in this process want the collector off (it is process-wide)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.was_enabled = False

    def enter(self) -> None:
        with self.lock:
            if self.count == 0:
                self.was_enabled = gc.isenabled()
                gc.disable()
            self.count += 1

    def leave(self) -> None:
        with self.lock:
            self.count -= 1
            if self.count == 0 and self.was_enabled:
                gc.enable()


_GC_PAUSES = _GcPauses()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block, in any thread.

    For work that makes 100,000s of short-lived containers (rows of a batch, points of a
    history): CPython would otherwise run full collections over everything the process
    holds while they are alive. Pauses are counted, so overlapping blocks in several
    threads (a server's thread pool) re-enable the collector only when the last one ends,
    and only if it was enabled before the first began.
    """
    _GC_PAUSES.enter()
    try:
        yield
    finally:
        _GC_PAUSES.leave()


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook`` that refuses an object with a key twice (a
    ``JSONDecodeError``): which of two values a parser keeps differs between parsers, so a
    proxy and a server could read two different requests."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise json.JSONDecodeError(f"an object has the key {key!r} twice", "", 0)
            seen.add(key)
    return found


def canonical_json(value: Any, where: str = "value") -> str:
    """``value`` as canonical JSON (sorted keys, no spaces); InvalidInput naming ``where``
    for anything but None, bools, ints, finite floats, strings, lists, tuples and dicts
    with string keys."""
    _check_canonical(value, where)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError as exc:  # an int too long to print (sys.set_int_max_str_digits)
        raise InvalidInput(f"{where} has no canonical JSON: {exc}", field=where) from None


def _check_canonical(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where} is {value}, which has no canonical JSON", field=where)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_canonical(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(
                    f"{where} has the key {key!r}; only string keys have canonical JSON",
                    field=where,
                )
            _check_canonical(item, f"{where}[{key!r}]")
        return
    raise InvalidInput(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which has no "
        "canonical JSON; pass plain values (str, int, float, bool, None, lists, dicts) as "
        "params, or make it the output of a step",
        field=where,
    )
