"""The webhook action: a durable job that POSTs after commit, retried with backoff on failure."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.automation import webhooks
from deskpilot.automation.actions import WEBHOOK_JOB
from deskpilot.automation.models import AutomationRun
from deskpilot.jobs import queue
from deskpilot.jobs.models import Job
from tests.automation.conftest import make_rule
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket

URL = "https://hooks.example.com/deskpilot"


class Receiver:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, json={"ok": status < 300})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    webhooks.set_transport(httpx.MockTransport(fake))
    yield fake
    webhooks.set_transport(None)


def webhook_rule(session: Session, personas: Personas) -> None:
    make_rule(
        session,
        personas.acme_admin.ctx,
        name="page the on-call bot",
        conditions=[{"field": "subject", "op": "contains", "value": "down"}],
        actions=[{"type": "webhook", "url": URL}],
    )


def test_the_post_happens_after_commit_with_the_ticket_as_json(
    session: Session, personas: Personas, receiver: Receiver
) -> None:
    webhook_rule(session, personas)
    ticket = make_ticket(session, personas.ann.ctx, subject="Site down")
    session.flush()
    assert receiver.requests == []
    session.commit()  # the hooks run the rule, the job is recorded, then dispatched after commit
    [request] = receiver.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    body = json.loads(request.content)
    assert body["event"] == "automation.rule_matched"
    assert body["rule"]["name"] == "page the on-call bot"
    assert (body["ticket"]["id"], body["ticket"]["subject"]) == (ticket.id, "Site down")
    job = session.scalars(select(Job).where(Job.name == WEBHOOK_JOB)).one()
    assert job.status == "done"
    assert job.workspace_id == personas.ann.workspace_id
    run = session.scalars(select(AutomationRun)).one()
    assert (
        request.headers["X-Deskpilot-Delivery"] == run.actions_applied[0]["result"]["delivery_id"]
    )


def test_a_rolled_back_transaction_sends_nothing(
    session: Session, personas: Personas, receiver: Receiver
) -> None:
    webhook_rule(session, personas)
    make_ticket(session, personas.ann.ctx, subject="Site down")
    session.rollback()
    assert receiver.requests == []
    assert session.scalars(select(Job).where(Job.name == WEBHOOK_JOB)).all() == []


def test_a_failed_delivery_is_retried_later_and_then_succeeds(
    session: Session, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    webhook_rule(session, personas)
    receiver.statuses = [503]
    make_ticket(session, personas.ann.ctx, subject="Site down")
    session.commit()
    job = session.scalars(select(Job).where(Job.name == WEBHOOK_JOB)).one()
    session.refresh(job)
    assert (job.status, job.attempts) == ("pending", 1)
    assert "503" in (job.last_error or "")
    session.commit()  # end this write transaction: the job runner opens its own
    assert queue.execute_job(job.id) == "not_due"  # backing off
    assert len(receiver.requests) == 1
    clock.advance(minutes=11)
    assert queue.execute_job(job.id) == "done"
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.headers["X-Deskpilot-Delivery"] == second.headers["X-Deskpilot-Delivery"]


def test_only_http_urls_are_accepted(session: Session, personas: Personas) -> None:
    from pydantic import ValidationError

    for url in ("ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "not a url"):
        with pytest.raises(ValidationError):
            make_rule(session, personas.acme_admin.ctx, actions=[{"type": "webhook", "url": url}])
