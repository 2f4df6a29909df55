from fastapi.testclient import TestClient

from tests.factories import Personas


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json() == {"status": "ok", "database": "ok"}


def test_create_and_read_ticket(client: TestClient, personas: Personas) -> None:
    r = client.post(
        "/api/v1/tickets",
        json={"subject": "Printer on fire", "requester": {"email": "x@y.example.com"}},
        headers=personas.ann.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["number"] == 1
    assert body["status"] == "new"
    assert body["ai"] is None
    r2 = client.get(f"/api/v1/tickets/{body['id']}", headers=personas.gina.headers)
    assert r2.status_code == 404
