"""Escalations: hand a ticket to humans, list the hand-offs, record how each one ended.

Rules (docs/lifecycle.md#escalations):

- At most one open escalation per ticket. Escalating a ticket that already has one returns that
  escalation, updated: the new reason, confidence, attempt and note are appended to
  `attempted["history"]`, the summary is rebuilt from the conversation as it is now and the team
  moves when a new one is given. The original reason and confidence stay: they say why the
  hand-off started. The AI pipeline can therefore call `escalate_ticket` again safely.
- Ticket changes go through `deskpilot.tickets.service` (which writes the audit events): the
  target team with `update_ticket`, the status with `change_status(reason="escalated")`. A ticket
  in `new` or `triage` moves to `in_progress`; one in a working status (`in_progress`, the two
  waiting statuses, `pending_release`) keeps it, since someone is already on it or waiting for an
  answer; a `resolved` or `closed` one is reopened to `in_progress`, because a hand-off means a
  human must act. A merged ticket cannot be escalated (409).
- Resolving records the resolution, who and when; the ticket itself does not change.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.escalations import listing
from deskpilot.escalations.models import Escalation
from deskpilot.escalations.schemas import (
    EscalationCreate,
    EscalationReason,
    EscalationResolution,
    EscalationStatus,
)
from deskpilot.escalations.summary import summarize_conversation
from deskpilot.idempotency import service as idempotency
from deskpilot.tickets import annotations as ticket_annotations
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import TicketUpdate
from deskpilot.triage import service as triage_service
from deskpilot.workspaces import service as workspaces_service

ESCALATED = "escalated"
"""The `reason` recorded on the ticket's status event when a hand-off moves its status."""
TAKE_OVER_STATUSES = frozenset({Status.new, Status.triage, Status.resolved, Status.closed})
"""Statuses an escalation moves to `in_progress`; working statuses are left as they are."""
E = TypeVar("E", bound=StrEnum)
MAX_HISTORY = 50
"""Repeated escalations kept in `attempted["history"]` (the oldest are dropped first)."""


class EscalateOutcome(StrEnum):
    created = "created"
    joined = "joined"  # the ticket already had an open escalation: that one was updated
    replayed = "replayed"  # a repeated Idempotency-Key: the first result, unchanged


# --- queries -------------------------------------------------------------------------------------


def get_escalation(
    session: Session, ctx: Context, escalation_id: int, *, for_update: bool = False
) -> Escalation:
    ctx.require_staff()
    return get_scoped(
        session, ctx, Escalation, escalation_id, for_update=for_update, what="Escalation"
    )


def list_escalations(
    session: Session,
    ctx: Context,
    filters: listing.EscalationFilters,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    sort: str = listing.DEFAULT_SORT,
) -> tuple[list[Escalation], str | None]:
    """One keyset page of the workspace's escalations (staff only) and the next page's cursor."""
    return listing.list_escalations(session, ctx, filters, sort=sort, limit=limit, cursor=cursor)


def list_ticket_escalations(session: Session, ctx: Context, ticket_id: int) -> list[Escalation]:
    """Every escalation of one ticket, oldest first; 404 for a ticket the caller cannot see."""
    ctx.require_staff()
    ticket = tickets_service.get_ticket(session, ctx, ticket_id)
    stmt = scoped(ctx, Escalation).where(Escalation.ticket_id == ticket.id)
    return list(session.scalars(stmt.order_by(Escalation.created_at, Escalation.id)))


def get_open_escalation(session: Session, ctx: Context, ticket_id: int) -> Escalation | None:
    ctx.require_staff()
    stmt = scoped(ctx, Escalation).where(
        Escalation.ticket_id == ticket_id, Escalation.status == EscalationStatus.open.value
    )
    return session.scalars(stmt.order_by(Escalation.id).limit(1)).one_or_none()


# --- commands ------------------------------------------------------------------------------------


