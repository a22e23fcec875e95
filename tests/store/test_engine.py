"""The metadata store: pragmas, migrations, automatic upgrade under concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modelyard.errors import InvalidInput, StorageError
from modelyard.store import Store, open_store
from modelyard.store.engine import _MIGRATIONS, SCHEMA_REVISION, _wal
from modelyard.store.tables import metadata


def test_schema_revision_constant_is_the_migration_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION


def test_migrations_match_the_table_definitions(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = open_store(store_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert diff == []


def test_sqlite_pragmas_are_set(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}", busy_timeout_s=7)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    store.dispose()


class _BusyCursor:
    """A cursor whose first ``busy`` journal-mode switches fail as SQLite's may when
    several connections open a new database at once."""

    def __init__(self, busy: int, message: str = "database is locked") -> None:
        self.busy, self.message, self.calls = busy, message, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.busy:
            raise sqlite3.OperationalError(self.message)


def test_switching_to_wal_waits_out_a_locked_database() -> None:
    cursor = _BusyCursor(busy=3)
    _wal(cursor, busy_timeout_s=5)
    assert cursor.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _wal(_BusyCursor(busy=10**6), busy_timeout_s=0.05)  # not past the busy timeout
    other = _BusyCursor(busy=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _wal(other, busy_timeout_s=5)
    assert other.calls == 1  # only a lock is waited for


def test_open_creates_the_parent_folder_and_schema(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'm.db'}")
    assert store.current_revision() == SCHEMA_REVISION
    assert "runs" in inspect(store.engine).get_table_names()
    store.dispose()


def test_auto_upgrade_off_asks_for_explicit_upgrade(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="modelyard db upgrade"):
        open_store(f"sqlite:///{tmp_path / 'm.db'}", auto_upgrade=False)


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "sqlite://"])
def test_bad_store_urls_are_rejected(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Store(url)
    assert info.value.field == "store.url"


def _open(path: str) -> str | None:
    store = open_store(f"sqlite:///{path}")
    rev = store.current_revision()
    store.dispose()
    return rev


def test_concurrent_first_use_upgrades_once(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(6) as pool:
        revisions = pool.map(_open, [path] * 6)
    assert revisions == [SCHEMA_REVISION] * 6
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


@pytest.mark.postgres
def test_postgres_store_is_migrated(_postgres_database: str) -> None:
    store = Store(_postgres_database)
    with store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == SCHEMA_REVISION
        )
    store.dispose()


@pytest.mark.postgres
def test_postgres_needs_an_explicit_upgrade(empty_postgres_url: str) -> None:
    with pytest.raises(StorageError, match="modelyard db upgrade"):
        open_store(empty_postgres_url)
    store = Store(empty_postgres_url)
    assert store.current_revision() is None
    store.upgrade()
    assert store.current_revision() == SCHEMA_REVISION
    store.dispose()
    open_store(empty_postgres_url).dispose()
