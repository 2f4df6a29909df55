"""Escalation lists: filters and (created_at, id) keyset cursors, staff only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.core.ids import MAX_DB_ID
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor, encode_cursor
from deskpilot.db.scoped import scoped
from deskpilot.escalations.models import Escalation
from deskpilot.escalations.schemas import EscalationReason, EscalationStatus

SORTS = {"created_at": False, "-created_at": True}
"""Sort name -> descending. Newest first by default: the hand-off queue as it fills."""
DEFAULT_SORT = "-created_at"


@dataclass
class EscalationFilters:
    """Lists are ANDs of these; a list filter matches any of its values. `created_from` is
    inclusive, `created_to` exclusive; confidence bounds are inclusive and never match an
    escalation without an AI confidence (a manual hand-off)."""

    status: list[EscalationStatus] = field(default_factory=list)
    reason: list[EscalationReason] = field(default_factory=list)
    team_id: int | None = None
    ticket_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    min_ai_confidence: float | None = None
    max_ai_confidence: float | None = None


def list_escalations(
    session: Session,
    ctx: Context,
    filters: EscalationFilters,
    *,
    sort: str = DEFAULT_SORT,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Escalation], str | None]:
    ctx.require_staff()
    if sort not in SORTS:
        raise ValidationFailed(
            "Unknown sort", details=[{"field": "sort", "message": f"one of {sorted(SORTS)}"}]
        )
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    descending = SORTS[sort]
    stmt = _apply_filters(scoped(ctx, Escalation), filters)
    if cursor:
        stmt = stmt.where(_after_cursor(descending, decode_cursor(cursor)))
    if descending:
        order = (Escalation.created_at.desc(), Escalation.id.desc())
    else:
        order = (Escalation.created_at.asc(), Escalation.id.asc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([last.created_at.isoformat(), last.id])


def _after_cursor(descending: bool, values: list[Any]) -> Any:
    """Rows strictly after the (created_at, id) pair the previous page ended on."""
    invalid = ValidationFailed(
        "Invalid cursor", details=[{"field": "cursor", "message": "not a cursor"}]
    )
    if (
        len(values) != 2
        or not isinstance(values[0], str)
        or type(values[1]) is not int
        or not 0 <= values[1] <= MAX_DB_ID
    ):
        raise invalid
    try:
        created_at = datetime.fromisoformat(values[0])
    except ValueError as exc:
        raise invalid from exc
    if created_at.tzinfo is None:
        raise invalid
    last_id = values[1]
    column = Escalation.created_at
    if descending:
        return or_(column < created_at, and_(column == created_at, Escalation.id < last_id))
    return or_(column > created_at, and_(column == created_at, Escalation.id > last_id))


def _apply_filters(stmt: Select[Escalation], f: EscalationFilters) -> Select[Escalation]:
    if (
        f.min_ai_confidence is not None
        and f.max_ai_confidence is not None
        and f.min_ai_confidence > f.max_ai_confidence
    ):
        raise ValidationFailed(
            "Empty confidence range",
            details=[{"field": "min_ai_confidence", "message": "greater than max_ai_confidence"}],
        )
    if f.status:
        stmt = stmt.where(Escalation.status.in_([s.value for s in f.status]))
    if f.reason:
        stmt = stmt.where(Escalation.reason.in_([r.value for r in f.reason]))
    if f.team_id is not None:
        stmt = stmt.where(Escalation.team_id == f.team_id)
    if f.ticket_id is not None:
        stmt = stmt.where(Escalation.ticket_id == f.ticket_id)
    if f.created_from is not None:
        stmt = stmt.where(Escalation.created_at >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(Escalation.created_at < f.created_to)
    if f.min_ai_confidence is not None:
        stmt = stmt.where(Escalation.ai_confidence >= f.min_ai_confidence)
    if f.max_ai_confidence is not None:
        stmt = stmt.where(Escalation.ai_confidence <= f.max_ai_confidence)
    return stmt
