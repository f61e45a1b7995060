"""Connections: one engine per store (two on SQLite), SQLite's pragmas, and the write lock.

SQLite runs in WAL mode. Writers begin ``BEGIN IMMEDIATE``, so a transaction holds the database's write lock from
its first statement (no SQLITE_BUSY when a reader would upgrade), and the writers of one process queue on a Python
lock instead of sleeping in SQLite's busy handler. Reads go through an engine of their own that begins plain
``BEGIN``: a snapshot that never takes the write lock. PostgreSQL has one pooled engine for both.

Durability: SQLite runs ``synchronous=FULL`` by default, so a commit (a 202) is on disk before it returns and
survives power loss, not only a killed process. ``normal`` (``storage.sqlite_synchronous``) skips that fsync: a
commit still survives kill -9, but the last transactions before an OS crash or power cut may be lost.

Space: a new SQLite file gets ``auto_vacuum=INCREMENTAL`` (set on every connection, it takes effect only before the
first table exists), so retention can hand freed pages back to the file system (:mod:`.retention`). A file made
before that keeps ``auto_vacuum=NONE`` until one VACUUM converts it (:func:`.retention.vacuum`).

Engines hide bound parameters in their errors and logs: a message's text or a session key never reaches a log
line through a failed statement.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Literal

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import StaticPool

MEMORY_URLS = ("sqlite://", "sqlite:///:memory:")
Synchronous = Literal["full", "normal"]


class Database:
    """The engines of one store, and :meth:`tx`, the only way to write."""

    def __init__(self, url: str, *, sqlite_synchronous: Synchronous = "full") -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self.engine = _engine(url, synchronous=sqlite_synchronous)
        sqlite = self.dialect == "sqlite"
        self.reader = (_engine(url, writer=False, synchronous=sqlite_synchronous)
                       if sqlite and url not in MEMORY_URLS else self.engine)
        self._write_lock: AbstractContextManager[Any] = threading.Lock() if sqlite else contextlib.nullcontext()

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.contextmanager
    def tx(self) -> Iterator[Connection]:
        """A write transaction (on SQLite: holding the database's write lock from its start)."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def raw_tx(self) -> Iterator[Any]:
        """A write transaction on SQLite's own connection, without SQLAlchemy's Connection around it: the same
        write lock, ``BEGIN IMMEDIATE`` and the same pool, for the hot writes (:mod:`.accept`'s plain batches, and
        with them the outcomes of sends: :mod:`.writes`).
        Yields the pooled DBAPI connection; the driver's errors come out as :class:`DBAPIError` like
        :meth:`tx`'s, with no parameter in them."""
        if self.dialect != "sqlite":
            raise ValueError("raw_tx is for SQLite; use tx")
        dialect = self.engine.dialect
        with self._write_lock:
            raw = self.engine.raw_connection()
            try:
                with driver_errors(dialect, "BEGIN IMMEDIATE"):
                    raw.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
                try:
                    yield raw
                except BaseException:
                    with contextlib.suppress(Exception):
                        raw.driver_connection.execute("ROLLBACK")  # type: ignore[union-attr]
                    raise
                with driver_errors(dialect, "COMMIT"):
                    raw.driver_connection.execute("COMMIT")  # type: ignore[union-attr]
            finally:
                raw.close()

    def script(self, sql: str) -> None:
        """Run ``sql`` on SQLite to completion outside any transaction, holding this process's write lock.
        (``PRAGMA incremental_vacuum`` frees one page per step, and sqlite3's ``execute`` steps only once.)"""
        with self._write_lock:
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.executescript(sql)  # type: ignore[union-attr]
            finally:
                raw.close()

    def read(self) -> AbstractContextManager[Connection]:
        """A read-only connection (on SQLite: snapshots that never wait for writers)."""
        return self.reader.connect()

    def close(self) -> None:
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()


def unreachable(exc: BaseException) -> bool:
    """The database is gone or refuses every connection (an outage), as opposed to refusing one write's data."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


@contextlib.contextmanager
def driver_errors(dialect: Dialect, statement: str) -> Iterator[None]:
    """The driver's errors inside as SQLAlchemy's :class:`DBAPIError` subclass for them (``IntegrityError``,
    ``OperationalError``, ...), naming ``statement`` but no bound parameter: what SQLAlchemy itself raises."""
    dbapi = dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, hide_parameters=True,
                                  dialect=dialect) from exc


def _engine(url: str, *, writer: bool = True, synchronous: Synchronous = "full") -> Engine:
    if synchronous not in ("full", "normal"):
        raise ValueError(f"sqlite_synchronous must be full or normal, not {synchronous!r}")
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)
    memory = url in MEMORY_URLS
    engine = create_engine(
        url,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA auto_vacuum=INCREMENTAL")   # before any table: a no-op on an existing file
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Writers take the write lock up front (no SQLITE_BUSY on lock upgrade); readers take a snapshot
        # and never block writers (WAL).
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine
