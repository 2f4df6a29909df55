"""Escalation service: hand-offs change the ticket through the ticket service, one open per ticket,
resolution once, and nothing crosses workspaces."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import ActorType, Context
from deskpilot.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from deskpilot.escalations import service
from deskpilot.escalations.models import Escalation
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate
from deskpilot.triage.models import AiDecision
from deskpilot.workspaces import service as workspaces_service
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket


def ai_ctx(workspace_id: int) -> Context:
    return Context.system(workspace_id, actor_type=ActorType.ai)


def count_escalations(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Escalation)) or 0)


def set_status(session: Session, ctx: Context, ticket: Ticket, status: Status) -> None:
    tickets_service.update_ticket(session, ctx, ticket.id, TicketUpdate(status=status))


# --- escalate ------------------------------------------------------------------------------------


def test_ai_escalation_routes_the_ticket_and_records_why(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    ticket = make_ticket(session, ann, subject="Refund for double charge")
    tickets_service.add_message(
        session, ann, ticket.id, MessageCreate(body="Secret: VIP", visibility="internal")
    )
    billing = personas.teams["acme_billing"]
    ai = ai_ctx(ann.workspace_id)

    escalation = service.escalate_ticket(
        session,
        ai,
        ticket.id,
        reason="low_confidence",
        team_id=billing,
        ai_confidence=0.31,
        attempted={"draft": "Refunds take 5 days.", "rule": "threshold"},
    )
    session.commit()

    assert (escalation.status, escalation.reason, escalation.ai_confidence) == (
        "open",
        "low_confidence",
        0.31,
    )
    assert escalation.attempted == {"draft": "Refunds take 5 days.", "rule": "threshold"}
    assert escalation.team_id == billing
    assert escalation.created_by_user_id is None  # the AI is no user
    assert escalation.workspace_id == ann.workspace_id
    assert "Refund for double charge" in escalation.summary
    assert "I reset my password" in escalation.summary  # the description counts
    assert "VIP" not in escalation.summary
    session.refresh(ticket)
    assert (ticket.team_id, ticket.status) == (billing, "in_progress")
    # Both changes went through the ticket service, so the audit trail has them, by the AI.
    trail = tickets_service.list_events(session, ann, ticket.id)
    assert [(e.kind, e.new_value, e.meta.get("reason")) for e in trail[-3:]] == [
        ("team_changed", billing, None),
        ("status_changed", "in_progress", "escalated"),
        ("escalated", None, "low_confidence"),
    ]
    assert trail[-1].meta["escalation_id"] == escalation.id
    assert {e.actor_type for e in trail[-3:]} == {"ai"}


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (Status.triage, Status.in_progress, "status_changed"),
        (Status.waiting_customer, Status.waiting_customer, None),
        (Status.pending_release, Status.pending_release, None),
        (Status.resolved, Status.in_progress, "reopened"),
        (Status.closed, Status.in_progress, "reopened"),
    ],
)
def test_status_moves_to_in_progress_unless_someone_is_already_working(
    session: Session, personas: Personas, before: Status, after: Status, kind: str | None
) -> None:
    ann = personas.ann.ctx
    ticket = make_ticket(session, ann)
    if before in (Status.waiting_customer, Status.pending_release, Status.closed):
        set_status(session, ann, ticket, Status.in_progress)
    if before == Status.closed:
        set_status(session, ann, ticket, Status.resolved)
    set_status(session, ann, ticket, before)
    trail_before = len(tickets_service.list_events(session, ann, ticket.id))

    service.escalate_ticket(session, ann, ticket.id, reason="manual")

    assert ticket.status == after.value
    trail = tickets_service.list_events(session, ann, ticket.id)[trail_before:]
    status_events = [(kind, "escalated")] if kind else []
    assert [(e.kind, e.meta.get("reason")) for e in trail] == [
        *status_events,
        ("escalated", "manual"),
    ]


def test_without_a_team_the_escalation_targets_the_tickets_team(
    session: Session, personas: Personas
) -> None:
    support = personas.teams["acme_support"]
    ticket = make_ticket(session, personas.ann.ctx, team_id=support)
    escalation = service.escalate_ticket(session, personas.ann.ctx, ticket.id, reason="sla")
    assert escalation.team_id == support
    unrouted = make_ticket(session, personas.ann.ctx)
    assert (
        service.escalate_ticket(session, personas.ann.ctx, unrouted.id, reason="sla").team_id
        is None
    )


def test_a_second_escalation_updates_the_open_one(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    ann = personas.ann.ctx
    ai = ai_ctx(ann.workspace_id)
    ticket = make_ticket(session, ann)
    first = service.escalate_ticket(
        session, ai, ticket.id, reason="low_confidence", ai_confidence=0.4, attempted={"draft": "A"}
    )
    session.commit()
    clock.advance(minutes=5)
    tickets_service.add_message(
        session, ann, ticket.id, MessageCreate(body="We are checking the refund now.")
    )
    billing = personas.teams["acme_billing"]

    second = service.escalate_ticket(
        session,
        personas.bob.ctx,
        ticket.id,
        reason="user_requested",
        team_id=billing,
        note="Customer asked for a human",
    )
    session.commit()

    assert second.id == first.id
    assert count_escalations(session) == 1
    assert (second.reason, second.ai_confidence, second.team_id) == ("low_confidence", 0.4, billing)
    assert second.attempted["draft"] == "A"
    assert second.attempted["history"] == [
        {
            "reason": "user_requested",
            "ai_confidence": None,
            "decision_id": None,
            "attempted": {},
            "note": "Customer asked for a human",
            "actor_type": "user",
            "user_id": personas.bob.user_id,
            "at": clock.now.isoformat(),
        }
    ]
    assert "Tried: We are checking the refund now." in second.summary  # rebuilt: sees the reply


def test_after_resolution_a_new_escalation_is_a_new_record(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    ticket = make_ticket(session, ann)
    first = service.escalate_ticket(session, ann, ticket.id, reason="manual", note="look")
    assert first.attempted == {"note": "look"}
    service.resolve_escalation(session, ann, first.id, resolution="returned_to_ai")
    second = service.escalate_ticket(session, ann, ticket.id, reason="sentiment")
    assert second.id != first.id
    assert [e.id for e in service.list_ticket_escalations(session, ann, ticket.id)] == [
        first.id,
        second.id,
    ]
    assert service.get_open_escalation(session, ann, ticket.id) is second


def test_given_summary_and_decision_are_stored(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    ticket = make_ticket(session, ann)
    decision = AiDecision(
        workspace_id=ann.workspace_id,
        ticket_id=ticket.id,
        source="ticket",
        query="q",
        decision="escalate",
        confidence=0.2,
        rule="threshold",
    )
    session.add(decision)
    session.flush()
    escalation = service.escalate_ticket(
        session, ann, ticket.id, reason="policy", decision_id=decision.id, summary="Custom."
    )
    assert (escalation.decision_id, escalation.summary) == (decision.id, "Custom.")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"reason": "manual", "ai_confidence": 1.5}, "ai_confidence"),
        ({"reason": "manual", "ai_confidence": float("nan")}, "ai_confidence"),
        ({"reason": "manual", "team_id": 987_654}, "team_id"),
        ({"reason": "manual", "decision_id": 987_654}, "decision_id"),
    ],
)
def test_bad_input_is_a_validation_error_on_its_field(
    session: Session, personas: Personas, kwargs: dict[str, Any], field: str
) -> None:
    ticket = make_ticket(session, personas.ann.ctx)
    with pytest.raises(ValidationFailed) as caught:
        service.escalate_ticket(session, personas.ann.ctx, ticket.id, **kwargs)
    assert [d["field"] for d in caught.value.details] == [field]


def test_a_merged_ticket_cannot_be_escalated(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    source, target = make_ticket(session, ann), make_ticket(session, ann)
    tickets_service.merge_tickets(session, ann, source.id, target.id)
    with pytest.raises(Conflict) as caught:
        service.escalate_ticket(session, ann, source.id, reason="manual")
    assert caught.value.details == {"merged_into_id": target.id}


def test_customers_cannot_escalate_or_read(session: Session, personas: Personas) -> None:
    carol = personas.carol.ctx
    ticket = make_ticket(session, personas.ann.ctx)
    escalation = service.escalate_ticket(session, personas.ann.ctx, ticket.id, reason="manual")
    with pytest.raises(PermissionDenied):
        service.escalate_ticket(session, carol, ticket.id, reason="manual")
    with pytest.raises(PermissionDenied):
        service.get_escalation(session, carol, escalation.id)
    with pytest.raises(PermissionDenied):
        service.resolve_escalation(session, carol, escalation.id, resolution="duplicate")


# --- resolve -------------------------------------------------------------------------------------


def test_resolve_records_how_who_and_when_and_only_once(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    ann, bob = personas.ann.ctx, personas.bob.ctx
    ticket = make_ticket(session, ann)
    escalation = service.escalate_ticket(session, ann, ticket.id, reason="manual")
    status_before = ticket.status
    clock.advance(hours=1)

    resolved = service.resolve_escalation(
        session, bob, escalation.id, resolution="answered_by_agent", note="Refunded"
    )
    session.commit()

    assert (resolved.status, resolved.resolution, resolved.resolution_note) == (
        "resolved",
        "answered_by_agent",
        "Refunded",
    )
    assert (resolved.resolved_by_user_id, resolved.resolved_at) == (bob.user_id, clock.now)
    assert ticket.status == status_before  # the hand-off ended, not the ticket
    with pytest.raises(Conflict) as caught:
        service.resolve_escalation(session, ann, escalation.id, resolution="duplicate")
    assert caught.value.details == {"status": "resolved", "resolution": "answered_by_agent"}
    session.rollback()
    assert service.get_escalation(session, ann, escalation.id).resolution == "answered_by_agent"


def test_resolve_rejects_unknown_codes(session: Session, personas: Personas) -> None:
    ticket = make_ticket(session, personas.ann.ctx)
    escalation = service.escalate_ticket(session, personas.ann.ctx, ticket.id, reason="manual")
    with pytest.raises(ValidationFailed) as caught:
        service.resolve_escalation(session, personas.ann.ctx, escalation.id, resolution="meh")
    assert caught.value.details[0]["field"] == "resolution"
    assert escalation.status == "open"


def test_close_open_escalations_for_ticket(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    ticket, other = make_ticket(session, ann), make_ticket(session, ann)
    mine = service.escalate_ticket(session, ann, ticket.id, reason="manual")
    theirs = service.escalate_ticket(session, ann, other.id, reason="manual")

    closed = service.close_open_escalations_for_ticket(
        session, ann, ticket.id, "answered_by_agent", note="ticket resolved"
    )

    assert closed == [mine]
    assert (mine.status, mine.resolution, mine.resolution_note) == (
        "resolved",
        "answered_by_agent",
        "ticket resolved",
    )
    assert theirs.status == "open"
    assert service.close_open_escalations_for_ticket(session, ann, ticket.id, "duplicate") == []


# --- tenancy -------------------------------------------------------------------------------------


def test_another_workspace_can_neither_see_nor_change_an_escalation(
    session: Session, personas: Personas
) -> None:
    ann, gina = personas.ann.ctx, personas.gina.ctx
    ticket = make_ticket(session, ann)
    escalation = service.escalate_ticket(session, ann, ticket.id, reason="manual")
    session.commit()

    with pytest.raises(NotFound):
        service.get_escalation(session, gina, escalation.id)
    with pytest.raises(NotFound):
        service.resolve_escalation(session, gina, escalation.id, resolution="duplicate")
    with pytest.raises(NotFound):
        service.escalate_ticket(session, gina, ticket.id, reason="manual")
    with pytest.raises(NotFound):
        service.list_ticket_escalations(session, gina, ticket.id)
    assert service.close_open_escalations_for_ticket(session, gina, ticket.id, "duplicate") == []
    assert service.get_open_escalation(session, gina, ticket.id) is None
    session.rollback()
    assert service.get_escalation(session, ann, escalation.id).status == "open"


def test_a_team_of_another_workspace_is_rejected(session: Session, personas: Personas) -> None:
    ticket = make_ticket(session, personas.gina.ctx)
    with pytest.raises(ValidationFailed):
        service.escalate_ticket(
            session,
            personas.gina.ctx,
            ticket.id,
            reason="manual",
            team_id=personas.teams["acme_support"],
        )


def test_moving_to_another_team_frees_the_ticket_from_an_outside_assignee(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    billing = personas.teams["acme_billing"]
    ticket = make_ticket(session, ann, assignee_id=personas.ann.user_id)
    service.escalate_ticket(session, ann, ticket.id, reason="sla", team_id=billing)
    assert (ticket.team_id, ticket.assignee_id) == (billing, None)

    member = make_ticket(session, ann, assignee_id=personas.bob.user_id)
    workspaces_service.add_team_member(
        session, personas.acme_admin.ctx, billing, personas.bob.user_id
    )
    service.escalate_ticket(session, ann, member.id, reason="sla", team_id=billing)
    assert (member.team_id, member.assignee_id) == (billing, personas.bob.user_id)
