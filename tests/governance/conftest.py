"""Governance fixtures: a store on SQLite and PostgreSQL, a clock the test moves, cheap
argon2 parameters, a server key, and the services built around them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from governance_support import OPERATOR, PASSWORD, FakeClock, cheap_hasher

from modelyard.governance import Governance, SecretBox, User
from modelyard.store import Store, open_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.dispose()


@pytest.fixture
def server_key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def gov(store: Store, clock: FakeClock, server_key: bytes) -> Governance:
    return Governance(store, secret_box=SecretBox(server_key), hasher=cheap_hasher(), clock=clock)


@pytest.fixture
def alice(gov: Governance) -> User:
    return gov.users.create_user("alice", PASSWORD, actor=OPERATOR)


@pytest.fixture
def root(gov: Governance) -> User:
    return gov.users.create_user("root", PASSWORD, actor=OPERATOR, admin=True)
