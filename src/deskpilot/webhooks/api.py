"""Webhook JSON routes (admins only): endpoints, their secrets and their delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.web.deps import AdminContext, DbSession
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.webhooks import service
from deskpilot.webhooks.models import WebhookEndpoint
from deskpilot.webhooks.schemas import (
    DeliveryList,
    DeliveryRead,
    DeliveryStatus,
    EndpointCreate,
    EndpointList,
    EndpointRead,
    EndpointUpdate,
    EndpointWithSecret,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=TransactionalRoute)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]


def _with_secret(endpoint: WebhookEndpoint) -> EndpointWithSecret:
    read = EndpointRead.model_validate(endpoint)
    return EndpointWithSecret(**read.model_dump(), secret=endpoint.secret)


@router.get("/endpoints", response_model=EndpointList)
def list_endpoints(
    session: DbSession, ctx: AdminContext, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
) -> EndpointList:
    rows, next_cursor = service.list_endpoints(session, ctx, limit=limit, cursor=cursor)
    return EndpointList(
        items=[EndpointRead.model_validate(e) for e in rows], next_cursor=next_cursor
    )


@router.post("/endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointWithSecret)
def create_endpoint(
    data: EndpointCreate, session: DbSession, ctx: AdminContext, response: Response
) -> EndpointWithSecret:
    endpoint = service.create_endpoint(session, ctx, data)
    response.headers["Location"] = f"/api/v1/webhooks/endpoints/{endpoint.id}"
    return _with_secret(endpoint)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointRead)
def get_endpoint(endpoint_id: IdPath, session: DbSession, ctx: AdminContext) -> EndpointRead:
    return EndpointRead.model_validate(service.get_endpoint(session, ctx, endpoint_id))


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointRead)
def update_endpoint(
    endpoint_id: IdPath, data: EndpointUpdate, session: DbSession, ctx: AdminContext
) -> EndpointRead:
    return EndpointRead.model_validate(service.update_endpoint(session, ctx, endpoint_id, data))


@router.delete("/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint(endpoint_id: IdPath, session: DbSession, ctx: AdminContext) -> Response:
    service.delete_endpoint(session, ctx, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
def rotate_secret(endpoint_id: IdPath, session: DbSession, ctx: AdminContext) -> EndpointWithSecret:
    return _with_secret(service.rotate_secret(session, ctx, endpoint_id))


@router.post("/endpoints/{endpoint_id}/enable", response_model=EndpointRead)
def enable_endpoint(endpoint_id: IdPath, session: DbSession, ctx: AdminContext) -> EndpointRead:
    return EndpointRead.model_validate(service.enable_endpoint(session, ctx, endpoint_id))


@router.get("/endpoints/{endpoint_id}/deliveries", response_model=DeliveryList)
def list_deliveries(
    endpoint_id: IdPath,
    session: DbSession,
    ctx: AdminContext,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> DeliveryList:
    rows, next_cursor = service.list_deliveries(
        session, ctx, endpoint_id, status=status_, event=event, limit=limit, cursor=cursor
    )
    return DeliveryList(
        items=[DeliveryRead.model_validate(d) for d in rows], next_cursor=next_cursor
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryRead,
)
def redeliver(delivery_id: IdPath, session: DbSession, ctx: AdminContext) -> DeliveryRead:
    return DeliveryRead.model_validate(service.redeliver(session, ctx, delivery_id))
