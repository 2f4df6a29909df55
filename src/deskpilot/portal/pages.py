"""The customer portal: sign-up, contact form, the customer's tickets (under /help/{workspace_slug}).

Contact form: anyone may file a request (signed-in customers as themselves, visitors by name and
email); suggested articles appear while the subject is typed (a logged help-center search) and a
request filed anyway is linked to that search. Ticket pages are for the workspace's signed-in
customers and show only their own tickets and public messages. Account pages (sign-up, email
verification, password reset) live in `portal/account_pages.py` and are mounted here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr

from deskpilot.core.errors import ValidationFailed
from deskpilot.kb import search as kb_search
from deskpilot.portal import accounts
from deskpilot.portal import service as portal_service
from deskpilot.portal.account_pages import router as account_router
from deskpilot.portal.page_common import (
    HelpPage,
    HelpSite,
    SlugPath,
    help_site,
    page_fields,
    require_customer,
    write_session,
)
from deskpilot.tickets.attachments import AttachmentStore
from deskpilot.tickets.lifecycle import REOPEN_SOURCES, Status
from deskpilot.tickets.models import Message, Ticket
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import OptionalPageAuth, redirect
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)
router.include_router(account_router)

EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)
NumberPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
# A file input left empty arrives as an empty string, not a file: both are accepted here.
Uploads = Annotated[list[UploadFile | str], File()]
HONEYPOT = "website"
AUTHORS = {"customer": "You", "agent": "Support", "ai": "AI assistant", "system": "Support"}


# --- contact form -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuggestionView:
    title: str
    url: str
    snippet: str
    """HTML-escaped by the search service (query words in <mark>)."""


@dataclass(kw_only=True)
class ContactPage(HelpPage):
    name: str = ""
    email: str = ""
    subject: str = ""
    description: str = ""
    request_key: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    suggestions: list[SuggestionView] = field(default_factory=list)
    search_id: int | None = None


def _contact_page(site: HelpSite, **values: Any) -> ContactPage:
    page = ContactPage(title="Contact support", **page_fields(site), **values)
    page.request_key = page.request_key or secrets.token_urlsafe(16)
    return page


def _suggest(request: Request, session: DbSession, site: HelpSite, page: ContactPage) -> None:
    """Fill the page's suggested articles from the subject, logging the search."""
    query = " ".join(page.subject.split())[: kb_search.MAX_QUERY_CHARS]
    if not query:
        return
    reader = site.reader
    result = portal_service.search_help_center(session, reader, query)
    with write_session(request) as writer:
        page.search_id = portal_service.log_help_search(writer, reader, result)
    page.suggestions = [
        SuggestionView(
            hit.title,
            site.url(f"/articles/{hit.slug}?from_search={page.search_id}"),
            hit.snippet,
        )
        for hit in result.hits
    ]


@router.get("/help/{workspace_slug}/contact")
def contact_form(
    workspace_slug: SlugPath, request: Request, session: DbSession, auth: OptionalPageAuth
) -> Response:
    site = help_site(session, workspace_slug, auth)
    return render(request, "portal/contact.html", _contact_page(site))


