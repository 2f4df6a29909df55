"""Ticket JSON routes: parse, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.tickets import listing, service
from deskpilot.tickets.attachments import AttachmentStore
from deskpilot.tickets.lifecycle import Channel, Priority, Status, TicketType
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import (
    AttachmentRead,
    EventList,
    EventRead,
    MergeRequest,
    MessageCreate,
    MessageRead,
    SatisfactionCreate,
    TicketCreate,
    TicketDetail,
    TicketList,
    TicketRead,
    TicketUpdate,
)
from deskpilot.web.deps import CurrentContext, DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, OptionalIdQuery, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1", tags=["tickets"], route_class=TransactionalRoute)


def ticket_detail(session: Session, ctx: Context, ticket: Ticket) -> TicketDetail:
    messages = [MessageRead.model_validate(m) for m in service.list_messages(session, ctx, ticket)]
    return _with_messages(ticket, messages)


def _with_messages(ticket: Ticket, messages: list[MessageRead]) -> TicketDetail:
    read = TicketRead.model_validate(ticket)
    # Fields were validated just above: build the detail without validating them again.
    return TicketDetail.model_construct(**dict(read), messages=messages)


def _attachment_store(request: Request) -> AttachmentStore:
    store: AttachmentStore = request.app.state.attachment_store
    return store


@router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketDetail)
def create_ticket(
    data: TicketCreate,
    session: DbSession,
    ctx: CurrentContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TicketDetail:
    ticket, created = service.create_ticket(session, ctx, data, idempotency_key=idempotency_key)
    mark_created(response, created, f"/api/v1/tickets/{ticket.id}")
    if created:  # a new ticket has no messages yet: answer without another query
        return _with_messages(ticket, [])
    return ticket_detail(session, ctx, ticket)


@router.get("/tickets", response_model=TicketList)
def list_tickets(
    session: DbSession,
    ctx: CurrentContext,
    status_: Annotated[list[Status], Query(alias="status")] = [],  # noqa: B006
    priority: Annotated[list[Priority], Query()] = [],  # noqa: B006
    type_: Annotated[list[TicketType], Query(alias="type")] = [],  # noqa: B006
    channel: Annotated[list[Channel], Query()] = [],  # noqa: B006
    assignee_id: OptionalIdQuery = None,
    unassigned: bool = False,
    team_id: OptionalIdQuery = None,
    requester_id: OptionalIdQuery = None,
    organization_id: OptionalIdQuery = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    q: Annotated[str | None, Query(max_length=200, description="Full-text search")] = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    sort: str = listing.DEFAULT_SORT,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TicketList:
    filters = listing.TicketFilters(
        status=status_,
        priority=priority,
        type=[t.value for t in type_],
        channel=[c.value for c in channel],
        assignee_id=assignee_id,
        unassigned=unassigned,
        team_id=team_id,
        requester_id=requester_id,
        organization_id=organization_id,
        tag=tag,
        created_after=created_after,
        created_before=created_before,
        category=category,
        text=q,
    )
    rows, next_cursor = listing.list_tickets(
        session, ctx, filters, sort=sort, limit=limit, cursor=cursor
    )
    return TicketList(items=[TicketRead.model_validate(t) for t in rows], next_cursor=next_cursor)


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
def get_ticket(ticket_id: IdPath, session: DbSession, ctx: CurrentContext) -> TicketDetail:
    return ticket_detail(session, ctx, service.get_ticket(session, ctx, ticket_id))


@router.patch("/tickets/{ticket_id}", response_model=TicketDetail)
def update_ticket(
    ticket_id: IdPath, data: TicketUpdate, session: DbSession, ctx: StaffContext
) -> TicketDetail:
    return ticket_detail(session, ctx, service.update_ticket(session, ctx, ticket_id, data))


@router.post(
    "/tickets/{ticket_id}/messages", status_code=status.HTTP_201_CREATED, response_model=MessageRead
)
def add_message(
    ticket_id: IdPath, data: MessageCreate, session: DbSession, ctx: CurrentContext
) -> MessageRead:
    return MessageRead.model_validate(service.add_message(session, ctx, ticket_id, data))


@router.get("/tickets/{ticket_id}/messages", response_model=list[MessageRead])
def list_messages(ticket_id: IdPath, session: DbSession, ctx: CurrentContext) -> list[MessageRead]:
    ticket = service.get_ticket(session, ctx, ticket_id)
    return [MessageRead.model_validate(m) for m in service.list_messages(session, ctx, ticket)]


@router.get("/tickets/{ticket_id}/events", response_model=EventList)
def list_events(ticket_id: IdPath, session: DbSession, ctx: StaffContext) -> EventList:
    return EventList(
        items=[EventRead.model_validate(e) for e in service.list_events(session, ctx, ticket_id)]
    )


@router.post("/tickets/{ticket_id}/satisfaction", response_model=TicketRead)
def rate_ticket(
    ticket_id: IdPath, data: SatisfactionCreate, session: DbSession, ctx: CurrentContext
) -> TicketRead:
    """The requester's CSAT rating (1-5, optional comment) of a resolved or closed ticket."""
    return TicketRead.model_validate(service.rate_ticket(session, ctx, ticket_id, data))


@router.post("/tickets/{ticket_id}/merge", response_model=TicketDetail)
def merge_ticket(
    ticket_id: IdPath, data: MergeRequest, session: DbSession, ctx: StaffContext
) -> TicketDetail:
    target = service.merge_tickets(session, ctx, ticket_id, data.into_ticket_id)
    return ticket_detail(session, ctx, target)


@router.post("/attachments", status_code=status.HTTP_201_CREATED, response_model=AttachmentRead)
def upload_attachment(
    request: Request,
    session: DbSession,
    ctx: CurrentContext,
    file: Annotated[UploadFile, File()],
) -> AttachmentRead:
    attachment = _attachment_store(request).save(
        session,
        ctx,
        filename=file.filename or "attachment",
        declared_type=file.content_type,
        stream=file.file,
    )
    return AttachmentRead.model_validate(attachment)


@router.get("/attachments/{attachment_id}", response_class=FileResponse)
def download_attachment(
    attachment_id: IdPath, request: Request, session: DbSession, ctx: CurrentContext
) -> FileResponse:
    attachment, path = _attachment_store(request).open_for(session, ctx, attachment_id)
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.filename,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )
