"""Receive one email: keep the original, then create a ticket or add the reply to its thread.

Every way in (SMTP listener, HTTP endpoint) calls `receive` inside its own transaction. The
inbound row is inserted first, in a savepoint: the unique (workspace, direction, Message-ID) key
makes a second delivery of the same mail — even a concurrent one — a duplicate that creates
nothing.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict
from deskpilot.customers import service as customers_service
from deskpilot.email import bounces
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.email.parsing import ParsedEmail, parse_message
from deskpilot.email.schemas import InboundResult
from deskpilot.email.settings_service import get_mail_settings, own_addresses
from deskpilot.email.threads import ThreadMatch, base_address, find_thread
from deskpilot.settings import Settings
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.attachments import AttachmentStore
from deskpilot.tickets.lifecycle import Channel, Status
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import (
    MAX_ATTACHMENTS_PER_MESSAGE,
    MessageCreate,
    RequesterIn,
    TicketCreate,
)

log = logging.getLogger(__name__)
EMAIL_ADDRESS: TypeAdapter[str] = TypeAdapter(EmailStr)
MAX_SUBJECT = 500
MAX_DESCRIPTION = 50_000
MAX_BODY = 100_000
NO_SUBJECT = "(no subject)"
EMPTY_BODY = "(empty email)"


def max_message_bytes(settings: Settings) -> int:
    """The largest raw email accepted, on every way in: the upload limit plus header room."""
    return settings.max_attachment_bytes + 64 * 1024


def receive(
    session: Session,
    workspace_id: int,
    raw: bytes,
    *,
    source: str,
    settings: Settings,
    envelope_recipients: Sequence[str] = (),
    envelope_sender: str | None = None,
) -> InboundResult:
    """Store and act on one raw RFC 822 message. The caller commits.

    `envelope_recipients` (SMTP RCPT TO) count like Delivered-To: a plus address there threads
    the mail even when the visible To header does not show it. An empty `envelope_sender`
    (SMTP `MAIL FROM:<>`) marks a bounce even when the headers do not say so."""
    mail = get_mail_settings(session, workspace_id)
    if mail is None or not mail.enabled:
        raise Conflict("Email is not enabled for this workspace")
    parsed = parse_message(raw, max_attachment_bytes=settings.max_attachment_bytes)
    if envelope_recipients:
        extra = [a.strip().lower() for a in envelope_recipients]
        parsed = replace(parsed, delivered_to=parsed.delivered_to + extra)
    record = _claim(session, workspace_id, parsed, raw)
    if record is None:
        existing = _existing(session, workspace_id, parsed.message_id)
        return InboundResult(
            email_id=existing.id if existing else None,
            status="duplicate",
            reason="this Message-ID was already received",
            ticket_id=existing.ticket_id if existing else None,
        )
    record.raw_path = _store_raw(settings.data_dir, workspace_id, record.id, raw)
    ignore = "bounce (null envelope sender)" if envelope_sender == "" else None
    ignore = ignore or _ignore_reason(parsed, mail)
    if ignore is not None:
        # Machine mail is never answered, but a bounce of our own mail is recorded.
        refused = bounces.record_bounces(session, workspace_id, raw)
        if refused:
            ignore = f"bounce: {refused[0].reason}"[:500]
            record.ticket_id = refused[0].ticket_id
        record.status, record.reason = "ignored", ignore
        log.info("inbound email %s ignored (%s) via %s", record.id, ignore, source)
        return InboundResult(email_id=record.id, status="ignored", reason=ignore)
    result = _deliver(session, workspace_id, parsed, mail, settings)
    record.ticket_id = result.ticket_id
    record.message_id = result.message_id
    record.kind = "new" if result.action in ("created", "follow_up") else "reply"
    session.flush()
    log.info("inbound email %s -> ticket %s (%s) via %s", record.id, result.ticket_id,
             result.action, source)  # fmt: skip
    return result.model_copy(update={"email_id": record.id})


def _existing(session: Session, workspace_id: int, message_id: str) -> EmailMessage | None:
    return session.scalars(
        select(EmailMessage).where(
            EmailMessage.workspace_id == workspace_id,
            EmailMessage.direction == "inbound",
            EmailMessage.message_id_header == message_id,
        )
    ).one_or_none()


def _claim(
    session: Session, workspace_id: int, parsed: ParsedEmail, raw: bytes
) -> EmailMessage | None:
    """Insert the inbound row, or None when this Message-ID is already here (or arriving now)."""
    if _existing(session, workspace_id, parsed.message_id) is not None:
        return None
    record = EmailMessage(
        workspace_id=workspace_id,
        direction="inbound",
        message_id_header=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        kind="reply",
        from_address=parsed.from_address[:320],
        to_addresses=parsed.to_addresses,
        cc_addresses=parsed.cc_addresses,
        subject=parsed.subject,
        size_bytes=len(raw),
        status="stored",
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        # A concurrent delivery of the same mail committed first.
        return None
    return record


def _store_raw(data_dir: Path, workspace_id: int, email_id: int, raw: bytes) -> str:
    relative = Path("mail") / str(workspace_id) / f"{utcnow():%Y}" / f"{email_id}.eml"
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(raw)
    os.replace(tmp, target)
    return relative.as_posix()


def _ignore_reason(parsed: ParsedEmail, mail: MailSettings) -> str | None:
    """Loop protection: machines and our own addresses never create tickets."""
    if parsed.automatic is not None:
        return parsed.automatic
    if not parsed.from_address:
        return "no sender address"
    try:
        EMAIL_ADDRESS.validate_python(parsed.from_address)
    except ValidationError:
        return "invalid sender address"
    if base_address(parsed.from_address) in own_addresses(mail):
        return "sent from the workspace's own address"
    return None


def _customer(workspace_id: int, contact_id: int) -> Context:
    """Acting as the sender: messages are authored by the customer contact, not by the system."""
    return Context(
        workspace_id=workspace_id, user_id=None, role=Role.customer, contact_id=contact_id
    )


def _body_with_notes(parsed: ParsedEmail, extra_notes: list[str], limit: int) -> str:
    body = parsed.body.strip() or EMPTY_BODY
    notes = parsed.dropped + extra_notes
    if notes:
        body += "\n\n" + "\n".join(f"_{note}_" for note in notes)
    return body[:limit]


def _save_attachments(
    session: Session, ctx: Context, parsed: ParsedEmail, settings: Settings
) -> tuple[list[int], list[str]]:
    store = AttachmentStore(settings.attachments_dir, settings.max_attachment_bytes)
    ids: list[int] = []
    notes: list[str] = []
    for attachment in parsed.attachments:
        if len(ids) >= MAX_ATTACHMENTS_PER_MESSAGE:
            notes.append(f"Attachment {attachment.filename} was not kept: too many attachments.")
            continue
        saved = store.save(
            session,
            ctx,
            filename=attachment.filename,
            declared_type=attachment.content_type,
            stream=io.BytesIO(attachment.content),
        )
        ids.append(saved.id)
    return ids, notes


def _deliver(
    session: Session, workspace_id: int, parsed: ParsedEmail, mail: MailSettings, settings: Settings
) -> InboundResult:
    system = Context.system(workspace_id)
    contact = customers_service.find_or_create_contact(
        session, system, email=parsed.from_address, name=parsed.from_name[:200] or None
    )
    customer = _customer(workspace_id, contact.id)
    attachment_ids, notes = _save_attachments(session, customer, parsed, settings)
    match = find_thread(session, workspace_id, parsed, mail, contact.id)
    if match is None:
        return _new_ticket(session, system, parsed, attachment_ids, notes, parent=None)
    ticket = match.ticket
    if ticket.requester_id != contact.id:
        # Only a header match gets here: a third party (e.g. someone in Cc) answered. Agents see
        # it; it is not put into the requester's conversation under someone else's name.
        return _add(session, system, match, parsed, attachment_ids, notes, action="noted")
    if ticket.status == Status.closed.value and mail.closed_reply_policy == "follow_up":
        result = _new_ticket(session, system, parsed, attachment_ids, notes, parent=ticket)
        return result.model_copy(update={"matched_by": match.how})
    return _add(session, customer, match, parsed, attachment_ids, notes, action="replied")


def _new_ticket(
    session: Session,
    system: Context,
    parsed: ParsedEmail,
    attachment_ids: list[int],
    notes: list[str],
    *,
    parent: Ticket | None,
) -> InboundResult:
    data = TicketCreate(
        subject=(parsed.subject or NO_SUBJECT)[:MAX_SUBJECT],
        description=_body_with_notes(parsed, notes, MAX_DESCRIPTION),
        channel=Channel.email,
        requester=RequesterIn(email=parsed.from_address, name=parsed.from_name[:200] or None),
        parent_id=parent.id if parent is not None else None,
    )
    ticket, _ = tickets_service.create_ticket(session, system, data)
    message_id = None
    if attachment_ids:
        # Tickets keep files on messages; the original email's files get a public system note.
        message = tickets_service.add_message(
            session,
            system,
            ticket.id,
            MessageCreate(
                body="Attachments from the original email.", attachment_ids=attachment_ids
            ),
        )
        message_id = message.id
    return InboundResult(
        email_id=None,
        status="stored",
        ticket_id=ticket.id,
        ticket_number=ticket.number,
        message_id=message_id,
        action="follow_up" if parent is not None else "created",
    )


def _add(
    session: Session,
    ctx: Context,
    match: ThreadMatch,
    parsed: ParsedEmail,
    attachment_ids: list[int],
    notes: list[str],
    *,
    action: Literal["replied", "noted"],
) -> InboundResult:
    body = _body_with_notes(parsed, notes, MAX_BODY - 400)
    visibility: Literal["public", "internal"] = "public"
    if action == "noted":
        sender = f"{parsed.from_name} <{parsed.from_address}>".strip()
        body = f"Email from {sender}:\n\n{body}"
        visibility = "internal"
    message = tickets_service.add_message(
        session,
        ctx,
        match.ticket.id,
        MessageCreate(body=body, visibility=visibility, attachment_ids=attachment_ids),
    )
    return InboundResult(
        email_id=None,
        status="stored",
        ticket_id=match.ticket.id,
        ticket_number=match.ticket.number,
        message_id=message.id,
        action=action,
        matched_by=match.how,
    )
