"""Every action, through the real ticket flows: services, audit events, savepoints per action."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.automation.models import AutomationRun
from deskpilot.escalations.models import Escalation
from deskpilot.routing import service as routing_service
from deskpilot.routing.schemas import AgentStatusUpdate
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from deskpilot.tickets.schemas import TicketUpdate
from tests.automation.conftest import make_rule
from tests.factories import Personas, make_ticket


def run_on_new_ticket(
    session: Session, personas: Personas, actions: list[dict[str, Any]], **ticket: Any
) -> tuple[Ticket, AutomationRun]:
    make_rule(session, personas.acme_admin.ctx, actions=actions)
    created = make_ticket(session, personas.ann.ctx, **ticket)
    session.commit()
    session.expire_all()
    run = session.scalars(select(AutomationRun)).one()
    fresh = session.get(Ticket, created.id)
    assert fresh is not None
    return fresh, run


def events(session: Session, ticket_id: int) -> list[tuple[str, str, Any]]:
    rows = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    )
    return [(e.kind, e.actor_type, e.new_value) for e in rows]


def messages(session: Session, ticket_id: int) -> list[Message]:
    return list(
        session.scalars(select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id))
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("priority", "high"), ("type", "bug"), ("category", "outage"), ("impact", "site_down")],
)
def test_set_field(session: Session, personas: Personas, field: str, value: str) -> None:
    ticket, run = run_on_new_ticket(
        session, personas, [{"type": "set_field", "field": field, "value": value}]
    )
    assert getattr(ticket, field) == value
    assert run.error is None


def test_set_status_moves_by_a_legal_transition(session: Session, personas: Personas) -> None:
    ticket, _run = run_on_new_ticket(
        session, personas, [{"type": "set_field", "field": "status", "value": "in_progress"}]
    )
    assert ticket.status == "in_progress"
    assert ("status_changed", "system", "in_progress") in events(session, ticket.id)


def test_an_illegal_status_is_a_recorded_error_and_the_other_actions_still_run(
    session: Session, personas: Personas
) -> None:
    ticket, run = run_on_new_ticket(
        session,
        personas,
        [
            {"type": "add_tags", "tags": ["before"]},
            {"type": "set_field", "field": "status", "value": "pending_release"},  # new -> no
            {"type": "add_tags", "tags": ["after"]},
        ],
    )
    assert ticket.status == "new"
    assert ticket.tags == ["after", "before"]
    assert run.error is not None
    assert "pending_release" in run.error
    assert [a["ok"] for a in run.actions_applied] == [True, False, True]
    assert run.actions_applied[1]["error"].startswith("illegal_transition")


def agent_online(session: Session, personas: Personas, user_id: int, capacity: int) -> None:
    routing_service.set_agent_status(
        session,
        personas.acme_admin.ctx,
        user_id,
        AgentStatusUpdate(availability="online", capacity=capacity),
    )
    session.commit()


def test_assign_team_and_agent(session: Session, personas: Personas) -> None:
    billing = personas.teams["acme_billing"]
    agent_online(session, personas, personas.bob.user_id, capacity=5)
    ticket, _run = run_on_new_ticket(
        session,
        personas,
        [
            {"type": "assign_team", "team_id": billing},
            {"type": "assign_agent", "user_id": personas.bob.user_id},
        ],
    )
    assert (ticket.team_id, ticket.assignee_id) == (billing, personas.bob.user_id)
    kinds = [kind for kind, actor, _ in events(session, ticket.id) if actor == "system"]
    assert kinds == ["team_changed", "assigned"]


def test_add_and_remove_tags(session: Session, personas: Personas) -> None:
    ticket, _run = run_on_new_ticket(
        session,
        personas,
        [{"type": "add_tags", "tags": ["VIP", "later"]}, {"type": "remove_tags", "tags": ["old"]}],
        tags=["old", "keep"],
    )
    assert ticket.tags == ["keep", "later", "vip"]


def test_add_note_reply_and_notify_write_messages(session: Session, personas: Personas) -> None:
    ticket, run = run_on_new_ticket(
        session,
        personas,
        [
            {"type": "add_note", "body": "Check the status page"},
            {"type": "reply", "body": "We are on it"},
            {"type": "notify", "to": "assignee", "template": "Urgent outage"},
            {"type": "notify", "to": "team"},  # the ticket has no team: skipped, not an error
        ],
        assignee_id=personas.ann.user_id,
    )
    found = [(m.author_type, m.visibility, m.body) for m in messages(session, ticket.id)]
    assert found[0] == ("system", "internal", "Check the status page")
    assert found[1] == ("system", "public", "We are on it")
    assert found[2][:2] == ("system", "internal")
    assert f"user_id={personas.ann.user_id}" in found[2][2]
    assert "Urgent outage" in found[2][2]
    assert len(found) == 3
    assert run.actions_applied[3]["result"]["skipped"] == "the ticket has no team"
    assert run.error is None


def test_escalate_hands_the_ticket_to_humans_with_reason_policy(
    session: Session, personas: Personas
) -> None:
    ticket, run = run_on_new_ticket(
        session, personas, [{"type": "escalate", "reason": "VIP customer"}]
    )
    escalation = session.scalars(select(Escalation)).one()
    assert (escalation.ticket_id, escalation.reason) == (ticket.id, "policy")
    assert escalation.attempted["note"] == "VIP customer"
    assert ticket.status == "in_progress"
    assert run.actions_applied[0]["result"] == {"escalation_id": escalation.id}


def test_close_resolves_first_then_closes(session: Session, personas: Personas) -> None:
    ticket, _run = run_on_new_ticket(session, personas, [{"type": "close"}])
    assert ticket.status == "closed"
    assert ticket.resolved_at is not None
    assert ticket.closed_at is not None
    statuses = [
        new for kind, _, new in events(session, ticket.id) if kind in ("resolved", "closed")
    ]
    assert statuses == ["resolved", "closed"]


def test_an_action_on_a_deleted_team_fails_alone(session: Session, personas: Personas) -> None:
    """A reference that broke after the rule was written is an error on the run, not a crash."""
    admin = personas.acme_admin.ctx
    from deskpilot.workspaces.models import Team

    team = Team(workspace_id=personas.ann.workspace_id, name="Temp", description="")
    session.add(team)
    session.commit()
    make_rule(
        session,
        admin,
        actions=[{"type": "assign_team", "team_id": team.id}, {"type": "add_tags", "tags": ["x"]}],
    )
    session.delete(team)
    session.commit()
    created = make_ticket(session, personas.ann.ctx)
    session.commit()
    session.expire_all()
    run = session.scalars(select(AutomationRun)).one()
    assert run.error is not None
    assert "team" in run.error.lower()
    assert session.get(Ticket, created.id).tags == ["x"]  # type: ignore[union-attr]


def test_merged_tickets_are_left_alone(session: Session, personas: Personas) -> None:
    make_rule(
        session,
        personas.acme_admin.ctx,
        trigger="ticket_updated",
        actions=[{"type": "add_tags", "tags": ["touched"]}],
    )
    source = make_ticket(session, personas.ann.ctx)
    target = make_ticket(session, personas.ann.ctx)
    session.commit()
    tickets_service.merge_tickets(session, personas.ann.ctx, source.id, target.id)
    tickets_service.update_ticket(
        session, personas.ann.ctx, target.id, TicketUpdate(priority="high")
    )
    session.commit()
    session.expire_all()
    assert session.get(Ticket, source.id).tags == []  # type: ignore[union-attr]
    assert session.get(Ticket, target.id).tags == ["touched"]  # type: ignore[union-attr]


def test_assign_agent_never_exceeds_capacity_or_picks_an_absent_agent(
    session: Session, personas: Personas
) -> None:
    make_rule(
        session,
        personas.acme_admin.ctx,
        actions=[{"type": "assign_agent", "user_id": personas.bob.user_id}],
    )

    def new_ticket() -> tuple[Ticket, AutomationRun]:
        created = make_ticket(session, personas.ann.ctx)
        session.commit()
        session.expire_all()
        run = session.scalars(
            select(AutomationRun).where(AutomationRun.ticket_id == created.id)
        ).one()
        fresh = session.get(Ticket, created.id)
        assert fresh is not None
        return fresh, run

    away, run = new_ticket()  # bob never went online
    assert away.assignee_id is None
    assert run.error is not None
    assert "capacity" in run.error
    agent_online(session, personas, personas.bob.user_id, capacity=1)
    first, run = new_ticket()
    assert first.assignee_id == personas.bob.user_id
    assert run.error is None
    full, run = new_ticket()
    assert full.assignee_id is None
    assert run.error is not None
