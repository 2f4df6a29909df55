"""Webhook event names and the payloads they carry.

Payloads are summaries, not full records: a receiver that needs more fetches it through the API.
Internal notes never leave through webhooks (`message.created` is for public messages only), and
an article's body is left out (`article.published` says what was published, not its text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deskpilot.kb.models import Article
from deskpilot.tickets.models import Message, Ticket

TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
TICKET_RESOLVED = "ticket.resolved"
TICKET_ESCALATED = "ticket.escalated"
MESSAGE_CREATED = "message.created"
ARTICLE_PUBLISHED = "article.published"

EVENTS: dict[str, str] = {
    TICKET_CREATED: "A ticket was created (any channel).",
    TICKET_UPDATED: "A ticket's fields, status, assignee, team or tags changed "
    "(at most one per ticket per change).",
    TICKET_RESOLVED: "A ticket moved to `resolved`.",
    TICKET_ESCALATED: "A ticket was handed to humans (by the AI, an SLA breach or an agent).",
    MESSAGE_CREATED: "A public message was added to a ticket (internal notes are never sent).",
    ARTICLE_PUBLISHED: "A knowledge-base article was published.",
}
ALL_EVENTS = "*"
"""Subscribes an endpoint to every event, including ones added later."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    requester = ticket.requester
    return {
        "id": ticket.id,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "impact": ticket.impact,
        "channel": ticket.channel,
        "type": ticket.type,
        "category": ticket.category,
        "tags": sorted(row.tag for row in ticket.tag_rows),
        "requester": (
            {"id": requester.id, "email": requester.email, "name": requester.name}
            if requester is not None
            else None
        ),
        "organization_id": ticket.organization_id,
        "assignee_id": ticket.assignee_id,
        "team_id": ticket.team_id,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "resolved_at": _iso(ticket.resolved_at),
    }


def message_summary(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "ticket_id": message.ticket_id,
        "author_type": message.author_type,
        "author_user_id": message.author_user_id,
        "author_contact_id": message.author_contact_id,
        "channel": message.channel,
        "body": message.body,
        "attachments": [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments
        ],
        "created_at": _iso(message.created_at),
    }


def article_summary(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "slug": article.slug,
        "summary": article.summary,
        "visibility": article.visibility,
        "category_id": article.category_id,
        "tags": list(article.tags),
        "published_at": _iso(article.published_at),
    }


def envelope(
    event: str, event_id: str, workspace_id: int, occurred_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """The JSON body of every delivery."""
    return {
        "id": event_id,
        "event": event,
        "workspace_id": workspace_id,
        "created_at": occurred_at.isoformat(),
        "data": data,
    }
