"""A resolved, closed or merged ticket needs no hand-off any more: close its open escalations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.escalations import service
from deskpilot.tickets import hooks
from deskpilot.tickets.models import TicketEvent

SETTLED = {"resolved": "answered_by_agent", "closed": "answered_by_agent", "merged": "duplicate"}


def close_settled(session: Session, events: Sequence[TicketEvent]) -> None:
    done: set[int] = set()
    for event in events:
        resolution = SETTLED.get(event.kind)
        if resolution is None or event.ticket_id in done:
            continue
        done.add(event.ticket_id)
        note = f"Closed with the ticket ({event.kind})."
        service.close_open_escalations_for_ticket(
            session, Context.system(event.workspace_id), event.ticket_id, resolution, note=note
        )


hooks.register("escalations.close_settled", close_settled, order=40)
