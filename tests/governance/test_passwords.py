"""The password policy: what it refuses, and that it says why."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidInput
from modelyard.governance._passwords import check_password


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-pw-1", "at least 12 characters long (it has 10)"),
        ("", "at least 12 characters long (it has 0)"),
        ("x" * 1025, "at most 1024 characters"),
        ("alice-the-great-99", "not contain the username"),
        ("ALICE-THE-GREAT-99", "not contain the username"),
        ("password1234", "not be a commonly used password"),
        ("Password2024!", "not be a commonly used password"),
        ("!!Qwertyuiop99", "not be a commonly used password"),
        ("123456789012", "not be a commonly used password"),
        ("qwertyqwertyqwerty", "not be a commonly used password"),
        ("correcthorsebatterystaple", "not be a commonly used password"),
        ("abababababab", "use at least 5 different characters"),
        ("zzzzzzzzzzzzzzz", "use at least 5 different characters"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    with pytest.raises(InvalidInput, match="password is too weak") as info:
        check_password(password, "alice")
    assert why in info.value.message
    assert info.value.field == "password"


def test_every_failed_rule_is_named() -> None:
    with pytest.raises(InvalidInput) as info:
        check_password("alice", "alice")
    message = info.value.message
    assert "at least 12 characters" in message and "not contain the username" in message


@pytest.mark.parametrize(
    "password",
    [
        "correct-kettle-violin-42",
        "tarn vole mizzen quay",
        "837261948372",
        "Ünïcödé-pässwörd-ok",
        "x" * 11 + "yzabc",
    ],
)
def test_good_passwords_pass(password: str) -> None:
    assert check_password(password, "alice") == password


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        check_password(None, "alice")
