"""CSAT: the requester rates a resolved or closed ticket, once per resolution, with an event."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Personas


def _carols_resolved_ticket(client: TestClient, personas: Personas) -> int:
    created = client.post(
        "/api/v1/tickets", json={"subject": "Export fails"}, headers=personas.carol.headers
    )
    assert created.status_code == 201, created.text
    ticket_id: int = created.json()["id"]
    resolved = client.patch(
        f"/api/v1/tickets/{ticket_id}", json={"status": "resolved"}, headers=personas.ann.headers
    )
    assert resolved.status_code == 200, resolved.text
    return ticket_id


def test_requester_rates_a_resolved_ticket(client: TestClient, personas: Personas) -> None:
    ticket_id = _carols_resolved_ticket(client, personas)
    r = client.post(
        f"/api/v1/tickets/{ticket_id}/satisfaction",
        json={"score": 4, "comment": "Quick and friendly"},
        headers=personas.carol.headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["csat_score"], r.json()["csat_comment"]) == (4, "Quick and friendly")
    events = client.get(f"/api/v1/tickets/{ticket_id}/events", headers=personas.ann.headers).json()
    rated = [e for e in events["items"] if e["kind"] == "csat_received"]
    assert [(e["old_value"], e["new_value"]) for e in rated] == [(None, 4)]


def test_open_tickets_cannot_be_rated(client: TestClient, personas: Personas) -> None:
    created = client.post(
        "/api/v1/tickets", json={"subject": "Still broken"}, headers=personas.carol.headers
    )
    r = client.post(
        f"/api/v1/tickets/{created.json()['id']}/satisfaction",
        json={"score": 5},
        headers=personas.carol.headers,
    )
    assert r.status_code == 409
    assert r.json()["error"]["details"]["status"] == "new"


def test_scores_outside_one_to_five_are_rejected(client: TestClient, personas: Personas) -> None:
    ticket_id = _carols_resolved_ticket(client, personas)
    for score in (0, 6):
        r = client.post(
            f"/api/v1/tickets/{ticket_id}/satisfaction",
            json={"score": score},
            headers=personas.carol.headers,
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "score"


def test_agents_cannot_rate_on_behalf_of_customers(client: TestClient, personas: Personas) -> None:
    ticket_id = _carols_resolved_ticket(client, personas)
    r = client.post(
        f"/api/v1/tickets/{ticket_id}/satisfaction", json={"score": 5}, headers=personas.ann.headers
    )
    assert r.status_code == 403
    other = client.post(
        f"/api/v1/tickets/{ticket_id}/satisfaction",
        json={"score": 5},
        headers=personas.gina.headers,
    )
    assert other.status_code == 404