@router.get("/help/{workspace_slug}/contact/suggestions")
def contact_suggestions(
    workspace_slug: SlugPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    subject: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Articles that may answer the request, as the subject is typed (htmx swaps the list);
    without htmx, the contact form with the subject filled in and the suggestions below it."""
    site = help_site(session, workspace_slug, auth)
    page = _contact_page(site, subject=subject)
    _suggest(request, session, site, page)
    return render(request, "portal/contact.html", page, partial="portal/_suggestions.html")


def _uploads(files: list[UploadFile | str]) -> list[portal_service.NewFile]:
    """Browsers send an empty part when no file was chosen: those are not attachments."""
    return [
        portal_service.NewFile(f.filename, f.content_type, f.file)
        for f in files
        if not isinstance(f, str) and f.filename
    ]


def _store(request: Request) -> AttachmentStore:
    store: AttachmentStore = request.app.state.attachment_store
    return store


@router.post("/help/{workspace_slug}/contact")
def contact_submit(
    workspace_slug: SlugPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    subject: Annotated[str, Form(max_length=500)] = "",
    description: Annotated[str, Form(max_length=50_000)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    search_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    request_key: Annotated[str, Form(max_length=64)] = "",
    website: Annotated[str, Form(max_length=500)] = "",
    attachments: Uploads = [],  # noqa: B006 -- FastAPI copies defaults
) -> Response:
    site = help_site(session, workspace_slug, auth)
    customer = site.customer
    if website.strip():
        # The honeypot field is hidden from people; only a bot fills it. Answer as if it worked.
        return redirect(request, site.url("/contact/sent"), flash="Your request was received.")
    errors: dict[str, str] = {}
    if not subject.strip():
        errors["subject"] = "Please enter a subject"
    if not description.strip():
        errors["description"] = "Please describe what you need"
    if customer is None:
        if not name.strip():
            errors["name"] = "Please enter your name"
        try:
            EMAIL.validate_python(email.strip())
        except ValidationError:
            errors["email"] = "Please enter a valid email address"
    if errors:
        page = _contact_page(
            site,
            name=name,
            email=email,
            subject=subject,
            description=description,
            request_key=request_key,
            errors=errors,
            search_id=search_id,
        )
        return render(request, "portal/contact.html", page, status_code=422)
    ctx = (
        customer.ctx
        if customer is not None
        else portal_service.requester_context(
            session, site.workspace_id, email=email.strip(), name=name.strip()
        )
    )
    ticket = portal_service.submit_request(
        session,
        ctx,
        portal_service.PortalRequest(subject=subject.strip(), description=description.strip()),
        store=_store(request),
        files=_uploads(attachments),
        search_id=search_id,
        request_key=request_key or None,
    )
    message = f"Thanks! Your request #{ticket.number} was received."
    if customer is not None:
        return redirect(request, site.url(f"/tickets/{ticket.number}"), flash=message)
    return redirect(request, site.url("/contact/sent"), flash=message)


@router.get("/help/{workspace_slug}/contact/sent")
def contact_sent(
    workspace_slug: SlugPath, request: Request, session: DbSession, auth: OptionalPageAuth
) -> Response:
    site = help_site(session, workspace_slug, auth)
    page = HelpPage(title="Request received", **page_fields(site))
    return render(request, "portal/contact_sent.html", page)


# --- the customer's tickets -------------------------------------------------------------------


@dataclass(frozen=True)
class TicketRow:
    number: int
    subject: str
    status: str
    created_at: datetime
    updated_at: datetime
    url: str


@dataclass(kw_only=True)
class TicketListPage(HelpPage):
    tickets: list[TicketRow] = field(default_factory=list)
    next_url: str = ""
    unverified: bool = False


def _row(site: HelpSite, ticket: Ticket) -> TicketRow:
    return TicketRow(
        ticket.number,
        ticket.subject,
        ticket.status,
        ticket.created_at,
        ticket.updated_at,
        site.url(f"/tickets/{ticket.number}"),
    )


@router.get("/help/{workspace_slug}/tickets")
def ticket_list(
    workspace_slug: SlugPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    site = help_site(session, workspace_slug, auth)
    customer = require_customer(request, site)
    rows, next_cursor = portal_service.list_tickets(session, customer.ctx, cursor=cursor)
    page = TicketListPage(
        title="My requests",
        tickets=[_row(site, t) for t in rows],
        next_url=site.url(f"/tickets?cursor={next_cursor}") if next_cursor else "",
        unverified=not accounts.is_verified(session, customer.viewer.user_id),
        **page_fields(site),
    )
    return render(request, "portal/tickets.html", page, partial="portal/_ticket_rows.html")


@dataclass(frozen=True)
class FileLink:
    filename: str
    url: str
    size: int


@dataclass(frozen=True)
class Citation:
    title: str
    url: str


@dataclass(frozen=True)
class MessageView:
    id: int
    author: str
    kind: str
    body: str
    created_at: datetime
    files: list[FileLink]
    citations: list[Citation]
    awaiting_confirmation: bool


@dataclass(frozen=True)
class TicketView:
    number: int
    subject: str
    description: str
    status: str
    created_at: datetime
    csat_score: int | None
    csat_comment: str | None
    url: str


@dataclass(kw_only=True)
class TicketPage(HelpPage):
    ticket: TicketView
    messages: list[MessageView] = field(default_factory=list)
    can_reopen: bool = False
    can_rate: bool = False
    unverified: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    reply_body: str = ""


def _citations(site: HelpSite, message: Message) -> list[Citation]:
    """The articles an AI answer cites; only help-center links of this workspace are shown."""
    cited = (message.ai_meta or {}).get("citations") or [] if message.author_type == "ai" else []
    links: list[Citation] = []
    for item in cited:
        url = str(item.get("url") or "") if isinstance(item, dict) else ""
        if url.startswith(site.url("/articles/")) and all(c.url != url for c in links):
            links.append(Citation(str(item.get("title") or "Article"), url))
    return links


def _message_view(site: HelpSite, message: Message, pending_id: int | None) -> MessageView:
    return MessageView(
        id=message.id,
        author=AUTHORS.get(message.author_type, "Support"),
        kind=message.author_type,
        body=message.body,
        created_at=message.created_at,
        files=[
            FileLink(a.filename, f"/api/v1/attachments/{a.id}", a.size) for a in message.attachments
        ],
        citations=_citations(site, message),
        awaiting_confirmation=pending_id is not None and message.id == pending_id,
    )


def _ticket_page(
    request: Request, session: DbSession, site: HelpSite, number: int, **values: Any
) -> TicketPage:
    customer = require_customer(request, site)
    conv = portal_service.conversation(session, customer.ctx, number)
    ticket = conv.ticket
    pending_id = conv.pending_answer.reply_message_id if conv.pending_answer else None
    closed = Status(ticket.status) in REOPEN_SOURCES
    return TicketPage(
        title=f"#{ticket.number} {ticket.subject}",
        ticket=TicketView(
            ticket.number,
            ticket.subject,
            ticket.description,
            ticket.status,
            ticket.created_at,
            ticket.csat_score,
            ticket.csat_comment,
            site.url(f"/tickets/{ticket.number}"),
        ),
        messages=[_message_view(site, m, pending_id) for m in conv.messages],
        can_reopen=closed and ticket.merged_into_id is None,
        can_rate=closed,
        unverified=not accounts.is_verified(session, customer.viewer.user_id),
        crumbs=[("My requests", site.url("/tickets"))],
        **page_fields(site),
        **values,
    )


@router.get("/help/{workspace_slug}/tickets/{number}")
def ticket_page(
    workspace_slug: SlugPath,
    number: NumberPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
) -> Response:
    site = help_site(session, workspace_slug, auth)
    page = _ticket_page(request, session, site, number)
    return render(request, "portal/ticket.html", page, partial="portal/_conversation.html")


@router.post("/help/{workspace_slug}/tickets/{number}/reply")
def ticket_reply(
    workspace_slug: SlugPath,
    number: NumberPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    body: Annotated[str, Form(max_length=100_000)] = "",
    attachments: Uploads = [],  # noqa: B006 -- FastAPI copies defaults
) -> Response:
    """A reply; on a resolved or closed request it reopens it."""
    site = help_site(session, workspace_slug, auth)
    customer = require_customer(request, site)
    if not body.strip():
        page = _ticket_page(
            request, session, site, number, errors={"body": "Please write a message"}
        )
        return render(request, "portal/ticket.html", page, status_code=422)
    ticket = portal_service.get_ticket_by_number(session, customer.ctx, number)
    reopens = Status(ticket.status) in REOPEN_SOURCES
    portal_service.reply(
        session,
        customer.ctx,
        number,
        body.strip(),
        store=_store(request),
        files=_uploads(attachments),
    )
    flash = "Your reply was sent and the request reopened." if reopens else "Your reply was sent."
    return redirect(request, site.url(f"/tickets/{number}"), flash=flash)


@router.post("/help/{workspace_slug}/tickets/{number}/reopen")
def ticket_reopen(
    workspace_slug: SlugPath,
    number: NumberPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
) -> Response:
    site = help_site(session, workspace_slug, auth)
    customer = require_customer(request, site)
    portal_service.reopen(session, customer.ctx, number)
    return redirect(request, site.url(f"/tickets/{number}"), flash="The request was reopened.")


@router.post("/help/{workspace_slug}/tickets/{number}/confirm")
def ticket_confirm(
    workspace_slug: SlugPath,
    number: NumberPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    solved: Annotated[str, Form(pattern="^(yes|no)$")],
) -> Response:
    """ "Did this solve your problem?" on the AI's answer: yes resolves, no asks for a person."""
    site = help_site(session, workspace_slug, auth)
    customer = require_customer(request, site)
    portal_service.confirm_answer(session, customer.ctx, number, solved=solved == "yes")
    flash = (
        "Great, we marked your request as solved."
        if solved == "yes"
        else "Thanks. A member of our team will take it from here."
    )
    return redirect(request, site.url(f"/tickets/{number}"), flash=flash)


@router.post("/help/{workspace_slug}/tickets/{number}/rate")
def ticket_rate(
    workspace_slug: SlugPath,
    number: NumberPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    score: Annotated[str, Form(max_length=2)] = "",
    comment: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    site = help_site(session, workspace_slug, auth)
    customer = require_customer(request, site)
    if score not in {"1", "2", "3", "4", "5"}:
        raise ValidationFailed("Please choose a rating from 1 to 5")
    portal_service.rate(session, customer.ctx, number, int(score), comment.strip() or None)
    return redirect(request, site.url(f"/tickets/{number}"), flash="Thanks for rating our help.")
