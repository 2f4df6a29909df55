"""KB search over HTTP: shapes, limits, roles, the public help center, logging and gaps."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.db.engine import Database
from deskpilot.kb.index import registry
from deskpilot.kb.models import ArticleDailyMetric, SearchLog
from deskpilot.kb.search_log import roll_up_impressions
from tests.factories import Personas
from tests.kb.test_search import ARTICLES, publish_all

pytestmark = pytest.mark.real_embedder


@pytest.fixture
def acme_kb(db: Database, personas: Personas) -> list[int]:
    registry.forget()
    return publish_all(db, personas.acme_admin.ctx, ARTICLES)


def test_search_returns_the_documented_shape(
    client: TestClient, personas: Personas, acme_kb: list[int]
) -> None:
    r = client.get(
        "/api/v1/kb/search",
        params={"q": "forgot password", "limit": 2},
        headers=personas.ann.headers,
    )
    assert r.status_code == 200, r.text
    hits = r.json()
    assert len(hits) == 2
    assert set(hits[0]) == {
        "article_id",
        "external_id",
        "title",
        "slug",
        "snippet",
        "score",
        "chunk_id",
    }
    assert hits[0]["external_id"] == "pw"
    assert int(r.headers["X-Search-Id"]) > 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "ok", "limit": 51}, "limit"),
    ],
)
def test_bad_queries_are_422_with_the_field(
    client: TestClient, personas: Personas, params: dict[str, object], field: str
) -> None:
    r = client.get("/api/v1/kb/search", params=params, headers=personas.ann.headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == field


def test_search_needs_authentication(client: TestClient) -> None:
    assert client.get("/api/v1/kb/search", params={"q": "password"}).status_code == 401


def test_public_help_center_search_is_anonymous_and_external_only(
    client: TestClient, db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    publish_all(
        db,
        personas.acme_admin.ctx,
        [
            {
                "title": "Internal runbook: password resets",
                "body": "Use the admin console to reset.",
                "visibility": "internal",
                "external_id": "runbook",
            },
        ],
    )
    r = client.get("/api/v1/help/acme/search", params={"q": "reset password"})
    assert r.status_code == 200
    ids = [h["external_id"] for h in r.json()]
    assert ids[0] == "pw"
    assert "runbook" not in ids
    staff = client.get(
        "/api/v1/kb/search", params={"q": "reset password"}, headers=personas.ann.headers
    )
    assert "runbook" in [h["external_id"] for h in staff.json()]
    assert client.get("/api/v1/help/nope/search", params={"q": "x"}).status_code == 404
    assert client.get("/api/v1/help/globex/search", params={"q": "reset password"}).json() == []


def test_clicks_and_tickets_are_recorded_against_the_search(
    client: TestClient, db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    r = client.get(
        "/api/v1/kb/search", params={"q": "change my card"}, headers=personas.carol.headers
    )
    search_id = int(r.headers["X-Search-Id"])
    clicked = client.post(
        f"/api/v1/kb/searches/{search_id}/click",
        json={"article_id": r.json()[0]["article_id"]},
        headers=personas.carol.headers,
    )
    assert clicked.status_code == 204
    ticket = client.post(
        "/api/v1/tickets", json={"subject": "Card change failed"}, headers=personas.carol.headers
    ).json()
    linked = client.post(
        f"/api/v1/kb/searches/{search_id}/ticket",
        json={"ticket_id": ticket["id"]},
        headers=personas.carol.headers,
    )
    assert linked.status_code == 204
    foreign = client.post(
        f"/api/v1/kb/searches/{search_id}/click",
        json={"article_id": 1},
        headers=personas.gina.headers,
    )
    assert foreign.status_code == 404
    with db.session(write=False) as s:
        row = s.get(SearchLog, search_id)
    assert row is not None
    assert (row.source, row.clicked_article_id, row.ticket_id) == ("api", acme_kb[1], ticket["id"])


def test_content_gaps_list_queries_that_found_nothing(
    client: TestClient, personas: Personas, acme_kb: list[int]
) -> None:
    for q in ("kubernetes helm chart", "Helm chart for Kubernetes?", "forgot password"):
        client.get("/api/v1/kb/search", params={"q": q}, headers=personas.ann.headers)
    gaps = client.get("/api/v1/kb/content-gaps", headers=personas.ann.headers)
    assert gaps.status_code == 200
    top = gaps.json()[0]
    assert top["searches"] == 2
    assert "helm" in top["query"].lower()
    assert all("password" not in g["query"] for g in gaps.json())
    assert client.get("/api/v1/kb/content-gaps", headers=personas.carol.headers).status_code == 403


def test_impressions_roll_up_into_daily_metrics(
    client: TestClient, db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    for _ in range(3):
        client.get(
            "/api/v1/kb/search", params={"q": "password", "limit": 1}, headers=personas.ann.headers
        )
    with db.session(write=True) as s:
        assert roll_up_impressions(s) == 3
        s.commit()
        assert roll_up_impressions(s) == 0
        rows = s.scalars(select(ArticleDailyMetric)).all()
    assert [(r.article_id, r.impressions) for r in rows] == [(acme_kb[0], 3)]


def test_suggested_articles_for_a_ticket_use_the_latest_customer_message(
    client: TestClient, personas: Personas, acme_kb: list[int]
) -> None:
    ticket = client.post(
        "/api/v1/tickets",
        json={"subject": "Question", "description": "Hello"},
        headers=personas.carol.headers,
    ).json()
    client.post(
        f"/api/v1/tickets/{ticket['id']}/messages",
        json={"body": "Our proxy shows ERR_TLS_HANDSHAKE_7781"},
        headers=personas.carol.headers,
    )
    r = client.get(
        f"/api/v1/tickets/{ticket['id']}/suggested-articles", headers=personas.ann.headers
    )
    assert r.status_code == 200
    assert r.json()[0]["external_id"] == "tls"
    assert (
        client.get(
            f"/api/v1/tickets/{ticket['id']}/suggested-articles", headers=personas.gina.headers
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/v1/tickets/{ticket['id']}/suggested-articles", headers=personas.carol.headers
        ).status_code
        == 403
    )
