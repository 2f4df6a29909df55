"""Customer-portal commands and reads: the contact form, a customer's tickets and their actions.

Everything a customer does here goes through the ticket, triage and KB services with the
customer's own context, so the same rules hold as in the API: customers see only tickets they
requested (there is no organization-wide sharing setting yet) and only public messages.
Anonymous visitors who use the contact form act as the customer contact their email address
belongs to (found or created), the same way an incoming email does; they can file a request but
never read one without signing in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict, NotFound, PermissionDenied
from deskpilot.customers import service as customers_service
from deskpilot.db.scoped import scoped
from deskpilot.kb import feedback, search_log
from deskpilot.kb import search as kb_search
from deskpilot.tickets import listing
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.attachments import AttachmentStore
from deskpilot.tickets.lifecycle import REOPEN_SOURCES, Channel, Status
from deskpilot.tickets.models import Message, Ticket
from deskpilot.tickets.schemas import MessageCreate, SatisfactionCreate, TicketCreate
from deskpilot.triage import service as triage_service
from deskpilot.triage.models import AiDecision

SUGGESTION_LIMIT = 5
TICKETS_PER_PAGE = 25
ATTACHMENTS_NOTE = "Files sent with the request from the help center."


@dataclass(frozen=True)
class NewFile:
    """An uploaded file as the service sees it (no web framework types)."""

    filename: str
    content_type: str | None
    stream: BinaryIO


def _require_customer(ctx: Context) -> None:
    if ctx.role != Role.customer or ctx.contact_id is None:
        raise PermissionDenied("The customer portal is for customer accounts")


# --- deflection: suggested articles while the customer writes --------------------------------


def search_help_center(
    session: Session, visitor: Context, query: str, *, limit: int = SUGGESTION_LIMIT
) -> kb_search.SearchResult:
    """Published external articles for `query` (the public help-center search). Read-only: the
    caller logs the result with `log_help_search` in a short write transaction of its own."""
    if visitor.is_staff:
        raise PermissionDenied("The help center searches as a customer")
    return kb_search.search(session, visitor, query, limit=limit)


def log_help_search(session: Session, visitor: Context, result: kb_search.SearchResult) -> int:
    """Log a help-center search (source `portal`) and return its id for click tracking."""
    return search_log.log_search(session, visitor, result, source="portal").id


def record_article_read(
    session: Session,
    reader: Context,
    article_id: int,
    *,
    count_view: bool = True,
    search_id: int | None = None,
) -> None:
    """A help-center read: count the view, and the click when it came from a search."""
    if count_view:
        feedback.record_view(session, reader, article_id)
    if search_id is not None:
        record_suggestion_click(session, reader, search_id, article_id)


def record_suggestion_click(
    session: Session, visitor: Context, search_id: int, article_id: int
) -> None:
    """A reader opened an article from a search or a suggestion list; unknown ids are ignored
    (a stale or edited link must not break reading the article)."""
    with contextlib.suppress(NotFound):
        search_log.record_click(session, visitor, search_id, article_id)


# --- the contact form ---------------------------------------------------------------------


def requester_context(session: Session, workspace_id: int, *, email: str, name: str) -> Context:
    """The context of an anonymous visitor who wrote from `email`: that contact, no account."""
    visitor = Context(workspace_id=workspace_id, user_id=None, role=Role.customer)
    contact = customers_service.find_or_create_contact(
        session, visitor, email=email, name=name or None
    )
    session.flush()
    return Context(
        workspace_id=workspace_id, user_id=None, role=Role.customer, contact_id=contact.id
    )


@dataclass(frozen=True)
class PortalRequest:
    subject: str
    description: str


def submit_request(
    session: Session,
    ctx: Context,
    data: PortalRequest,
    *,
    store: AttachmentStore,
    files: Sequence[NewFile] = (),
    search_id: int | None = None,
    request_key: str | None = None,
) -> Ticket:
    """File a portal ticket for the customer `ctx`, attach the files, and mark the suggestion
    search the customer saw as not having deflected the request. A replayed `request_key`
    (the form sent twice) returns the first ticket and does nothing else."""
    _require_customer(ctx)
    ticket, created = tickets_service.create_ticket(
        session,
        ctx,
        TicketCreate(subject=data.subject, description=data.description, channel=Channel.portal),
        idempotency_key=request_key,
    )
    if not created:
        return ticket
    if files:
        saved = [
            store.save(
                session, ctx, filename=f.filename, declared_type=f.content_type, stream=f.stream
            )
            for f in files
        ]
        # Tickets keep files on messages; like inbound email, they go on a public system note
        # so that the customer's description stays the ticket's first and only customer text.
        tickets_service.add_message(
            session,
            Context.system(ctx.workspace_id),
            ticket.id,
            MessageCreate(body=ATTACHMENTS_NOTE, attachment_ids=[a.id for a in saved]),
        )
    if search_id is not None:
        # A stale or foreign search id must never cost the customer their ticket.
        with contextlib.suppress(NotFound):
            search_log.link_ticket(session, ctx, search_id, ticket.id)
    return ticket


# --- a signed-in customer's tickets -----------------------------------------------------------


def list_tickets(
    session: Session, ctx: Context, *, cursor: str | None = None
) -> tuple[list[Ticket], str | None]:
    """The customer's own tickets, newest first."""
    _require_customer(ctx)
    return listing.list_tickets(
        session, ctx, listing.TicketFilters(), limit=TICKETS_PER_PAGE, cursor=cursor
    )


