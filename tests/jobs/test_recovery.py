"""Nothing is lost: the sweeper re-dispatches jobs whose message was lost or whose worker died."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.jobs.models import Job
from deskpilot.workspaces import service as workspaces_service
from tests.jobs.conftest import FakeClock, all_jobs, load_job, workspace_name
from tests.jobs.handlers import RECORDER


@pytest.fixture
def lost_dispatch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The broker silently drops every message (lost message, or taken by a worker that died)."""
    dropped: list[int] = []
    monkeypatch.setattr(queue, "dispatch", lambda job_id, delay=None: dropped.append(job_id))
    return dropped


def add_job(
    db: Database,
    name: str,
    *,
    dispatched_at: datetime | None,
    run_after: datetime | None = None,
    status: str = "pending",
    **args: object,
) -> int:
    with db.session(write=True) as s:
        job = Job(name=name, args=args, status=status, dispatched_at=dispatched_at)
        if run_after is not None:
            job.run_after = run_after
        s.add(job)
        s.commit()
        return job.id


def test_sweep_runs_a_job_that_was_never_dispatched(jobs_db: Database) -> None:
    job_id = add_job(jobs_db, "test.record", dispatched_at=None, marker="orphan")
    assert queue.sweep() == 1
    assert load_job(jobs_db, job_id).status == "done"
    assert RECORDER.args_of("test.record") == [{"marker": "orphan"}]
    assert queue.sweep() == 0


def test_sweep_recovers_only_stale_due_pending_jobs(jobs_db: Database, clock: FakeClock) -> None:
    now = clock.now
    stale = add_job(jobs_db, "test.record", dispatched_at=now - timedelta(minutes=6), n=1)
    add_job(jobs_db, "test.record", dispatched_at=now - timedelta(minutes=1), n=2)
    add_job(jobs_db, "test.record", dispatched_at=None, run_after=now + timedelta(minutes=1), n=3)
    add_job(jobs_db, "test.record", dispatched_at=None, status="done", n=4)
    add_job(jobs_db, "test.record", dispatched_at=None, status="failed", n=5)
    assert queue.sweep() == 1
    assert RECORDER.args_of("test.record") == [{"n": 1}]
    swept = load_job(jobs_db, stale)
    assert (swept.status, swept.dispatched_at) == ("done", now)


def test_sweep_marks_what_it_dispatched_so_the_next_sweep_waits(
    jobs_db: Database, clock: FakeClock, lost_dispatch: list[int]
) -> None:
    job_id = add_job(jobs_db, "test.record", dispatched_at=None)
    assert queue.sweep() == 1
    assert lost_dispatch == [job_id]
    assert load_job(jobs_db, job_id).dispatched_at == clock.now
    clock.advance(minutes=4)
    assert queue.sweep() == 0
    clock.advance(minutes=2)
    assert queue.sweep() == 1
    assert lost_dispatch == [job_id, job_id]


def test_broker_down_at_commit_keeps_the_data_and_the_sweeper_runs_the_job(
    jobs_db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_down(job_id: int, delay: float | None = None) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(queue, "dispatch", broker_down)
    with jobs_db.session(write=True) as s:
        workspace = workspaces_service.create_workspace(s, slug="kept", name="Kept")
        job = queue.enqueue(s, "test.record", workspace_id=None, marker="late")
        s.commit()  # the failed side effect must not undo or fail the request
    assert [j.id for j in all_jobs(jobs_db)] == [job.id]
    assert workspace_name(jobs_db, workspace.id) == "Kept"
    assert load_job(jobs_db, job.id).status == "pending"

    monkeypatch.undo()
    clock.advance(minutes=1)
    assert queue.sweep() == 0  # dispatched a minute ago: not presumed lost yet
    clock.advance(minutes=5)
    assert queue.sweep() == 1
    assert load_job(jobs_db, job.id).status == "done"
    assert RECORDER.args_of("test.record") == [{"marker": "late"}]


@pytest.mark.parametrize("crash", [SystemExit, KeyboardInterrupt])
def test_worker_crash_mid_job_rolls_back_and_the_sweeper_recovers_it(
    jobs_db: Database,
    workspace_id: int,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    crash: type[BaseException],
) -> None:
    monkeypatch.setattr(queue, "dispatch", lambda job_id, delay=None: None)
    with jobs_db.session(write=True) as s:
        job_id = queue.enqueue(s, "test.crash", workspace_id=None, ws_id=workspace_id).id
        s.commit()
    monkeypatch.undo()

    RECORDER.crash_with = crash
    with pytest.raises(crash):
        queue.execute_job(job_id)  # the worker picked the message up and died
    crashed = load_job(jobs_db, job_id)
    # Nothing the crashed attempt wrote survives, and the job is still there to be picked up.
    assert (crashed.status, crashed.finished_at) == ("pending", None)
    assert workspace_name(jobs_db, workspace_id) == "Original"

    RECORDER.crash_with = None
    assert queue.sweep() == 0
    clock.advance(seconds=queue.STALE_DISPATCH.total_seconds() + 1)
    assert queue.sweep() == 1
    recovered = load_job(jobs_db, job_id)
    assert (recovered.status, recovered.last_error) == ("done", None)
    assert workspace_name(jobs_db, workspace_id) == "written before the crash"
    assert RECORDER.names() == ["test.crash", "test.crash"]


def _execute_surviving_crash(job_id: int) -> str:
    try:
        return queue.execute_job(job_id)
    except SystemExit:
        return "crashed"


def test_job_that_keeps_killing_its_worker_ends_failed(
    jobs_db: Database, clock: FakeClock, lost_dispatch: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        job_id = queue.enqueue(s, "test.crash", workspace_id=None).id  # max_attempts=3
        s.commit()
    RECORDER.crash_with = SystemExit
    outcomes = []
    for _ in range(4):
        outcomes.append(_execute_surviving_crash(job_id))
        clock.advance(hours=1)  # past any backoff and the stale-dispatch window
    assert outcomes == ["crashed", "crashed", "crashed", "failed"]
    assert len(RECORDER.names()) == 3
    assert load_job(jobs_db, job_id).status == "failed"
