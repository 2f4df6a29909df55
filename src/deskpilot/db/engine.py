"""Engines and sessions.

SQLite gets WAL, foreign keys and a busy timeout. Writes on SQLite start with BEGIN IMMEDIATE so two
writers queue on the lock instead of failing when a read transaction upgrades to a write; reads keep
a deferred BEGIN so they never wait for writers. PostgreSQL needs neither trick.

Writers queue before BEGIN IMMEDIATE, first on a lock inside the process, then on a file lock
beside the database shared by every process (server workers, `deskpilot worker`, the CLI): SQLite's
own busy handler sleeps 10-100 ms between retries once it has waited a little, so two server
processes contending for the write lock spent most of their time asleep (2 workers made 124
creates/s, 1 worker 118/s).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
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


class _ProcessWriterLock:
    """An exclusive `flock` on `<database>-writer.lock`, taken by the one thread of this process
    that holds the in-process lock. Opened per process id: a forked child must not share its
    parent's open file (flock belongs to the open file, so both would think they hold it). The
    kernel drops the lock when a process dies, so a crash never leaves it held."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writer.lock"
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float) -> bool:
        fd = self._descriptor()
        deadline = time.monotonic() + timeout
        pause = 0.00005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
            # Only one thread per process waits here (the others wait on the in-process lock),
            # so a short, growing pause costs little and wakes within a millisecond.
            time.sleep(pause)
            pause = min(pause * 2, 0.001)

    def release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)


_PROCESS_LOCKS: dict[str, _ProcessWriterLock] = {}


def _process_lock(database: str) -> _ProcessWriterLock:
    with _LOCKS_GUARD:
        lock = _PROCESS_LOCKS.get(database)
        if lock is None:
            lock = _PROCESS_LOCKS[database] = _ProcessWriterLock(database)
        return lock


class _QueuedWriterConnection(sqlite3.Connection):
    """Writers queue on the in-process lock (instant hand-off) and then the file lock shared
    with other processes, instead of polling SQLite's busy handler, which sleeps up to 100 ms
    between retries."""

    write_lock: threading.Lock | None = None
    process_lock: _ProcessWriterLock | None = None
    holds_lock = False

    def _release(self) -> None:
        if self.holds_lock and self.write_lock is not None:
            self.holds_lock = False
            try:
                if self.process_lock is not None:
                    self.process_lock.release()
            finally:
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
            database = engine.url.database or ""
            lock = _write_lock(database)
            timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
            if not lock.acquire(timeout=timeout):
                raise sqlite3.OperationalError("database is locked (in-process writer queue)")
            process_lock = _process_lock(database)
            if not process_lock.acquire(timeout):
                lock.release()
                raise sqlite3.OperationalError("database is locked (writer queue of processes)")
            dbapi.write_lock = lock
            dbapi.process_lock = process_lock
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
