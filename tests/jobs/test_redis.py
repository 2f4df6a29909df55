"""Redis mode against the real server: same task code, RedisStorage, an in-process consumer."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from huey.consumer import Consumer

from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from tests.jobs.conftest import wait_for_status, workspace_name
from tests.jobs.handlers import RECORDER

REDIS_URL = os.environ.get("DESKPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_queue(jobs_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Redis mode on a queue name of this test's own, removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {REDIS_URL} (set DESKPILOT_TEST_REDIS_URL): {exc}")
    finally:
        client.close()
    # A unique huey name keys every list and hash of this test apart from other runs sharing db 15.
    monkeypatch.setattr(queue.huey, "name", f"deskpilot-test-{uuid.uuid4().hex[:12]}")
    queue.configure(jobs_db, mode="redis", redis_url=REDIS_URL)
    first_storage = queue.huey.storage
    try:
        yield REDIS_URL
    finally:
        queue.huey.storage.flush_all()
        queue.huey.storage.conn.close()
        first_storage.conn.close()


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    started: list[Consumer] = []
    yield started
    for consumer in started:
        consumer.stop(graceful=True)


def enqueue_committed(db: Database, name: str, **args: object) -> int:
    with db.session(write=True) as s:
        job = queue.enqueue(s, name, workspace_id=None, **args)
        s.commit()
        return job.id


def test_redis_consumer_runs_a_committed_job(
    jobs_db: Database, redis_queue: str, workspace_id: int, consumers: list[Consumer]
) -> None:
    consumers.append(queue.start_consumer(1, embedded=True))
    job_id = enqueue_committed(
        jobs_db, "test.rename_workspace", ws_id=workspace_id, new_name="From Redis"
    )
    job = wait_for_status(jobs_db, job_id, "done")
    assert job.attempts == 1
    assert workspace_name(jobs_db, workspace_id) == "From Redis"


def test_redis_consumer_threads_run_each_job_exactly_once(
    jobs_db: Database, redis_queue: str, consumers: list[Consumer]
) -> None:
    consumers.append(queue.start_consumer(2, embedded=True))
    ids = [enqueue_committed(jobs_db, "test.record", n=n) for n in range(20)]
    for job_id in ids:
        wait_for_status(jobs_db, job_id, "done")
    assert sorted(a["n"] for a in RECORDER.args_of("test.record")) == list(range(20))


def test_redis_job_enqueued_while_no_consumer_runs_survives_a_restart(
    jobs_db: Database, redis_queue: str, consumers: list[Consumer]
) -> None:
    job_id = enqueue_committed(jobs_db, "test.record", marker="survivor")
    assert queue.huey.pending_count() == 1
    old_storage = queue.huey.storage

    queue.configure(jobs_db, mode="redis", redis_url=redis_queue)  # the "restart"
    assert queue.huey.storage is not old_storage
    assert queue.huey.pending_count() == 1
    consumer = queue.EmbeddedConsumer(queue.huey, workers=1, worker_type="thread", periodic=False)
    consumers.append(consumer)
    consumer.start()
    wait_for_status(jobs_db, job_id, "done")
    assert RECORDER.args_of("test.record") == [{"marker": "survivor"}]
