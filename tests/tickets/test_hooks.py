"""Ticket event handlers run before commit, in rounds, with a loop guard."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.tickets import annotations as ticket_annotations
from deskpilot.tickets import hooks
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket, TicketEvent
from deskpilot.tickets.schemas import TicketUpdate
from tests.factories import Personas, make_ticket


@pytest.fixture
def seen() -> Iterator[list[list[str]]]:
    batches: list[list[str]] = []

    def record(session: Session, events: Sequence[TicketEvent]) -> None:
        batches.append([e.kind for e in events])

    hooks.register("test.record", record, order=1000)
    yield batches
    hooks._handlers.pop("test.record", None)


def test_events_are_dispatched_once_at_the_end_of_each_service_call(
    session: Session, personas: Personas, seen: list[list[str]]
) -> None:
    ticket = make_ticket(session, personas.ann.ctx)
    assert seen == [["created"]]
    tickets_service.update_ticket(
        session, personas.ann.ctx, ticket.id, TicketUpdate(priority="high", tags=["vip"])
    )
    assert seen == [["created"], ["priority_changed", "tagged"]]
    session.commit()
    assert len(seen) == 2


def test_events_recorded_outside_a_service_call_run_before_commit(
    session: Session, personas: Personas, seen: list[list[str]]
) -> None:
    ticket = make_ticket(session, personas.ann.ctx)
    ticket_annotations.record_escalation(
        session, personas.ann.ctx, ticket, escalation_id=1, reason="manual", team_id=None
    )
    assert seen == [["created"]]
    session.commit()
    assert seen == [["created"], ["escalated"]]


def test_events_of_a_rolled_back_savepoint_are_never_dispatched(
    session: Session, personas: Personas, seen: list[list[str]]
) -> None:
    ticket = make_ticket(session, personas.ann.ctx)
    with session.begin_nested() as savepoint:
        ticket_annotations.record_escalation(
            session, personas.ann.ctx, ticket, escalation_id=1, reason="manual", team_id=None
        )
        savepoint.rollback()
    session.commit()
    assert seen == [["created"]]


def test_changes_made_by_a_handler_are_dispatched_in_the_next_round(
    session: Session, personas: Personas, seen: list[list[str]]
) -> None:
    def escalate_urgent_words(session: Session, events: Sequence[TicketEvent]) -> None:
        for e in events:
            if e.kind == "created" and "down" in e.ticket.subject:
                ctx = Context.system(e.workspace_id)
                tickets_service.update_ticket(
                    session, ctx, e.ticket_id, TicketUpdate(priority="urgent")
                )

    hooks.register("test.urgent", escalate_urgent_words, order=1)
    try:
        ticket = make_ticket(session, personas.ann.ctx, subject="Site is down")
        session.commit()
    finally:
        hooks._handlers.pop("test.urgent", None)
    assert seen == [["created"], ["priority_changed"]]
    assert session.get(Ticket, ticket.id).priority == "urgent"  # type: ignore[union-attr]


def test_a_loop_is_cut_and_the_transaction_still_commits(
    session: Session, personas: Personas, seen: list[list[str]]
) -> None:
    def flip(session: Session, events: Sequence[TicketEvent]) -> None:
        for e in events:
            ctx = Context.system(e.workspace_id)
            new = "low" if e.ticket.priority != "low" else "high"
            tickets_service.update_ticket(session, ctx, e.ticket_id, TicketUpdate(priority=new))
            break

    hooks.register("test.flip", flip, order=1)
    try:
        ticket = make_ticket(session, personas.ann.ctx)
        session.commit()
    finally:
        hooks._handlers.pop("test.flip", None)
    assert len(seen) == hooks.MAX_ROUNDS
    assert session.get(Ticket, ticket.id) is not None