def escalate_ticket(
    session: Session,
    ctx: Context,
    ticket_id: int,
    *,
    reason: EscalationReason | str,
    team_id: int | None = None,
    ai_confidence: float | None = None,
    attempted: dict[str, Any] | None = None,
    decision_id: int | None = None,
    note: str | None = None,
    summary: str | None = None,
) -> Escalation:
    """Hand the ticket to humans: the open escalation of the ticket, new or updated.

    `attempted` is what the AI tried (draft answer, citations, decision, rule), stored as given;
    `note` is kept in `attempted["note"]`. `summary` defaults to the builtin extractive summary
    of the conversation. `team_id` defaults to the ticket's current team.
    """
    escalation, _ = _escalate(
        session,
        ctx,
        ticket_id,
        reason=reason,
        team_id=team_id,
        ai_confidence=ai_confidence,
        attempted=attempted,
        decision_id=decision_id,
        note=note,
        summary=summary,
    )
    return escalation


def request_escalation(
    session: Session,
    ctx: Context,
    ticket_id: int,
    data: EscalationCreate,
    *,
    idempotency_key: str | None = None,
) -> tuple[Escalation, EscalateOutcome]:
    """A manual hand-off from the API; a repeated Idempotency-Key returns the first result."""
    ctx.require_staff()
    claim = idempotency.claim(
        session,
        ctx,
        scope="escalations.create",
        key=idempotency_key,
        payload={"ticket_id": ticket_id, **data.model_dump(mode="json")},
    )
    if claim.existing_id is not None:
        return get_escalation(session, ctx, claim.existing_id), EscalateOutcome.replayed
    escalation, created = _escalate(
        session, ctx, ticket_id, reason=data.reason, team_id=data.team_id, note=data.note
    )
    claim.bind(escalation.id)
    return escalation, EscalateOutcome.created if created else EscalateOutcome.joined


def resolve_escalation(
    session: Session,
    ctx: Context,
    escalation_id: int,
    *,
    resolution: EscalationResolution | str,
    note: str | None = None,
) -> Escalation:
    """Close an open escalation with how it ended; a resolved one is a 409."""
    code = _parse(EscalationResolution, resolution, "resolution")
    escalation = get_escalation(session, ctx, escalation_id, for_update=True)
    if escalation.status != EscalationStatus.open.value:
        raise Conflict(
            f"Escalation {escalation.id} is already resolved",
            details={"status": escalation.status, "resolution": escalation.resolution},
        )
    _resolve(ctx, escalation, code, note)
    session.flush()
    return escalation


def close_open_escalations_for_ticket(
    session: Session,
    ctx: Context,
    ticket_id: int,
    resolution: EscalationResolution | str,
    *,
    note: str | None = None,
) -> list[Escalation]:
    """Resolve whatever is still open on the ticket (e.g. when the ticket is resolved or closed).

    Returns the escalations it resolved: none when nothing was open, so it is safe to call on
    every ticket resolution.
    """
    code = _parse(EscalationResolution, resolution, "resolution")
    ctx.require_staff()
    stmt = (
        scoped(ctx, Escalation)
        .where(Escalation.ticket_id == ticket_id, Escalation.status == EscalationStatus.open.value)
        .order_by(Escalation.id)
        .with_for_update()
    )
    closed = list(session.scalars(stmt))
    for escalation in closed:
        _resolve(ctx, escalation, code, note)
    session.flush()
    return closed


# --- internals -----------------------------------------------------------------------------------


