"""The metadata store: one engine, configured in one place for SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout; write transactions
start with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing.
Constructors do not migrate: :meth:`Store.upgrade` does, and :meth:`Store.ensure_schema`
applies it automatically (under a file lock) only for the embedded SQLite store.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from modelyard.errors import InvalidInput, MissingDependency, StorageError, translate

__all__ = ["SCHEMA_REVISION", "Store", "open_store"]

#: The newest migration; a test checks it matches the head of ``migrations/versions``.
SCHEMA_REVISION = "0020"

_MIGRATIONS = Path(__file__).with_name("migrations")


class Store:
    """Engine + transactions + schema management for one metadata database."""

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0) -> None:
        try:
            self.url = make_url(url)
        except ArgumentError:
            raise InvalidInput(f"not a database URL: {url!r}", field="store.url") from None
        self.dialect = self.url.get_backend_name()
        if self.dialect not in {"sqlite", "postgresql"}:
            raise InvalidInput(
                f"unsupported metadata store {self.dialect!r}: use sqlite:/// or postgresql+psycopg://",
                field="store.url",
            )
        self.busy_timeout_s = busy_timeout_s
        self.engine = self._create_engine()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            return None
        return Path(self.url.database)

    def _create_engine(self) -> Engine:
        if self.is_sqlite:
            path = self.sqlite_path
            if path is None:
                raise InvalidInput(
                    "in-memory SQLite is not supported; give a file path", field="store.url"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                self.url,
                connect_args={"timeout": self.busy_timeout_s, "check_same_thread": False},
            )
            _configure_sqlite(engine, self.busy_timeout_s)
            return engine
        try:
            return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except ModuleNotFoundError as exc:
            raise MissingDependency.for_extra(exc.name or "psycopg", "postgres") from None

    # -- transactions -------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; SQLite takes the write lock up front (BEGIN IMMEDIATE),
        so concurrent writers wait on the busy timeout instead of failing mid-way."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(modelyard_immediate=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise translate(exc) from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise translate(exc) from exc

    def insert_stmt(self, table: Table) -> Any:
        """A dialect INSERT that supports ``on_conflict_do_nothing/update``."""
        if self.is_sqlite:
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def upsert_stmt(
        self,
        table: Table,
        keys: list[str],
        columns: list[str],
        *,
        only_if: Callable[[Any], Any] | None = None,
    ) -> Any:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET columns = the new values.

        ``only_if`` gets the new row (``excluded``) and returns the condition under which
        an existing row is replaced.
        """
        ins = self.insert_stmt(table)
        return ins.on_conflict_do_update(
            index_elements=keys,
            set_={name: ins.excluded[name] for name in columns},
            where=only_if(ins.excluded) if only_if is not None else None,
        )

    # -- schema -------------------------------------------------------------------

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as exc:
            if _is_locked(exc):
                raise translate(exc) from exc
            return None
        except SQLAlchemyError as exc:
            if "alembic_version" in str(exc):
                return None
            raise translate(exc) from exc

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (explicit; ``modelyard db upgrade``)."""
        from alembic import command

        with self._migration_lock():
            try:
                with self.engine.begin() as conn:
                    cfg = _alembic_config(conn)
                    command.upgrade(cfg, revision)
            except SQLAlchemyError as exc:
                raise translate(exc) from exc

    def ensure_schema(self, *, auto_upgrade: bool = True) -> None:
        """Make sure the schema is current; upgrade SQLite automatically when allowed."""
        current = self.current_revision()
        if current == SCHEMA_REVISION:
            return
        if self.is_sqlite and auto_upgrade:
            self.upgrade()
            return
        where = f"at revision {current}" if current else "not initialised"
        raise StorageError(
            f"metadata store {self.url.render_as_string(hide_password=True)} is {where}; "
            f"run `modelyard db upgrade` to bring it to {SCHEMA_REVISION}"
        )

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        path = self.sqlite_path
        if path is None:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(7723001)"))
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(7723001)"))
                    conn.commit()
            return
        with FileLock(str(path) + ".migrate.lock", timeout=self.busy_timeout_s * 4):
            yield

    def dispose(self) -> None:
        self.engine.dispose()


def _wal(cur: Any, busy_timeout_s: float) -> None:
    """Switch the database to WAL. SQLite may answer "database is locked" at once, without
    waiting out the busy timeout, while other connections open a new database at the
    same moment (several processes starting on a fresh store): try again until the
    timeout has passed."""
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _is_locked(exc: OperationalError) -> bool:
    msg = str(exc.orig).lower()
    return "database is locked" in msg or "database table is locked" in msg


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        _wal(cur, busy_timeout_s)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("modelyard_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def open_store(url: str, *, busy_timeout_s: float = 30.0, auto_upgrade: bool = True) -> Store:
    """Open a store and make sure its schema is current."""
    store = Store(url, busy_timeout_s=busy_timeout_s)
    try:
        store.ensure_schema(auto_upgrade=auto_upgrade)
    except BaseException:
        store.dispose()
        raise
    return store
