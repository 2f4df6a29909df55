"""Which ticket an incoming email belongs to.

In order: (a) In-Reply-To/References naming an email of the workspace, (b) a ticket token (plus
address `support+t42@...` or the subject tag `[#42]`), (c) the same sender writing about the
same subject on an open ticket updated within FALLBACK_DAYS. Ticket numbers are guessable, so
(b) and (c) only count when the sender is the ticket's requester; Message-IDs are not guessable,
so (a) holds for anyone (a stranger's reply becomes an internal note, see inbound.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.email.models import STAFF_KINDS, EmailMessage, MailSettings
from deskpilot.email.parsing import ParsedEmail
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket

FALLBACK_DAYS = 14
FALLBACK_CANDIDATES = 50
MAX_MERGE_HOPS = 10
DEFAULT_SUBJECT_TAG = "[#{number}]"
# Reply and forward prefixes in the languages mail clients commonly use.
PREFIX_RE = re.compile(r"^\s*((re|fwd?|aw|sv|wg|vs|tr|antw|odp|res)\s*(\[\d+\])?\s*:\s*)+", re.I)
ANY_TAG_RE = re.compile(r"\[#?\d+\]")


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket
    how: str  # header | plus_address | subject_tag | fallback


def split_address(address: str) -> tuple[str, str | None, str]:
    """("support", "t42", "acme.example") for support+t42@acme.example."""
    local, _, domain = address.strip().lower().partition("@")
    base, plus, tag = local.partition("+")
    return base, (tag if plus else None), domain


def base_address(address: str) -> str:
    base, _, domain = split_address(address)
    return f"{base}@{domain}"


def tag_regex(subject_tag: str) -> re.Pattern[str]:
    template = subject_tag or DEFAULT_SUBJECT_TAG
    before, _, after = template.partition("{number}")
    return re.compile(re.escape(before) + r"(\d{1,12})" + re.escape(after))


def normalize_subject(subject: str, subject_tag: str = DEFAULT_SUBJECT_TAG) -> str:
    """Subject without reply prefixes and ticket tags, case- and space-folded."""
    text = tag_regex(subject_tag).sub(" ", subject)
    text = ANY_TAG_RE.sub(" ", text)
    previous = None
    while previous != text:
        previous = text
        text = PREFIX_RE.sub("", text).strip()
    return " ".join(text.lower().split())


def ticket_number_from(parsed: ParsedEmail, mail: MailSettings) -> tuple[int, str] | None:
    support_base, _, support_domain = split_address(mail.support_address)
    for address in parsed.to_addresses + parsed.cc_addresses + parsed.delivered_to:
        base, tag, domain = split_address(address)
        if base == support_base and domain == support_domain and tag and re.fullmatch(r"t\d+", tag):
            return int(tag[1:]), "plus_address"
    found = tag_regex(mail.subject_tag).search(parsed.subject)
    return (int(found.group(1)), "subject_tag") if found else None


def _follow_merges(session: Session, ticket: Ticket) -> Ticket:
    """A reply to a merged ticket belongs to the ticket it was merged into."""
    for _ in range(MAX_MERGE_HOPS):
        if ticket.merged_into_id is None:
            return ticket
        target = session.get(Ticket, ticket.merged_into_id)
        if target is None or target.workspace_id != ticket.workspace_id:
            return ticket
        ticket = target
    return ticket


def by_headers(session: Session, workspace_id: int, parsed: ParsedEmail) -> Ticket | None:
    ids = parsed.thread_ids
    if not ids:
        return None
    # Stored ids keep their angle brackets; tolerate a sender that dropped them.
    candidates = ids + [i.strip("<>") for i in ids]
    rows = session.execute(
        select(EmailMessage.message_id_header, EmailMessage.ticket_id).where(
            EmailMessage.workspace_id == workspace_id,
            EmailMessage.message_id_header.in_(candidates),
            EmailMessage.ticket_id.is_not(None),
            # A reply to a mail sent to an agent is not the customer writing.
            EmailMessage.kind.not_in(STAFF_KINDS),
        )
    ).all()
    by_id = {row.message_id_header.strip("<>"): row.ticket_id for row in rows}
    for message_id in ids:
        ticket_id = by_id.get(message_id.strip("<>"))
        if ticket_id is not None:
            ticket = session.get(Ticket, ticket_id)
            if ticket is not None and ticket.workspace_id == workspace_id:
                return _follow_merges(session, ticket)
    return None


def find_thread(
    session: Session,
    workspace_id: int,
    parsed: ParsedEmail,
    mail: MailSettings,
    requester_id: int,
) -> ThreadMatch | None:
    ticket = by_headers(session, workspace_id, parsed)
    if ticket is not None:
        return ThreadMatch(ticket, "header")
    token = ticket_number_from(parsed, mail)
    if token is not None:
        number, how = token
        ticket = session.scalars(
            select(Ticket).where(Ticket.workspace_id == workspace_id, Ticket.number == number)
        ).one_or_none()
        if ticket is not None:
            ticket = _follow_merges(session, ticket)
            if ticket.requester_id == requester_id:
                return ThreadMatch(ticket, how)
    return _by_subject(session, workspace_id, parsed, mail, requester_id)


def _by_subject(
    session: Session,
    workspace_id: int,
    parsed: ParsedEmail,
    mail: MailSettings,
    requester_id: int,
) -> ThreadMatch | None:
    subject = normalize_subject(parsed.subject, mail.subject_tag)
    if not subject:
        return None
    since = utcnow() - timedelta(days=FALLBACK_DAYS)
    candidates = session.scalars(
        select(Ticket)
        .where(
            Ticket.workspace_id == workspace_id,
            Ticket.requester_id == requester_id,
            Ticket.status != Status.closed.value,
            Ticket.merged_into_id.is_(None),
            Ticket.updated_at >= since,
        )
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(FALLBACK_CANDIDATES)
    )
    for ticket in candidates:
        if normalize_subject(ticket.subject, mail.subject_tag) == subject:
            return ThreadMatch(ticket, "fallback")
    return None
