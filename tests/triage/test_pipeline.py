"""The ticket pipeline end to end: a ticket arrives, the AI answers or hands off, outcomes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.escalations.models import Escalation
from deskpilot.kb.models import ArticleDailyMetric
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from deskpilot.triage import pipeline
from deskpilot.triage.models import AiDecision
from tests.factories import Personas, api_ticket
from tests.triage.conftest import ALWAYS_CONFIRM, ALWAYS_RESOLVE, NEVER_ANSWER, set_policy

pytestmark = pytest.mark.usefixtures("ai_pipeline", "acme_help")

PASSWORD_TICKET = {
    "subject": "Forgot my password",
    "description": "How do I reset my password? I never got a reset link.",
}


def decisions(db: Database, ticket_id: int) -> list[AiDecision]:
    with db.session(write=False) as s:
        return list(
            s.scalars(select(AiDecision).where(AiDecision.ticket_id == ticket_id).order_by("id"))
        )


def messages(db: Database, ticket_id: int) -> list[Message]:
    with db.session(write=False) as s:
        return list(s.scalars(select(Message).where(Message.ticket_id == ticket_id).order_by("id")))


def ticket_row(db: Database, ticket_id: int) -> Ticket:
    with db.session(write=False) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        s.expunge(ticket)
        return ticket


def carol_ticket(client: TestClient, personas: Personas, **fields: Any) -> dict[str, Any]:
    body = {**PASSWORD_TICKET, **fields}
    response = client.post("/api/v1/tickets", json=body, headers=personas.carol.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_confident_answer_is_posted_and_resolves_the_ticket(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    created = carol_ticket(client, personas)

    [decision] = decisions(db, created["id"])
    assert decision.decision == "resolve"
    assert decision.source == "ticket"
    assert decision.citations
    assert decision.citations[0]["external_id"] == "pw"
    assert "features" in decision.inputs
    assert decision.inputs["policy"]["resolve_threshold"] == 0
    [reply] = [m for m in messages(db, created["id"]) if m.author_type == "ai"]
    assert reply.visibility == "public"
    assert reply.id == decision.reply_message_id
    assert "Forgot password" in reply.body
    assert "/help/acme/articles/" in reply.body
    assert reply.ai_meta is not None
    assert reply.ai_meta["decision_id"] == decision.id
    ticket = ticket_row(db, created["id"])
    assert ticket.status == "resolved"
    assert ticket.ai_decision == "resolve"
    assert ticket.ai_confidence == decision.confidence
    assert ticket.ai_classification is not None
    assert "type" in ticket.ai_classification
    assert ticket.first_response_at is not None
    # The ticket API shows the verdict; the decision log is on the ticket too.
    shown = client.get(f"/api/v1/tickets/{created['id']}", headers=personas.ann.headers).json()
    assert shown["ai"]["decision"] == "resolve"
    log = client.get(f"/api/v1/tickets/{created['id']}/ai-decisions", headers=personas.ann.headers)
    assert [d["decision"] for d in log.json()] == ["resolve"]
    with db.session(write=False) as s:
        referenced = s.scalar(select(func.sum(ArticleDailyMetric.ai_references)))
        kinds = set(s.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)))
    assert referenced == 1
    assert "ai_decided" in kinds


def test_saying_an_auto_resolved_answer_failed_reopens_and_hands_off(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    created = carol_ticket(client, personas)
    response = client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "That did not work, the link is expired."},
        headers=personas.carol.headers,
    )
    assert response.status_code == 201

    [decision] = decisions(db, created["id"])
    assert decision.outcome == "reopened"
    with db.session(write=False) as s:
        [escalation] = s.scalars(select(Escalation).where(Escalation.ticket_id == created["id"]))
    assert escalation.decision_id == decision.id
    ticket = ticket_row(db, created["id"])
    assert ticket.status == "in_progress"
    assert ticket.reopened_count == 1


def test_a_new_message_after_an_auto_resolve_runs_the_engine_again(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    created = carol_ticket(client, personas)
    set_policy(db, personas.acme_admin, **NEVER_ANSWER)
    response = client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "The reset email never arrives in my inbox, I checked spam as well."},
        headers=personas.carol.headers,
    )
    first, second = decisions(db, created["id"])
    assert first.outcome == "reopened"
    assert second.decision == "escalate"
    assert second.trigger_message_id == response.json()["id"]


def test_confirm_waits_for_the_customer_and_yes_resolves(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_CONFIRM)
    created = carol_ticket(client, personas)
    assert ticket_row(db, created["id"]).status == "waiting_customer"
    [reply] = [m for m in messages(db, created["id"]) if m.author_type == "ai"]
    assert "Did this solve your problem?" in reply.body

    url = f"/api/v1/tickets/{created['id']}/ai-confirmation"
    response = client.post(url, json={"solved": True}, headers=personas.carol.headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "confirmed"
    assert ticket_row(db, created["id"]).status == "resolved"
    again = client.post(url, json={"solved": False}, headers=personas.carol.headers)
    assert again.status_code == 409


def test_no_hands_the_ticket_to_a_person(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(
        db, personas.acme_admin, **ALWAYS_CONFIRM, default_team_id=personas.teams["acme_support"]
    )
    created = carol_ticket(client, personas)
    url = f"/api/v1/tickets/{created['id']}/ai-confirmation"
    response = client.post(url, json={"solved": False}, headers=personas.carol.headers)
    assert response.status_code == 200
    assert response.json()["outcome"] == "rejected"
    with db.session(write=False) as s:
        [escalation] = s.scalars(select(Escalation).where(Escalation.ticket_id == created["id"]))
    assert escalation.reason == "low_confidence"
    assert escalation.team_id == personas.teams["acme_support"]
    assert ticket_row(db, created["id"]).status == "in_progress"


def test_only_the_requester_or_staff_confirm(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_CONFIRM)
    created = api_ticket(client, personas.ann, **PASSWORD_TICKET)
    url = f"/api/v1/tickets/{created['id']}/ai-confirmation"
    # Carol is not the requester of Dave's ticket: she cannot even see it.
    assert (
        client.post(url, json={"solved": True}, headers=personas.carol.headers).status_code == 404
    )
    assert client.post(url, json={"solved": True}, headers=personas.gina.headers).status_code == 404
    assert (
        client.post(url, json={"solved": "maybe"}, headers=personas.ann.headers).status_code == 422
    )
    assert client.post(url, json={"solved": True}, headers=personas.ann.headers).status_code == 200


def test_low_confidence_escalates_with_a_draft_note_and_routing(
    client: TestClient, db: Database, personas: Personas
) -> None:
    billing = personas.teams["acme_billing"]
    set_policy(db, personas.acme_admin, **NEVER_ANSWER, default_team_id=billing)
    created = carol_ticket(client, personas)

    [decision] = decisions(db, created["id"])
    assert decision.decision == "escalate"
    assert decision.rule
    [note] = [m for m in messages(db, created["id"]) if m.author_type == "ai"]
    assert note.visibility == "internal"
    assert "Draft answer (not sent)" in note.body
    assert "Forgot password" in note.body
    with db.session(write=False) as s:
        [escalation] = s.scalars(select(Escalation).where(Escalation.ticket_id == created["id"]))
    assert escalation.decision_id == decision.id
    assert escalation.reason == "low_confidence"
    assert escalation.team_id == billing
    assert escalation.attempted["draft"] == decision.answer
    assert escalation.summary
    ticket = ticket_row(db, created["id"])
    assert ticket.team_id == billing
    assert ticket.status == "in_progress"
    # Customers never see the internal draft.
    shown = client.get(
        f"/api/v1/tickets/{created['id']}/messages", headers=personas.carol.headers
    ).json()
    assert all(m["visibility"] == "public" for m in shown)


def test_asking_for_a_person_overrides_a_confident_answer(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    created = carol_ticket(
        client, personas, description="Password reset link broken. Agent please, talk to a human."
    )
    [decision] = decisions(db, created["id"])
    assert decision.decision == "escalate"
    assert decision.rule == "user_requested"
    with db.session(write=False) as s:
        [escalation] = s.scalars(select(Escalation).where(Escalation.ticket_id == created["id"]))
    assert escalation.reason == "user_requested"


def test_urgent_tickets_go_to_people(client: TestClient, db: Database, personas: Personas) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    created = api_ticket(client, personas.ann, **PASSWORD_TICKET, priority="urgent")
    [decision] = decisions(db, created["id"])
    assert (decision.decision, decision.rule) == ("escalate", "priority")


def test_a_retried_job_does_not_act_twice(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    created = carol_ticket(client, personas)
    args = {"workspace_id": personas.carol.workspace_id, "ticket_id": created["id"]}
    with db.session(write=False) as s:
        prepared = pipeline.prepare(s, **args, message_id=None)
    assert prepared == {"skip": "already_decided"}
    assert len(decisions(db, created["id"])) == 1


def test_an_agent_reply_keeps_the_ai_out(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **NEVER_ANSWER)
    created = carol_ticket(client, personas)
    client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "I'm on it."},
        headers=personas.ann.headers,
    )
    with db.session(write=False) as s:
        prepared = pipeline.prepare(
            s, workspace_id=personas.carol.workspace_id, ticket_id=created["id"], message_id=None
        )
    assert prepared["skip"] in ("human_owned", "already_decided")


def test_a_workspace_can_turn_the_pipeline_off(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, auto_reply_enabled=False)
    created = carol_ticket(client, personas)
    assert decisions(db, created["id"]) == []
    assert ticket_row(db, created["id"]).status == "new"


def test_another_workspace_never_gets_acme_articles(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.globex_owner, **ALWAYS_RESOLVE)
    created = api_ticket(client, personas.gina, **PASSWORD_TICKET)
    [decision] = decisions(db, created["id"])
    # Globex has no help center: nothing to cite, so no answer at all.
    assert decision.citations == []
    assert decision.decision != "resolve"


def test_a_plain_yes_reply_confirms_and_resolves(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_CONFIRM)
    created = carol_ticket(client, personas)
    client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "Yes, that worked. Thanks!"},
        headers=personas.carol.headers,
    )
    [decision] = decisions(db, created["id"])  # a yes is an outcome, not a new question
    assert decision.outcome == "confirmed"
    assert ticket_row(db, created["id"]).status == "resolved"


def test_a_plain_no_reply_hands_off(client: TestClient, db: Database, personas: Personas) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_CONFIRM)
    created = carol_ticket(client, personas)
    client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "No, it didn't work."},
        headers=personas.carol.headers,
    )
    [decision] = decisions(db, created["id"])
    assert decision.outcome == "rejected"
    with db.session(write=False) as s:
        [escalation] = s.scalars(select(Escalation).where(Escalation.ticket_id == created["id"]))
    assert escalation.reason == "low_confidence"
    assert ticket_row(db, created["id"]).status == "in_progress"


def test_a_new_question_after_an_answer_is_a_new_turn(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_CONFIRM)
    created = carol_ticket(client, personas)
    client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "Thanks. Also, where can I download my invoices as PDF?"},
        headers=personas.carol.headers,
    )
    first, second = decisions(db, created["id"])
    assert first.outcome == "rejected"
    assert second.decision == "confirm"
    assert second.citations[0]["external_id"] == "invoices"


def test_the_ai_never_takes_back_a_ticket_a_person_answered(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **NEVER_ANSWER)
    created = carol_ticket(client, personas)  # escalated
    client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "Looking into it now."},
        headers=personas.ann.headers,
    )
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "Any news about the password reset link?"},
        headers=personas.carol.headers,
    )
    assert [d.decision for d in decisions(db, created["id"])] == ["escalate"]
    assert ticket_row(db, created["id"]).status == "in_progress"


def test_an_open_escalation_keeps_the_ai_out(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **NEVER_ANSWER)
    created = carol_ticket(client, personas)
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    client.post(
        f"/api/v1/tickets/{created['id']}/messages",
        json={"body": "Here is more detail: the email never arrives."},
        headers=personas.carol.headers,
    )
    assert [d.decision for d in decisions(db, created["id"])] == ["escalate"]


def test_resolving_the_ticket_closes_its_escalation_and_labels_the_answer(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_CONFIRM)
    created = carol_ticket(client, personas)
    manual = client.post(
        f"/api/v1/tickets/{created['id']}/escalations",
        json={"note": "customer called"},
        headers=personas.ann.headers,
    )
    assert manual.status_code == 201
    [decision] = decisions(db, created["id"])
    assert decision.outcome == "escalated"
    resolved = client.patch(
        f"/api/v1/tickets/{created['id']}",
        json={"status": "resolved"},
        headers=personas.ann.headers,
    )
    assert resolved.status_code == 200, resolved.text
    with db.session(write=False) as s:
        [escalation] = s.scalars(select(Escalation).where(Escalation.ticket_id == created["id"]))
    assert escalation.status == "resolved"
    assert escalation.resolution == "answered_by_agent"
