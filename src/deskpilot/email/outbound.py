"""Outbound email: queue a reply in the ticket's transaction, build and send it in a job.

`queue_reply` runs inside the transaction that added the agent's (or the AI's) public message
(see `email/hooks.py`): it records an outbound `EmailMessage` with its threading headers and
enqueues `email.send`, so nothing is sent unless that transaction commits. Loop protection and
the per-recipient hourly limit are decided here too: a reply that must not go out is recorded as
`suppressed` with the reason and no job is queued.

`build_mime` and `transmit` do the slow part (reading attachments, talking SMTP) and hold no
database transaction; `email/tasks.py` calls them from the job's read-only phase.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta
from email.message import EmailMessage as MimeMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.customers.models import Contact
from deskpilot.db.hooks import after_commit
from deskpilot.email import bounces
from deskpilot.email.models import STAFF_KINDS, EmailMessage, MailSettings
from deskpilot.email.settings_service import get_mail_settings, own_addresses
from deskpilot.email.threads import ANY_TAG_RE, PREFIX_RE, base_address, tag_regex
from deskpilot.jobs import queue
from deskpilot.settings import Settings, load_settings
from deskpilot.tickets.lifecycle import Channel
from deskpilot.tickets.models import Message, Ticket
from deskpilot.workspaces.models import Workspace

log = logging.getLogger(__name__)

SEND_JOB = "email.send"
MAX_REFERENCES = 20
SMTP_TIMEOUT_SECONDS = 30.0
# Statuses of outbound mail that count against the hourly per-recipient limit.
COUNTED_STATUSES = ("queued", "sent", "failed")
# Sent by the system on its own, not written by someone (RFC 3834 Auto-Submitted).
AUTOMATIC_KINDS = frozenset({"ticket_received", "resolved_csat", "escalation_assigned"})

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Where outbound mail is written (DATA_DIR) and attachments are read; set by the app."""
    global _settings  # one process-wide configuration, like jobs.queue.runtime
    _settings = settings


