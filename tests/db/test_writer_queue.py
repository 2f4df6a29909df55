"""SQLite writers of different processes queue on a file lock beside the database, which the
kernel releases when a holder dies; PostgreSQL has no such queue."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from deskpilot.db import engine as engine_module
from deskpilot.db.engine import Database, open_database
from tests.conftest import IS_POSTGRES

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="the writer queue is SQLite's")

HOLDER = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import text
    from deskpilot.db.engine import open_database
    db = open_database(sys.argv[1])
    with db.session(write=True) as s:
        s.execute(text("CREATE TABLE IF NOT EXISTS queue_probe (n INTEGER)"))
        print("holding", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holder(db: Database) -> Iterator[subprocess.Popen[str]]:
    """Another process in the middle of a write transaction on the test database."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_writer_waits_for_another_process_and_goes_on_when_that_process_dies(
    db: Database, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    waiting = open_database(db.url, pool_size=1)
    try:
        with (
            pytest.raises(Exception, match="writer queue of processes"),
            waiting.session(write=True) as s,
        ):
            s.execute(text("SELECT 1"))

        holder.kill()  # killed mid-transaction: the kernel drops its lock, SQLite rolls back
        holder.wait()
        with waiting.session(write=True) as s:
            s.execute(text("CREATE TABLE IF NOT EXISTS after_holder (n INTEGER)"))
            s.commit()
        with waiting.session(write=False) as s:
            tables = set(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'")))
        assert "after_holder" in tables
        assert "queue_probe" not in tables  # the dead holder's transaction is gone
    finally:
        waiting.dispose()


def test_writers_of_two_processes_both_finish_without_a_locked_error(db: Database) -> None:
    script = textwrap.dedent(
        """
        import sys
        from sqlalchemy import text
        from deskpilot.db.engine import open_database
        db = open_database(sys.argv[1])
        with db.session(write=True) as s:
            s.execute(text("CREATE TABLE IF NOT EXISTS counter_rows (who TEXT, n INTEGER)"))
            s.commit()
        for n in range(200):
            with db.session(write=True) as s:
                s.execute(text("INSERT INTO counter_rows VALUES (:w, :n)"), {"w": sys.argv[2], "n": n})
                s.commit()
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, db.url, name], stderr=subprocess.PIPE)
        for name in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    with db.session(write=False) as s:
        rows = s.execute(text("SELECT who, count(*) FROM counter_rows GROUP BY who")).all()
    assert sorted(rows) == [("a", 200), ("b", 200)]
    assert Path(f"{db.url.removeprefix('sqlite:///')}-writer.lock").exists()
