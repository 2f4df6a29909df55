"""`article.published`: publishing an article queues a delivery in the same transaction."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.factories import Personas
from tests.webhooks.conftest import Receiver, create_endpoint

from deskpilot.kb import service as kb_service
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.schemas import ArticleCreate
from deskpilot.webhooks.models import WebhookDelivery


def test_article_published_is_delivered_without_the_body(
    client: TestClient, personas: Personas, receiver: Receiver, session: Session
) -> None:
    endpoint = create_endpoint(client, personas.acme_admin, receiver.url, ["article.published"])
    create_endpoint(client, personas.globex_owner, receiver.url, ["*"])
    admin = personas.acme_admin.ctx
    article, _ = kb_service.create_article(
        session,
        admin,
        ArticleCreate(title="Reset your password", summary="How to", body="secret-body-text"),
    )
    for status in (ArticleStatus.in_review, ArticleStatus.approved, ArticleStatus.published):
        kb_service.transition_article(session, admin, article.id, status)
    deliveries = session.scalars(select(WebhookDelivery)).all()
    assert [d.endpoint_id for d in deliveries] == [endpoint["id"]]  # not globex's endpoint
    session.commit()

    (request,) = receiver.received
    assert request.event == "article.published"
    assert request.payload["data"]["article"]["title"] == "Reset your password"
    assert request.payload["data"]["article"]["published_at"] is not None
    assert b"secret-body-text" not in request.body
    receiver.assert_signed(endpoint["secret"])
