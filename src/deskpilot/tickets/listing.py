"""Ticket lists: filters, sorts and keyset cursors, within what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import ValidationFailed
from deskpilot.core.ids import MAX_DB_ID
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor, encode_cursor
from deskpilot.db.scoped import scoped
from deskpilot.tickets.lifecycle import Priority, Status
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
    return "-".join(tag.strip().lower().split())


def visible(ctx: Context, stmt: Select[Ticket]) -> Select[Ticket]:
    """Customers see only the tickets they requested; staff see the whole workspace."""
    if ctx.role == Role.customer:
        return stmt.where(Ticket.requester_id == (ctx.contact_id or -1))
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


def list_tickets(
    session: Session,
    ctx: Context,
    filters: TicketFilters,
    *,
    sort: str = DEFAULT_SORT,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Ticket], str | None]:
    if sort not in SORTS:
        raise ValidationFailed(
            "Unknown sort", details=[{"field": "sort", "message": f"one of {sorted(SORTS)}"}]
        )
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    column, descending = SORTS[sort]
    stmt = visible(ctx, scoped(ctx, Ticket))
    stmt = _apply_filters(ctx, stmt, filters)
    if cursor:
        stmt = stmt.where(_after_cursor(column, descending, decode_cursor(cursor), sort))
    order = (column.desc(), Ticket.id.desc()) if descending else (column.asc(), Ticket.id.asc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        value = getattr(last, column.key)
        next_cursor = encode_cursor(
            [value.isoformat() if isinstance(value, datetime) else value, last.id]
        )
    return rows, next_cursor


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


def _apply_filters(ctx: Context, stmt: Select[Ticket], f: TicketFilters) -> Select[Ticket]:
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
    return stmt
