"""Engines and sessions.

SQLite gets WAL, foreign keys and a busy timeout. Writes on SQLite start with BEGIN IMMEDIATE so two
writers queue on the lock instead of failing when a read transaction upgrades to a write; reads keep
a deferred BEGIN so they never wait for writers. PostgreSQL needs neither trick.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _write_lock(database: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(database, threading.Lock())


class _QueuedWriterConnection(sqlite3.Connection):
    """Writers of one process queue on a Python lock (FIFO-ish, instant hand-off) instead of
    polling SQLite's busy handler, which sleeps up to 100 ms between retries."""

    write_lock: threading.Lock | None = None
    holds_lock = False

    def _release(self) -> None:
        if self.holds_lock and self.write_lock is not None:
            self.holds_lock = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA cache_size=-32000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if immediate:
            dbapi = conn.connection.dbapi_connection
            lock = _write_lock(engine.url.database or "")
            if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                raise sqlite3.OperationalError("database is locked (in-process writer queue)")
            dbapi.write_lock = lock
            dbapi.holds_lock = True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi._release()
                raise
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(url: str, *, immediate: bool = False, pool_size: int = 10, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        if immediate:
            connect_args["factory"] = _QueuedWriterConnection
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            raise ValueError("in-memory SQLite is not supported: use a file so threads share it")
        engine = create_engine(
            url, connect_args=connect_args, pool_size=pool_size, max_overflow=pool_size, **kwargs
        )
        _configure_sqlite(engine, immediate=immediate)
        return engine
    if kwargs.pop("null_pool", False):
        return create_engine(url, poolclass=NullPool, **kwargs)
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **kwargs
    )


@dataclass
class Database:
    """A read engine and a write engine over the same database, with their session factories."""

    url: str
    read_engine: Engine
    write_engine: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def session(self, *, write: bool) -> Session:
        return (self.write_sessions if write else self.read_sessions)()

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()


def open_database(url: str, *, pool_size: int = 10) -> Database:
    read_engine = make_engine(url, immediate=False, pool_size=pool_size)
    write_engine = (
        make_engine(url, immediate=True, pool_size=pool_size)
        if url.startswith("sqlite")
        else read_engine
    )
    return Database(
        url=url,
        read_engine=read_engine,
        write_engine=write_engine,
        read_sessions=sessionmaker(read_engine, expire_on_commit=False),
        write_sessions=sessionmaker(write_engine, expire_on_commit=False),
    )
