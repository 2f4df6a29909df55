"""Dispatch and execution of durable jobs over huey.

Modes (chosen by `configure`): `immediate` runs jobs synchronously right after commit (tests, CLI);
`embedded` stores the queue in a SQLite file under DATA_DIR and consumes it inside `deskpilot serve`;
`redis` uses DESKPILOT_REDIS_URL and separate `deskpilot worker` processes.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from huey import Huey, crontab
from huey.consumer import Consumer
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.correlation import correlation_id
from deskpilot.db.engine import Database
from deskpilot.db.hooks import after_commit
from deskpilot.jobs.models import Job
from deskpilot.jobs.registry import JOBS, PERIODIC
from deskpilot.observability import metrics
from deskpilot.observability.logging import workspace_id as log_workspace_id

log = logging.getLogger(__name__)

QueueMode = Literal["immediate", "embedded", "redis"]
STALE_DISPATCH = timedelta(minutes=5)
MAX_BACKOFF_SECONDS = 600
SWEEP_BATCH = 500

huey = Huey("deskpilot", storage_class=MemoryStorage, results=False)


class _Runtime:
    db: Database | None = None
    mode: QueueMode = "immediate"
    default_max_attempts: int = 8


runtime = _Runtime()


def configure(
    db: Database,
    *,
    mode: QueueMode,
    data_dir: str | None = None,
    redis_url: str | None = None,
    max_attempts: int = 8,
) -> None:
    runtime.db = db
    runtime.mode = mode
    runtime.default_max_attempts = max_attempts
    if mode == "immediate":
        huey.immediate = True
        return
    if mode == "embedded":
        if data_dir is None:
            raise ValueError("embedded queue needs data_dir")
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": f"{data_dir}/jobs.db"}
    else:
        if not redis_url:
            raise ValueError("redis queue needs redis_url")
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": redis_url}
    # Leaving immediate mode rebuilds storage from storage_class, so point it at the new one first.
    huey.immediate = False
    huey.storage = huey.create_storage()
    _register_periodic()


def _db() -> Database:
    if runtime.db is None:
        raise RuntimeError("jobs.queue.configure() was not called")
    return runtime.db


def enqueue(session: Session, name: str, /, *, workspace_id: int | None, **args: Any) -> Job:
    """Record a job in the caller's transaction; it is dispatched once that transaction commits."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    # Round-trip through JSON so a job can only ever receive primitives, in tests as in production.
    clean_args = json.loads(json.dumps(args, allow_nan=False))
    spec = JOBS[name]
    job = Job(
        workspace_id=workspace_id,
        name=name,
        args=clean_args,
        max_attempts=spec.max_attempts or runtime.default_max_attempts,
        dispatched_at=utcnow(),
        correlation_id=correlation_id.get(),
    )
    session.add(job)
    session.flush()
    job_id = job.id
    after_commit(session, lambda: dispatch(job_id))
    return job


def dispatch(job_id: int, delay: float | None = None) -> None:
    if delay and not huey.immediate:
        run_job.schedule((job_id,), delay=delay)
    else:
        run_job(job_id)


@huey.task(retries=0)
def run_job(job_id: int) -> None:
    execute_job(job_id)


@dataclass
class _Attempt:
    name: str | None = None


def execute_job(job_id: int) -> str:
    """Run one job if it is due and not done; returns what happened (for tests and logs).

    Runs (done, retry, failed) are timed into the job metrics and logged with the correlation id
    of the request that enqueued the job and the job's workspace.
    """
    attempt = _Attempt()
    started = time.perf_counter()
    correlation_token = correlation_id.set(correlation_id.get())
    workspace_token = log_workspace_id.set(None)
    try:
        outcome = _execute_job(job_id, attempt)
        if attempt.name is not None and outcome in ("done", "retry", "failed"):
            elapsed = time.perf_counter() - started
            metrics.observe_job(attempt.name, outcome, elapsed)
            log.info("job %s (%s) %s in %.3fs", job_id, attempt.name, outcome, elapsed)
        return outcome
    finally:
        correlation_id.reset(correlation_token)
        log_workspace_id.reset(workspace_token)


def _execute_job(job_id: int, attempt: _Attempt) -> str:
    db = _db()
    prepared: dict[str, Any] | None = None
    spec = None
    with db.session(write=False) as read_session:
        peek = read_session.get(Job, job_id)
        if peek is None or peek.status != "pending":
            return "skipped"
        if peek.run_after > utcnow() + timedelta(seconds=1):
            return "not_due"
        attempt.name = peek.name
        correlation_id.set(peek.correlation_id)
        log_workspace_id.set(peek.workspace_id)
        spec = JOBS.get(peek.name)
        kwargs = _handler_kwargs(peek)
        if spec is not None and spec.prepare is not None:
            try:
                prepared = spec.prepare(read_session, **kwargs)
            except Exception as exc:
                log.exception("job %s (%s) failed while preparing", job_id, peek.name)
                return _record_failure(db, job_id, exc)
    with db.session(write=True) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.status != "pending":
            return "skipped"
        if job.run_after > utcnow() + timedelta(seconds=1):
            return "not_due"
        if job.attempts >= job.max_attempts:  # every earlier attempt killed its worker
            job.status = "failed"
            job.finished_at = utcnow()
            job.last_error = job.last_error or "worker died while running this job"
            session.commit()
            return "failed"
        # Count the attempt before running it, so a job that kills its worker still runs out.
        job.attempts += 1
        job.dispatched_at = utcnow()
        session.commit()
    with db.session(write=True) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.status != "pending":
            return "skipped"
        name = job.name
        token = correlation_id.set(job.correlation_id)
        try:
            if spec is None:
                raise LookupError(f"no handler registered for job {name!r}")
            if spec.prepare is not None:
                spec.handler(session, prepared=prepared, **_handler_kwargs(job))
            else:
                spec.handler(session, **_handler_kwargs(job))
            job.status = "done"
            job.finished_at = utcnow()
            job.last_error = None
            session.commit()
            return "done"
        except Exception as exc:
            session.rollback()
            # Touching `job` here would reload it and reopen a write transaction (SQLite: the
            # next write below then waits on this thread's own lock until busy_timeout).
            log.exception("job %s (%s) failed", job_id, name)
            session.close()
            return _record_failure(db, job_id, exc, counted=True)
        finally:
            correlation_id.reset(token)


