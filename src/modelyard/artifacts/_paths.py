"""Artifact names: normalize user-given names and keep them confined to a root folder.

An artifact name is the path of an artifact inside a run (``reports/confusion.png``).
It is always relative, uses ``/`` as the only separator and can never climb out of the
folder it is written into, however it is spelled (``..``, ``%2e%2e%2f``, ``C:\\``, NUL).
It also reads as what it is: no bidirectional controls or other invisible format
characters (``evil\u202egnp.exe`` shows as ``evilexe.png``), no characters that look like
a slash or a backslash (``a\u2215b`` is one segment that reads as two), and no segment a
Windows machine would open as a device (``CON``, ``nul.txt``, ``COM1``).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from modelyard.errors import InvalidInput

__all__ = ["MAX_NAME_LENGTH", "normalize_artifact_path", "safe_join"]

MAX_NAME_LENGTH = 1024
_MAX_SEGMENT_BYTES = 255  # longest file name most filesystems accept
_MAX_DECODE_ROUNDS = 8
_DRIVE = re.compile(r"^[A-Za-z]:")
# Characters whose percent-encoded form is refused: they would change the path's shape.
_STRUCTURAL = ("/", "\\", ".", ":")
# Bidirectional controls (embeddings, overrides, isolates, marks): they reorder what a
# reader sees. Other format characters (zero-width ones, BOM) are refused as invisible.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters drawn as a slash or a backslash that NFKC does not fold into one (fullwidth
# and small forms fold, and are refused by that check too).
_LOOKALIKE_SLASHES = frozenset(
    "\u2044\u2215\u29f8\uff0f\u27cb\u2571\u1735\u2afb\u2afd\u0337\u0338"  # slashes
    "\u2216\u29f5\u29f9\ufe68\uff3c\u27cd\u2572\u20e5"  # backslashes
)
# Names Windows opens as devices, in any case, with or without an extension
# (``con.txt``), the digit forms with ASCII or superscript digits.
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)


def _reject(name: str, why: str) -> InvalidInput:
    shown = name if len(name) <= 80 else name[:77] + "..."
    return InvalidInput(f"invalid artifact path {shown!r}: {why}", field="path")


def _decode_fully(name: str) -> str:
    """Percent-decode until the text stops changing (catches double encoding)."""
    current = name
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(current, errors="strict") if "%" in current else current
        if decoded == current:
            return current
        current = decoded
    raise _reject(name, "too many levels of percent-encoding")


def _check_chars(name: str, text: str) -> None:
    for ch in text:
        category = unicodedata.category(ch)
        if category in {"Cc", "Cs", "Zl", "Zp"}:
            raise _reject(name, f"character {ch!r} is not allowed")
        if ch in _BIDI:
            raise _reject(name, f"bidirectional-control character U+{ord(ch):04X} is not allowed")
        if category == "Cf":
            raise _reject(name, f"invisible format character U+{ord(ch):04X} is not allowed")
        if ch in _LOOKALIKE_SLASHES:
            raise _reject(
                name, f"U+{ord(ch):04X} looks like a path separator and is not allowed; use '/'"
            )
    if "\\" in text:
        raise _reject(name, "backslashes are not allowed; use '/'")


def _check_device(name: str, segment: str) -> None:
    """Refuse a segment Windows reads as a device: its part before the first dot, without
    trailing spaces (Windows drops them), is a device name."""
    stem = segment.split(".", 1)[0].rstrip(" ").upper()
    if stem in _DEVICES:
        raise _reject(name, f"{segment!r} is a reserved device name on Windows")


def _check_absolute(name: str, text: str) -> None:
    if text.startswith("/"):
        raise _reject(name, "absolute paths are not allowed")
    if _DRIVE.match(text):
        raise _reject(name, "drive-letter paths are not allowed")


def normalize_artifact_path(name: str) -> str:
    """Return the canonical form of an artifact name (``./a//b/`` -> ``a/b``).

    Raises :class:`InvalidInput` (``field="path"``) for empty or over-long names,
    absolute or drive-letter paths, ``..`` segments, backslashes, control characters,
    percent-encoded separators or dots (also double-encoded), bidirectional controls and
    other invisible format characters, look-alike slashes and Windows device names.
    """
    if not isinstance(name, str):
        raise InvalidInput(
            f"artifact path must be a string, not {type(name).__name__}", field="path"
        )
    if not name:
        raise _reject(name, "the name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise _reject(name, f"longer than {MAX_NAME_LENGTH} characters")
    try:
        decoded = _decode_fully(name)
    except UnicodeDecodeError:
        raise _reject(name, "percent-encoding that is not valid UTF-8") from None
    for text in (name, decoded):
        _check_chars(name, text)
        _check_absolute(name, text)
    for ch in _STRUCTURAL:
        if decoded.count(ch) > name.count(ch):
            raise _reject(name, f"percent-encoded {ch!r} is not allowed")
    # Compatibility forms (fullwidth dots and slashes) must not spell a traversal either.
    folded = unicodedata.normalize("NFKC", decoded)
    if folded.count("/") > decoded.count("/") or "\\" in folded:
        raise _reject(name, "look-alike path separators are not allowed")
    _check_absolute(name, folded)

    segments = []
    for raw, fold in zip(name.split("/"), folded.split("/"), strict=True):
        if raw in {"", "."}:
            continue
        if raw == "..":
            raise _reject(name, "'..' segments are not allowed")
        if fold in {"..", "."}:
            raise _reject(name, "look-alike dot segments are not allowed")
        _check_device(name, fold)
        if len(raw.encode("utf-8")) > _MAX_SEGMENT_BYTES:
            raise _reject(name, f"a path segment is longer than {_MAX_SEGMENT_BYTES} bytes")
        segments.append(raw)
    if not segments:
        raise _reject(name, "the name has no file name in it")
    return "/".join(segments)


def safe_join(root: Path | str, name: str) -> Path:
    """Join ``root`` and the artifact ``name``; refuse anything that lands outside ``root``.

    The name is normalized first; the result is resolved (symlinks included) and must stay
    under the resolved ``root``. Returns the resolved path.
    """
    rel = normalize_artifact_path(name)
    base = Path(root).resolve()
    target = base.joinpath(*rel.split("/")).resolve()
    if target == base or not target.is_relative_to(base):
        raise _reject(name, f"it resolves outside {str(base)!r}")
    return target
