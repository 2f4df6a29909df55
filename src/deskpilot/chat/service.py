"""Chat conversations: a visitor's chat is a ticket with channel `chat`, written through the
ticket service as the customer; hand-off goes through the escalation service.

Every call is made as the visitor: a customer context whose contact is the one in the signed
token, so the ticket service's own visibility rule (customers see only tickets they requested)
makes another visitor's or another workspace's conversation a 404.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.chat.schemas import ConversationStart
from deskpilot.chat.tokens import Visitor
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import NotFound, PermissionDenied
from deskpilot.customers import service as customers_service
from deskpilot.escalations import service as escalations_service
from deskpilot.escalations.schemas import EscalationReason
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Channel
from deskpilot.tickets.models import Message, Ticket
from deskpilot.tickets.schemas import MessageCreate, TicketCreate
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.models import Workspace

SUBJECT_LENGTH = 80
ANONYMOUS_DOMAIN = "chat.invalid"
"""Visitors who give no email get a contact at this reserved, undeliverable domain (RFC 2606)."""
DEFAULT_STARTS_PER_MINUTE = 20


@dataclass(frozen=True)
class ChatSettings:
    """A workspace's chat options, kept in `Workspace.settings`."""

    enabled: bool
    allowed_origins: tuple[str, ...]
    starts_per_minute: int

    def allows_origin(self, origin: str | None, own_origin: str | None = None) -> bool:
        """Requests without an Origin (not from a browser page) and our own pages always pass:
        the token, not the origin, is what authenticates."""
        if origin is None or "*" in self.allowed_origins:
            return True
        normalized = _origin(origin)
        return normalized == _origin(own_origin or "") or normalized in self.allowed_origins


def chat_settings(workspace: Workspace) -> ChatSettings:
    raw: dict[str, Any] = workspace.settings or {}
    origins = raw.get("chat_allowed_origins", ["*"])
    if isinstance(origins, str):
        origins = [origins]
    starts = raw.get("chat_starts_per_minute", DEFAULT_STARTS_PER_MINUTE)
    return ChatSettings(
        enabled=bool(raw.get("chat_enabled", True)),
        allowed_origins=tuple("*" if o == "*" else _origin(str(o)) for o in origins),
        starts_per_minute=int(starts) if isinstance(starts, int) and starts > 0 else 1,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


@dataclass
class Conversation:
    """What the widget shows: the ticket, its public messages, and whether people took over.
    The messages and the ticket are loaded; nothing here lazy-loads later."""

    workspace_slug: str
    ticket: Ticket
    messages: list[Message]
    handed_off: bool


Signature = tuple[str, datetime, int | None]
"""(status, updated_at, newest message id): when it changes, the conversation has news."""


def visitor_context(visitor: Visitor) -> Context:
    return Context(
        workspace_id=visitor.workspace_id,
        user_id=None,
        role=Role.customer,
        contact_id=visitor.contact_id,
    )


def workspace_for_chat(
    session: Session, slug: str, *, origin: str | None, own_origin: str | None = None
) -> tuple[Workspace, ChatSettings]:
    """The workspace a widget names, if chat is on there and this page may embed it."""
    workspace = workspaces_service.get_workspace_by_slug(session, slug.strip().lower())
    config = chat_settings(workspace) if workspace is not None else None
    if workspace is None or config is None or not config.enabled:
        raise NotFound(f"No chat for workspace {slug!r}")
    if not config.allows_origin(origin, own_origin):
        raise PermissionDenied("This website may not embed this workspace's chat")
    return workspace, config


def start_conversation(
    session: Session, workspace: Workspace, data: ConversationStart
) -> tuple[Visitor, Conversation]:
    """Create the chat ticket in `workspace` (from `workspace_for_chat`): the first message is
    its description, the visitor its requester. The AI pipeline is queued by the ticket service
    and runs after the caller commits."""
    system = Context.system(workspace.id)
    email = str(data.email) if data.email else f"visitor-{secrets.token_hex(8)}@{ANONYMOUS_DOMAIN}"
    contact = customers_service.find_or_create_contact(
        session, system, email=email, name=data.name or None
    )
    session.flush()
    visitor = Visitor(workspace.id, 0, contact.id)
    fields = {"chat_page_url": data.page_url} if data.page_url else {}
    ticket, _ = tickets_service.create_ticket(
        session,
        visitor_context(visitor),
        TicketCreate(
            subject=_subject(data.message),
            description=data.message,
            channel=Channel.chat,
            custom_fields=fields,
        ),
    )
    visitor = Visitor(workspace.id, ticket.id, contact.id)
    return visitor, Conversation(workspace.slug, ticket, [], handed_off=False)


def _subject(message: str) -> str:
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "Chat")
    if len(first_line) <= SUBJECT_LENGTH:
        return first_line
    return first_line[: SUBJECT_LENGTH - 1].rstrip() + "…"


