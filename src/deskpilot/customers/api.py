"""Organization and contact JSON routes (staff only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.customers import service
from deskpilot.customers.schemas import (
    ContactCreate,
    ContactList,
    ContactRead,
    ContactUpdate,
    OrganizationCreate,
    OrganizationList,
    OrganizationRead,
    OrganizationUpdate,
)
from deskpilot.web.deps import DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, OptionalIdQuery, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1", tags=["customers"], route_class=TransactionalRoute)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]
SearchText = Annotated[str | None, Query(max_length=200)]
OrganizationId = IdPath
ContactId = IdPath


# --- organizations -------------------------------------------------------------------------------


@router.get("/organizations", response_model=OrganizationList)
def list_organizations(
    session: DbSession,
    ctx: StaffContext,
    q: SearchText = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> OrganizationList:
    rows, next_cursor = service.list_organizations(session, ctx, q=q, limit=limit, cursor=cursor)
    return OrganizationList(
        items=[OrganizationRead.model_validate(o) for o in rows], next_cursor=next_cursor
    )


@router.post(
    "/organizations",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganizationRead,
    responses={200: {"description": "Replayed Idempotency-Key: the organization created first"}},
)
def create_organization(
    data: OrganizationCreate,
    session: DbSession,
    ctx: StaffContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrganizationRead:
    org, created = service.create_organization_with_key(
        session, ctx, data, idempotency_key=idempotency_key
    )
    mark_created(response, created, f"/api/v1/organizations/{org.id}")
    return OrganizationRead.model_validate(org)


@router.get("/organizations/{organization_id}", response_model=OrganizationRead)
def get_organization(
    organization_id: OrganizationId, session: DbSession, ctx: StaffContext
) -> OrganizationRead:
    return OrganizationRead.model_validate(service.get_organization(session, ctx, organization_id))


@router.patch("/organizations/{organization_id}", response_model=OrganizationRead)
def update_organization(
    organization_id: OrganizationId, data: OrganizationUpdate, session: DbSession, ctx: StaffContext
) -> OrganizationRead:
    org = service.update_organization(session, ctx, organization_id, data)
    return OrganizationRead.model_validate(org)


@router.delete("/organizations/{organization_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_organization(
    organization_id: OrganizationId, session: DbSession, ctx: StaffContext
) -> Response:
    service.delete_organization(session, ctx, organization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- contacts ------------------------------------------------------------------------------------


@router.get("/contacts", response_model=ContactList)
def list_contacts(
    session: DbSession,
    ctx: StaffContext,
    q: SearchText = None,
    organization_id: OptionalIdQuery = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> ContactList:
    rows, next_cursor = service.list_contacts(
        session,
        ctx,
        q=q,
        organization_id=organization_id,
        email=email,
        limit=limit,
        cursor=cursor,
    )
    return ContactList(items=[ContactRead.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.post(
    "/contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactRead,
    responses={200: {"description": "Replayed Idempotency-Key: the contact created first"}},
)
def create_contact(
    data: ContactCreate,
    session: DbSession,
    ctx: StaffContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ContactRead:
    contact, created = service.create_contact_with_key(
        session, ctx, data, idempotency_key=idempotency_key
    )
    mark_created(response, created, f"/api/v1/contacts/{contact.id}")
    return ContactRead.model_validate(contact)


@router.get("/contacts/{contact_id}", response_model=ContactRead)
def get_contact(contact_id: ContactId, session: DbSession, ctx: StaffContext) -> ContactRead:
    return ContactRead.model_validate(service.get_contact(session, ctx, contact_id))


@router.patch("/contacts/{contact_id}", response_model=ContactRead)
def update_contact(
    contact_id: ContactId, data: ContactUpdate, session: DbSession, ctx: StaffContext
) -> ContactRead:
    return ContactRead.model_validate(service.update_contact(session, ctx, contact_id, data))


@router.delete("/contacts/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_contact(contact_id: ContactId, session: DbSession, ctx: StaffContext) -> Response:
    service.delete_contact(session, ctx, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
