"""`POST /api/v1/ai/answer` (a dry run) and the decision log routes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.llm.models import AiUsage
from deskpilot.tickets.models import Ticket
from deskpilot.triage.models import AiDecision
from tests.factories import Personas
from tests.triage.conftest import ALWAYS_RESOLVE, set_policy

pytestmark = pytest.mark.usefixtures("acme_help")

DECISIONS = {"resolve", "confirm", "clarify", "escalate"}


def ask(client: TestClient, headers: dict[str, str], question: str) -> dict:  # type: ignore[type-arg]
    response = client.post("/api/v1/ai/answer", json={"question": question}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_answer_has_the_documented_shape_and_cites_the_right_article(
    client: TestClient, db: Database, personas: Personas
) -> None:
    body = ask(client, personas.ann.headers, "How do I reset my password?")
    assert set(body) >= {"decision", "answer", "confidence", "citations", "reasons"}
    assert body["decision"] in DECISIONS
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["reasons"]
    assert body["citations"][0]["external_id"] == "pw"
    assert set(body["citations"][0]) == {"article_id", "external_id", "chunk_id", "score"}
    assert "Forgot password" in body["answer"]


def test_a_dry_run_stores_only_the_decision_log_and_usage(
    client: TestClient, db: Database, personas: Personas
) -> None:
    body = ask(client, personas.ann.headers, "How do I reset my password?")
    with db.session(write=False) as s:
        decision = s.get(AiDecision, body["decision_id"])
        assert decision is not None
        assert decision.source == "dry_run"
        assert decision.ticket_id is None
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
        assert s.scalar(select(func.count()).select_from(AiUsage)) == 1
    shown = client.get(f"/api/v1/ai/decisions/{body['decision_id']}", headers=personas.ann.headers)
    assert shown.status_code == 200
    assert shown.json()["inputs"]["features"]["passage_cosine"] > 0


def test_forced_thresholds_decide_and_a_request_for_a_person_overrides(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    assert ask(client, personas.ann.headers, "reset my password")["decision"] == "resolve"
    human = ask(client, personas.ann.headers, "I want to talk to a real person about my password")
    assert (human["decision"], human["rule"]) == ("escalate", "user_requested")
    assert human["escalation_reason"] == "user_requested"


def test_customers_may_ask_but_not_read_the_log(
    client: TestClient, db: Database, personas: Personas
) -> None:
    body = ask(client, personas.carol.headers, "How do I reset my password?")
    assert body["decision"] in DECISIONS
    url = f"/api/v1/ai/decisions/{body['decision_id']}"
    assert client.get(url, headers=personas.carol.headers).status_code == 403
    assert client.get("/api/v1/ai/decisions", headers=personas.carol.headers).status_code == 403


def test_workspaces_are_isolated(client: TestClient, db: Database, personas: Personas) -> None:
    acme = ask(client, personas.ann.headers, "How do I reset my password?")
    globex = ask(client, personas.gina.headers, "How do I reset my password?")
    assert globex["citations"] == []
    assert globex["answer"] is None
    assert globex["decision"] != "resolve"
    url = f"/api/v1/ai/decisions/{acme['decision_id']}"
    assert client.get(url, headers=personas.gina.headers).status_code == 404
    listed = client.get("/api/v1/ai/decisions", headers=personas.gina.headers).json()
    assert [d["id"] for d in listed["items"]] == [globex["decision_id"]]


@pytest.mark.parametrize(
    "payload",
    [{}, {"question": ""}, {"question": "x" * 4001}, {"question": 3}, {"question": "a", "x": 1}],
)
def test_bad_questions_are_422(client: TestClient, personas: Personas, payload: dict) -> None:  # type: ignore[type-arg]
    response = client.post("/api/v1/ai/answer", json=payload, headers=personas.ann.headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"]


def test_a_blank_question_is_422(client: TestClient, personas: Personas) -> None:
    response = client.post(
        "/api/v1/ai/answer", json={"question": "   "}, headers=personas.ann.headers
    )
    assert response.status_code == 422


def test_anonymous_callers_are_refused(client: TestClient) -> None:
    assert client.post("/api/v1/ai/answer", json={"question": "hi"}).status_code == 401


def test_the_log_filters_and_pages(client: TestClient, db: Database, personas: Personas) -> None:
    for question in ("reset password", "download invoices", "export data"):
        ask(client, personas.ann.headers, question)
    page = client.get(
        "/api/v1/ai/decisions", params={"limit": 2}, headers=personas.ann.headers
    ).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    rest = client.get(
        "/api/v1/ai/decisions",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=personas.ann.headers,
    ).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    dry = client.get(
        "/api/v1/ai/decisions", params={"source": "ticket"}, headers=personas.ann.headers
    ).json()
    assert dry["items"] == []
    bad = client.get(
        "/api/v1/ai/decisions", params={"decision": "maybe"}, headers=personas.ann.headers
    )
    assert bad.status_code == 422


def test_customers_never_see_a_withheld_draft_or_the_rules(
    client: TestClient, db: Database, personas: Personas
) -> None:
    body = ask(client, personas.carol.headers, "I want to talk to a real person about my password")
    assert body["decision"] == "escalate"
    assert body["answer"] is None
    assert body["citations"] == []
    assert body["reasons"] == ["A member of our team will answer this."]
    staff = ask(client, personas.ann.headers, "I want to talk to a real person about my password")
    assert staff["answer"] is not None  # agents see the draft and why
    assert any("person" in reason or "human" in reason for reason in staff["reasons"])
