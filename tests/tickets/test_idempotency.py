"""Idempotency-Key on ticket creation: replays return the original, keys are per workspace."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.idempotency.models import IdempotencyKey
from deskpilot.tickets.models import Ticket
from tests.factories import Persona, Personas

TICKETS = "/api/v1/tickets"
BODY = {"subject": "Printer on fire", "requester": {"email": "pat@example.com"}, "tags": ["x"]}


def create(
    client: TestClient, persona: Persona, key: str | None, body: dict[str, Any] = BODY
) -> Any:
    headers = {**persona.headers, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post(TICKETS, json=body, headers=headers)


def ticket_count(db: Database, workspace_id: int) -> int:
    with db.session(write=False) as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.workspace_id == workspace_id)
            )
            or 0
        )


def test_same_key_and_body_replays_the_original(
    client: TestClient, personas: Personas, db: Database
) -> None:
    first = create(client, personas.ann, "key-1")
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers

    replay = create(client, personas.ann, "key-1")

    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["location"] == first.headers["location"]
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["number"] == first.json()["number"] == 1
    assert ticket_count(db, personas.ann.workspace_id) == 1
    events = client.get(f"{TICKETS}/{first.json()['id']}/events", headers=personas.ann.headers)
    assert [e["kind"] for e in events.json()["items"]] == ["created"]


def test_keys_are_per_user_so_two_clients_cannot_collide(
    client: TestClient, personas: Personas, db: Database
) -> None:
    first = create(client, personas.ann, "shared")
    other = create(client, personas.bob, "shared")
    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json()["id"] != first.json()["id"]
    assert create(client, personas.bob, "shared").json()["id"] == other.json()["id"]
    assert ticket_count(db, personas.ann.workspace_id) == 2


def test_same_key_with_a_different_body_is_409(
    client: TestClient, personas: Personas, db: Database
) -> None:
    assert create(client, personas.ann, "key-2").status_code == 201
    r = create(client, personas.ann, "key-2", {**BODY, "subject": "Printer still on fire"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert r.json()["error"]["details"] == {"idempotency_key": "key-2"}
    assert ticket_count(db, personas.ann.workspace_id) == 1


def test_keys_are_per_workspace(client: TestClient, personas: Personas, db: Database) -> None:
    acme = create(client, personas.ann, "same-key")
    globex = create(client, personas.gina, "same-key")
    assert acme.status_code == globex.status_code == 201
    assert acme.json()["id"] != globex.json()["id"]
    assert globex.json()["number"] == 1
    assert ticket_count(db, personas.gina.workspace_id) == 1
    again = create(client, personas.gina, "same-key")
    assert again.json()["id"] == globex.json()["id"]


def test_requests_without_a_key_are_not_deduplicated(
    client: TestClient, personas: Personas, db: Database
) -> None:
    assert create(client, personas.ann, None).status_code == 201
    assert create(client, personas.ann, None).status_code == 201
    assert ticket_count(db, personas.ann.workspace_id) == 2
    with db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_invalid_keys_are_422(
    client: TestClient, personas: Personas, db: Database, key: str
) -> None:
    r = create(client, personas.ann, key)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    assert ticket_count(db, personas.ann.workspace_id) == 0


def test_a_failed_create_does_not_burn_the_key(
    client: TestClient, personas: Personas, db: Database
) -> None:
    bad = create(client, personas.ann, "retry-me", {**BODY, "team_id": 99_999})
    assert bad.status_code == 422
    fixed = create(client, personas.ann, "retry-me")
    assert fixed.status_code == 201
    assert fixed.json()["number"] == 1
