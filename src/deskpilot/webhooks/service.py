"""Webhook endpoints (admins only): register, change, rotate secrets, re-enable, read deliveries.

A secret is generated here (never chosen by the client) and shown only in the response that
creates or rotates it. Deliveries are read per endpoint, newest id last (keyset pages).
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.webhooks import outbox
from deskpilot.webhooks.models import WebhookDelivery, WebhookEndpoint
from deskpilot.webhooks.schemas import DeliveryStatus, EndpointCreate, EndpointUpdate

log = logging.getLogger(__name__)
SECRET_BYTES = 32
NOT_NULL_FIELDS = ("url", "events", "description", "enabled")
MANUAL_DISABLE_REASON = "Disabled by an admin"


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def get_endpoint(
    session: Session, ctx: Context, endpoint_id: int, *, for_update: bool = False
) -> WebhookEndpoint:
    ctx.require_admin()
    return get_scoped(
        session, ctx, WebhookEndpoint, endpoint_id, for_update=for_update, what="Webhook endpoint"
    )


def list_endpoints(
    session: Session, ctx: Context, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> tuple[list[WebhookEndpoint], str | None]:
    ctx.require_admin()
    return keyset_page(
        session, scoped(ctx, WebhookEndpoint), WebhookEndpoint.id, limit=limit, cursor=cursor
    )


def disabled_endpoints(session: Session, ctx: Context, *, limit: int = 20) -> list[WebhookEndpoint]:
    """Endpoints switched off (after failing, or by hand), most recently disabled first: the
    admin home shows them as a notice."""
    ctx.require_admin()
    stmt = scoped(ctx, WebhookEndpoint).where(WebhookEndpoint.enabled.is_(False))
    return list(
        session.scalars(
            stmt.order_by(WebhookEndpoint.disabled_at.desc(), WebhookEndpoint.id.desc()).limit(
                limit
            )
        )
    )


def create_endpoint(session: Session, ctx: Context, data: EndpointCreate) -> WebhookEndpoint:
    ctx.require_admin()
    now = utcnow()
    endpoint = WebhookEndpoint(
        workspace_id=ctx.workspace_id,
        url=data.url,
        description=data.description,
        events=data.events,
        secret=new_secret(),
        enabled=data.enabled,
        consecutive_failures=0,
        disabled_at=None if data.enabled else now,
        disabled_reason=None if data.enabled else MANUAL_DISABLE_REASON,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session, ctx: Context, endpoint_id: int, data: EndpointUpdate
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, ctx, endpoint_id, for_update=True)
    fields = data.model_dump(exclude_unset=True)
    nulls = [name for name in NOT_NULL_FIELDS if name in fields and fields[name] is None]
    if nulls:
        raise ValidationFailed(
            "Invalid webhook endpoint",
            details=[{"field": name, "message": "must not be null"} for name in nulls],
        )
    for name in ("url", "events", "description"):
        if name in fields:
            setattr(endpoint, name, fields[name])
    if "enabled" in fields and fields["enabled"] != endpoint.enabled:
        if fields["enabled"]:
            _enable(endpoint)
        else:
            disable(endpoint, MANUAL_DISABLE_REASON)
    endpoint.updated_at = utcnow()
    session.flush()
    return endpoint


def delete_endpoint(session: Session, ctx: Context, endpoint_id: int) -> None:
    endpoint = get_endpoint(session, ctx, endpoint_id, for_update=True)
    # Explicitly, not only by ON DELETE CASCADE: pending delivery jobs then find nothing to send.
    session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.workspace_id == ctx.workspace_id,
            WebhookDelivery.endpoint_id == endpoint.id,
        )
    )
    session.delete(endpoint)
    session.flush()


def rotate_secret(session: Session, ctx: Context, endpoint_id: int) -> WebhookEndpoint:
    """A new secret, effective for every attempt from now on (including pending retries)."""
    endpoint = get_endpoint(session, ctx, endpoint_id, for_update=True)
    endpoint.secret = new_secret()
    endpoint.updated_at = utcnow()
    session.flush()
    return endpoint


def enable_endpoint(session: Session, ctx: Context, endpoint_id: int) -> WebhookEndpoint:
    """Turn a disabled endpoint back on with a clean failure count (deliveries failed while it
    was off stay failed: redeliver the ones that matter)."""
    endpoint = get_endpoint(session, ctx, endpoint_id, for_update=True)
    if not endpoint.enabled:
        _enable(endpoint)
        endpoint.updated_at = utcnow()
        session.flush()
    return endpoint


def _enable(endpoint: WebhookEndpoint) -> None:
    endpoint.enabled = True
    endpoint.consecutive_failures = 0
    endpoint.disabled_at = None
    endpoint.disabled_reason = None


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_at = utcnow()
    endpoint.disabled_reason = reason[:500]
    log.warning(
        "webhook endpoint %s of workspace %s disabled: %s",
        endpoint.id,
        endpoint.workspace_id,
        reason,
    )


def list_deliveries(
    session: Session,
    ctx: Context,
    endpoint_id: int,
    *,
    status: DeliveryStatus | None = None,
    event: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    newest_first: bool = False,
) -> tuple[list[WebhookDelivery], str | None]:
    endpoint = get_endpoint(session, ctx, endpoint_id)
    stmt = scoped(ctx, WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    if event is not None:
        stmt = stmt.where(WebhookDelivery.event == event)
    return keyset_page(
        session, stmt, WebhookDelivery.id, limit=limit, cursor=cursor, newest_first=newest_first
    )


def latest_deliveries(
    session: Session, ctx: Context, endpoint_ids: list[int]
) -> dict[int, WebhookDelivery]:
    """The newest delivery of each endpoint (one query, on the (workspace, endpoint, id) index)."""
    ctx.require_admin()
    if not endpoint_ids:
        return {}
    newest_ids = (
        select(func.max(WebhookDelivery.id))
        .where(
            WebhookDelivery.workspace_id == ctx.workspace_id,
            WebhookDelivery.endpoint_id.in_(endpoint_ids),
        )
        .group_by(WebhookDelivery.endpoint_id)
    )
    rows = session.scalars(scoped(ctx, WebhookDelivery).where(WebhookDelivery.id.in_(newest_ids)))
    return {row.endpoint_id: row for row in rows}


def get_delivery(
    session: Session, ctx: Context, endpoint_id: int, delivery_id: int
) -> tuple[WebhookEndpoint, WebhookDelivery]:
    """One delivery of one endpoint; another endpoint's or workspace's delivery is 404."""
    endpoint = get_endpoint(session, ctx, endpoint_id)
    delivery = get_scoped(session, ctx, WebhookDelivery, delivery_id, what="Webhook delivery")
    if delivery.endpoint_id != endpoint.id:
        raise NotFound(f"Webhook delivery {delivery_id} not found")
    return endpoint, delivery


def redeliver(session: Session, ctx: Context, delivery_id: int) -> WebhookDelivery:
    """Send a delivery's event again as a new delivery (same event id, so receivers can
    de-duplicate); the original keeps its history."""
    ctx.require_admin()
    original = get_scoped(session, ctx, WebhookDelivery, delivery_id, what="Webhook delivery")
    endpoint = get_endpoint(session, ctx, original.endpoint_id)
    if not endpoint.enabled:
        raise Conflict(
            f"Webhook endpoint {endpoint.id} is disabled; enable it first",
            details={"endpoint_id": endpoint.id, "disabled_reason": endpoint.disabled_reason},
        )
    return outbox.requeue(session, original)
