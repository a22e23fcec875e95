"""Artifact names: normalization and confinement (``normalize_artifact_path``, ``safe_join``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelyard.artifacts import normalize_artifact_path, safe_join
from modelyard.errors import InvalidInput

LONGEST = ("x" * 200 + "/") * 5 + "y" * 19  # exactly 1024 characters

ACCEPTED = [
    ("a", "a"),
    ("reports/confusion.png", "reports/confusion.png"),
    ("./a//b/", "a/b"),
    ("a/./b", "a/b"),
    ("a/b/", "a/b"),
    (".//a", "a"),
    ("a b/c d.txt", "a b/c d.txt"),
    ("...", "..."),
    ("a..b", "a..b"),
    ("..a/b..", "..a/b.."),
    ("a/.hidden", "a/.hidden"),
    ("ünïcödé/文件.txt", "ünïcödé/文件.txt"),
    ("100%.txt", "100%.txt"),  # not an escape at all
    ("my%20file.txt", "my%20file.txt"),  # kept as written: names are literal
    ("50%25", "50%25"),
    ("ab:c/d", "ab:c/d"),  # only a one-letter first segment reads as a drive
    ("x" * 255, "x" * 255),
    (LONGEST, LONGEST),
]

REJECTED = [
    # empty, or nothing left after normalizing
    "",
    ".",
    "./",
    ".//.",
    # absolute and drive-letter paths
    "/",
    "/x",
    "//server/share",
    "C:\\x",
    "C:/x",
    "c:x",
    # traversal
    "..",
    "../x",
    "a/../b",
    "a/..",
    "./../x",
    # backslashes, NUL and other control characters
    "a\\b",
    "..\\x",
    "a\x00b",
    "a\nb",
    "a\tb",
    "\x7f",
    "a\x85b",
    "a\u2028b",
    "a\udcffb",  # a lone surrogate: a file name that was not UTF-8
    # percent-encoded and double-encoded traversal and separators
    "%2e%2e%2f",
    "%2E%2E%2Fx",
    "%2e%2e/x",
    "..%2f",
    "..%2fetc/passwd",
    "%2f",
    "a%2fb",
    "%2fetc/passwd",
    "%5c",
    "a%5c..%5cb",
    "%252e%252e%252f",
    "%25252e%25252e%25252f",
    "%%32%65%%32%65/x",
    "a/%2e%2e/b",
    "%2e/x",
    "a%00b",
    "a%0ab",
    "C%3a/x",
    "%c0%ae%c0%ae/x",  # overlong UTF-8 dots: invalid UTF-8 is refused
    # look-alikes that fold to traversal
    "\uff0e\uff0e/x",
    "a\uff0fb",
    # too long
    "x" * 1025,
    LONGEST + "z",
    "a/" + "x" * 256,
]


# Names that are confined but do not read as what they are (``why``: the refusal says so).
MISLEADING = [
    # bidirectional controls: "evil\u202egnp.exe" shows as "evilexe.png"
    *((f"evil{ch}gnp.exe", "bidirectional-control") for ch in "\u202a\u202b\u202c\u202d\u202e"),
    *((f"a{ch}b", "bidirectional-control") for ch in "\u2066\u2067\u2068\u2069"),
    ("a\u200eb", "bidirectional-control"),
    ("a\u200fb", "bidirectional-control"),
    ("a\u061cb", "bidirectional-control"),
    ("%E2%80%AEgnp.exe", "bidirectional-control"),  # percent-encoded as well
    # other invisible format characters
    ("a\u200bb", "invisible"),
    ("\ufeffa", "invisible"),
    ("a\u00adb", "invisible"),
    # slashes and backslashes that are one segment but read as two
    *(
        (f"reports{ch}model.pkl", "looks like a path separator")
        for ch in "\u2215\u2044\u29f8\uff0f\u27cb\u2571\u2afd\u0338\u2216\u29f5\u29f9\ufe68\uff3c"
    ),
    ("a%E2%88%95b", "looks like a path separator"),  # U+2215, percent-encoded
    # Windows device names, any case, with or without an extension, in any segment
    *((name, "reserved device name") for name in ("CON", "con", "Prn", "aux", "NUL")),
    *((f"COM{d}", "reserved device name") for d in "0123456789"),
    *((f"lpt{d}", "reserved device name") for d in "123456789"),
    ("COM\u00b9", "reserved device name"),
    ("nul.txt", "reserved device name"),
    ("con.tar.gz", "reserved device name"),
    ("models/aux/weights.bin", "reserved device name"),
    ("reports/Lpt1.csv", "reserved device name"),
    ("CON .txt", "reserved device name"),  # Windows drops trailing spaces
    ("conin$", "reserved device name"),
    ("\uff23\uff2f\uff2e", "reserved device name"),  # fullwidth CON folds to CON
]
# Close to the refused ones, but fine.
NOT_MISLEADING = ["console.txt", "contour/a", "auxiliary.py", "com10", "lpt", "nully", "a.con"]


@pytest.mark.parametrize(("name", "why"), MISLEADING)
def test_names_that_mislead_are_refused(name: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as exc:
        normalize_artifact_path(name)
    assert exc.value.field == "path"


@pytest.mark.parametrize("name", NOT_MISLEADING)
def test_names_close_to_refused_ones_are_accepted(name: str) -> None:
    assert normalize_artifact_path(name) == name


@pytest.mark.parametrize(("name", "expected"), ACCEPTED)
def test_accepted_names(name: str, expected: str) -> None:
    assert normalize_artifact_path(name) == expected
    assert normalize_artifact_path(expected) == expected  # idempotent


@pytest.mark.parametrize("name", REJECTED)
def test_rejected_names(name: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        normalize_artifact_path(name)
    assert exc.value.field == "path"


@pytest.mark.parametrize("name", [None, b"a", 1, Path("a")])
def test_non_string_names(name: object) -> None:
    with pytest.raises(InvalidInput):
        normalize_artifact_path(name)  # type: ignore[arg-type]


def test_safe_join_stays_under_root(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "./a//b.txt") == tmp_path.resolve() / "a" / "b.txt"
    assert safe_join(str(tmp_path), "a") == tmp_path.resolve() / "a"
    for name in ("../x", "/etc/passwd", "%2e%2e%2fx", "a/../../x"):
        with pytest.raises(InvalidInput):
            safe_join(tmp_path, name)


def test_safe_join_refuses_escapes_through_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "out")
    os.symlink(outside / "file", root / "file-out")
    os.symlink("..", root / "sub" / "up")
    os.symlink("../..", root / "sub" / "upup")
    os.symlink(root, root / "self")
    for name in ("out", "out/x", "file-out", "sub/upup/x", "self"):
        with pytest.raises(InvalidInput) as exc:
            safe_join(root, name)
        assert exc.value.field == "path"
    # links that stay inside are fine and resolved
    assert safe_join(root, "sub/up/x") == root.resolve() / "x"
    assert safe_join(root, "self/sub/y") == root.resolve() / "sub" / "y"


def test_safe_join_through_a_linked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    assert safe_join(tmp_path / "alias", "a/b") == real.resolve() / "a" / "b"
