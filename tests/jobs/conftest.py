"""Fixtures for the job system: queue mode restored after every test, a movable clock, waiters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from huey.storage import MemoryStorage
from sqlalchemy import select

from deskpilot.core.clock import set_clock
from deskpilot.db import engine as engine_module
from deskpilot.db.engine import Database, open_database
from deskpilot.jobs import queue
from deskpilot.jobs.models import Job
from deskpilot.workspaces import service as workspaces_service
from tests.conftest import IS_POSTGRES
from tests.jobs.handlers import RECORDER

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.02


@pytest.fixture(autouse=True)
def jobs_db(db: Database) -> Iterator[Database]:
    """Every test starts and ends in immediate mode, whatever mode it switched to."""
    RECORDER.reset()
    queue.configure(db, mode="immediate")
    try:
        yield db
    finally:
        RECORDER.release.set()  # never leave a blocking handler waiting
        queue.configure(db, mode="immediate")
        # Forget this test's queue location so nothing later can reach into its tmp dir.
        queue.huey.storage_class = MemoryStorage
        queue.huey.storage_kwargs = {}
        RECORDER.reset()


@pytest.fixture
def failing_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The database for tests of failing jobs, with the queue configured on it.

    On SQLite the handle gets a short busy timeout, so a regression of the failure path that
    waits on its own write lock fails in a fraction of a second instead of 30 s.
    """
    if IS_POSTGRES:
        yield db
        return
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 300)
    fast = open_database(db.url, pool_size=5)
    queue.configure(fast, mode="immediate")
    try:
        yield fast
    finally:
        queue.configure(db, mode="immediate")
        fast.dispose()


@dataclass
class FakeClock:
    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def move_to(self, moment: datetime) -> datetime:
        self.now = moment
        return self.now


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock(datetime.now(UTC).replace(microsecond=0))
    set_clock(lambda: fake.now)
    try:
        yield fake
    finally:
        set_clock(None)


@pytest.fixture
def workspace_id(db: Database) -> int:
    with db.session(write=True) as s:
        workspace = workspaces_service.create_workspace(s, slug="jobs-ws", name="Original")
        s.commit()
        return workspace.id


def load_job(db: Database, job_id: int) -> Job:
    with db.session(write=False) as s:
        job = s.get(Job, job_id)
        assert job is not None, f"job {job_id} row is missing"
        return job


def all_jobs(db: Database) -> list[Job]:
    with db.session(write=False) as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


def workspace_name(db: Database, workspace_id: int) -> str:
    from deskpilot.workspaces.models import Workspace

    with db.session(write=False) as s:
        workspace = s.get(Workspace, workspace_id)
        assert workspace is not None
        return workspace.name


def wait_for_status(
    db: Database, job_id: int, status: str, *, timeout: float = WAIT_SECONDS, attempts: int = 1
) -> Job:
    """Poll the job row until it reaches `status` with at least `attempts`; bounded by a deadline.

    The deadline only turns a hang into a readable failure: nothing asserts on elapsed time.
    """
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    job = load_job(db, job_id)
    while not (job.status == status and job.attempts >= attempts):
        if time.monotonic() > deadline:
            pytest.fail(
                f"job {job_id} did not reach {status!r} within {timeout}s: status={job.status!r} "
                f"attempts={job.attempts} last_error={job.last_error!r}"
            )
        pause.wait(POLL_SECONDS)
        job = load_job(db, job_id)
    return job


@pytest.fixture
def embedded_dir(tmp_path: Path) -> Path:
    path = tmp_path / "queue-data"
    path.mkdir()
    return path
