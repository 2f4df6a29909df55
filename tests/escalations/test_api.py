"""Escalation routes: status codes, roles, foreign ids, input errors and idempotent hand-offs."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.escalations.models import Escalation
from tests.factories import Persona, Personas, api_ticket

API = "/api/v1"
ESCALATIONS = f"{API}/escalations"


def escalate(
    client: TestClient,
    persona: Persona,
    ticket_id: int,
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> Any:
    headers = {**persona.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"{API}/tickets/{ticket_id}/escalations", json=body or {}, headers=headers)


def escalation_count(db: Database) -> int:
    with db.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Escalation)) or 0)


def test_manual_hand_off_round_trip(client: TestClient, personas: Personas) -> None:
    ann = personas.ann
    ticket = api_ticket(client, ann, subject="Printer on fire", description="Smoke everywhere.")
    billing = personas.teams["acme_billing"]

    r = escalate(client, ann, ticket["id"], {"team_id": billing, "note": "  Call them  "})

    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"{ESCALATIONS}/{body['id']}"
    assert "idempotent-replayed" not in r.headers
    assert (body["reason"], body["status"], body["team_id"]) == ("manual", "open", billing)
    assert (body["ai_confidence"], body["decision_id"], body["resolution"]) == (None, None, None)
    assert body["attempted"] == {"note": "Call them"}
    assert body["created_by_user_id"] == ann.user_id
    assert body["summary"].splitlines()[0] == "Printer on fire"
    after = client.get(f"{API}/tickets/{ticket['id']}", headers=ann.headers).json()
    assert (after["status"], after["team_id"]) == ("in_progress", billing)

    assert client.get(f"{ESCALATIONS}/{body['id']}", headers=ann.headers).json() == body
    listed = client.get(f"{API}/tickets/{ticket['id']}/escalations", headers=ann.headers)
    assert [e["id"] for e in listed.json()] == [body["id"]]

    resolved = client.post(
        f"{ESCALATIONS}/{body['id']}/resolve",
        json={"resolution": "answered_by_agent", "note": "done"},
        headers=personas.bob.headers,
    )
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["status"], resolved.json()["resolved_by_user_id"]) == (
        "resolved",
        personas.bob.user_id,
    )
    again = client.post(
        f"{ESCALATIONS}/{body['id']}/resolve",
        json={"resolution": "duplicate"},
        headers=ann.headers,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_escalating_an_escalated_ticket_answers_200_with_the_open_one(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = api_ticket(client, personas.ann)
    first = escalate(client, personas.ann, ticket["id"])
    second = escalate(client, personas.bob, ticket["id"], {"reason": "sentiment"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert "idempotent-replayed" not in second.headers
    assert second.headers["location"] == first.headers["location"]
    assert [h["reason"] for h in second.json()["attempted"]["history"]] == ["sentiment"]
    assert escalation_count(db) == 1


def test_idempotency_key_replays_the_first_result(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = api_ticket(client, personas.ann)
    first = escalate(client, personas.ann, ticket["id"], {"reason": "sla"}, key="k1")
    replay = escalate(client, personas.ann, ticket["id"], {"reason": "sla"}, key="k1")
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()  # unchanged: no history entry was added
    other_body = escalate(client, personas.ann, ticket["id"], {"reason": "policy"}, key="k1")
    assert other_body.status_code == 409
    other_ticket = api_ticket(client, personas.ann)
    assert (
        escalate(client, personas.ann, other_ticket["id"], {"reason": "sla"}, key="k1").status_code
        == 409
    )
    assert escalation_count(db) == 1


def test_list_filters_and_pages(client: TestClient, personas: Personas) -> None:
    ann = personas.ann.headers
    made = []
    for reason in ("manual", "sla", "sla"):
        ticket = api_ticket(client, personas.ann)
        made.append(escalate(client, personas.ann, ticket["id"], {"reason": reason}).json())
    client.post(
        f"{ESCALATIONS}/{made[0]['id']}/resolve", json={"resolution": "duplicate"}, headers=ann
    )

    sla = client.get(ESCALATIONS, params={"reason": "sla", "status": "open"}, headers=ann)
    assert [e["id"] for e in sla.json()["items"]] == [made[2]["id"], made[1]["id"]]
    resolved = client.get(ESCALATIONS, params={"status": "resolved"}, headers=ann).json()
    assert [e["id"] for e in resolved["items"]] == [made[0]["id"]]
    both = client.get(
        ESCALATIONS, params=[("reason", "manual"), ("reason", "sla")], headers=ann
    ).json()
    assert len(both["items"]) == 3

    page = client.get(ESCALATIONS, params={"limit": 2, "sort": "created_at"}, headers=ann).json()
    rest = client.get(
        ESCALATIONS,
        params={"limit": 2, "sort": "created_at", "cursor": page["next_cursor"]},
        headers=ann,
    ).json()
    assert [e["id"] for e in page["items"] + rest["items"]] == [e["id"] for e in made]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "pending"}, "status.0"),
        ({"reason": "bored"}, "reason.0"),
        ({"min_ai_confidence": "1.5"}, "min_ai_confidence"),
        ({"team_id": "0"}, "team_id"),
        ({"created_from": "2025-01-01T00:00:00"}, "created_from"),  # no offset
        ({"limit": "101"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"sort": "reason"}, "sort"),
        ({"min_ai_confidence": "0.9", "max_ai_confidence": "0.1"}, "min_ai_confidence"),
    ],
)
def test_bad_list_parameters_are_422_on_the_field(
    client: TestClient, personas: Personas, params: dict[str, str], field: str
) -> None:
    r = client.get(ESCALATIONS, params=params, headers=personas.ann.headers)
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"team_id": 987_654}, "team_id"),
        ({"team_id": 0}, "team_id"),
        ({"note": ""}, "note"),
        ({"note": "x" * 5001}, "note"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_bad_escalation_bodies_are_422_on_the_field(
    client: TestClient, personas: Personas, db: Database, body: dict[str, Any], field: str
) -> None:
    ticket = api_ticket(client, personas.ann)
    r = escalate(client, personas.ann, ticket["id"], body)
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    assert escalation_count(db) == 0


def test_bad_resolution_is_422(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann)
    escalation = escalate(client, personas.ann, ticket["id"]).json()
    for body, field in (({"resolution": "meh"}, "resolution"), ({}, "resolution")):
        r = client.post(
            f"{ESCALATIONS}/{escalation['id']}/resolve", json=body, headers=personas.ann.headers
        )
        assert r.status_code == 422
        assert [d["field"] for d in r.json()["error"]["details"]] == [field]


def test_customers_get_403_everywhere(client: TestClient, personas: Personas) -> None:
    carol = personas.carol.headers
    own = api_ticket(client, personas.carol, subject="Help")
    escalation = escalate(client, personas.ann, own["id"]).json()
    attempts = [
        client.get(ESCALATIONS, headers=carol),
        client.get(f"{ESCALATIONS}/{escalation['id']}", headers=carol),
        client.get(f"{API}/tickets/{own['id']}/escalations", headers=carol),
        client.post(f"{API}/tickets/{own['id']}/escalations", json={}, headers=carol),
        client.post(
            f"{ESCALATIONS}/{escalation['id']}/resolve",
            json={"resolution": "duplicate"},
            headers=carol,
        ),
    ]
    assert [(r.status_code, r.json()["error"]["code"]) for r in attempts] == [
        (403, "forbidden")
    ] * 5
    assert client.get(ESCALATIONS, headers={}).status_code == 401


def test_foreign_and_missing_ids_are_404(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann)
    escalation = escalate(client, personas.ann, ticket["id"]).json()
    gina = personas.gina.headers
    for escalation_id, ticket_id in ((escalation["id"], ticket["id"]), (987_654, 987_654)):
        attempts = [
            client.get(f"{ESCALATIONS}/{escalation_id}", headers=gina),
            client.post(
                f"{ESCALATIONS}/{escalation_id}/resolve",
                json={"resolution": "duplicate"},
                headers=gina,
            ),
            client.get(f"{API}/tickets/{ticket_id}/escalations", headers=gina),
            client.post(f"{API}/tickets/{ticket_id}/escalations", json={}, headers=gina),
        ]
        assert [(r.status_code, r.json()["error"]["code"]) for r in attempts] == [
            (404, "not_found")
        ] * 4
    globex_ticket = api_ticket(client, personas.gina)
    acme_team = escalate(
        client, personas.gina, globex_ticket["id"], {"team_id": personas.teams["acme_support"]}
    )
    assert acme_team.status_code == 422
    assert client.get(ESCALATIONS, headers=gina).json()["items"] == []
    mine = client.get(f"{ESCALATIONS}/{escalation['id']}", headers=personas.ann.headers).json()
    assert mine["status"] == "open"
