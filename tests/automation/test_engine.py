"""Rules run on ticket events: triggers, order, stop_processing, loop guard, idempotency."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.automation import engine
from deskpilot.automation.models import AutomationRun
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate
from tests.automation.conftest import make_rule
from tests.factories import Personas, make_ticket

SET_URGENT = [{"type": "set_field", "field": "priority", "value": "urgent"}]


def runs(session: Session, ticket_id: int | None = None) -> list[AutomationRun]:
    stmt = select(AutomationRun).order_by(AutomationRun.id)
    if ticket_id is not None:
        stmt = stmt.where(AutomationRun.ticket_id == ticket_id)
    return list(session.scalars(stmt))


def fresh(session: Session, ticket_id: int) -> Ticket:
    session.expire_all()
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


def test_a_created_rule_acts_on_a_matching_ticket_and_records_the_run(
    session: Session, personas: Personas
) -> None:
    admin = personas.acme_admin.ctx
    rule = make_rule(
        session,
        admin,
        conditions=[{"field": "subject", "op": "contains", "value": "DOWN"}],
        actions=SET_URGENT,
    )
    hit = make_ticket(session, personas.ann.ctx, subject="Site is down")
    miss = make_ticket(session, personas.ann.ctx, subject="Question about invoices")
    session.commit()

    assert fresh(session, hit.id).priority == "urgent"
    assert fresh(session, miss.id).priority == "normal"
    [run] = runs(session)
    created = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == hit.id, TicketEvent.kind == "created")
    ).one()
    assert (run.rule_id, run.ticket_id, run.trigger) == (rule.id, hit.id, "ticket_created")
    assert run.event_key == f"event:{created.id}"
    assert run.matched is True
    assert run.error is None
    assert run.actions_applied == [{**SET_URGENT[0], "ok": True}]
    # The change went through the ticket service: an audit event by the system.
    changed = session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == hit.id, TicketEvent.kind == "priority_changed"
        )
    ).one()
    assert (changed.actor_type, changed.new_value) == ("system", "urgent")


def test_disabled_rules_and_other_triggers_do_not_run(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    make_rule(session, admin, name="off", enabled=False, actions=SET_URGENT)
    make_rule(session, admin, name="updates only", trigger="ticket_updated", actions=SET_URGENT)
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    assert fresh(session, ticket.id).priority == "normal"
    assert runs(session) == []


@pytest.mark.parametrize(
    ("first", "second", "final"), [("high", "low", "low"), ("low", "high", "high")]
)
def test_rules_run_in_position_order_and_later_rules_see_earlier_changes(
    session: Session, personas: Personas, first: str, second: str, final: str
) -> None:
    admin = personas.acme_admin.ctx
    # Created in the opposite order of their positions: position decides, not id.
    make_rule(
        session,
        admin,
        name="second",
        position=5,
        conditions=[{"field": "priority", "op": "eq", "value": first}],
        actions=[{"type": "set_field", "field": "priority", "value": second}],
    )
    make_rule(
        session,
        admin,
        name="first",
        position=1,
        actions=[{"type": "set_field", "field": "priority", "value": first}],
    )
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    assert fresh(session, ticket.id).priority == final
    assert [r.actions_applied[0]["value"] for r in runs(session)] == [first, second]


def test_stop_processing_ends_the_pass(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    make_rule(
        session,
        admin,
        name="stopper",
        position=0,
        stop_processing=True,
        actions=[{"type": "add_tags", "tags": ["first"]}],
    )
    make_rule(
        session, admin, name="never", position=1, actions=[{"type": "add_tags", "tags": ["second"]}]
    )
    make_rule(
        session,
        admin,
        name="not matching, no stop",
        position=0,
        conditions=[{"field": "channel", "op": "eq", "value": "chat"}],
        stop_processing=True,
        actions=[{"type": "add_tags", "tags": ["chat"]}],
    )
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    assert fresh(session, ticket.id).tags == ["first"]
    assert len(runs(session)) == 1


def test_two_rules_that_undo_each_other_each_fire_once_and_the_chain_ends(
    session: Session, personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    admin = personas.acme_admin.ctx
    to_low = make_rule(
        session,
        admin,
        name="high to low",
        trigger="ticket_updated",
        conditions=[{"field": "priority", "op": "eq", "value": "high"}],
        actions=[{"type": "set_field", "field": "priority", "value": "low"}],
    )
    to_high = make_rule(
        session,
        admin,
        name="low to high",
        trigger="ticket_updated",
        conditions=[{"field": "priority", "op": "eq", "value": "low"}],
        actions=[{"type": "set_field", "field": "priority", "value": "high"}],
    )
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    tickets_service.update_ticket(
        session, personas.ann.ctx, ticket.id, TicketUpdate(priority="high")
    )
    with caplog.at_level(logging.WARNING):
        session.commit()
    assert [r.rule_id for r in runs(session)] == [to_low.id, to_high.id]
    assert fresh(session, ticket.id).priority == "high"
    assert "chain cut" not in caplog.text  # the rules' guard ended it, not the hooks' round limit
    # A later, separate change is a new chain: the rules may fire again (once each).
    tickets_service.update_ticket(
        session, personas.ann.ctx, ticket.id, TicketUpdate(priority="high")
    )
    tickets_service.update_ticket(session, personas.ann.ctx, ticket.id, TicketUpdate(subject="x"))
    session.commit()
    assert len(runs(session)) == 4


def test_a_replayed_event_never_runs_a_rule_twice(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    make_rule(session, admin, actions=[{"type": "add_note", "body": "Seen by automation"}])
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    created = list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)))
    for _ in range(2):  # each replay in a transaction of its own, like a re-delivered event
        engine.handle_events(session, created)
        session.commit()
    notes = session.scalars(select(Message).where(Message.ticket_id == ticket.id)).all()
    assert [m.body for m in notes] == ["Seen by automation"]
    assert len(runs(session)) == 1


def test_a_customer_message_runs_message_received_rules_once(
    session: Session, personas: Personas
) -> None:
    admin = personas.acme_admin.ctx
    make_rule(
        session,
        admin,
        name="refunds",
        trigger="message_received",
        conditions=[{"field": "latest_message", "op": "matches", "value": r"\brefund(s|ed)?\b"}],
        actions=[{"type": "add_tags", "tags": ["refund"]}],
    )
    updated = make_rule(
        session,
        admin,
        name="any update",
        trigger="ticket_updated",
        actions=[{"type": "add_tags", "tags": ["updated"]}],
    )
    carol = personas.carol.ctx
    ticket = make_ticket(session, carol, requester=None)
    session.commit()
    tickets_service.change_status(
        session, personas.ann.ctx, fresh(session, ticket.id), Status.resolved
    )
    session.commit()
    assert [r.rule_id for r in runs(session)] == [updated.id]  # resolving is an update
    tickets_service.add_message(
        session, personas.ann.ctx, ticket.id, MessageCreate(body="A refund?")
    )
    session.commit()
    assert "refund" not in fresh(session, ticket.id).tags  # an agent's message is not "received"
    # The customer's reply also reopens the ticket: one pass, as a received message.
    tickets_service.add_message(session, carol, ticket.id, MessageCreate(body="I want my refund"))
    session.commit()
    reopened = fresh(session, ticket.id)
    assert reopened.status == "in_progress"
    assert reopened.tags == ["refund", "updated"]
    # The reopening is part of the received message; only the refund rule's own tag change is
    # an update (by automation, in the same chain) that the other rule reacts to.
    all_runs = runs(session)
    assert [r.trigger for r in all_runs] == ["ticket_updated", "message_received", "ticket_updated"]
    last_event = session.get(TicketEvent, int(all_runs[-1].event_key.removeprefix("event:")))
    assert last_event is not None
    assert (last_event.kind, last_event.actor_type) == ("tagged", "system")


def test_a_rule_of_another_workspace_never_touches_a_ticket(
    session: Session, personas: Personas
) -> None:
    make_rule(session, personas.globex_owner.ctx, name="globex everything", actions=SET_URGENT)
    make_rule(
        session,
        personas.globex_owner.ctx,
        name="globex updates",
        trigger="ticket_updated",
        actions=[{"type": "add_tags", "tags": ["globex"]}],
    )
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    tickets_service.update_ticket(
        session, personas.ann.ctx, ticket.id, TicketUpdate(priority="high")
    )
    session.commit()
    acme = fresh(session, ticket.id)
    assert (acme.priority, acme.tags) == ("high", [])
    assert runs(session) == []
    globex_ticket = make_ticket(session, personas.gina.ctx)
    session.commit()
    assert fresh(session, globex_ticket.id).priority == "urgent"