def get_conversation(session: Session, visitor: Visitor) -> Conversation:
    ctx = visitor_context(visitor)
    ticket = tickets_service.get_ticket(session, ctx, visitor.ticket_id)
    messages = tickets_service.list_messages(session, ctx, ticket)
    workspace = workspaces_service.get_workspace(session, ctx)
    return Conversation(workspace.slug, ticket, messages, _handed_off(session, visitor))


def _handed_off(session: Session, visitor: Visitor) -> bool:
    system = Context.system(visitor.workspace_id)
    return escalations_service.get_open_escalation(session, system, visitor.ticket_id) is not None


def post_message(session: Session, visitor: Visitor, body: str) -> Message:
    """The visitor writes; the ticket service queues the AI (which stays out after hand-off)."""
    return tickets_service.add_message(
        session, visitor_context(visitor), visitor.ticket_id, MessageCreate(body=body)
    )


def hand_off(session: Session, visitor: Visitor, note: str | None = None) -> Conversation:
    """ "Talk to a person": open (or join) the ticket's escalation. Its summary and the ticket's
    messages give the agent console the whole conversation; the AI pipeline skips tickets with
    an open escalation from now on."""
    # Fetched as the visitor first: a foreign or forged conversation is a 404 before anything.
    tickets_service.get_ticket(session, visitor_context(visitor), visitor.ticket_id)
    escalations_service.escalate_ticket(
        session,
        Context.system(visitor.workspace_id),
        visitor.ticket_id,
        reason=EscalationReason.user_requested,
        attempted={"channel": "chat", "customer": "asked for a person"},
        note=note or "The visitor pressed “Talk to a person” in the chat widget.",
    )
    return get_conversation(session, visitor)


def signature(session: Session, visitor: Visitor) -> Signature:
    """One indexed read that tells whether anything changed since the last look.

    The live stream runs this every poll interval for every open widget, so it is kept to a
    single primary-key row plus the newest message id (ix_messages_ticket_created); the full
    conversation is read only when this changes. It reads the ticket tables directly (read only,
    scoped to the visitor's workspace and contact) because it is the hot path of the stream.
    """
    newest = (
        select(func.max(Message.id))
        .where(Message.workspace_id == visitor.workspace_id, Message.ticket_id == visitor.ticket_id)
        .scalar_subquery()
    )
    row = session.execute(
        select(Ticket.status, Ticket.updated_at, newest).where(
            Ticket.workspace_id == visitor.workspace_id,
            Ticket.id == visitor.ticket_id,
            Ticket.requester_id == visitor.contact_id,
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"Ticket {visitor.ticket_id} not found")
    return (str(row[0]), row[1], row[2])


DEMO_WORKSPACE_SLUG = "demo"
"""The workspace `deskpilot demo` seeds (src/deskpilot/demo/directory.json)."""


def demo_workspace(session: Session, slug: str | None) -> Workspace | None:
    """The workspace the demo shop embeds: the one asked for, else the seeded demo workspace,
    else the first one created."""
    if slug:
        return workspaces_service.get_workspace_by_slug(session, slug.strip().lower())
    demo = workspaces_service.get_workspace_by_slug(session, DEMO_WORKSPACE_SLUG)
    if demo is not None:
        return demo
    return session.scalars(select(Workspace).order_by(Workspace.id).limit(1)).first()
