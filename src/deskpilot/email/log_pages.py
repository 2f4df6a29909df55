"""Admin pages for the email delivery log and the test email (/admin/email/log, /admin/email/test).

Included into `email.pages.router`. Owners and admins only. The log reads through `log_service`
(newest first, filters and search, an "Older" link carrying the keyset cursor; htmx swaps just
the table when the filters change). One email's page shows its headers, its delivery state and,
for outbound mail, the copy of what was sent as text. The test button goes through
`test_mail.queue_test_email`: the mail is recorded and sent by the `email.send` job after the
request commits, never inside it, and the admin lands on the log to watch it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from deskpilot.core.errors import ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.email import log_service, test_mail
from deskpilot.email.log_service import LoggedEmail, RawCopy
from deskpilot.email.template_pages import KIND_LABELS
from deskpilot.web.deps import DbSession, get_settings
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

LOG_URL = "/admin/email/log"
DIRECTION_OPTIONS = (("inbound", "Received"), ("outbound", "Sent"))
STATUS_LABELS = {
    "stored": "Received",
    "ignored": "Ignored",
    "queued": "Queued",
    "sent": "Sent",
    "failed": "Failed",
    "suppressed": "Not sent",
    "bounced": "Bounced",
}
STATUS_BADGES = {
    "stored": "badge-on",
    "sent": "badge-on",
    "failed": "badge-warn",
    "bounced": "badge-warn",
    "suppressed": "badge-warn",
}
OTHER_KIND_LABELS = {
    "reply": "Reply",
    test_mail.KIND_TEST: "Test email",
    "account_verification": "Account verification",
    "password_reset": "Password reset",
}
# Statuses that are fine as they are: any other one shows the recorded reason next to it.
QUIET_STATUSES = ("stored", "sent")


def kind_label(email_direction: str, kind: str) -> str:
    if email_direction == "inbound":
        return "Incoming"
    return {**KIND_LABELS, **OTHER_KIND_LABELS}.get(kind, kind.replace("_", " ").capitalize())


@dataclass(frozen=True)
class StatusView:
    value: str
    label: str
    badge: str
    reason: str | None


def _status(entry: LoggedEmail) -> StatusView:
    email = entry.email
    return StatusView(
        value=email.status,
        label=STATUS_LABELS.get(email.status, email.status),
        badge=STATUS_BADGES.get(email.status, "badge-off"),
        reason=None if email.status in QUIET_STATUSES else email.reason,
    )


@dataclass(frozen=True)
class LogRow:
    id: int
    created_at: datetime
    direction: str
    kind: str
    counterpart: str
    """The sender of received mail, the recipients of sent mail."""
    subject: str
    ticket_number: int | None
    status: StatusView
    attempts: int


def _row(entry: LoggedEmail) -> LogRow:
    email = entry.email
    inbound = email.direction == "inbound"
    return LogRow(
        id=email.id,
        created_at=email.created_at,
        direction="Received" if inbound else "Sent",
        kind=kind_label(email.direction, email.kind),
        counterpart=email.from_address if inbound else ", ".join(email.to_addresses),
        subject=email.subject,
        ticket_number=entry.ticket_number,
        status=_status(entry),
        attempts=email.attempts,
    )


@dataclass(kw_only=True)
class EmailLogPage(PageContext):
    rows: list[LogRow]
    direction: str
    status: str
    q: str
    paged: bool
    """True on an older page: offers the way back to the newest mail."""
    newest_url: str
    older_url: str
    direction_options: tuple[tuple[str, str], ...] = DIRECTION_OPTIONS
    status_options: list[tuple[str, str]] = field(
        default_factory=lambda: [(s, STATUS_LABELS[s]) for s in log_service.STATUSES]
    )
    nav: str = "admin"


Filter = Annotated[str, Query(max_length=20)]
Search = Annotated[str, Query(max_length=log_service.MAX_QUERY_LENGTH)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get(LOG_URL)
def email_log(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    direction: Filter = "",
    status: Filter = "",
    q: Search = "",
    cursor: Cursor = None,
) -> Response:
    """Every email in and out, newest first. Unknown filter values mean "all"; a cursor that is
    not one (edited, truncated) shows the first page rather than an error."""
    direction = direction if direction in log_service.DIRECTIONS else ""
    status = status if status in log_service.STATUSES else ""
    query = q.strip()
    filters = {"direction": direction, "status": status, "q": query}

    def listed(page_cursor: str | None) -> tuple[list[LoggedEmail], str | None]:
        return log_service.list_emails(
            session, auth.ctx, direction=direction or None, status=status or None,
            q=query or None, limit=DEFAULT_PAGE_SIZE, cursor=page_cursor,
        )  # fmt: skip

    try:
        entries, next_cursor = listed(cursor)
    except ValidationFailed:
        cursor = None
        entries, next_cursor = listed(None)
    chosen = {name: value for name, value in filters.items() if value}
    newest_url = f"{LOG_URL}?{urlencode(chosen)}" if chosen else LOG_URL
    older_url = f"{LOG_URL}?{urlencode({**chosen, 'cursor': next_cursor})}" if next_cursor else ""
    page = EmailLogPage(
        title="Email log",
        viewer=auth.viewer,
        rows=[_row(entry) for entry in entries],
        direction=direction,
        status=status,
        q=query,
        paged=cursor is not None,
        newest_url=newest_url,
        older_url=older_url,
    )
    return render(request, "email/admin_email_log.html", page, partial="email/_email_log.html")


# --- one email ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailDetail:
    id: int
    direction: str
    kind: str
    message_id_header: str
    in_reply_to: str | None
    references: list[str]
    from_address: str
    to_addresses: list[str]
    cc_addresses: list[str]
    subject: str
    ticket_number: int | None
    status: StatusView
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    size_bytes: int
    has_raw_path: bool


@dataclass(kw_only=True)
class EmailMessagePage(PageContext):
    email: EmailDetail
    show_raw: bool
    """Outbound mail shows the copy of what was sent (received mail: its ticket has the text)."""
    raw: RawCopy | None
    raw_limit_kb: int = log_service.RAW_DISPLAY_LIMIT // 1024
    nav: str = "admin"


def _detail(entry: LoggedEmail) -> EmailDetail:
    email = entry.email
    return EmailDetail(
        id=email.id,
        direction="Received" if email.direction == "inbound" else "Sent",
        kind=kind_label(email.direction, email.kind),
        message_id_header=email.message_id_header,
        in_reply_to=email.in_reply_to,
        references=list(email.references),
        from_address=email.from_address,
        to_addresses=list(email.to_addresses),
        cc_addresses=list(email.cc_addresses),
        subject=email.subject,
        ticket_number=entry.ticket_number,
        status=_status(entry),
        attempts=email.attempts,
        created_at=email.created_at,
        next_attempt_at=email.next_attempt_at,
        sent_at=email.sent_at,
        size_bytes=email.size_bytes,
        has_raw_path=bool(email.raw_path),
    )


@router.get(LOG_URL + "/{email_id}")
def email_message(
    email_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    entry = log_service.get_email(session, auth.ctx, email_id)
    show_raw = entry.email.direction == "outbound"
    raw = (
        log_service.read_raw_copy(get_settings(request).data_dir, entry.email) if show_raw else None
    )
    page = EmailMessagePage(
        title=f"Email {email_id}",
        viewer=auth.viewer,
        email=_detail(entry),
        show_raw=show_raw,
        raw=raw,
    )
    return render(request, "email/admin_email_message.html", page)


# --- test email ------------------------------------------------------------------------------


@router.post("/admin/email/test")
def send_test_email(request: Request, session: DbSession, auth: AdminPage) -> Response:
    """Queue a test mail to the signed-in admin; it is sent after this request commits."""
    try:
        record = test_mail.queue_test_email(session, auth.ctx)
    except test_mail.MailNotEnabled as exc:
        return redirect(request, "/admin/email", flash=f"No test email sent. {exc.message}.",
                        kind="error")  # fmt: skip
    to_address = ", ".join(record.to_addresses)
    if record.status == "suppressed":
        message = f"Test email to {to_address} was not sent: {record.reason}."
        return redirect(request, LOG_URL, flash=message, kind="error")
    return redirect(request, LOG_URL, flash=f"Test email queued to {to_address}.")