def _escalate(
    session: Session,
    ctx: Context,
    ticket_id: int,
    *,
    reason: EscalationReason | str,
    team_id: int | None = None,
    ai_confidence: float | None = None,
    attempted: dict[str, Any] | None = None,
    decision_id: int | None = None,
    note: str | None = None,
    summary: str | None = None,
) -> tuple[Escalation, bool]:
    ctx.require_staff()
    code = _parse(EscalationReason, reason, "reason")
    _check_confidence(ai_confidence)
    # The ticket lock serializes escalations of one ticket: the second sees the first's row.
    ticket = tickets_service.get_ticket(session, ctx, ticket_id, for_update=True)
    if ticket.merged_into_id is not None:
        raise Conflict(
            f"Ticket {ticket.id} was merged into ticket {ticket.merged_into_id}",
            details={"merged_into_id": ticket.merged_into_id},
        )
    if decision_id is not None:
        _check_decision(session, ctx, decision_id)
    _hand_to_humans(session, ctx, ticket, team_id)
    summary = summary if summary is not None else _summarize(session, ctx, ticket)

    existing = get_open_escalation(session, ctx, ticket.id)
    if existing is not None:
        entry = {
            "reason": code.value,
            "ai_confidence": ai_confidence,
            "decision_id": decision_id,
            "attempted": attempted or {},
            "note": note,
            "actor_type": ctx.actor_type.value,
            "user_id": ctx.user_id,
            "at": utcnow().isoformat(),
        }
        history = [*existing.attempted.get("history", []), entry][-MAX_HISTORY:]
        # A new dict, not an in-place edit: the JSON column only notices reassignment.
        existing.attempted = {**existing.attempted, "history": history}
        existing.summary = summary
        existing.team_id = ticket.team_id
        session.flush()
        ticket_annotations.record_escalation(
            session,
            ctx,
            ticket,
            escalation_id=existing.id,
            reason=code.value,
            team_id=ticket.team_id,
        )
        return existing, False

    escalation = Escalation(
        workspace_id=ctx.workspace_id,
        ticket_id=ticket.id,
        decision_id=decision_id,
        reason=code.value,
        ai_confidence=ai_confidence,
        attempted={**(attempted or {}), **({"note": note} if note else {})},
        summary=summary,
        team_id=ticket.team_id,
        created_by_user_id=ctx.user_id,
        status=EscalationStatus.open.value,
        created_at=utcnow(),
    )
    session.add(escalation)
    session.flush()
    ticket_annotations.record_escalation(
        session, ctx, ticket, escalation_id=escalation.id, reason=code.value, team_id=ticket.team_id
    )
    return escalation, True


def _hand_to_humans(session: Session, ctx: Context, ticket: Ticket, team_id: int | None) -> None:
    """Route to the team and take the ticket out of the AI's hands, through the ticket service."""
    if team_id is not None and team_id != ticket.team_id:
        change = TicketUpdate(team_id=team_id)
        if ticket.assignee_id is not None and ticket.assignee_id not in (
            workspaces_service.list_team_member_ids(session, ctx, team_id)
        ):
            # The new team's routing assigns it; an assignee from the old team would block that.
            change = TicketUpdate(team_id=team_id, assignee_id=None)
        tickets_service.update_ticket(session, ctx, ticket.id, change)
    if Status(ticket.status) in TAKE_OVER_STATUSES:
        tickets_service.change_status(session, ctx, ticket, Status.in_progress, reason=ESCALATED)
        session.flush()


def _summarize(session: Session, ctx: Context, ticket: Ticket) -> str:
    # The description is the requester's first message: tickets store it on the ticket itself.
    conversation = [("customer", "public", ticket.description)]
    conversation += [
        (m.author_type, m.visibility, m.body)
        for m in tickets_service.list_messages(session, ctx, ticket)
    ]
    return summarize_conversation(conversation, subject=ticket.subject)


def _check_decision(session: Session, ctx: Context, decision_id: int) -> None:
    """A decision of another workspace (or none) must never be linked: 422 on the field."""
    try:
        triage_service.get_decision(session, ctx, decision_id)
    except NotFound as exc:
        raise ValidationFailed(
            "Unknown decision",
            details=[{"field": "decision_id", "message": "no decision with this id"}],
        ) from exc


def _check_confidence(value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValidationFailed(
            "AI confidence must be between 0 and 1",
            details=[{"field": "ai_confidence", "message": "a number from 0 to 1"}],
        )


def _parse(enum: type[E], value: E | str, field: str) -> E:
    try:
        return enum(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"Unknown {field}",
            details=[{"field": field, "message": f"one of {[e.value for e in enum]}"}],
        ) from exc


def _resolve(
    ctx: Context, escalation: Escalation, resolution: EscalationResolution, note: str | None
) -> None:
    escalation.status = EscalationStatus.resolved.value
    escalation.resolution = resolution.value
    escalation.resolution_note = note
    escalation.resolved_by_user_id = ctx.user_id
    escalation.resolved_at = utcnow()
