"""The outbox: one delivery row (and one job) per subscribed endpoint, in the caller's transaction.

Nothing is sent here. The rows commit with the change that caused them, and `webhooks.deliver`
jobs send them after the commit, so a rolled-back change never reaches a receiver and a committed
one is never lost.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.jobs import queue
from deskpilot.kb.models import Article
from deskpilot.webhooks.events import ALL_EVENTS, ARTICLE_PUBLISHED, article_summary, envelope
from deskpilot.webhooks.models import WebhookDelivery, WebhookEndpoint

DELIVER_JOB = "webhooks.deliver"


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def subscribed_endpoints(session: Session, workspace_id: int) -> list[WebhookEndpoint]:
    """The workspace's enabled endpoints (one query; callers filter by event in memory)."""
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.enabled.is_(True))
            .order_by(WebhookEndpoint.id)
        )
    )


def wants(endpoint: WebhookEndpoint, event: str) -> bool:
    return ALL_EVENTS in endpoint.events or event in endpoint.events


def emit(
    session: Session,
    workspace_id: int,
    event: str,
    data: dict[str, Any],
    *,
    endpoints: list[WebhookEndpoint] | None = None,
) -> list[WebhookDelivery]:
    """Queue `event` for every enabled endpoint of the workspace subscribed to it.

    Pass `endpoints` (from `subscribed_endpoints`) when emitting several events at once.
    """
    if endpoints is None:
        endpoints = subscribed_endpoints(session, workspace_id)
    targets = [e for e in endpoints if e.workspace_id == workspace_id and wants(e, event)]
    if not targets:
        return []
    event_id = new_event_id()
    payload = envelope(event, event_id, workspace_id, utcnow(), data)
    deliveries = [
        WebhookDelivery(
            workspace_id=workspace_id,
            endpoint_id=endpoint.id,
            event=event,
            event_id=event_id,
            payload=payload,
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
        for endpoint in targets
    ]
    session.add_all(deliveries)
    session.flush()
    for delivery in deliveries:
        queue.enqueue(session, DELIVER_JOB, workspace_id=workspace_id, delivery_id=delivery.id)
    return deliveries


def requeue(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """A fresh delivery of the same event (same event_id and payload) to the same endpoint."""
    copy = WebhookDelivery(
        workspace_id=delivery.workspace_id,
        endpoint_id=delivery.endpoint_id,
        event=delivery.event,
        event_id=delivery.event_id,
        payload=delivery.payload,
        status="pending",
        attempts=0,
        created_at=utcnow(),
    )
    session.add(copy)
    session.flush()
    queue.enqueue(session, DELIVER_JOB, workspace_id=copy.workspace_id, delivery_id=copy.id)
    return copy


def article_published(session: Session, article: Article) -> list[WebhookDelivery]:
    """Queue `article.published` (called by the knowledge base when an article is published)."""
    data = {"article": article_summary(article)}
    return emit(session, article.workspace_id, ARTICLE_PUBLISHED, data)
