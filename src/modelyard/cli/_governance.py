"""What the governance command groups share: the services, acting as the local operator.

These commands work on the metadata store directly (they need its URL and credentials, so
whoever runs them is trusted) and are recorded in the audit log as ``local:<os user>``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from modelyard.cli._common import searching, state

if TYPE_CHECKING:
    from modelyard.governance import Actor, Governance


@contextmanager
def governance(ctx: typer.Context) -> Iterator[Governance]:
    from modelyard.services import Services

    services = Services(state(ctx).settings())
    try:
        with searching(ctx):
            yield services.governance
    finally:
        services.close()


def operator() -> Actor:
    from modelyard.governance import Actor

    return Actor.local()


def read_password(from_stdin: bool, prompt: str = "Password") -> str:
    """A password from the first line of stdin, or prompted twice with hidden input."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


PasswordStdinOption = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of standard input."
)
