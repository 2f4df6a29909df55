"""The agent console's ticket page (/app/tickets/{number}).

Thin routes: parse the form, call `tickets.service` (and the AI, merge and macro services), build
a `TicketPage` with `ticket_panels`, render. Every form works without JavaScript (post, then
redirect or re-render); htmx requests get partials instead:

- header field forms and the live refresh get `_ticket_refresh.html` (header, plus conversation,
  AI panel and activity swapped out-of-band);
- the composer's preview, mode tabs and draft "Insert" get their own small partials.

A refused change gets 409 or 422 either way: htmx is configured (base.html) to swap those two
statuses, so it shows the partial with the error inline; without htmx the full page comes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from deskpilot.core.context import Context
from deskpilot.core.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    NotFound,
    ValidationFailed,
)
from deskpilot.core.ids import MAX_DB_ID, is_digits, parse_id
from deskpilot.macros import service as macros_service
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets import ticket_panels as panels
from deskpilot.tickets.attachments import AttachmentStore
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MAX_ATTACHMENTS_PER_MESSAGE, MessageCreate, TicketUpdate
from deskpilot.tickets.ticket_views import COMPOSER_MODES, THEN_STATUS_CHOICES, Composer
from deskpilot.web.deps import DbSession, get_database
from deskpilot.web.page_deps import PageAuth, StaffPage, redirect
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import Flash, is_partial_request, render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

TicketNumber = Annotated[int, Path(ge=1, le=2_147_483_647)]
FormText = Annotated[str, Form(max_length=2000)]
EDITABLE_FIELDS = ("status", "priority", "type", "category", "assignee_id", "team_id", "tags")
NULLABLE_FIELDS = ("type", "category", "assignee_id", "team_id")
ID_FIELDS = ("assignee_id", "team_id")
FIELD_LABELS = {"assignee_id": "assignee", "team_id": "team"}
# Live updates: one cheap query per poll, no connection held between polls. A stream ends after
# SSE_MAX_POLLS (about five minutes); EventSource then reconnects with Last-Event-ID.
SSE_POLL_SECONDS = 2.0
SSE_MAX_POLLS = 150
SSE_HEARTBEAT_EVERY = 7


def _ticket(session: Session, auth: PageAuth, number: int) -> Ticket:
    return tickets_service.get_ticket_by_number(session, auth.ctx, number)


def _row_id(text: str) -> int | None:
    """A database id typed into a form field, or None (never an out-of-range integer)."""
    text = text.strip()
    if parse_id(text) is None:
        return None
    return int(text)


def _allowed_text(exc: DomainError) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    allowed = details.get("allowed") or []
    if not allowed:
        return f"{exc.message}."
    names = ", ".join(str(a).replace("_", " ") for a in allowed)
    return f"{exc.message}. Allowed from here: {names}."


# --- the page --------------------------------------------------------------------------------


@router.get("/app/tickets/{number}")
def ticket_page(
    request: Request,
    number: TicketNumber,
    session: DbSession,
    auth: StaffPage,
    draft: Annotated[int, Query(ge=0, le=MAX_DB_ID)] = 0,
) -> Response:
    """The ticket; `?draft=<decision id>` opens it with that AI draft in the composer."""
    ticket = _ticket(session, auth, number)
    composer = Composer()
    if draft:
        decision = panels.draft_for(session, auth.ctx, ticket, draft)
        composer = Composer(body=decision.answer or "", assisted_by_decision_id=decision.id)
    page = panels.full_page(session, auth.ctx, auth.viewer, ticket, composer=composer)
    return render(request, "tickets/ticket.html", page, partial="tickets/_ticket_refresh.html")


@router.get("/app/tickets/{number}/live")
def ticket_live(
    request: Request, number: TicketNumber, session: DbSession, auth: StaffPage
) -> Response:
    """What the live refresh swaps in: header, conversation, AI panel and activity."""
    ticket = _ticket(session, auth, number)
    page = panels.full_page(session, auth.ctx, auth.viewer, ticket)
    return render(request, "tickets/ticket.html", page, partial="tickets/_ticket_refresh.html")


# --- header fields ---------------------------------------------------------------------------


def _field_update(field: str, value: str) -> TicketUpdate:
    raw: str | int | list[str] | None = value.strip()
    if field == "tags":
        raw = [t for t in (part.strip() for part in value.split(",")) if t]
    elif field in NULLABLE_FIELDS and raw == "":
        raw = None
    elif field in ID_FIELDS:
        raw = parse_id(value) or -1
    return TicketUpdate.model_validate({field: raw})


@router.post("/app/tickets/{number}/fields")
def update_field(
    request: Request,
    number: TicketNumber,
    session: DbSession,
    auth: StaffPage,
    field: FormText = "",
    value: FormText = "",
) -> Response:
    """One header field changed in place. Status goes through the state machine."""
    ticket = _ticket(session, auth, number)
    label = FIELD_LABELS.get(field, field)
    error, status_code = "", 200
    if field not in EDITABLE_FIELDS:
        error, status_code = "That field cannot be changed here.", 422
    else:
        try:
            update = _field_update(field, value)
            ticket = tickets_service.update_ticket(session, auth.ctx, ticket.id, update)
        except ValidationError:
            error, status_code = f"That {label} is not valid.", 422
        except IllegalTransition as exc:
            error, status_code = _allowed_text(exc), 409
        except Conflict as exc:
            error, status_code = f"{exc.message}.", 409
        except DomainError as exc:
            error, status_code = f"{exc.message}.", exc.status
    if not error:
        if is_partial_request(request):
            page = panels.full_page(session, auth.ctx, auth.viewer, ticket)
            return render(request, "tickets/_ticket_refresh.html", page)
        return redirect(request, f"/app/tickets/{number}", flash=f"Updated {label}.")
    if is_partial_request(request):
        page = panels.header_only(session, auth.ctx, auth.viewer, ticket, error=error)
        # htmx swaps only 409 and 422 among errors; any other refusal still shows inline.
        inline_status = status_code if status_code in (409, 422) else 200
        return render(request, "tickets/_ticket_header.html", page, status_code=inline_status)
    page = panels.full_page(
        session, auth.ctx, auth.viewer, ticket, header_error=error, header_error_field=field
    )
    return render(request, "tickets/ticket.html", page, status_code=status_code)


# --- composer --------------------------------------------------------------------------------


def _composer(
    mode: str,
    body: str,
    then_status: str,
    assisted_by_decision_id: str,
    *,
    autofocus: bool = False,
) -> Composer:
    return Composer(
        mode=mode if mode in COMPOSER_MODES else "public",
        body=body,
        then_status=then_status if then_status in dict(THEN_STATUS_CHOICES) else "",
        assisted_by_decision_id=_row_id(assisted_by_decision_id),
        autofocus=autofocus,
    )


@router.post("/app/tickets/{number}/composer")
def composer_state(
    request: Request,
    number: TicketNumber,
    session: DbSession,
    auth: StaffPage,
    visibility: FormText = "public",
    mode: FormText = "",
    body: Annotated[str, Form(max_length=100_000)] = "",
    then_status: FormText = "",
    assisted_by_decision_id: FormText = "",
    insert_draft: FormText = "",
) -> Response:
    """Re-render the composer: switch reply/note (`mode`) or insert an AI draft, keeping the rest.

    Only renders; nothing is saved."""
    ticket = _ticket(session, auth, number)
    composer = _composer(mode or visibility, body, then_status, assisted_by_decision_id)
    composer.autofocus = True
    draft_id = _row_id(insert_draft)
    if draft_id is not None:
        decision = panels.draft_for(session, auth.ctx, ticket, draft_id)
        composer.body = decision.answer or ""
        composer.assisted_by_decision_id = decision.id
    if is_partial_request(request):
        page = panels.composer_only(auth.viewer, ticket, composer)
        return render(request, "tickets/_ticket_composer.html", page)
    page = panels.full_page(session, auth.ctx, auth.viewer, ticket, composer=composer)
    return render(request, "tickets/ticket.html", page)


@router.post("/app/tickets/{number}/preview")
def preview(
    request: Request,
    number: TicketNumber,
    session: DbSession,
    auth: StaffPage,
    visibility: FormText = "public",
    body: Annotated[str, Form(max_length=100_000)] = "",
    then_status: FormText = "",
    assisted_by_decision_id: FormText = "",
) -> Response:
    """The Markdown as it will be sent (sanitized by the `markdown` filter)."""
    ticket = _ticket(session, auth, number)
    composer = _composer(visibility, body, then_status, assisted_by_decision_id)
    if is_partial_request(request):
        page = panels.composer_only(auth.viewer, ticket, composer)
        return render(request, "tickets/_ticket_preview.html", page)
    composer.show_preview = True
    page = panels.full_page(session, auth.ctx, auth.viewer, ticket, composer=composer)
    return render(request, "tickets/ticket.html", page)


def _assist_meta(
    session: Session, ctx: Context, ticket: Ticket, composer: Composer
) -> dict[str, object] | None:
    """`ai_meta` for a message written from an inserted AI draft (analytics' AI assist rate)."""
    if composer.assisted_by_decision_id is None:
        return None
    try:
        decision = panels.draft_for(session, ctx, ticket, composer.assisted_by_decision_id)
    except NotFound:
        return None  # a stale or forged id: send the message, claim no assist
    return {
        "assisted_by_decision_id": decision.id,
        "draft_edited": composer.body.strip() != (decision.answer or "").strip(),
    }


def _attachment_store(request: Request) -> AttachmentStore:
    store: AttachmentStore = request.app.state.attachment_store
    return store


async def uploaded_files(request: Request) -> list[UploadFile]:
    """The composer's files. Parsed here rather than as a `File()` parameter because a browser
    sends an empty part (no filename) for an untouched file input, which FastAPI would refuse."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return []
    form = await request.form()  # Starlette caches it: the Form() parameters reuse this parse
    return [
        item for item in form.getlist("files") if isinstance(item, UploadFile) and item.filename
    ]


@router.post("/app/tickets/{number}/messages")
def send_message(
    request: Request,
    number: TicketNumber,
    session: DbSession,
    auth: StaffPage,
    files: Annotated[list[UploadFile], Depends(uploaded_files)],
    visibility: FormText = "public",
    body: Annotated[str, Form(max_length=100_000)] = "",
    then_status: FormText = "",
    assisted_by_decision_id: FormText = "",
) -> Response:
    """Send a public reply or add an internal note, with attachments and an optional status."""
    ticket = _ticket(session, auth, number)
    composer = _composer(visibility, body, then_status, assisted_by_decision_id)
    uploads = files
    errors: dict[str, str] = {}
    if not body.strip():
        errors["body"] = "Write a message first."
    if len(uploads) > MAX_ATTACHMENTS_PER_MESSAGE:
        errors["files"] = f"At most {MAX_ATTACHMENTS_PER_MESSAGE} files per message."
    target = Status(composer.then_status) if composer.then_status else None
    if target is not None:
        try:
            tickets_service.check_transition(ticket, target)
        except IllegalTransition as exc:
            errors["then_status"] = _allowed_text(exc)
    if not errors:
        store = _attachment_store(request)
        attachments = [
            store.save(
                session,
                auth.ctx,
                filename=upload.filename or "attachment",
                declared_type=upload.content_type,
                stream=upload.file,
            )
            for upload in uploads
        ]
        message = tickets_service.send_message(
            session,
            auth.ctx,
            ticket.id,
            MessageCreate(
                body=body, visibility=composer.mode, attachment_ids=[a.id for a in attachments]
            ),
            then_status=target,
            ai_meta=_assist_meta(session, auth.ctx, ticket, composer),
        )
        sent = "Internal note added" if composer.is_internal else "Reply sent"
        if not is_partial_request(request):
            return redirect(request, f"/app/tickets/{number}#m-{message.id}", flash=f"{sent}.")
        page = panels.full_page(
            session, auth.ctx, auth.viewer, ticket, composer=Composer(mode=composer.mode)
        )
        page.flashes = [Flash(f"{sent}.", "success")]
        return render(request, "tickets/_ticket_sent.html", page)
    composer.errors = errors
    if is_partial_request(request):
        page = panels.composer_only(auth.viewer, ticket, composer)
        return render(
            request,
            "tickets/_ticket_composer.html",
            page,
            status_code=422,
            headers={"HX-Retarget": "#composer", "HX-Reswap": "outerHTML"},
        )
    page = panels.full_page(session, auth.ctx, auth.viewer, ticket, composer=composer)
    return render(request, "tickets/ticket.html", page, status_code=422)


# --- merge and macros ------------------------------------------------------------------------


@router.post("/app/tickets/{number}/merge")
def merge(
    request: Request,
    number: TicketNumber,
    session: DbSession,
    auth: StaffPage,
    into_number: FormText = "",
    confirm: FormText = "",
) -> Response:
    """Merge this ticket into another by number: the first post asks, the second (confirm) acts."""
    ticket = _ticket(session, auth, number)
    error, status_code = "", 200
    target: Ticket | None = None
    wanted = into_number.strip().lstrip("#")
    if not is_digits(wanted) or len(wanted) > 10 or not 0 < int(wanted) < 2_147_483_648:
        error, status_code = "Enter the number of the ticket to merge into.", 422
    else:
        try:
            target = tickets_service.get_ticket_by_number(session, auth.ctx, int(wanted))
        except NotFound:
            error, status_code = f"There is no ticket #{wanted}.", 422
    if target is not None and confirm == "yes":
        try:
            tickets_service.merge_tickets(session, auth.ctx, ticket.id, target.id)
        except DomainError as exc:
            error, status_code = f"{exc.message}.", exc.status
        else:
            flash = f"Merged #{ticket.number} into #{target.number}."
            return redirect(request, f"/app/tickets/{target.number}", flash=flash)
    elif target is not None and target.id == ticket.id:
        error, status_code = "A ticket cannot be merged into itself.", 422
    if is_partial_request(request):
        page = panels.header_only(session, auth.ctx, auth.viewer, ticket)
    else:
        page = panels.full_page(session, auth.ctx, auth.viewer, ticket)
    page.merge_number = wanted
    page.merge_error = error
    if not error and target is not None:
        page.merge = panels.merge_confirmation(ticket, target)
    partial = "tickets/_ticket_merge.html"
    return render(request, "tickets/ticket.html", page, partial=partial, status_code=status_code)


@router.post("/app/tickets/{number}/macro")
def apply_macro(
    request: Request,
    number: TicketNumber,
    session: DbSession,
    auth: StaffPage,
    macro_id: FormText = "",
) -> Response:
    """Post the macro's reply and apply its changes (the macro service's one write path)."""
    ticket = _ticket(session, auth, number)
    chosen = _row_id(macro_id)
    if chosen is None:
        return redirect(request, ticket_url(number), flash="Choose a macro first.", kind="error")
    try:
        applied = macros_service.apply_macro(session, auth.ctx, ticket.id, chosen)
    except (IllegalTransition, ValidationFailed) as exc:
        # The macro may have posted its reply before its status change was refused: undo both.
        session.rollback()
        return redirect(request, ticket_url(number), flash=_allowed_text(exc), kind="error")
    note = "Macro applied." if applied.message is None else "Macro applied and message posted."
    return redirect(request, ticket_url(number), flash=note)


def ticket_url(number: int) -> str:
    return f"/app/tickets/{number}"


# --- live updates ----------------------------------------------------------------------------


def _marker(request: Request, ctx: Context, ticket_id: int) -> int:
    # A short read session per poll: the stream itself never holds a connection.
    with get_database(request).session(write=False) as session:
        return tickets_service.latest_event_id(session, ctx, ticket_id)


def _ticket_id(request: Request, ctx: Context, number: int) -> int:
    with get_database(request).session(write=False) as session:
        return tickets_service.get_ticket_by_number(session, ctx, number).id


async def _changes(
    request: Request, ctx: Context, ticket_id: int, since: int
) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    seen = since
    for poll in range(SSE_MAX_POLLS):
        if await request.is_disconnected():
            return
        marker = await run_in_threadpool(_marker, request, ctx, ticket_id)
        if marker != seen:
            seen = marker
            yield f"id: {marker}\ndata: {marker}\n\n"
        elif poll % SSE_HEARTBEAT_EVERY == 0:
            yield ": heartbeat\n\n"
        await asyncio.sleep(SSE_POLL_SECONDS)


@router.get("/app/tickets/{number}/events")
async def ticket_events(
    request: Request,
    number: TicketNumber,
    auth: StaffPage,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    last_event_id: Annotated[str, Header(alias="Last-Event-ID", max_length=20)] = "",
) -> StreamingResponse:
    """Server-Sent Events: one `data: <marker>` event whenever the ticket changes.

    `since` (the marker the page was rendered at) or, on reconnect, `Last-Event-ID` says what
    the client has already seen, so a change between render and connect is not missed."""
    ticket_id = await run_in_threadpool(_ticket_id, request, auth.ctx, number)
    seen = parse_id(last_event_id) or since
    return StreamingResponse(
        _changes(request, auth.ctx, ticket_id, seen),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
