"""The delivery log: every email the workspace received or sent, for its admins.

Reads only. `list_emails` pages newest first (keyset on the id, so new mail arriving while an
admin pages back never shifts a page); `get_email` fetches one, 404 for another workspace's.
Each entry carries its ticket's number (asked of the tickets service, in one query per page),
because people know tickets by number, not id.

`read_raw_copy` reads the stored `.eml` of an email for display. `raw_path` is relative to
DATA_DIR; whatever it says, nothing outside DATA_DIR is read (absolute paths, `..` and symlinks
that lead out are refused), and at most `RAW_DISPLAY_LIMIT` bytes are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import String, cast, or_
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.email.bounces import BOUNCED
from deskpilot.email.models import EmailMessage
from deskpilot.tickets import service as tickets_service

DIRECTIONS = ("inbound", "outbound")
INBOUND_STATUSES = ("stored", "ignored")
OUTBOUND_STATUSES = ("queued", "sent", "failed", "suppressed", BOUNCED)
STATUSES = INBOUND_STATUSES + OUTBOUND_STATUSES
MAX_QUERY_LENGTH = 200
RAW_DISPLAY_LIMIT = 200 * 1024
"""Bytes of a stored email shown on its page; a bigger one is cut (attachments make them big)."""


@dataclass(frozen=True)
class LoggedEmail:
    """One email of the log with the number of the ticket it belongs to (None: no ticket, or
    the ticket was deleted)."""

    email: EmailMessage
    ticket_number: int | None


@dataclass(frozen=True)
class RawCopy:
    """The start of a stored email as text (undecodable bytes replaced)."""

    text: str
    size_bytes: int
    truncated: bool


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid {name}", details=[{"field": name, "message": message}])


def list_emails(
    session: Session,
    ctx: Context,
    *,
    direction: str | None = None,
    status: str | None = None,
    q: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[LoggedEmail], str | None]:
    """Emails newest first. `q` matches the sender, a recipient or the subject, ignoring case.
    ValidationFailed for an unknown direction or status or a cursor that is not one."""
    ctx.require_admin()
    stmt = scoped(ctx, EmailMessage)
    if direction:
        if direction not in DIRECTIONS:
            raise _invalid("direction", f"must be one of {', '.join(DIRECTIONS)}")
        stmt = stmt.where(EmailMessage.direction == direction)
    if status:
        if status not in STATUSES:
            raise _invalid("status", f"must be one of {', '.join(STATUSES)}")
        stmt = stmt.where(EmailMessage.status == status)
    if q:
        if len(q) > MAX_QUERY_LENGTH:
            raise _invalid("q", f"at most {MAX_QUERY_LENGTH} characters")
        # The recipients are a JSON list: its text holds every address (lowercase, as stored).
        stmt = stmt.where(
            or_(
                EmailMessage.subject.icontains(q, autoescape=True),
                EmailMessage.from_address.icontains(q, autoescape=True),
                cast(EmailMessage.to_addresses, String).icontains(q, autoescape=True),
            )
        )
    rows, next_cursor = keyset_page(
        session, stmt, EmailMessage.id, limit=limit, cursor=cursor, newest_first=True
    )
    return _with_ticket_numbers(session, ctx, rows), next_cursor


def get_email(session: Session, ctx: Context, email_id: int) -> LoggedEmail:
    """One email of the workspace; NotFound for another workspace's."""
    ctx.require_admin()
    email = get_scoped(session, ctx, EmailMessage, email_id, what="Email")
    return _with_ticket_numbers(session, ctx, [email])[0]


def _with_ticket_numbers(
    session: Session, ctx: Context, rows: list[EmailMessage]
) -> list[LoggedEmail]:
    ticket_ids = sorted({row.ticket_id for row in rows if row.ticket_id is not None})
    numbers = tickets_service.ticket_numbers(session, ctx, ticket_ids)
    return [
        LoggedEmail(row, numbers.get(row.ticket_id) if row.ticket_id is not None else None)
        for row in rows
    ]


def read_raw_copy(
    data_dir: Path, email: EmailMessage, *, limit: int = RAW_DISPLAY_LIMIT
) -> RawCopy | None:
    """The first `limit` bytes of the email's stored copy, or None when it has none, the file
    is gone, or its path leads outside `data_dir`."""
    if not email.raw_path:
        return None
    root = data_dir.resolve()
    # resolve() follows symlinks and `..`, and an absolute raw_path replaces the root: checking
    # the result against the root refuses every way out of DATA_DIR.
    target = (root / email.raw_path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    try:
        with target.open("rb") as handle:
            head = handle.read(limit + 1)
            size = max(target.stat().st_size, len(head))
    except OSError:
        return None
    return RawCopy(
        text=head[:limit].decode("utf-8", errors="replace"),
        size_bytes=size,
        truncated=len(head) > limit,
    )
