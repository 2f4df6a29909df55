"""Hand-built ticket histories with known answers, written through the real services.

The clock starts Monday 2025-03-03 09:00 UTC (tests/clock.py). Times below are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from deskpilot.core.context import ActorType, Context
from deskpilot.escalations.models import Escalation
from deskpilot.sla import service as sla_service
from deskpilot.sla.schemas import BusinessHoursCreate
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.schemas import MessageCreate, SatisfactionCreate, TicketUpdate
from deskpilot.triage.models import AiDecision
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket

CAROL = {"email": "carol@customer.example.com", "name": "Carol"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def say(session: Session, ctx: Context, ticket_id: int, text: str, **kw: object) -> None:
    tickets_service.send_message(session, ctx, ticket_id, MessageCreate(body=text), **kw)  # type: ignore[arg-type]


@dataclass
class Built:
    waiting: int
    reopened: int
    ai_resolved: int


def berlin_hours(session: Session, personas: Personas) -> None:
    """Default business hours: Berlin, Mon-Fri 09:00-17:00 local (08:00-16:00 UTC in March)."""
    week = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    sla_service.create_business_hours(
        session,
        Context.system(personas.acme_admin.workspace_id),
        BusinessHoursCreate(
            name="Berlin", timezone="Europe/Berlin", schedule=week, is_default=True
        ),
    )


def build_acme(session: Session, personas: Personas, clock: FrozenClock) -> Built:
    """Three tickets in acme on Monday 3 March:

    - waiting: created 09:00, ann replies 09:30 and waits on the customer, carol answers 11:30,
      ann replies (assisted by an AI draft) and resolves at 12:00, carol rates it 4 at 12:10.
      FRT 30 min; NRT 30 min; resolution 3 h minus 2 h waiting = 1 h.
    - reopened: created 10:00, bob resolves with a reply at 10:30, carol replies at 11:00 (reopen).
    - ai_resolved: created 13:00, the AI answers and resolves at 13:05 (decision confidence 0.9,
      confirmed at 14:00); a second AI answer (0.3) on `reopened` was reopened.
    """
    ann, bob, carol = personas.ann.ctx, personas.bob.ctx, personas.carol.ctx
    ws = ann.workspace_id
    clock.now = at(3, 9)
    waiting = make_ticket(session, ann, requester=CAROL, team_id=personas.teams["acme_support"])
    tickets_service.update_ticket(session, ann, waiting.id, TicketUpdate(assignee_id=ann.user_id))
    clock.now = at(3, 9, 30)
    say(session, ann, waiting.id, "Which browser?", then_status=Status.waiting_customer)
    clock.now = at(3, 10)
    reopened = make_ticket(session, bob, requester=CAROL, channel="email")
    clock.now = at(3, 10, 30)
    say(session, bob, reopened.id, "Fixed, closing.", then_status=Status.resolved)
    clock.now = at(3, 11)
    say(session, carol, reopened.id, "Still broken.")
    clock.now = at(3, 11, 30)
    say(session, carol, waiting.id, "Firefox.")
    clock.now = at(3, 12)
    decision = _decision(session, ws, reopened.id, 0.3, outcome=None)
    say(
        session,
        ann,
        waiting.id,
        "Please update Firefox.",
        then_status=Status.resolved,
        ai_meta={"assisted_by_decision_id": decision.id},
    )
    clock.now = at(3, 12, 10)
    tickets_service.rate_ticket(session, carol, waiting.id, SatisfactionCreate(score=4))
    clock.now = at(3, 13)
    ai_resolved = make_ticket(session, ann, requester=CAROL, channel="portal")
    clock.now = at(3, 13, 5)
    ai = Context.system(ws, ActorType.ai)
    say(session, ai, ai_resolved.id, "Reset it here.", then_status=Status.resolved)
    good = _decision(session, ws, ai_resolved.id, 0.9, outcome=None)
    clock.now = at(3, 14)
    good.outcome, good.outcome_at = "confirmed", clock.now
    decision.outcome, decision.outcome_at = "reopened", clock.now
    session.add(
        Escalation(
            workspace_id=ws,
            ticket_id=reopened.id,
            reason="low_confidence",
            created_by_user_id=bob.user_id,
            created_at=clock.now,
        )
    )
    session.flush()
    return Built(waiting.id, reopened.id, ai_resolved.id)


def _decision(
    session: Session, ws: int, ticket_id: int, confidence: float, outcome: str | None
) -> AiDecision:
    from deskpilot.core.clock import utcnow

    row = AiDecision(
        workspace_id=ws,
        ticket_id=ticket_id,
        source="ticket",
        query="q",
        decision="resolve",
        confidence=confidence,
        rule="threshold",
        provider="builtin",
        model="extractive",
        input_tokens=100,
        output_tokens=50,
        cost_usd=0.01,
        outcome=outcome,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row
