"""The optional prepare phase: slow read-only work before the job's write transaction opens."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from tests.jobs.conftest import load_job, workspace_name
from tests.jobs.handlers import RECORDER


def job_lock_is_free(db: Database, job_id: int) -> bool:
    """Could another connection take the job's write lock right now (without waiting)?"""
    if db.is_sqlite:
        raw = sqlite3.connect(db.url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            raw.close()
    with db.write_engine.connect() as conn:
        try:
            conn.execute(
                text("SELECT id FROM jobs WHERE id = :id FOR UPDATE NOWAIT"), {"id": job_id}
            )
            return True
        except OperationalError:
            return False
        finally:
            conn.rollback()


def enqueue_prepared(db: Database, ws_id: int) -> int:
    with db.session(write=True) as s:
        job = queue.enqueue(s, "test.prepared", workspace_id=None, ws_id=ws_id)
        s.commit()
        return job.id


@pytest.fixture
def no_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test runs the job itself, on its own terms."""
    monkeypatch.setattr(queue, "dispatch", lambda job_id, delay=None: None)


@pytest.mark.usefixtures("no_dispatch")
def test_prepare_runs_outside_the_write_transaction_and_feeds_the_handler(
    jobs_db: Database, workspace_id: int
) -> None:
    job_id = enqueue_prepared(jobs_db, workspace_id)
    RECORDER.probe = lambda: job_lock_is_free(jobs_db, job_id)
    assert queue.execute_job(job_id) == "done"
    prepare_call, handler_call = RECORDER.all()
    assert prepare_call.args == {"probe": True}  # nothing was locked while preparing
    assert handler_call.args == {"prepared": {"name": "Original"}, "probe": False}
    assert workspace_name(jobs_db, workspace_id) == "Original (prepared)"
    assert load_job(jobs_db, job_id).status == "done"


@pytest.mark.usefixtures("no_dispatch")
def test_failing_prepare_is_recorded_as_a_retry_without_running_the_handler(
    jobs_db: Database, workspace_id: int
) -> None:
    job_id = enqueue_prepared(jobs_db, workspace_id)
    RECORDER.prepare_error = TimeoutError("embedding service timed out")
    assert queue.execute_job(job_id) == "retry"
    job = load_job(jobs_db, job_id)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.last_error == "TimeoutError: embedding service timed out"
    assert RECORDER.names() == ["test.prepared:prepare"]
    assert workspace_name(jobs_db, workspace_id) == "Original"


def test_prepare_is_skipped_for_a_finished_job(jobs_db: Database, workspace_id: int) -> None:
    job_id = enqueue_prepared(jobs_db, workspace_id)
    assert load_job(jobs_db, job_id).status == "done"
    RECORDER.reset()
    assert queue.execute_job(job_id) == "skipped"
    assert RECORDER.names() == []
