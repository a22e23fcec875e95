"""The password policy (NIST SP 800-63B style): length, no username, no common passwords.

No composition rules (a digit, a symbol, ...): they push people toward ``Password1!``.
Instead a password is refused when it is short, contains the username, is a well-known
password, is a well-known word padded with digits and symbols (``Password2024!``), or
repeats a handful of characters (``abababababab``).
"""

from __future__ import annotations

import re

from modelyard.errors import InvalidInput

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "check_password"]

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_DISTINCT = 5

# Whole passwords of 12+ characters from public breach top lists (shorter ones fail on length).
_COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456123456",
        "123123123123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "qazwsxedcrfv",
        "zaq12wsxcde3",
        "qwertyuiopasdfghjkl",
        "zxcvbnmasdfg",
        "q1w2e3r4t5y6",
        "a1b2c3d4e5f6",
        "abcdefghijkl",
        "abcdefghijklmnop",
        "abc123abc123",
        "correcthorsebatterystaple",
        "correct horse battery staple",
    }
)

# Words that, stripped of leading and trailing digits and symbols, make a weak password.
_COMMON_WORDS = frozenset(
    {
        "password",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "pass",
        "passwort",
        "motdepasse",
        "contrasena",
        "qwerty",
        "qwertz",
        "azerty",
        "qwertyuiop",
        "asdfgh",
        "asdfghjkl",
        "zxcvbnm",
        "abc",
        "abcdef",
        "letmein",
        "welcome",
        "admin",
        "administrator",
        "root",
        "changeme",
        "default",
        "secret",
        "iloveyou",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "soccer",
        "hockey",
        "basketball",
        "sunshine",
        "princess",
        "superman",
        "batman",
        "starwars",
        "master",
        "shadow",
        "michael",
        "jennifer",
        "trustno",
        "whatever",
        "freedom",
        "charlie",
        "login",
        "hello",
        "helloworld",
        "computer",
        "internet",
        "summer",
        "winter",
        "spring",
        "autumn",
        "january",
        "december",
        "modelyard",
        "mlops",
        "machinelearning",
    }
)

_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def check_password(password: object, username: str) -> str:
    """Return ``password`` if the policy accepts it, else raise InvalidInput naming why."""
    if not isinstance(password, str):
        raise InvalidInput("password must be a string", field="password")
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"be at least {MIN_LENGTH} characters long (it has {len(password)})")
    if len(password) > MAX_LENGTH:
        problems.append(f"be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    if username and username.lower() in lowered:
        problems.append("not contain the username")
    core = _EDGES.sub("", lowered)
    if lowered in _COMMON_PASSWORDS or core in _COMMON_WORDS or _is_repeated_word(core):
        problems.append("not be a commonly used password")
    if len(set(password)) < MIN_DISTINCT:
        problems.append(f"use at least {MIN_DISTINCT} different characters")
    if problems:
        raise InvalidInput(
            "password is too weak: it must " + "; it must ".join(problems), field="password"
        )
    return password


def _is_repeated_word(core: str) -> bool:
    """``passwordpassword``, ``qwertyqwerty``: a common word said twice or more."""
    for word in _COMMON_WORDS:
        if (
            len(core) > len(word)
            and len(core) % len(word) == 0
            and core == word * (len(core) // len(word))
        ):
            return True
    return False
