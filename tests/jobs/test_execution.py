"""Running a job: retries with growing backoff, terminal failure, idempotence, atomic effects."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.jobs.models import Job
from deskpilot.workspaces.models import Workspace
from tests.jobs.conftest import (
    WAIT_SECONDS,
    FakeClock,
    load_job,
    workspace_name,
)
from tests.jobs.handlers import RECORDER


@pytest.fixture
def redispatched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float | None]]:
    """Capture dispatches instead of running them, so the test drives every attempt itself."""
    calls: list[tuple[int, float | None]] = []
    monkeypatch.setattr(queue, "dispatch", lambda job_id, delay=None: calls.append((job_id, delay)))
    return calls


def enqueue_committed(db: Database, name: str, **args: object) -> int:
    with db.session(write=True) as s:
        job = queue.enqueue(s, name, workspace_id=None, **args)
        s.commit()
        return job.id


def test_failing_job_retries_with_growing_backoff_then_fails(
    failing_db: Database, clock: FakeClock, redispatched: list[tuple[int, float | None]]
) -> None:
    job_id = enqueue_committed(failing_db, "test.always_fails")
    assert redispatched == [(job_id, None)]
    delays: list[float] = []
    outcomes: list[str] = []
    for attempt in range(1, 5):
        job = load_job(failing_db, job_id)
        if attempt > 1:
            assert queue.execute_job(job_id) == "not_due"  # the backoff is honoured
            clock.move_to(job.run_after)
        outcomes.append(queue.execute_job(job_id))
        job = load_job(failing_db, job_id)
        assert job.attempts == attempt
        assert job.last_error == f"ValueError: always fails ({attempt})"
        if job.status == "pending":
            delay = (job.run_after - clock.now).total_seconds()
            delays.append(delay)
            # The broker is asked to redeliver when the job is due, not straight away.
            assert redispatched[-1][0] == job_id
            assert redispatched[-1][1] == pytest.approx(delay, abs=1e-3)

    assert outcomes == ["retry", "retry", "retry", "failed"]
    assert len(RECORDER.args_of("test.always_fails")) == 4
    for attempt, delay in enumerate(delays, start=1):
        assert 0.75 * 2**attempt <= delay <= 1.25 * 2**attempt
    assert delays == sorted(delays)
    assert len(set(delays)) == len(delays)
    final = load_job(failing_db, job_id)
    assert (final.status, final.attempts, final.finished_at) == ("failed", 4, clock.now)
    # A failed job is terminal: neither a stray message nor the sweeper runs it again.
    assert queue.execute_job(job_id) == "skipped"
    clock.advance(hours=1)
    assert queue.sweep() == 0
    assert len(RECORDER.args_of("test.always_fails")) == 4


def test_flaky_job_succeeds_on_a_later_attempt_and_clears_its_error(
    failing_db: Database, clock: FakeClock, redispatched: list[tuple[int, float | None]]
) -> None:
    RECORDER.failures_left = 2
    job_id = enqueue_committed(failing_db, "test.flaky", ticket_id=5)
    assert queue.execute_job(job_id) == "retry"
    clock.move_to(load_job(failing_db, job_id).run_after)
    assert queue.execute_job(job_id) == "retry"
    clock.move_to(load_job(failing_db, job_id).run_after)
    assert queue.execute_job(job_id) == "done"
    job = load_job(failing_db, job_id)
    assert (job.status, job.attempts, job.last_error) == ("done", 3, None)
    assert RECORDER.args_of("test.flaky") == [{"ticket_id": 5}] * 3


def test_immediate_mode_does_not_spin_on_a_failing_job(failing_db: Database) -> None:
    """The retry is re-dispatched at once in immediate mode but waits for its backoff."""
    job_id = enqueue_committed(failing_db, "test.always_fails")
    job = load_job(failing_db, job_id)
    assert (job.status, job.attempts) == ("pending", 1)
    assert len(RECORDER.args_of("test.always_fails")) == 1


@pytest.mark.parametrize("attempts", [1, 3, 9, 30])
def test_backoff_is_exponential_with_bounded_jitter(
    monkeypatch: pytest.MonkeyPatch, attempts: int
) -> None:
    base = min(2**attempts, queue.MAX_BACKOFF_SECONDS)
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert queue.backoff_seconds(attempts) == 0.75 * base
    monkeypatch.setattr(random, "random", lambda: 1.0)
    assert queue.backoff_seconds(attempts) == 1.25 * base


def test_executing_a_done_job_again_is_a_no_op(jobs_db: Database, workspace_id: int) -> None:
    job_id = enqueue_committed(
        jobs_db, "test.rename_workspace", ws_id=workspace_id, new_name="Renamed"
    )
    first = load_job(jobs_db, job_id)
    assert first.status == "done"
    assert queue.execute_job(job_id) == "skipped"
    assert queue.execute_job(job_id) == "skipped"
    again = load_job(jobs_db, job_id)
    assert (again.attempts, again.finished_at) == (1, first.finished_at)
    assert RECORDER.args_of("test.rename_workspace") == [{"new_name": "Renamed"}]


def test_executing_a_missing_job_is_skipped(jobs_db: Database) -> None:
    assert queue.execute_job(987654) == "skipped"


def test_handler_writes_and_done_status_commit_together(
    jobs_db: Database, workspace_id: int
) -> None:
    job_id = enqueue_committed(
        jobs_db, "test.rename_workspace", ws_id=workspace_id, new_name="Renamed"
    )
    assert workspace_name(jobs_db, workspace_id) == "Renamed"
    assert load_job(jobs_db, job_id).status == "done"


def test_handler_that_writes_then_raises_leaves_neither(
    failing_db: Database, workspace_id: int
) -> None:
    job_id = enqueue_committed(
        failing_db, "test.rename_then_fail", ws_id=workspace_id, new_name="Half done"
    )
    assert RECORDER.args_of("test.rename_then_fail") == [{"new_name": "Half done"}]
    assert workspace_name(failing_db, workspace_id) == "Original"
    job = load_job(failing_db, job_id)
    assert (job.status, job.attempts, job.finished_at) == ("pending", 1, None)
    assert job.last_error == "RuntimeError: failed after writing"


def test_commit_failure_after_the_handler_leaves_the_job_pending(
    failing_db: Database, workspace_id: int
) -> None:
    """Writes that only fail when the runner commits roll back together with `done`."""
    job_id = enqueue_committed(
        failing_db, "test.rename_and_break_commit", ws_id=workspace_id, taken_slug="jobs-ws"
    )
    assert RECORDER.names() == ["test.rename_and_break_commit"]
    assert workspace_name(failing_db, workspace_id) == "Original"
    job = load_job(failing_db, job_id)
    assert (job.status, job.attempts) == ("pending", 1)
    assert (job.last_error or "").startswith("IntegrityError")
    with failing_db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Workspace)) == 1


def test_job_whose_handler_is_gone_fails_with_a_clear_error(failing_db: Database) -> None:
    with failing_db.session(write=True) as s:
        job = Job(name="test.removed_in_a_later_release", args={}, max_attempts=1)
        s.add(job)
        s.commit()
    assert queue.execute_job(job.id) == "failed"
    failed = load_job(failing_db, job.id)
    assert failed.status == "failed"
    assert failed.last_error == (
        "LookupError: no handler registered for job 'test.removed_in_a_later_release'"
    )


def _wait_until_blocked_on_a_lock(db: Database) -> None:
    """On PostgreSQL, wait (bounded) until another session waits on a row lock."""
    if db.is_sqlite:
        return  # the second writer waits on BEGIN IMMEDIATE, which SQLite does not expose
    pause = threading.Event()
    deadline = time.monotonic() + WAIT_SECONDS
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while True:
        with db.read_engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        if time.monotonic() > deadline:
            pytest.fail("the second executor never waited for the job's row lock")
        pause.wait(0.01)


@pytest.mark.concurrency
def test_two_workers_given_the_same_job_run_it_once(
    jobs_db: Database, workspace_id: int, redispatched: list[tuple[int, float | None]]
) -> None:
    """Duplicate delivery (sweeper plus a late message) must not run a handler twice."""
    job_id = enqueue_committed(jobs_db, "test.blocking", ws_id=workspace_id)
    results: list[str] = []

    def work() -> None:
        results.append(queue.execute_job(job_id))

    first = threading.Thread(target=work, name="worker-1")
    second = threading.Thread(target=work, name="worker-2")
    first.start()
    assert RECORDER.entered.wait(WAIT_SECONDS), "the first worker never started the job"
    second.start()
    _wait_until_blocked_on_a_lock(jobs_db)
    RECORDER.release.set()
    first.join(WAIT_SECONDS)
    second.join(WAIT_SECONDS)
    assert not first.is_alive()
    assert not second.is_alive()
    assert sorted(results) == ["done", "skipped"]
    assert RECORDER.names() == ["test.blocking"]
    assert workspace_name(jobs_db, workspace_id) == "Original+"
    assert load_job(jobs_db, job_id).attempts == 1


def test_retry_dispatch_is_scheduled_not_immediate_outside_immediate_mode(
    failing_db: Database, embedded_dir: Path
) -> None:
    """In embedded mode a retry goes to huey's schedule with the backoff delay."""
    queue.configure(failing_db, mode="embedded", data_dir=str(embedded_dir))
    job_id = enqueue_committed(failing_db, "test.always_fails")
    assert queue.huey.pending_count() == 1  # the first delivery, no consumer running
    queue.huey.flush()
    assert queue.execute_job(job_id) == "retry"
    # huey queues a delayed message with an eta; a worker parks it in the schedule until due.
    (message,) = queue.huey.pending()
    assert message.args == (job_id,)
    assert message.eta is not None
    run_after = load_job(failing_db, job_id).run_after
    # huey keeps naive UTC etas; the message must not be delivered before the job is due.
    assert message.eta >= run_after.replace(tzinfo=None) - timedelta(seconds=1)
    assert run_after - load_job(failing_db, job_id).updated_at >= timedelta(seconds=1.4)
