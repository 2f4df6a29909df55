"""The facts rule conditions look at, gathered for one ticket or one page of tickets.

Two read-only lookups here read ticket tables the tickets service has no batch query for yet (when
each ticket entered its status, the text of a message): they only read, in one query per page,
so a sweep costs the same number of queries however many tickets a page holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.customers import service as customers_service
from deskpilot.tickets.models import Message, Ticket, TicketEvent

HOUR = 3600.0


class FactCache:
    """Per-pass memo of the lookups that do not change while rules run (tiers, status entry)."""

    def __init__(self, session: Session, ctx: Context) -> None:
        self.session = session
        self.ctx = ctx
        self.tiers: dict[int, str | None] = {}
        self.entered: dict[int, tuple[str, datetime]] = {}

    def load_status_entries(self, tickets: Iterable[Ticket]) -> None:
        """When each ticket entered its current status: its last status event, else creation."""
        rows = list(tickets)
        ids = [t.id for t in rows if t.id not in self.entered]
        found: dict[int, datetime] = {}
        if ids:
            stmt = (
                select(TicketEvent.ticket_id, func.max(TicketEvent.created_at))
                .where(
                    TicketEvent.workspace_id == self.ctx.workspace_id,
                    TicketEvent.ticket_id.in_(ids),
                    TicketEvent.field == "status",
                )
                .group_by(TicketEvent.ticket_id)
            )
            found = {row[0]: row[1] for row in self.session.execute(stmt).all()}
        for ticket in rows:
            if ticket.id not in self.entered:
                self.entered[ticket.id] = (ticket.status, found.get(ticket.id) or ticket.created_at)

    def status_entered_at(self, ticket: Ticket) -> datetime:
        cached = self.entered.get(ticket.id)
        if cached is None:
            self.load_status_entries([ticket])
            cached = self.entered[ticket.id]
        status, at = cached
        if status != ticket.status:
            # An action of this pass moved it: it entered the new status just now.
            at = utcnow()
            self.entered[ticket.id] = (ticket.status, at)
        return at

    def organization_tier(self, organization_id: int | None) -> str | None:
        if organization_id is None:
            return None
        if organization_id not in self.tiers:
            try:
                org = customers_service.get_organization(self.session, self.ctx, organization_id)
            except NotFound:
                self.tiers[organization_id] = None
            else:
                self.tiers[organization_id] = org.tier
        return self.tiers[organization_id]


def message_text(session: Session, ctx: Context, ticket_id: int, message_id: int) -> str | None:
    stmt = select(Message.body).where(
        Message.workspace_id == ctx.workspace_id,
        Message.ticket_id == ticket_id,
        Message.id == message_id,
    )
    return session.scalars(stmt).one_or_none()


def latest_customer_message(session: Session, ctx: Context, ticket: Ticket) -> str:
    """The requester's last words: their last public message, else the description."""
    stmt = (
        select(Message.body)
        .where(
            Message.workspace_id == ctx.workspace_id,
            Message.ticket_id == ticket.id,
            Message.author_type == "customer",
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).one_or_none() or ticket.description


def _label(classification: dict[str, Any] | None, key: str) -> Any:
    entry = (classification or {}).get(key)
    return entry.get("label") if isinstance(entry, dict) else None


def ticket_facts(
    ticket: Ticket, cache: FactCache, *, latest_message: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """field -> value for every condition field (see conditions.FieldName)."""
    now = now or utcnow()
    requester = ticket.requester
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "impact": ticket.impact,
        "channel": ticket.channel,
        "type": ticket.type,
        "category": ticket.category,
        "tags": ticket.tags,
        "subject": ticket.subject,
        "description": ticket.description,
        "latest_message": latest_message,
        "organization_tier": cache.organization_tier(ticket.organization_id),
        "assignee_id": ticket.assignee_id,
        "team_id": ticket.team_id,
        "ai_type": _label(ticket.ai_classification, "type"),
        "ai_category": _label(ticket.ai_classification, "category"),
        "ai_confidence": ticket.ai_confidence,
        "hours_since_update": (now - ticket.updated_at).total_seconds() / HOUR,
        "hours_since_created": (now - ticket.created_at).total_seconds() / HOUR,
        "hours_in_status": (now - cache.status_entered_at(ticket)).total_seconds() / HOUR,
        "requester_email": requester.email if requester else None,
        "requester_name": requester.name if requester else None,
    }