def current_settings() -> Settings:
    """The configured settings; a worker that did not configure them reads the environment."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def support_domain(mail: MailSettings) -> str:
    return base_address(mail.support_address).partition("@")[2] or "deskpilot.invalid"


def new_message_id(mail: MailSettings) -> str:
    return f"<{uuid.uuid4().hex}@{support_domain(mail)}>"


def reply_subject(ticket: Ticket, mail: MailSettings) -> str:
    """`Re: <subject> [#42]`: the subject without earlier prefixes and tags, then our tag."""
    text = tag_regex(mail.subject_tag).sub(" ", ticket.subject)
    text = ANY_TAG_RE.sub(" ", text)
    text = " ".join(PREFIX_RE.sub("", text).split()) or "(no subject)"
    tag = mail.subject_tag.replace("{number}", str(ticket.number))
    return f"Re: {text} {tag}"


def _thread_of(
    session: Session, ticket: Ticket, *, exclude_id: int | None = None
) -> tuple[str | None, list[str], list[str]]:
    """(In-Reply-To, References, CCs of the last inbound mail) for the ticket's next email."""
    latest = session.scalars(
        select(EmailMessage)
        .where(
            EmailMessage.workspace_id == ticket.workspace_id,
            EmailMessage.ticket_id == ticket.id,
            EmailMessage.status.in_(("stored", "sent", "queued")),
            EmailMessage.id != (exclude_id or 0),
            EmailMessage.kind.not_in(STAFF_KINDS),
        )
        .order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc())
        .limit(1)
    ).first()
    last_inbound = session.scalars(
        select(EmailMessage)
        .where(
            EmailMessage.workspace_id == ticket.workspace_id,
            EmailMessage.ticket_id == ticket.id,
            EmailMessage.direction == "inbound",
            EmailMessage.status == "stored",
        )
        .order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None, [], []
    references = [*latest.references, latest.message_id_header][-MAX_REFERENCES:]
    cc = list(last_inbound.cc_addresses) if last_inbound is not None else []
    return latest.message_id_header, references, cc


def thread_headers(session: Session, record: EmailMessage) -> tuple[str | None, list[str]]:
    """The record's In-Reply-To and References, looked up again when it had none when queued:
    a ticket's first notification is queued before the inbound email is linked to the ticket
    (same transaction), so only at sending time is the customer's Message-ID known."""
    if record.in_reply_to is not None or record.ticket_id is None or record.kind in STAFF_KINDS:
        return record.in_reply_to, list(record.references)
    ticket = session.get(Ticket, record.ticket_id)
    if ticket is None:
        return None, []
    in_reply_to, references, _ = _thread_of(session, ticket, exclude_id=record.id)
    return in_reply_to, references


def _recent_count(session: Session, workspace_id: int, address: str) -> int:
    """Outbound mail to `address` in the last hour (queued, sent or failed)."""
    since = utcnow() - timedelta(hours=1)
    rows = session.scalars(
        select(EmailMessage.to_addresses).where(
            EmailMessage.workspace_id == workspace_id,
            EmailMessage.direction == "outbound",
            EmailMessage.status.in_(COUNTED_STATUSES),
            EmailMessage.created_at >= since,
        )
    ).all()
    return sum(1 for to in rows if address in [base_address(a) for a in to])


def queue_reply(
    session: Session, mail: MailSettings, ticket: Ticket, message: Message
) -> EmailMessage | None:
    """Queue `message` as a reply email to the requester."""
    return queue_email(
        session, mail, ticket, kind="reply", subject=reply_subject(ticket, mail), message=message
    )


def queue_email(
    session: Session,
    mail: MailSettings,
    ticket: Ticket,
    *,
    kind: str,
    subject: str,
    message: Message | None = None,
    to_address: str | None = None,
    hold_seconds: float = 0.0,
) -> EmailMessage | None:
    """Record an email to the ticket's requester (or to `to_address`, for mail to staff about
    the ticket, which stays out of the customer's thread) and enqueue its sending, `hold_seconds`
    from now; None when there is no one to write to. The caller's transaction commits it."""
    staff_mail = to_address is not None
    if to_address is None:
        requester = session.get(Contact, ticket.requester_id) if ticket.requester_id else None
        if requester is None or not requester.email:
            return None
        to_address = requester.email
    to_address = to_address.strip().lower()
    ours = own_addresses(mail)
    in_reply_to, references, cc = (None, [], []) if staff_mail else _thread_of(session, ticket)
    cc = [a for a in dict.fromkeys(a.lower() for a in cc) if base_address(a) not in ours]
    cc = [a for a in cc if base_address(a) != base_address(to_address)]
    record = EmailMessage(
        workspace_id=ticket.workspace_id,
        direction="outbound",
        message_id_header=new_message_id(mail),
        in_reply_to=in_reply_to,
        references=references,
        ticket_id=ticket.id,
        message_id=message.id if message is not None else None,
        kind=kind,
        from_address=mail.support_address,
        to_addresses=[to_address],
        # Notifications go to the requester only; replies keep the conversation's Cc.
        cc_addresses=cc if message is not None else [],
        subject=subject,
        status="queued",
        created_at=utcnow(),
    )
    return _record_and_enqueue(session, mail, record, hold_seconds=hold_seconds)


def queue_ticketless_email(
    session: Session, mail: MailSettings, *, kind: str, to_address: str, subject: str
) -> EmailMessage:
    """Record an email that is about no ticket (account mail, a test email) and enqueue its
    sending; its body comes from the renderer registered for `kind` in `email.bodies`. A
    suppressed one is recorded with its reason and not queued."""
    record = EmailMessage(
        workspace_id=mail.workspace_id,
        direction="outbound",
        message_id_header=new_message_id(mail),
        references=[],
        kind=kind,
        from_address=mail.support_address,
        to_addresses=[to_address.strip().lower()],
        cc_addresses=[],
        subject=subject,
        status="queued",
        created_at=utcnow(),
    )
    return _record_and_enqueue(session, mail, record)


def _record_and_enqueue(
    session: Session, mail: MailSettings, record: EmailMessage, *, hold_seconds: float = 0.0
) -> EmailMessage:
    """The same loop and hourly-limit rules for every outbound mail, then the one send job."""
    reason = suppression_reason(session, mail, record.to_addresses[0])
    if reason is not None:
        record.status, record.reason = "suppressed", reason
    session.add(record)
    session.flush()
    if record.status != "queued":
        log.info("outbound email %s suppressed: %s", record.id, reason)
    elif hold_seconds > 0:
        record.next_attempt_at = utcnow() + timedelta(seconds=hold_seconds)
        schedule_send(session, record, due_in=hold_seconds)
    else:
        queue.enqueue(session, SEND_JOB, workspace_id=record.workspace_id, email_id=record.id)
    return record


def schedule_send(session: Session, record: EmailMessage, *, due_in: float) -> None:
    """Enqueue a send at `next_attempt_at` (the sweeper re-dispatches a lost one)."""
    assert record.next_attempt_at is not None
    next_job = queue.enqueue(
        session, SEND_JOB, workspace_id=record.workspace_id, email_id=record.id
    )
    next_job.run_after = record.next_attempt_at
    next_job.dispatched_at = record.next_attempt_at
    job_id = next_job.id
    after_commit(session, lambda: queue.dispatch(job_id, due_in))


def suppression_reason(session: Session, mail: MailSettings, to_address: str) -> str | None:
    """Why mail to `to_address` must not go out (own address, hourly limit), or None."""
    if base_address(to_address) in own_addresses(mail):
        return "recipient is one of the workspace's own addresses"
    bounced = bounces.recent_hard_bounce(session, mail.workspace_id, to_address)
    if bounced is not None:
        return f"mail to this address bounced on {bounced.created_at:%Y-%m-%d} ({bounced.id})"
    limit = mail.max_replies_per_sender_per_hour
    if _recent_count(session, mail.workspace_id, base_address(to_address)) >= limit:
        return f"rate limit: {limit} emails per hour to this recipient"
    return None


def wants_reply(session: Session, ticket: Ticket) -> MailSettings | None:
    """The workspace's mail settings when replies on this ticket go out by email."""
    if ticket.channel != Channel.email.value:
        return None
    mail = get_mail_settings(session, ticket.workspace_id)
    return mail if mail is not None and mail.enabled else None


# --- building and sending (no database writes) -------------------------------------------


def build_mime(
    session: Session,
    record: EmailMessage,
    settings: Settings,
    *,
    text: str,
    html: str,
    in_reply_to: str | None,
    references: list[str],
) -> bytes:
    """The RFC 822 bytes of an outbound email: text + HTML, with its message's attachments."""
    mail = get_mail_settings(session, record.workspace_id)
    workspace = session.get(Workspace, record.workspace_id)
    message = session.get(Message, record.message_id) if record.message_id else None
    sender_name = (mail.from_name if mail else "") or (workspace.name if workspace else "")
    mime = MimeMessage()
    mime["Message-ID"] = record.message_id_header
    mime["Date"] = format_datetime(record.created_at.replace(tzinfo=UTC))
    mime["From"] = formataddr((sender_name, record.from_address))
    mime["Reply-To"] = record.from_address
    mime["To"] = ", ".join(record.to_addresses)
    if record.cc_addresses:
        mime["Cc"] = ", ".join(record.cc_addresses)
    mime["Subject"] = record.subject
    if in_reply_to:
        mime["In-Reply-To"] = in_reply_to
    if references:
        mime["References"] = " ".join(references)
    # RFC 3834: an automatic answer to this mail would be a loop; say that we are not one.
    mime["Auto-Submitted"] = "auto-generated" if record.kind in AUTOMATIC_KINDS else "no"
    mime.set_content(text or " ")
    if html:
        mime.add_alternative(f"<!DOCTYPE html><html><body>{html}</body></html>", subtype="html")
    for attachment in message.attachments if message is not None else []:
        path = settings.attachments_dir / attachment.storage_key
        maintype, _, subtype = (
            attachment.content_type
            or mimetypes.guess_type(attachment.filename)[0]
            or "application/octet-stream"
        ).partition("/")
        mime.add_attachment(
            path.read_bytes(),
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    # CRLF line ends: smtplib sends bytes as they are, and SMTP servers count lines by CRLF.
    return mime.as_bytes(policy=SMTP_POLICY)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    temporary: bool = False
    error: str | None = None


class ConfigurationError(Exception):
    """Settings that no retry can fix (no SMTP host, a missing password variable)."""


def _password(ref: str | None) -> str | None:
    if not ref:
        return None
    name = ref.removeprefix("env:")
    value = os.environ.get(name)
    if value is None:
        raise ConfigurationError(f"environment variable {name} (smtp_password_ref) is not set")
    return value


def transmit(
    mail: MailSettings, record: EmailMessage, raw: bytes, settings: Settings
) -> SendResult:
    """Hand the message to the outbox folder or the SMTP server; classify any failure."""
    if mail.outbound_backend == "outbox":
        target = settings.data_dir / "outbox" / f"{record.id}.eml"
        write_atomically(target, raw)
        return SendResult(ok=True)
    try:
        _smtp_send(mail, record, raw)
    except ConfigurationError as exc:
        return SendResult(ok=False, error=str(exc))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        return SendResult(
            ok=False,
            temporary=all(400 <= c < 500 for c in codes),
            error=f"recipients refused: {exc.recipients}"[:500],
        )
    except smtplib.SMTPResponseException as exc:
        detail = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        return SendResult(
            ok=False,
            temporary=400 <= exc.smtp_code < 500,
            error=f"SMTP {exc.smtp_code} {detail}"[:500],
        )
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        return SendResult(ok=False, temporary=True, error=f"{type(exc).__name__}: {exc}"[:500])
    return SendResult(ok=True)


def _smtp_send(mail: MailSettings, record: EmailMessage, raw: bytes) -> None:
    if not mail.smtp_host:
        raise ConfigurationError("outbound_backend is smtp but smtp_host is not set")
    password = _password(mail.smtp_password_ref)
    client: smtplib.SMTP
    if mail.smtp_security == "tls":
        client = smtplib.SMTP_SSL(
            mail.smtp_host,
            mail.smtp_port,
            timeout=SMTP_TIMEOUT_SECONDS,
            context=ssl.create_default_context(),
        )
    else:
        client = smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        if mail.smtp_security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if mail.smtp_username and password is not None:
            client.login(mail.smtp_username, password)
        recipients = [*record.to_addresses, *record.cc_addresses]
        # An envelope sender that is ours: bounces come back to the support address.
        client.sendmail(base_address(record.from_address), recipients, raw)


def write_atomically(target: Path, raw: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(raw)
    os.replace(tmp, target)
