"""Changes other domains make to a ticket: the AI's verdict and predicted fields, hand-offs.

They live beside the ticket service and write through its `record_event`, so every change still
leaves an audit event and reaches the ticket hooks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.tickets.models import Ticket, TicketEvent
from deskpilot.tickets.service import FIELD_EVENT_KINDS, record_event


def record_ai_verdict(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    *,
    decision: str,
    confidence: float,
    model: str,
    classification: dict[str, Any] | None,
    rule: str,
) -> None:
    """Stamp the AI's latest verdict on the ticket (shown in lists and the ticket header)."""
    old = ticket.ai_decision
    ticket.ai_decision = decision
    ticket.ai_confidence = confidence
    ticket.ai_model = model[:120]
    ticket.ai_classification = classification
    ticket.ai_ran_at = utcnow()
    record_event(
        session,
        ctx,
        ticket,
        "ai_decided",
        field="ai_decision",
        old=old,
        new=decision,
        meta={"confidence": confidence, "rule": rule, "model": model},
    )


def apply_ai_fields(
    session: Session, ctx: Context, ticket: Ticket, changes: dict[str, Any]
) -> None:
    """Copy AI predictions (type, category, priority) onto the ticket, one audit event each."""
    for name in ("type", "category", "priority"):
        if name in changes and getattr(ticket, name) != changes[name]:
            record_event(
                session,
                ctx,
                ticket,
                FIELD_EVENT_KINDS[name],
                field=name,
                old=getattr(ticket, name),
                new=changes[name],
                meta={"source": "ai_prediction"},
            )
            setattr(ticket, name, changes[name])
    ticket.updated_at = utcnow()


def record_escalation(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    *,
    escalation_id: int,
    reason: str,
    team_id: int | None,
) -> TicketEvent:
    """The ticket was handed to humans (`deskpilot.escalations`): one event per hand-off."""
    ticket.updated_at = utcnow()
    return record_event(
        session,
        ctx,
        ticket,
        "escalated",
        meta={"escalation_id": escalation_id, "reason": reason, "team_id": team_id},
    )
