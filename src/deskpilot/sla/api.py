"""SLA JSON routes: business hours and policies (staff read, admins write), a ticket's clocks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.sla import service
from deskpilot.sla.models import SlaPolicy
from deskpilot.sla.schemas import (
    BusinessHoursCreate,
    BusinessHoursList,
    BusinessHoursRead,
    BusinessHoursUpdate,
    SlaPolicyCreate,
    SlaPolicyList,
    SlaPolicyRead,
    SlaPolicyUpdate,
    TicketSlaRead,
)
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1", tags=["sla"], route_class=TransactionalRoute)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]
REPLAYED = {200: {"description": "Replayed Idempotency-Key: the object created first"}}


def policy_read(policy: SlaPolicy) -> SlaPolicyRead:
    return SlaPolicyRead(
        id=policy.id,
        name=policy.name,
        position=policy.position,
        enabled=policy.enabled,
        conditions=policy.conditions or {},
        first_response_minutes=policy.first_response_minutes,
        next_response_minutes=policy.next_response_minutes,
        resolution_minutes=policy.resolution_minutes,
        hours="business" if policy.business_hours_id is not None else "calendar",
        business_hours_id=policy.business_hours_id,
        pause_when_waiting_customer=policy.pause_when_waiting_customer,
        at_risk_percent=policy.at_risk_percent,
        breach_actions=policy.breach_actions or [],
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


# --- business hours ------------------------------------------------------------------------------


@router.get("/business-hours", response_model=BusinessHoursList)
def list_business_hours(
    session: DbSession, ctx: StaffContext, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> BusinessHoursList:
    rows, next_cursor = service.list_business_hours(session, ctx, limit=limit, cursor=cursor)
    return BusinessHoursList(
        items=[BusinessHoursRead.model_validate(h) for h in rows], next_cursor=next_cursor
    )


@router.post(
    "/business-hours",
    status_code=status.HTTP_201_CREATED,
    response_model=BusinessHoursRead,
    responses=REPLAYED,  # type: ignore[arg-type]
)
def create_business_hours(
    data: BusinessHoursCreate,
    session: DbSession,
    ctx: AdminContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BusinessHoursRead:
    hours, created = service.create_business_hours(
        session, ctx, data, idempotency_key=idempotency_key
    )
    mark_created(response, created, f"/api/v1/business-hours/{hours.id}")
    return BusinessHoursRead.model_validate(hours)


@router.get("/business-hours/{business_hours_id}", response_model=BusinessHoursRead)
def get_business_hours(
    business_hours_id: IdPath, session: DbSession, ctx: StaffContext
) -> BusinessHoursRead:
    return BusinessHoursRead.model_validate(
        service.get_business_hours(session, ctx, business_hours_id)
    )


@router.patch("/business-hours/{business_hours_id}", response_model=BusinessHoursRead)
def update_business_hours(
    business_hours_id: IdPath, data: BusinessHoursUpdate, session: DbSession, ctx: AdminContext
) -> BusinessHoursRead:
    hours = service.update_business_hours(session, ctx, business_hours_id, data)
    return BusinessHoursRead.model_validate(hours)


@router.delete("/business-hours/{business_hours_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_business_hours(
    business_hours_id: IdPath, session: DbSession, ctx: AdminContext
) -> Response:
    service.delete_business_hours(session, ctx, business_hours_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- policies ------------------------------------------------------------------------------------


@router.get("/sla-policies", response_model=SlaPolicyList)
def list_policies(
    session: DbSession, ctx: StaffContext, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> SlaPolicyList:
    rows, next_cursor = service.list_policies(session, ctx, limit=limit, cursor=cursor)
    return SlaPolicyList(items=[policy_read(p) for p in rows], next_cursor=next_cursor)


@router.post(
    "/sla-policies",
    status_code=status.HTTP_201_CREATED,
    response_model=SlaPolicyRead,
    responses=REPLAYED,  # type: ignore[arg-type]
)
def create_policy(
    data: SlaPolicyCreate,
    session: DbSession,
    ctx: AdminContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SlaPolicyRead:
    policy, created = service.create_policy(session, ctx, data, idempotency_key=idempotency_key)
    mark_created(response, created, f"/api/v1/sla-policies/{policy.id}")
    return policy_read(policy)


@router.get("/sla-policies/{policy_id}", response_model=SlaPolicyRead)
def get_policy(policy_id: IdPath, session: DbSession, ctx: StaffContext) -> SlaPolicyRead:
    return policy_read(service.get_policy(session, ctx, policy_id))


@router.patch("/sla-policies/{policy_id}", response_model=SlaPolicyRead)
def update_policy(
    policy_id: IdPath, data: SlaPolicyUpdate, session: DbSession, ctx: AdminContext
) -> SlaPolicyRead:
    return policy_read(service.update_policy(session, ctx, policy_id, data))


@router.delete("/sla-policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(policy_id: IdPath, session: DbSession, ctx: AdminContext) -> Response:
    service.delete_policy(session, ctx, policy_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- a ticket's clocks ---------------------------------------------------------------------------


@router.get("/tickets/{ticket_id}/sla", response_model=TicketSlaRead)
def get_ticket_sla(ticket_id: IdPath, session: DbSession, ctx: StaffContext) -> TicketSlaRead:
    return service.ticket_sla(session, ctx, ticket_id)
