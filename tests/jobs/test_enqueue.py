"""Enqueue is transactional: a job row and its dispatch exist only if the caller's work commits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from deskpilot.core.correlation import correlation_id
from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.workspaces import service as workspaces_service
from tests.jobs.conftest import all_jobs, load_job
from tests.jobs.handlers import RECORDER


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Job ids handed to the broker; they still run (immediate mode)."""
    calls: list[int] = []
    real: Callable[..., None] = queue.dispatch

    def spy(job_id: int, delay: float | None = None) -> None:
        calls.append(job_id)
        real(job_id, delay)

    monkeypatch.setattr(queue, "dispatch", spy)
    return calls


def test_rollback_leaves_no_row_and_dispatches_nothing(
    jobs_db: Database, dispatched: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        job = queue.enqueue(s, "test.record", workspace_id=None, note="never")
        assert job.id is not None  # flushed: the row existed inside the transaction
        s.rollback()
    assert all_jobs(jobs_db) == []
    assert dispatched == []
    assert RECORDER.names() == []


def test_closing_without_commit_dispatches_nothing(
    jobs_db: Database, dispatched: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        queue.enqueue(s, "test.record", workspace_id=None, note="abandoned")
    assert all_jobs(jobs_db) == []
    assert dispatched == []
    assert RECORDER.names() == []


def test_rolled_back_job_is_not_dispatched_by_a_later_commit(
    jobs_db: Database, dispatched: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        queue.enqueue(s, "test.record", workspace_id=None, note="rolled back")
        s.rollback()
        queue.enqueue(s, "test.record", workspace_id=None, note="kept")
        s.commit()
    jobs = all_jobs(jobs_db)
    assert [j.args for j in jobs] == [{"note": "kept"}]
    assert dispatched == [jobs[0].id]
    assert RECORDER.args_of("test.record") == [{"note": "kept"}]


def test_job_runs_only_after_commit_and_sees_committed_data(
    jobs_db: Database, dispatched: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        workspace = workspaces_service.create_workspace(s, slug="fresh", name="Committed Name")
        job = queue.enqueue(s, "test.read_workspace_name", workspace_id=None, ws_id=workspace.id)
        s.flush()
        assert dispatched == []
        assert RECORDER.names() == []
        s.commit()
    assert dispatched == [job.id]
    # The handler used its own connection, so it can only have seen committed data.
    assert RECORDER.args_of("test.read_workspace_name") == [{"name": "Committed Name"}]
    done = load_job(jobs_db, job.id)
    assert (done.status, done.attempts) == ("done", 1)
    assert done.finished_at is not None


def test_releasing_a_savepoint_does_not_dispatch_before_commit(
    jobs_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    early: list[int] = []
    monkeypatch.setattr(queue, "dispatch", lambda job_id, delay=None: early.append(job_id))
    with jobs_db.session(write=True) as s:
        job = queue.enqueue(s, "test.record", workspace_id=None)
        with s.begin_nested():  # e.g. idempotency.claim or find_or_create_contact
            workspaces_service.create_workspace(s, slug="in-savepoint", name="x")
        assert early == [], "dispatched while the job row was still uncommitted"
        s.commit()
    assert early == [job.id]


def test_rolled_back_savepoint_keeps_earlier_dispatches(
    jobs_db: Database, dispatched: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        job = queue.enqueue(s, "test.record", workspace_id=None, note="outer")
        with pytest.raises(LookupError), s.begin_nested():
            raise LookupError("a savepoint that fails, e.g. a lost unique race")
        s.commit()
    assert dispatched == [job.id]
    assert load_job(jobs_db, job.id).status == "done"


def test_job_enqueued_in_a_rolled_back_savepoint_is_dropped_alone(
    jobs_db: Database, dispatched: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        kept = queue.enqueue(s, "test.record", workspace_id=None, note="outer")
        savepoint = s.begin_nested()
        queue.enqueue(s, "test.record", workspace_id=None, note="inner")
        savepoint.rollback()
        s.commit()
    assert dispatched == [kept.id]
    assert [j.args for j in all_jobs(jobs_db)] == [{"note": "outer"}]


def test_job_from_a_released_savepoint_is_dropped_when_the_outer_transaction_rolls_back(
    jobs_db: Database, dispatched: list[int]
) -> None:
    with jobs_db.session(write=True) as s:
        with s.begin_nested():
            queue.enqueue(s, "test.record", workspace_id=None, note="inner")
        s.rollback()
        s.commit()
    assert dispatched == []
    assert all_jobs(jobs_db) == []


def test_args_round_trip_through_json(jobs_db: Database) -> None:
    with jobs_db.session(write=True) as s:
        job = queue.enqueue(
            s,
            "test.record",
            workspace_id=None,
            ids=(3, 1, 2),
            nested={"a": [1, {"b": None}], 7: True},
            text="Grüße ✓",
            ratio=0.25,
        )
        enqueued_args = dict(job.args)
        s.commit()
    expected = {
        "ids": [3, 1, 2],
        "nested": {"a": [1, {"b": None}], "7": True},
        "text": "Grüße ✓",
        "ratio": 0.25,
    }
    assert enqueued_args == expected
    assert load_job(jobs_db, job.id).args == expected
    assert RECORDER.args_of("test.record") == [expected]


@pytest.mark.parametrize(
    "value",
    [datetime(2024, 1, 1, tzinfo=UTC), Decimal("1.5"), {1, 2}, b"bytes", object()],
    ids=["datetime", "decimal", "set", "bytes", "object"],
)
def test_non_json_args_are_rejected_at_enqueue(
    jobs_db: Database, dispatched: list[int], value: Any
) -> None:
    with jobs_db.session(write=True) as s:
        with pytest.raises(TypeError):
            queue.enqueue(s, "test.record", workspace_id=None, value=value)
        assert not s.new
        s.commit()  # the caller's transaction is still usable
    assert all_jobs(jobs_db) == []
    assert dispatched == []


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_floats_are_rejected_at_enqueue(jobs_db: Database, value: float) -> None:
    with jobs_db.session(write=True) as s:
        with pytest.raises(ValueError, match="JSON"):
            queue.enqueue(s, "test.record", workspace_id=None, value=value)
        s.commit()
    assert all_jobs(jobs_db) == []


def test_unknown_job_name_is_rejected(jobs_db: Database) -> None:
    with jobs_db.session(write=True) as s:
        with pytest.raises(KeyError, match=r"test\.no_such_job"):
            queue.enqueue(s, "test.no_such_job", workspace_id=None)
        assert not s.new
        s.commit()
    assert all_jobs(jobs_db) == []


def test_max_attempts_comes_from_the_job_or_the_configured_default(jobs_db: Database) -> None:
    queue.configure(jobs_db, mode="immediate", max_attempts=3)
    with jobs_db.session(write=True) as s:
        plain = queue.enqueue(s, "test.record", workspace_id=None)
        own_limit = queue.enqueue(
            s, "test.rename_then_fail", workspace_id=None, ws_id=0, new_name=""
        )
        assert (plain.max_attempts, own_limit.max_attempts) == (3, 5)
        s.rollback()


def test_correlation_id_follows_the_request_into_the_job(jobs_db: Database) -> None:
    token = correlation_id.set("req-42")
    try:
        with jobs_db.session(write=True) as s:
            job = queue.enqueue(s, "test.record", workspace_id=None)
            s.commit()
    finally:
        correlation_id.reset(token)
    assert load_job(jobs_db, job.id).correlation_id == "req-42"
    assert [c.correlation_id for c in RECORDER.all()] == ["req-42"]
    assert correlation_id.get() is None


def test_job_row_records_its_workspace(jobs_db: Database, workspace_id: int) -> None:
    with jobs_db.session(write=True) as s:
        job = queue.enqueue(s, "test.workspace_aware", workspace_id=workspace_id, ticket_id=7)
        s.commit()
    stored = load_job(jobs_db, job.id)
    assert (stored.workspace_id, stored.args, stored.status) == (
        workspace_id,
        {"ticket_id": 7},
        "done",
    )


def test_handler_receives_the_jobs_workspace_id(jobs_db: Database, workspace_id: int) -> None:
    with jobs_db.session(write=True) as s:
        queue.enqueue(s, "test.workspace_aware", workspace_id=workspace_id, ticket_id=7)
        s.commit()
    assert RECORDER.args_of("test.workspace_aware") == [
        {"workspace_id": workspace_id, "ticket_id": 7}
    ]


def test_a_job_arg_may_be_called_name(jobs_db: Database) -> None:
    with jobs_db.session(write=True) as s:
        queue.enqueue(s, "test.record", workspace_id=None, name="Ann")
        s.commit()
    assert RECORDER.args_of("test.record") == [{"name": "Ann"}]
