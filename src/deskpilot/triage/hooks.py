"""Outcomes the AI learns from that happen outside its own pipeline.

An AI answer still waiting for its outcome when the ticket is escalated (by an agent, an SLA
breach or a rule) did not settle the question: its outcome becomes `escalated`. When a person
resolves such a ticket, it becomes `resolved_by_agent`. Both feed the calibrator refit
(`triage.calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.tickets import hooks
from deskpilot.tickets.models import TicketEvent
from deskpilot.triage import service


def record_outcomes(session: Session, events: Sequence[TicketEvent]) -> None:
    for event in events:
        if event.kind == "escalated":
            outcome = "escalated"
        elif event.kind == "resolved" and event.actor_type == "user":
            outcome = "resolved_by_agent"
        else:
            continue
        ctx = Context.system(event.workspace_id)
        answer = service.latest_answer(session, ctx, event.ticket_id)
        if answer is not None and answer.outcome is None:
            service.set_outcome(answer, outcome)


hooks.register("triage.outcomes", record_outcomes, order=45)
