"""Ticket lists: filters, sorts and keyset cursors, within what the caller may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import ValidationFailed
from deskpilot.core.ids import MAX_DB_ID
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor, encode_cursor
from deskpilot.db.scoped import scoped
from deskpilot.escalations.models import Escalation
from deskpilot.tickets import search
from deskpilot.tickets.lifecycle import OPEN_STATUSES, Priority, Status
from deskpilot.tickets.models import Ticket, TicketTag

SORTS = {
    "created_at": (Ticket.created_at, False),
    "-created_at": (Ticket.created_at, True),
    "updated_at": (Ticket.updated_at, False),
    "-updated_at": (Ticket.updated_at, True),
    "number": (Ticket.number, False),
    "-number": (Ticket.number, True),
}
DEFAULT_SORT = "-created_at"


def normalize_tag(tag: str) -> str:
    # Commas become dashes like spaces: tag boxes in the console take comma-separated lists, so a
    # stored tag must never contain one.
    return "-".join(tag.replace(",", " ").strip().lower().split())


def visible(ctx: Context, stmt: Select[Ticket]) -> Select[Ticket]:
    """Customers see the tickets they requested (and their organization's, when the workspace
    shares them: `ctx.organization_id`); staff see the whole workspace."""
    if ctx.role == Role.customer:
        own = Ticket.requester_id == (ctx.contact_id or -1)
        if ctx.organization_id is not None:
            return stmt.where(or_(own, Ticket.organization_id == ctx.organization_id))
        return stmt.where(own)
    return stmt


@dataclass
class TicketFilters:
    status: list[Status] = field(default_factory=list)
    priority: list[Priority] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    assignee_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    requester_id: int | None = None
    organization_id: int | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    category: list[str] = field(default_factory=list)
    text: str | None = None
    """Full-text search over subject, description and messages (see `tickets.search`)."""
    open_only: bool = False
    """Only tickets that are not resolved or closed."""
    escalated: bool = False
    """Only tickets with an open escalation (handed to humans, not yet resolved)."""


@dataclass
class TicketPage:
    rows: list[Ticket]
    next_cursor: str | None
    """Cursor for the rows after this page (None on the last page)."""
    prev_cursor: str | None
    """Cursor for the rows before this page (None on the first page)."""


def list_tickets(
    session: Session,
    ctx: Context,
    filters: TicketFilters,
    *,
    sort: str = DEFAULT_SORT,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Ticket], str | None]:
    page = page_tickets(session, ctx, filters, sort=sort, limit=limit, after=cursor)
    return page.rows, page.next_cursor


def page_tickets(
    session: Session,
    ctx: Context,
    filters: TicketFilters,
    *,
    sort: str = DEFAULT_SORT,
    limit: int = DEFAULT_PAGE_SIZE,
    after: str | None = None,
    before: str | None = None,
    also: Sequence[TicketFilters] = (),
) -> TicketPage:
    """One keyset page, forwards from `after` or backwards from `before` (Next/Previous links).

    `also` adds more filter sets, ANDed with `filters` (a queue view plus the user's filters)."""
    if sort not in SORTS:
        raise ValidationFailed(
            "Unknown sort", details=[{"field": "sort", "message": f"one of {sorted(SORTS)}"}]
        )
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    column, descending = SORTS[sort]
    stmt = filtered(session, ctx, filters, *also)
    backwards = bool(before) and not after
    cursor = before if backwards else after
    if cursor:
        # Walking backwards is walking forwards in the opposite order, then flipping the rows.
        stmt = stmt.where(
            _after_cursor(column, descending != backwards, decode_cursor(cursor), sort)
        )
    if descending != backwards:
        order = (column.desc(), Ticket.id.desc())
    else:
        order = (column.asc(), Ticket.id.asc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        next_cursor = _cursor_of(rows[-1], column) if rows else None
        prev_cursor = _cursor_of(rows[0], column) if more else None
    else:
        next_cursor = _cursor_of(rows[-1], column) if more else None
        # Coming from a cursor means there was a page before this one.
        prev_cursor = _cursor_of(rows[0], column) if cursor and rows else None
    return TicketPage(rows, next_cursor, prev_cursor)


def _cursor_of(ticket: Ticket, column: Any) -> str:
    value = getattr(ticket, column.key)
    return encode_cursor([value.isoformat() if isinstance(value, datetime) else value, ticket.id])


def filtered(session: Session, ctx: Context, *filters: TicketFilters) -> Select[Ticket]:
    """The caller's visible tickets matching every filter set (unordered)."""
    stmt = visible(ctx, scoped(ctx, Ticket))
    for f in filters:
        stmt = _apply_filters(session, ctx, stmt, f)
    return stmt


def _after_cursor(column: Any, descending: bool, values: list[Any], sort: str) -> Any:
    """Rows strictly after the (sort value, id) pair the previous page ended on."""
    invalid = ValidationFailed(
        "Invalid cursor", details=[{"field": "cursor", "message": "not a cursor"}]
    )
    if len(values) != 2 or type(values[1]) is not int or not 0 <= values[1] <= MAX_DB_ID:
        raise invalid
    raw, last_id = values
    value: datetime | int
    try:
        value = datetime.fromisoformat(raw) if sort.lstrip("-") != "number" else int(raw)
    except (TypeError, ValueError) as exc:
        raise invalid from exc
    if isinstance(value, int) and not 0 <= value <= MAX_DB_ID:
        raise invalid
    if isinstance(value, datetime) and value.tzinfo is None:
        raise invalid
    if descending:
        return or_(column < value, and_(column == value, Ticket.id < last_id))
    return or_(column > value, and_(column == value, Ticket.id > last_id))


def _apply_filters(
    session: Session, ctx: Context, stmt: Select[Ticket], f: TicketFilters
) -> Select[Ticket]:
    if f.open_only:
        stmt = stmt.where(Ticket.status.in_(sorted(s.value for s in OPEN_STATUSES)))
    if f.status:
        stmt = stmt.where(Ticket.status.in_([s.value for s in f.status]))
    if f.priority:
        stmt = stmt.where(Ticket.priority.in_([p.value for p in f.priority]))
    if f.type:
        stmt = stmt.where(Ticket.type.in_(f.type))
    if f.channel:
        stmt = stmt.where(Ticket.channel.in_(f.channel))
    if f.unassigned:
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif f.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == f.assignee_id)
    if f.team_id is not None:
        stmt = stmt.where(Ticket.team_id == f.team_id)
    if f.requester_id is not None:
        stmt = stmt.where(Ticket.requester_id == f.requester_id)
    if f.organization_id is not None:
        stmt = stmt.where(Ticket.organization_id == f.organization_id)
    if f.tag:
        stmt = stmt.where(
            Ticket.id.in_(
                select(TicketTag.ticket_id).where(
                    TicketTag.workspace_id == ctx.workspace_id,
                    TicketTag.tag == normalize_tag(f.tag),
                )
            )
        )
    if f.created_after is not None:
        stmt = stmt.where(Ticket.created_at >= f.created_after)
    if f.created_before is not None:
        stmt = stmt.where(Ticket.created_at < f.created_before)
    if f.category:
        stmt = stmt.where(Ticket.category.in_(f.category))
    if f.escalated:
        stmt = stmt.where(
            Ticket.id.in_(
                select(Escalation.ticket_id).where(
                    Escalation.workspace_id == ctx.workspace_id, Escalation.status == "open"
                )
            )
        )
    if f.text and f.text.strip():
        stmt = _apply_search(session, ctx, stmt, f.text)
    return stmt


def _apply_search(
    session: Session, ctx: Context, stmt: Select[Ticket], text: str
) -> Select[Ticket]:
    matches = search.matching_ticket_ids(session, ctx, text)
    number = search.ticket_number_in(text)
    if matches is None and number is None:
        return stmt.where(false())  # only punctuation: nothing can match
    conditions: list[ColumnElement[bool]] = []
    if matches is not None:
        conditions.append(Ticket.id.in_(matches))
    if number is not None:
        conditions.append(Ticket.number == number)
    return stmt.where(or_(*conditions))
