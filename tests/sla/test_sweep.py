"""The periodic sweep: at-risk flags, breaches, actions exactly once, a constant query count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.escalations.models import Escalation
from deskpilot.jobs.queue import run_periodic
from deskpilot.sla.tasks import SWEEP_JOB, sweep
from deskpilot.tickets.models import Message, Ticket
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket
from tests.sla.helpers import clocks_of, event_kinds, make_policy

ACTIONS = [
    {"type": "notify_assignee"},
    {"type": "notify_team"},
    {"type": "raise_priority"},
]


def test_sweep_flags_at_risk_then_breaches_and_acts_once(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    billing = personas.teams["acme_billing"]
    make_policy(
        session, personas.acme_admin.ctx,
        breach_actions=[*ACTIONS, {"type": "assign_team", "team_id": billing}],
    )  # fmt: skip
    session.commit()
    ticket = make_ticket(session, personas.ann.ctx, assignee_id=personas.bob.user_id)
    session.commit()

    clock.advance(minutes=29)
    assert sweep(session).at_risk == 0
    clock.advance(minutes=1)
    result = sweep(session)
    session.commit()
    assert (result.at_risk, result.breached, result.actions) == (1, 0, 1)  # the warning note
    assert event_kinds(session, ticket.id) == ["sla_at_risk"]
    [warning] = session.scalars(
        select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)
    ).all()
    assert warning.visibility == "internal"
    assert "SLA at risk" in warning.body

    clock.advance(minutes=30)
    result = sweep(session)
    session.commit()
    assert (result.breached, result.actions) == (1, 3)  # one note, one priority step, one team
    assert event_kinds(session, ticket.id) == ["sla_at_risk", "sla_breached"]
    session.expire_all()
    refreshed = session.get(Ticket, ticket.id)
    assert refreshed is not None
    assert refreshed.priority == "high"
    assert refreshed.team_id == billing
    notes = session.scalars(
        select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)
    ).all()
    assert [n.visibility for n in notes] == ["internal", "internal"]
    assert "SLA breached" in notes[1].body
    escalations = session.scalars(select(Escalation).where(Escalation.ticket_id == ticket.id)).all()
    assert [e.reason for e in escalations] == ["sla"]
    first = clocks_of(session, ticket.id)[("first_response", 1)]
    assert first.state == "breached"
    assert first.breach_handled_at == clock.now

    clock.advance(minutes=5)
    for _ in range(2):  # again: nothing new happens
        result = sweep(session)
        session.commit()
        assert (result.breached, result.at_risk, result.actions) == (0, 0, 0)
    assert event_kinds(session, ticket.id) == ["sla_at_risk", "sla_breached"]
    assert (
        len(
            session.scalars(
                select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)
            ).all()
        )
        == 2
    )


def test_paused_clocks_are_not_swept(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    make_policy(session, personas.acme_admin.ctx, first_response_minutes=None)
    session.commit()
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    from deskpilot.tickets import service as tickets_service
    from deskpilot.tickets.schemas import TicketUpdate

    tickets_service.update_ticket(
        session, personas.ann.ctx, ticket.id, TicketUpdate(status="waiting_customer")
    )
    session.commit()
    clock.advance(days=2)
    assert sweep(session).breached == 0


def test_the_periodic_job_runs_the_sweep(
    db: Database, personas: Personas, clock: FrozenClock
) -> None:
    with db.session(write=True) as session:
        make_policy(session, personas.acme_admin.ctx)
        session.commit()
        ticket = make_ticket(session, personas.ann.ctx)
        session.commit()
    clock.advance(hours=5)
    run_periodic(SWEEP_JOB)
    with db.session(write=True) as session:
        assert event_kinds(session, ticket.id) == ["sla_breached", "sla_breached"]


@contextmanager
def count_statements(session: Session) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = session.get_bind()

    def before(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_sweep_statement_count_does_not_grow_with_open_tickets(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    make_policy(session, personas.acme_admin.ctx)
    session.commit()
    counts = []
    for batch in (3, 30):
        for _ in range(batch):
            make_ticket(session, personas.ann.ctx)
        session.commit()
        with count_statements(session) as statements:
            sweep(session)  # nothing due
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 3
