"""Ticket events become webhook events, queued in the transaction that recorded them.

Runs last (order 50), after automation, routing and SLA handlers changed the ticket, so payloads
show the ticket as it will be committed. Per batch of ticket events: `created` -> ticket.created,
`resolved` -> ticket.resolved, `escalated` -> ticket.escalated, a public `message_added` ->
message.created (internal notes never leave), and any other change -> one ticket.updated per
ticket (none for a ticket created in the same batch: ticket.created already shows it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.tickets import hooks
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from deskpilot.webhooks import events as names
from deskpilot.webhooks import outbox

ORDER = 50
UPDATE_KINDS = frozenset(
    {
        "status_changed",
        "closed",
        "reopened",
        "assigned",
        "team_changed",
        "priority_changed",
        "type_changed",
        "category_changed",
        "field_changed",
        "tagged",
        "linked",
        "merged",
    }
)
DIRECT = {
    "created": names.TICKET_CREATED,
    "resolved": names.TICKET_RESOLVED,
    "escalated": names.TICKET_ESCALATED,
}


def _change(event: TicketEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "field": event.field,
        "from": event.old_value,
        "to": event.new_value,
    }


def on_ticket_events(session: Session, events: Sequence[TicketEvent]) -> None:
    by_workspace: dict[int, list[TicketEvent]] = {}
    for event in events:
        by_workspace.setdefault(event.workspace_id, []).append(event)
    for workspace_id, batch in by_workspace.items():
        endpoints = outbox.subscribed_endpoints(session, workspace_id)
        if endpoints:
            _emit_batch(session, workspace_id, batch, endpoints)


def _emit_batch(
    session: Session,
    workspace_id: int,
    batch: Sequence[TicketEvent],
    endpoints: list[Any],
) -> None:
    created = {e.ticket_id for e in batch if e.kind == "created"}
    updates: dict[int, list[dict[str, Any]]] = {}  # ticket -> changes, in event order
    tickets: dict[int, Ticket] = {}
    for event in batch:
        ticket = event.ticket
        tickets[ticket.id] = ticket
        if event.kind in DIRECT:
            data: dict[str, Any] = {"ticket": names.ticket_summary(ticket)}
            if event.kind == "escalated":
                data["escalation"] = dict(event.meta)
            outbox.emit(session, workspace_id, DIRECT[event.kind], data, endpoints=endpoints)
        elif event.kind == "message_added" and event.meta.get("visibility") == "public":
            message = session.get(Message, event.meta.get("message_id"))
            if message is not None:
                data = {
                    "ticket": names.ticket_summary(ticket),
                    "message": names.message_summary(message),
                }
                outbox.emit(session, workspace_id, names.MESSAGE_CREATED, data, endpoints=endpoints)
        if event.kind in UPDATE_KINDS and ticket.id not in created:
            updates.setdefault(ticket.id, []).append(_change(event))
    for ticket_id, changes in updates.items():
        summary = names.ticket_summary(tickets[ticket_id])
        data = {"ticket": summary, "changes": changes}
        outbox.emit(session, workspace_id, names.TICKET_UPDATED, data, endpoints=endpoints)


hooks.register("webhooks.outbox", on_ticket_events, order=ORDER)
