"""Delivery status notifications (RFC 3464 bounces) for mail Deskpilot sent.

A bounce is still never answered and never becomes a ticket message (`inbound.receive` ignores
it), but it is no longer only dropped: when it reports a permanent failure (`Action: failed`,
status 5.x.x) of one of our outbound emails, that email is marked `bounced` with the remote
server's reason, the ticket gets an internal note so agents know the customer did not receive the
reply, and later mail to that address is suppressed for `SUPPRESS_FOR` (a hard bounce repeated
only hurts the workspace's sending reputation). Temporary failures (`delayed`, 4.x.x) change
nothing: the remote server keeps retrying.

The bounced email is found by the original Message-ID the report quotes (its `message/rfc822` or
`text/rfc822-headers` part); reports that quote none are matched to the latest email sent to the
failed recipient in the last `MATCH_WINDOW`.
"""

from __future__ import annotations

import email
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message as MimeMessage
from email.policy import compat32

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import DomainError
from deskpilot.email.models import EmailMessage
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import MessageCreate

log = logging.getLogger(__name__)

SUPPRESS_FOR = timedelta(days=30)
MATCH_WINDOW = timedelta(days=7)
BOUNCED = "bounced"


@dataclass(frozen=True)
class Bounce:
    recipient: str
    status: str  # e.g. "5.1.1"
    diagnostic: str
    original_message_id: str | None

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5")

    def describe(self) -> str:
        detail = f": {self.diagnostic}" if self.diagnostic else ""
        return f"{self.status}{detail}"[:400]


def read_report(raw: bytes) -> list[Bounce]:
    """The failed recipients a delivery status report names (empty if it is not one)."""
    message = email.message_from_bytes(raw, policy=compat32)
    if message.get_content_type() != "multipart/report":
        return []
    original = _original_message_id(message)
    bounces = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for fields in _status_groups(part):
            action = fields.get("action", "").lower()
            recipient = _address(fields.get("final-recipient") or fields.get("original-recipient"))
            if action != "failed" or not recipient:
                continue
            bounces.append(
                Bounce(
                    recipient=recipient,
                    status=fields.get("status", "5.0.0").split()[0],
                    diagnostic=_address_free(fields.get("diagnostic-code", "")),
                    original_message_id=original,
                )
            )
    return bounces


def _status_groups(part: MimeMessage) -> list[dict[str, str]]:
    """The per-message and per-recipient field groups of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # parsed by the email package into header blocks
        blocks = [
            {k.lower(): str(v) for k, v in block.items()}
            for block in payload
            if isinstance(block, MimeMessage)
        ]
        return [b for b in blocks if "action" in b]
    text = payload if isinstance(payload, str) else ""
    groups: list[dict[str, str]] = []
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in chunk.splitlines():
            name, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t")):
                fields[name.strip().lower()] = value.strip()
        if "action" in fields:
            groups.append(fields)
    return groups


def _original_message_id(message: MimeMessage) -> str | None:
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            value = inner.get("Message-ID") if isinstance(inner, MimeMessage) else None
        elif kind == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            headers = text if isinstance(text, bytes) else b""
            value = email.message_from_bytes(headers, policy=compat32).get("Message-ID")
        else:
            continue
        if value:
            return str(value).strip()
    return None


def _address(field: str | None) -> str:
    """`rfc822; Someone@Example.com` -> `someone@example.com`."""
    if not field:
        return ""
    value = field.split(";", 1)[-1].strip().strip("<>").lower()
    return value if "@" in value else ""


def _address_free(diagnostic: str) -> str:
    """`smtp; 550 5.1.1 User unknown` -> `550 5.1.1 User unknown`."""
    return " ".join(diagnostic.split(";", 1)[-1].split())[:300]


def record_bounces(session: Session, workspace_id: int, raw: bytes) -> list[EmailMessage]:
    """Mark the outbound emails a report says were refused for good; returns them."""
    marked = []
    for bounce in read_report(raw):
        if not bounce.permanent:
            continue
        sent = _bounced_email(session, workspace_id, bounce)
        if sent is None or sent.status == BOUNCED:
            continue
        sent.status = BOUNCED
        sent.reason = f"bounced by {bounce.recipient}'s mail server ({bounce.describe()})"
        marked.append(sent)
        _note_on_ticket(session, sent, bounce)
        log.info("outbound email %s bounced: %s", sent.id, bounce.describe())
    session.flush()
    return marked


def _bounced_email(session: Session, workspace_id: int, bounce: Bounce) -> EmailMessage | None:
    outbound = select(EmailMessage).where(
        EmailMessage.workspace_id == workspace_id, EmailMessage.direction == "outbound"
    )
    if bounce.original_message_id:
        found = session.scalars(
            outbound.where(EmailMessage.message_id_header == bounce.original_message_id)
        ).first()
        if found is not None:
            return found
    since = utcnow() - MATCH_WINDOW
    for candidate in session.scalars(
        outbound.where(EmailMessage.created_at >= since, EmailMessage.status == "sent")
        .order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc())
        .limit(50)
    ):
        if bounce.recipient in [a.lower() for a in candidate.to_addresses]:
            return candidate
    return None


def _note_on_ticket(session: Session, sent: EmailMessage, bounce: Bounce) -> None:
    if sent.ticket_id is None:
        return
    body = (
        f"**Email not delivered.** The reply sent to {bounce.recipient} bounced "
        f"({bounce.describe()}). The customer has not received it; further mail to this "
        "address is held back for 30 days. Check the address or reach them another way."
    )
    try:
        tickets_service.add_message(
            session,
            Context.system(sent.workspace_id),
            sent.ticket_id,
            MessageCreate(body=body, visibility="internal"),
        )
    except DomainError:  # a merged or deleted ticket: the email row still records the bounce
        log.info("bounce of email %s not noted on ticket %s", sent.id, sent.ticket_id)


def recent_hard_bounce(
    session: Session, workspace_id: int, address: str, now: datetime | None = None
) -> EmailMessage | None:
    """The latest bounced email to `address` within `SUPPRESS_FOR`, if any."""
    since = (now or utcnow()) - SUPPRESS_FOR
    for row in session.scalars(
        select(EmailMessage)
        .where(
            EmailMessage.workspace_id == workspace_id,
            EmailMessage.direction == "outbound",
            EmailMessage.status == BOUNCED,
            EmailMessage.created_at >= since,
        )
        .order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc())
        .limit(200)
    ):
        if address.lower() in [a.lower() for a in row.to_addresses]:
            return row
    return None
