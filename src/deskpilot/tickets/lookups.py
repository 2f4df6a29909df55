"""Ticket reads: by id or number, messages, events, the change marker, numbers for ids (all
scoped to the caller's workspace and visibility).

Re-exported by `tickets.service`, which callers use.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.db.scoped import scoped
from deskpilot.tickets.listing import visible
from deskpilot.tickets.models import Message, Ticket, TicketEvent


def get_ticket(
    session: Session, ctx: Context, ticket_id: int, *, for_update: bool = False
) -> Ticket:
    stmt = visible(ctx, scoped(ctx, Ticket).where(Ticket.id == ticket_id))
    if for_update:
        stmt = stmt.with_for_update()
    ticket = session.scalars(stmt).one_or_none()
    if ticket is None:
        raise NotFound(f"Ticket {ticket_id} not found")
    return ticket


def get_ticket_by_number(session: Session, ctx: Context, number: int) -> Ticket:
    """A ticket by its per-workspace number (what people see and type); 404 outside the caller's
    workspace or visibility."""
    ticket = session.scalars(
        visible(ctx, scoped(ctx, Ticket).where(Ticket.number == number))
    ).one_or_none()
    if ticket is None:
        raise NotFound(f"Ticket #{number} not found")
    return ticket


def latest_event_id(session: Session, ctx: Context, ticket_id: int) -> int:
    """The id of the ticket's newest audit event: a cheap "something changed" marker.

    Every ticket change (messages, fields, status, SLA, AI, escalations) writes an event, so
    this one indexed MAX moves whenever the ticket page would look different."""
    ctx.require_staff()
    value = session.scalar(
        select(func.max(TicketEvent.id)).where(
            TicketEvent.workspace_id == ctx.workspace_id, TicketEvent.ticket_id == ticket_id
        )
    )
    return int(value or 0)


def ticket_numbers(session: Session, ctx: Context, ticket_ids: Sequence[int]) -> dict[int, int]:
    """Per-workspace numbers of the given tickets, in one query (ids outside are left out)."""
    if not ticket_ids:
        return {}
    rows = session.execute(
        visible(ctx, scoped(ctx, Ticket).where(Ticket.id.in_(set(ticket_ids))))
        .with_only_columns(Ticket.id, Ticket.number)
        .order_by(Ticket.id)
    )
    return {int(row.id): int(row.number) for row in rows}


def list_messages(session: Session, ctx: Context, ticket: Ticket) -> list[Message]:
    stmt = scoped(ctx, Message).where(Message.ticket_id == ticket.id)
    if not ctx.is_staff:
        stmt = stmt.where(Message.visibility == "public")
    return list(session.scalars(stmt.order_by(Message.created_at, Message.id)))


def has_public_reply(session: Session, ctx: Context, ticket_id: int) -> bool:
    """Whether an agent or the AI has written to the customer on this ticket."""
    stmt = (
        scoped(ctx, Message)
        .with_only_columns(Message.id)
        .where(
            Message.ticket_id == ticket_id,
            Message.visibility == "public",
            Message.author_type.in_(("agent", "ai")),
        )
    )
    return session.scalar(stmt.limit(1)) is not None


def list_events(session: Session, ctx: Context, ticket_id: int) -> list[TicketEvent]:
    ctx.require_staff()
    ticket = get_ticket(session, ctx, ticket_id)
    return list(
        session.scalars(
            scoped(ctx, TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id)
        )
    )
