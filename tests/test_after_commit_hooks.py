"""After-commit callbacks survive savepoints and run only when the outermost transaction commits."""

from __future__ import annotations

from sqlalchemy import text

from deskpilot.db.engine import Database
from deskpilot.db.hooks import after_commit


def test_callbacks_wait_for_the_outer_commit_across_savepoints(db: Database) -> None:
    ran: list[str] = []
    with db.session(write=True) as s:
        after_commit(s, lambda: ran.append("before savepoints"))
        with s.begin_nested():
            after_commit(s, lambda: ran.append("in released savepoint"))
        assert ran == []  # releasing a savepoint is not a commit
        try:
            with s.begin_nested():
                after_commit(s, lambda: ran.append("in rolled back savepoint"))
                s.execute(text("SELECT 1"))
                raise RuntimeError("roll this savepoint back")
        except RuntimeError:
            pass
        assert ran == []
        s.commit()
    assert ran == ["before savepoints", "in released savepoint"]


def test_a_rolled_back_outer_transaction_runs_nothing(db: Database) -> None:
    ran: list[str] = []
    with db.session(write=True) as s:
        after_commit(s, lambda: ran.append("never"))
        with s.begin_nested():
            after_commit(s, lambda: ran.append("never either"))
        s.rollback()
        s.commit()
    assert ran == []


def test_a_rolled_back_savepoint_drops_callbacks_of_its_inner_savepoints(db: Database) -> None:
    ran: list[str] = []
    with db.session(write=True) as s:
        try:
            with s.begin_nested():
                with s.begin_nested():
                    after_commit(s, lambda: ran.append("inner"))
                raise RuntimeError
        except RuntimeError:
            pass
        after_commit(s, lambda: ran.append("outer"))
        s.commit()
    assert ran == ["outer"]
