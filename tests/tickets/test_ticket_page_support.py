"""Shared builders for the ticket page tests (this module holds no tests itself)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import ActorType, Context
from deskpilot.db.engine import Database
from deskpilot.tickets import annotations as ticket_annotations
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MessageCreate
from deskpilot.triage.models import AiDecision
from tests.factories import Persona, Personas, make_ticket
from tests.pages import sign_in

DRAFT = "Open **Settings** and choose *Reset password*."


def ticket_with_conversation(db: Database, personas: Personas, **overrides: Any) -> Ticket:
    """An acme ticket with a customer message, an agent reply and an internal note."""
    ann = personas.ann.ctx
    with db.session(write=True) as s:
        ticket = make_ticket(s, ann, **overrides)
        customer = Context(
            workspace_id=ann.workspace_id,
            user_id=None,
            role=personas.carol.role,
            contact_id=ticket.requester_id,
        )
        tickets_service.add_message(
            s, customer, ticket.id, MessageCreate(body="Still **broken** after the reset.")
        )
        tickets_service.add_message(
            s, ann, ticket.id, MessageCreate(body="Have you tried clearing cookies?")
        )
        tickets_service.add_message(
            s,
            ann,
            ticket.id,
            MessageCreate(body="Looks like the SSO bug again.", visibility="internal"),
        )
        s.commit()
        s.expunge(ticket)
    return ticket


def add_ai_decision(
    session: Session, workspace_id: int, ticket_id: int, *, decision: str = "escalate"
) -> AiDecision:
    """A stored AI verdict as the triage pipeline leaves it: decision log row + ticket fields."""
    row = AiDecision(
        workspace_id=workspace_id,
        ticket_id=ticket_id,
        source="ticket",
        query="Cannot log in",
        decision=decision,
        confidence=0.42,
        rule="threshold",
        reasons=["confidence 0.42 below the answer threshold 0.70"],
        inputs={},
        answer=DRAFT,
        citations=[
            {"article_id": 7, "title": "Reset your password", "url": "/help/acme/articles/reset"}
        ],
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    ticket_annotations.record_ai_verdict(
        session,
        Context.system(workspace_id, ActorType.ai),
        ticket,
        decision=decision,
        confidence=0.42,
        model="builtin:test",
        classification={
            "type": {"label": "account", "confidence": 0.91, "out_of_scope": False},
            "priority": {"label": "high", "confidence": 0.66, "out_of_scope": False},
            "category": {"label": "login", "confidence": 0.58, "out_of_scope": False},
        },
        rule="threshold",
    )
    return row


def signed_in(client: TestClient, persona: Persona) -> str:
    return sign_in(client, persona)


def form(csrf: str, **values: str) -> dict[str, str]:
    return {"csrf_token": csrf, **values}