def _handler_kwargs(job: Job) -> dict[str, Any]:
    """A job's args, plus the workspace it belongs to (jobs take IDs and workspace_id)."""
    if job.workspace_id is None:
        return dict(job.args)
    return {**job.args, "workspace_id": job.workspace_id}


def backoff_seconds(attempts: int) -> float:
    base: float = min(2**attempts, MAX_BACKOFF_SECONDS)
    return base * (0.75 + random.random() / 2)


def _record_failure(db: Database, job_id: int, exc: Exception, *, counted: bool = False) -> str:
    with db.session(write=True) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            return "skipped"
        if not counted:
            job.attempts += 1
        job.last_error = f"{type(exc).__name__}: {exc}"[:4000]
        if job.attempts >= job.max_attempts:
            job.status = "failed"
            job.finished_at = utcnow()
            session.commit()
            return "failed"
        delay = backoff_seconds(job.attempts)
        job.run_after = utcnow() + timedelta(seconds=delay)
        # Counted from when it is due, so the sweeper does not re-dispatch a long backoff early.
        job.dispatched_at = job.run_after
        after_commit(session, lambda: dispatch(job_id, delay))
        session.commit()
        return "retry"


def sweep(now_slack: timedelta = STALE_DISPATCH) -> int:
    """Re-dispatch due jobs never dispatched or dispatched long ago (lost message, crashed worker)."""
    db = _db()
    now = utcnow()
    with db.session(write=True) as session:
        due = session.scalars(
            select(Job)
            .where(
                Job.status == "pending",
                Job.run_after <= now,
                or_(Job.dispatched_at.is_(None), Job.dispatched_at < now - now_slack),
            )
            .order_by(Job.id)
            .limit(SWEEP_BATCH)
        ).all()
        ids = [job.id for job in due]
        for job in due:
            job.dispatched_at = now
        for job_id in ids:
            after_commit(session, lambda job_id=job_id: dispatch(job_id))  # type: ignore[misc]
        session.commit()
    return len(ids)


@huey.periodic_task(crontab(minute="*"), retries=0)
def sweep_jobs() -> None:
    sweep()


_registered_periodic: set[str] = set()


def _register_periodic() -> None:
    """Each schedule entry becomes a huey periodic task running in its own transaction."""
    for spec in PERIODIC.values():
        if spec.name in _registered_periodic:
            continue
        _registered_periodic.add(spec.name)

        def run(spec_name: str = spec.name) -> None:
            run_periodic(spec_name)

        huey.periodic_task(crontab(minute=f"*/{spec.every_minutes}"), name=f"periodic.{spec.name}")(
            run
        )


def run_periodic(name: str) -> None:
    spec = PERIODIC[name]
    with _db().session(write=True) as session:
        spec.handler(session)
        session.commit()


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A huey consumer that lives inside the web server process (no signal handlers of its own)."""

    def _set_signal_handlers(self) -> None:
        return None

    def start(self) -> None:
        super().start()
        # Consumer.run() replaces dead workers; an embedded consumer is only start()ed.
        threading.Thread(target=self._watch_workers, name="huey-health", daemon=True).start()

    def _watch_workers(self) -> None:
        while not self.stop_flag.wait(1.0):
            self.check_worker_health()


def start_consumer(workers: int, *, embedded: bool) -> Consumer:
    # A restarted embedded server re-dispatches everything still pending at once.
    sweep(now_slack=timedelta(0) if embedded else STALE_DISPATCH)
    consumer_cls = EmbeddedConsumer if embedded else Consumer
    # SIGTERM (systemd, Kubernetes) lets running jobs finish instead of interrupting them.
    consumer = consumer_cls(
        huey,
        workers=workers,
        worker_type="thread",
        periodic=True,
        graceful_signal="TERM",
        # Idle polling backs off to at most 0.1 s: the AI's first answer is due within a second
        # of a ticket, so a job after a quiet spell must not wait (the default is 10 s). A poll
        # is one indexed read of the queue, so ten a second per thread cost next to nothing.
        initial_delay=0.02,
        max_delay=0.1,
    )
    if embedded:
        consumer.start()
    return consumer
