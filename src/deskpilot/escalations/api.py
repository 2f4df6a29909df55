"""Escalation JSON routes (staff only): list and read hand-offs, escalate by hand, resolve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.escalations import listing, service
from deskpilot.escalations.schemas import (
    EscalationCreate,
    EscalationList,
    EscalationRead,
    EscalationReason,
    EscalationResolve,
    EscalationStatus,
)
from deskpilot.web.deps import DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, OptionalIdQuery, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1", tags=["escalations"], route_class=TransactionalRoute)
Confidence = Annotated[float | None, Query(ge=0.0, le=1.0)]


@router.get("/escalations", response_model=EscalationList)
def list_escalations(
    session: DbSession,
    ctx: StaffContext,
    status_: Annotated[list[EscalationStatus], Query(alias="status")] = [],  # noqa: B006
    reason: Annotated[list[EscalationReason], Query()] = [],  # noqa: B006
    team_id: OptionalIdQuery = None,
    ticket_id: OptionalIdQuery = None,
    created_from: AwareDatetime | None = None,
    created_to: AwareDatetime | None = None,
    min_ai_confidence: Confidence = None,
    max_ai_confidence: Confidence = None,
    sort: str = listing.DEFAULT_SORT,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> EscalationList:
    filters = listing.EscalationFilters(
        status=status_,
        reason=reason,
        team_id=team_id,
        ticket_id=ticket_id,
        created_from=created_from,
        created_to=created_to,
        min_ai_confidence=min_ai_confidence,
        max_ai_confidence=max_ai_confidence,
    )
    rows, next_cursor = service.list_escalations(
        session, ctx, filters, cursor=cursor, limit=limit, sort=sort
    )
    return EscalationList(
        items=[EscalationRead.model_validate(e) for e in rows], next_cursor=next_cursor
    )


@router.get("/escalations/{escalation_id}", response_model=EscalationRead)
def get_escalation(escalation_id: IdPath, session: DbSession, ctx: StaffContext) -> EscalationRead:
    return EscalationRead.model_validate(service.get_escalation(session, ctx, escalation_id))


@router.post("/escalations/{escalation_id}/resolve", response_model=EscalationRead)
def resolve_escalation(
    escalation_id: IdPath, data: EscalationResolve, session: DbSession, ctx: StaffContext
) -> EscalationRead:
    escalation = service.resolve_escalation(
        session, ctx, escalation_id, resolution=data.resolution, note=data.note
    )
    return EscalationRead.model_validate(escalation)


@router.post(
    "/tickets/{ticket_id}/escalations",
    status_code=status.HTTP_201_CREATED,
    response_model=EscalationRead,
    responses={
        200: {
            "description": "The ticket already had an open escalation (returned, updated), or a "
            "replayed Idempotency-Key (with `Idempotent-Replayed: true`)"
        }
    },
)
def escalate_ticket(
    ticket_id: IdPath,
    data: EscalationCreate,
    session: DbSession,
    ctx: StaffContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> EscalationRead:
    escalation, outcome = service.request_escalation(
        session, ctx, ticket_id, data, idempotency_key=idempotency_key
    )
    location = f"/api/v1/escalations/{escalation.id}"
    if outcome == service.EscalateOutcome.joined:
        # Not a replay of this request: the hand-off already existed and was updated.
        response.status_code = status.HTTP_200_OK
        response.headers["Location"] = location
    else:
        mark_created(response, outcome == service.EscalateOutcome.created, location)
    return EscalationRead.model_validate(escalation)


@router.get("/tickets/{ticket_id}/escalations", response_model=list[EscalationRead])
def list_ticket_escalations(
    ticket_id: IdPath, session: DbSession, ctx: StaffContext
) -> list[EscalationRead]:
    rows = service.list_ticket_escalations(session, ctx, ticket_id)
    return [EscalationRead.model_validate(e) for e in rows]
