"""Two sweeps at once (PostgreSQL): each breach gets one event and its actions exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.escalations.models import Escalation
from deskpilot.sla.tasks import SweepResult, sweep
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from tests.clock import FrozenClock
from tests.conftest import IS_POSTGRES
from tests.factories import Personas, make_ticket
from tests.sla.helpers import make_policy

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.skipif(not IS_POSTGRES, reason="row locks need PostgreSQL"),
]
TICKETS = 12


def test_concurrent_sweeps_act_once_per_breach(
    db: Database, personas: Personas, clock: FrozenClock
) -> None:
    with db.session(write=True) as session:
        make_policy(
            session, personas.acme_admin.ctx, resolution_minutes=None,
            breach_actions=[
                {"type": "notify_assignee"}, {"type": "raise_priority"},
                {"type": "assign_team", "team_id": personas.teams["acme_billing"]},
            ],
        )  # fmt: skip
        session.commit()
        ids = [make_ticket(session, personas.ann.ctx).id for _ in range(TICKETS)]
        session.commit()
    clock.advance(hours=2)
    barrier = threading.Barrier(2)

    def run(_: int) -> SweepResult:
        with db.session(write=True) as session:
            barrier.wait(timeout=30)
            result = sweep(session, page=5)
            session.commit()
            return result

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(2)))
    # Leftovers (tickets the other sweeper held) are picked up by the next sweep.
    with db.session(write=True) as session:
        results.append(sweep(session))
        session.commit()
    assert sum(r.breached for r in results) == TICKETS
    with db.session(write=False) as session:
        breaches = session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.kind == "sla_breached", TicketEvent.ticket_id.in_(ids))
        )
        notes = session.scalar(
            select(func.count()).select_from(Message).where(Message.ticket_id.in_(ids))
        )
        escalations = session.scalar(
            select(func.count()).select_from(Escalation).where(Escalation.ticket_id.in_(ids))
        )
        priorities = set(session.scalars(select(Ticket.priority).where(Ticket.id.in_(ids))))
    assert (breaches, notes, escalations) == (TICKETS, TICKETS, TICKETS)
    assert priorities == {"high"}  # raised one step, once