def get_ticket_by_number(
    session: Session, ctx: Context, number: int, *, for_update: bool = False
) -> Ticket:
    """One of the customer's tickets by its number; anyone else's (same workspace or not) is a
    404, exactly like an unknown number."""
    _require_customer(ctx)
    stmt = listing.visible(ctx, scoped(ctx, Ticket).where(Ticket.number == number))
    if for_update:
        stmt = stmt.with_for_update()
    ticket = session.scalars(stmt).one_or_none()
    if ticket is None:
        raise NotFound(f"Ticket {number} not found")
    return ticket


@dataclass(frozen=True)
class Conversation:
    ticket: Ticket
    messages: list[Message]
    pending_answer: AiDecision | None
    """The AI answer still waiting for the customer's "did this solve it?", if any."""


def conversation(session: Session, ctx: Context, number: int) -> Conversation:
    ticket = get_ticket_by_number(session, ctx, number)
    messages = tickets_service.list_messages(session, ctx, ticket)  # public ones for customers
    latest = triage_service.latest_answer(session, ctx, ticket.id)
    pending = latest if latest is not None and latest.outcome is None else None
    if pending is not None and not any(m.id == pending.reply_message_id for m in messages):
        pending = None  # the answer was never posted publicly: nothing to confirm
    return Conversation(ticket, messages, pending)


def reply(
    session: Session,
    ctx: Context,
    number: int,
    body: str,
    *,
    store: AttachmentStore,
    files: Sequence[NewFile] = (),
) -> Message:
    """A customer reply; on a resolved or closed ticket it reopens it (tickets.service does)."""
    ticket = get_ticket_by_number(session, ctx, number)
    saved = [
        store.save(session, ctx, filename=f.filename, declared_type=f.content_type, stream=f.stream)
        for f in files
    ]
    return tickets_service.add_message(
        session, ctx, ticket.id, MessageCreate(body=body, attachment_ids=[a.id for a in saved])
    )


def reopen(session: Session, ctx: Context, number: int) -> Ticket:
    """The customer's explicit Reopen on a resolved or closed ticket."""
    ticket = get_ticket_by_number(session, ctx, number, for_update=True)
    if ticket.merged_into_id is not None:
        raise Conflict("This request was merged into another one; reply there instead")
    if Status(ticket.status) not in REOPEN_SOURCES:
        raise Conflict(
            "Only resolved or closed requests can be reopened",
            details={"status": ticket.status},
        )
    tickets_service.change_status(
        session, ctx, ticket, Status.in_progress, reason="customer_reopened"
    )
    session.flush()
    return ticket


def confirm_answer(session: Session, ctx: Context, number: int, *, solved: bool) -> AiDecision:
    """The customer's answer to "Did this solve your problem?" on the AI's reply."""
    ticket = get_ticket_by_number(session, ctx, number)
    return triage_service.confirm_answer(session, ctx, ticket.id, solved=solved)


def rate(session: Session, ctx: Context, number: int, score: int, comment: str | None) -> Ticket:
    ticket = get_ticket_by_number(session, ctx, number)
    return tickets_service.rate_ticket(
        session, ctx, ticket.id, SatisfactionCreate(score=score, comment=comment or None)
    )
