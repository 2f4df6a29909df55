"""Embedded mode for real: a SQLite huey file under DATA_DIR and consumer threads in-process."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from huey.consumer import Consumer

from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from tests.jobs.conftest import (
    WAIT_SECONDS,
    load_job,
    wait_for_status,
    workspace_name,
)
from tests.jobs.handlers import RECORDER

StartConsumer = Callable[..., Consumer]


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    """Consumers started by a test; stopped (gracefully) before the database goes away."""
    started: list[Consumer] = []
    yield started
    RECORDER.release.set()
    for consumer in started:
        consumer.stop(graceful=True)


@pytest.fixture
def start(consumers: list[Consumer]) -> StartConsumer:
    def start_consumer(workers: int = 1) -> Consumer:
        consumer = queue.start_consumer(workers, embedded=True)
        consumers.append(consumer)
        return consumer

    return start_consumer


def enqueue_committed(db: Database, name: str, **args: object) -> int:
    with db.session(write=True) as s:
        job = queue.enqueue(s, name, workspace_id=None, **args)
        s.commit()
        return job.id


def test_embedded_consumer_runs_a_committed_job(
    jobs_db: Database, embedded_dir: Path, workspace_id: int, start: StartConsumer
) -> None:
    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))
    assert (embedded_dir / "jobs.db").exists()
    start(1)
    job_id = enqueue_committed(jobs_db, "test.rename_workspace", ws_id=workspace_id, new_name="Bg")
    job = wait_for_status(jobs_db, job_id, "done")
    assert job.attempts == 1
    assert workspace_name(jobs_db, workspace_id) == "Bg"
    (call,) = RECORDER.all()
    assert call.thread != threading.current_thread().name  # ran on a consumer thread


def test_embedded_consumer_runs_many_jobs_exactly_once(
    jobs_db: Database, embedded_dir: Path, start: StartConsumer
) -> None:
    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))
    start(2)
    ids = [enqueue_committed(jobs_db, "test.record", n=n) for n in range(20)]
    for job_id in ids:
        wait_for_status(jobs_db, job_id, "done")
    assert sorted(a["n"] for a in RECORDER.args_of("test.record")) == list(range(20))


def test_embedded_retry_is_delivered_by_the_scheduler(
    failing_db: Database, embedded_dir: Path, start: StartConsumer
) -> None:
    queue.configure(failing_db, mode="embedded", data_dir=str(embedded_dir))
    start(1)
    RECORDER.failures_left = 1
    job_id = enqueue_committed(failing_db, "test.flaky", n=1)
    job = wait_for_status(failing_db, job_id, "done", attempts=2)
    assert job.last_error is None
    assert RECORDER.args_of("test.flaky") == [{"n": 1}, {"n": 1}]


def test_job_enqueued_while_no_consumer_runs_survives_a_restart(
    jobs_db: Database, embedded_dir: Path, consumers: list[Consumer]
) -> None:
    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))
    job_id = enqueue_committed(jobs_db, "test.record", marker="survivor")
    assert queue.huey.pending_count() == 1
    old_storage = queue.huey.storage

    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))  # the "restart"
    assert queue.huey.storage is not old_storage
    assert queue.huey.pending_count() == 1  # read back from the file
    # A bare consumer without the startup sweep or the periodic sweeper: only the file delivers.
    consumer = queue.EmbeddedConsumer(queue.huey, workers=1, worker_type="thread", periodic=False)
    consumers.append(consumer)
    consumer.start()
    wait_for_status(jobs_db, job_id, "done")
    assert RECORDER.args_of("test.record") == [{"marker": "survivor"}]


def test_startup_sweep_runs_a_job_whose_message_was_lost(
    jobs_db: Database, embedded_dir: Path, start: StartConsumer
) -> None:
    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))
    job_id = enqueue_committed(jobs_db, "test.record", marker="lost")
    queue.huey.flush()  # the message is gone (e.g. jobs.db deleted or corrupted)
    assert queue.huey.pending_count() == 0
    start(1)
    wait_for_status(jobs_db, job_id, "done")
    assert RECORDER.args_of("test.record") == [{"marker": "lost"}]


def test_graceful_stop_finishes_the_job_in_flight(
    jobs_db: Database, embedded_dir: Path, workspace_id: int
) -> None:
    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))
    consumer = queue.start_consumer(1, embedded=True)
    try:
        job_id = enqueue_committed(jobs_db, "test.blocking", ws_id=workspace_id)
        assert RECORDER.entered.wait(WAIT_SECONDS), "the consumer never started the job"
        stopper = threading.Thread(target=consumer.stop, kwargs={"graceful": True})
        stopper.start()
        RECORDER.release.set()
        stopper.join(WAIT_SECONDS)
        assert not stopper.is_alive()
    finally:
        RECORDER.release.set()
        consumer.stop(graceful=True)
    assert load_job(jobs_db, job_id).status == "done"
    assert workspace_name(jobs_db, workspace_id) == "Original+"


def test_restart_after_a_worker_crash_recovers_the_job(
    jobs_db: Database, embedded_dir: Path, workspace_id: int, start: StartConsumer
) -> None:
    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))
    RECORDER.crash_with = SystemExit
    first = start(1)
    job_id = enqueue_committed(jobs_db, "test.crash", ws_id=workspace_id)
    (_, worker) = first.worker_threads[0]
    worker.join(WAIT_SECONDS)
    assert not worker.is_alive()  # SystemExit in a handler kills the worker thread
    assert load_job(jobs_db, job_id).status == "pending"
    first.stop(graceful=True)

    RECORDER.crash_with = None
    start(1)  # a restarted server sweeps everything still pending
    wait_for_status(jobs_db, job_id, "done")
    assert workspace_name(jobs_db, workspace_id) == "written before the crash"


def test_embedded_queue_keeps_working_after_a_worker_thread_dies(
    jobs_db: Database, embedded_dir: Path, start: StartConsumer
) -> None:
    queue.configure(jobs_db, mode="embedded", data_dir=str(embedded_dir))
    RECORDER.crash_with = SystemExit
    start(1)
    enqueue_committed(jobs_db, "test.crash")
    assert RECORDER.wait_for_calls("test.crash", 1, WAIT_SECONDS)
    RECORDER.crash_with = None
    follow_up = enqueue_committed(jobs_db, "test.record", marker="after the crash")
    # Bounded so the known failure costs seconds, not the full default wait.
    wait_for_status(jobs_db, follow_up, "done", timeout=5)


def test_reconfigure_does_not_touch_the_previous_queue_location(
    jobs_db: Database, tmp_path: Path
) -> None:
    """Leaving immediate mode must build the new storage, not one from the previous settings."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    queue.configure(jobs_db, mode="embedded", data_dir=str(old))
    queue.configure(jobs_db, mode="immediate")
    shutil.rmtree(old)
    queue.configure(jobs_db, mode="embedded", data_dir=str(new))
    assert (new / "jobs.db").exists()
    assert not old.exists()
