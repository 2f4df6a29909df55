"""Job, AI, provider and SLA metrics: counted where the work happens, once it is committed."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.jobs.models import Job
from deskpilot.jobs.registry import JOBS, JobSpec
from deskpilot.llm import service as llm_service
from deskpilot.sla.tasks import sweep
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import MessageCreate
from deskpilot.triage import service as triage_service
from tests.clock import FrozenClock
from tests.factories import Persona, Personas, make_ticket
from tests.llm.recorded import Provider, Reply, password_request
from tests.llm.test_compose import KEY_ENV, configure
from tests.observability.conftest import Scrape
from tests.sla.helpers import make_policy
from tests.triage.conftest import ARTICLES, publish

JOB_DURATION = "deskpilot_job_duration_seconds"
FAILING_JOB = "observability.always_fails"


# --- jobs ------------------------------------------------------------------------------------------


def test_a_job_run_is_timed_by_name_and_outcome(
    client: TestClient, personas: Personas, scrape: Callable[[], Scrape]
) -> None:
    before = scrape()
    r = client.post(
        "/api/v1/kb/articles",
        json={"title": "Export", "body": "Use CSV."},
        headers=personas.ann.headers,
    )
    assert r.status_code == 201, r.text
    after = scrape()
    done = {"name": "kb.index_article", "outcome": "done"}
    assert after.delta(before, f"{JOB_DURATION}_count", **done) == 1
    assert after.delta(before, f"{JOB_DURATION}_bucket", le="+Inf", **done) == 1


def _always_fails(_session: Session, **_args: Any) -> None:
    raise RuntimeError("this job always fails")


@pytest.fixture
def failing_job(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(JOBS, FAILING_JOB, JobSpec(FAILING_JOB, _always_fails, max_attempts=2))
    return FAILING_JOB


def test_failed_attempts_are_counted_as_retry_then_failed(
    db: Database, failing_job: str, clock: FrozenClock, scrape: Callable[[], Scrape]
) -> None:
    before = scrape()
    with db.session(write=True) as s:
        job = queue.enqueue(s, failing_job, workspace_id=None)
        s.commit()  # dispatched now (immediate mode): the first attempt fails and backs off
    clock.advance(hours=1)
    assert queue.execute_job(job.id) == "failed"
    after = scrape()
    assert after.delta(before, f"{JOB_DURATION}_count", name=failing_job, outcome="retry") == 1
    assert after.delta(before, f"{JOB_DURATION}_count", name=failing_job, outcome="failed") == 1
    assert after.delta(before, f"{JOB_DURATION}_count", name=failing_job, outcome="done") == 0


def test_queue_depth_is_read_from_the_jobs_table_at_scrape_time(
    db: Database, clock: FrozenClock, scrape: Callable[[], Scrape]
) -> None:
    with db.session(write=True) as s:
        s.add_all(
            [
                Job(name="webhooks.deliver", args={}, run_after=clock.now - timedelta(seconds=90)),
                Job(name="webhooks.deliver", args={}, run_after=clock.now),
                Job(name="email.send", args={}, run_after=clock.now + timedelta(hours=1)),
                Job(name="email.send", args={}, status="done", run_after=clock.now),
            ]
        )
        s.commit()  # rows only: nothing is dispatched
    now = scrape()
    assert now.value("deskpilot_jobs_pending", name="webhooks.deliver") == 2
    assert now.value("deskpilot_jobs_pending", name="email.send") == 1  # not due, still pending
    assert now.value("deskpilot_jobs_oldest_due_seconds") == 90

    clock.advance(seconds=30)
    assert scrape().value("deskpilot_jobs_oldest_due_seconds") == 120


def test_an_empty_queue_reports_no_wait(scrape: Callable[[], Scrape]) -> None:
    assert scrape().value("deskpilot_jobs_oldest_due_seconds") == 0


# --- AI decisions ----------------------------------------------------------------------------------


def test_a_dry_run_answer_counts_one_decision(
    client: TestClient, db: Database, personas: Personas, scrape: Callable[[], Scrape]
) -> None:
    publish(db, personas.acme_admin, ARTICLES)
    before = scrape()
    r = client.post(
        "/api/v1/ai/answer",
        json={"question": "How do I reset my password?"},
        headers=personas.ann.headers,
    )
    assert r.status_code == 200, r.text
    after = scrape()
    decision = r.json()["decision"]
    name = "deskpilot_ai_decisions_total"
    assert after.delta(before, name, source="dry_run", decision=decision) == 1
    assert after.delta(before, name) == 1
    # The engine's language-model call (the offline builtin here) is counted too.
    assert after.delta(before, "deskpilot_llm_request_duration_seconds_count", provider="builtin")


def test_a_rolled_back_decision_is_not_counted(
    session: Session, personas: Personas, scrape: Callable[[], Scrape]
) -> None:
    before = scrape()
    triage_service.answer_question(session, personas.ann.ctx, "How do I export my data?")
    session.rollback()
    assert scrape().delta(before, "deskpilot_ai_decisions_total") == 0


# --- provider calls: latency, tokens, cost ---------------------------------------------------------


@pytest.fixture
def anthropic_owner(
    session: Session, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> Persona:
    monkeypatch.setenv(KEY_ENV, "sk-ant-test-key")
    configure(session, personas.acme_owner)
    return personas.acme_owner


def _ticks(*values: float) -> Callable[[], float]:
    """A monotonic clock that returns `values`, then keeps returning the last one."""
    remaining: Iterator[float] = iter(values)
    last = values[-1]

    def now() -> float:
        return next(remaining, last)

    return now


def _compose(session: Session, owner: Persona) -> llm_service.ComposeResult:
    return llm_service.compose_answer(
        session,
        owner.ctx,
        password_request(),
        http_client=Provider(Reply("anthropic_answer")).client(),
        rng=random.Random(7),
        clock=_ticks(100.0, 100.25),
    )


def test_a_provider_call_records_latency_tokens_and_cost(
    session: Session, anthropic_owner: Persona, scrape: Callable[[], Scrape]
) -> None:
    before = scrape()
    result = _compose(session, anthropic_owner)
    assert scrape().delta(before, "deskpilot_llm_tokens_total") == 0  # not committed yet
    session.commit()
    after = scrape()

    model = {"provider": "anthropic", "model": "claude-sonnet-4-6"}
    tokens = "deskpilot_llm_tokens_total"
    assert after.delta(before, tokens, kind="input", **model) == 412
    assert after.delta(before, tokens, kind="output", **model) == 68
    assert after.delta(before, "deskpilot_llm_cost_usd_total", **model) == pytest.approx(
        result.cost_usd
    )
    assert result.cost_usd == pytest.approx((412 * 3.0 + 68 * 15.0) / 1_000_000)
    latency = "deskpilot_llm_request_duration_seconds"
    ok = {"provider": "anthropic", "status": "ok"}
    assert after.delta(before, f"{latency}_count", **ok) == 1
    assert after.delta(before, f"{latency}_sum", **ok) == pytest.approx(0.25)
    assert after.delta(before, f"{latency}_bucket", le="0.25", **ok) == 1
    assert after.delta(before, f"{latency}_bucket", le="0.1", **ok) == 0


def test_a_rolled_back_provider_call_is_not_counted(
    session: Session, anthropic_owner: Persona, scrape: Callable[[], Scrape]
) -> None:
    before = scrape()
    _compose(session, anthropic_owner)
    session.rollback()
    after = scrape()
    assert after.delta(before, "deskpilot_llm_tokens_total") == 0
    assert after.delta(before, "deskpilot_llm_request_duration_seconds_count") == 0


# --- SLA breaches ----------------------------------------------------------------------------------


def test_the_sweep_counts_each_breach_once(
    session: Session, personas: Personas, clock: FrozenClock, scrape: Callable[[], Scrape]
) -> None:
    make_policy(session, personas.acme_admin.ctx)  # first response within 60 minutes
    session.commit()
    make_ticket(session, personas.ann.ctx)
    make_ticket(session, personas.ann.ctx)
    session.commit()
    before = scrape()

    clock.advance(minutes=61)
    result = sweep(session)
    session.commit()
    assert result.breached == 2
    for _ in range(2):  # later sweeps find nothing new
        sweep(session)
        session.commit()

    after = scrape()
    breaches = "deskpilot_sla_breaches_total"
    assert after.delta(before, breaches, metric="first_response", detected="sweep") == 2
    assert after.delta(before, breaches) == 2


def test_a_rolled_back_sweep_counts_nothing(
    session: Session, personas: Personas, clock: FrozenClock, scrape: Callable[[], Scrape]
) -> None:
    make_policy(session, personas.acme_admin.ctx)
    session.commit()
    make_ticket(session, personas.ann.ctx)
    session.commit()
    before = scrape()
    clock.advance(minutes=61)
    assert sweep(session).breached == 1
    session.rollback()
    assert scrape().delta(before, "deskpilot_sla_breaches_total") == 0


def test_a_late_reply_before_any_sweep_counts_as_a_breach_on_stop(
    session: Session, personas: Personas, clock: FrozenClock, scrape: Callable[[], Scrape]
) -> None:
    make_policy(session, personas.acme_admin.ctx)
    session.commit()
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    before = scrape()
    clock.advance(minutes=61)
    tickets_service.add_message(session, personas.ann.ctx, ticket.id, MessageCreate(body="Hi"))
    session.commit()
    after = scrape()
    breaches = "deskpilot_sla_breaches_total"
    assert after.delta(before, breaches, metric="first_response", detected="on_stop") == 1
    assert after.delta(before, breaches) == 1
