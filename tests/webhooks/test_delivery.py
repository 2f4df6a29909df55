"""Deliveries to a real loopback receiver: signatures, event mapping and filtering, retries with
backoff, giving up, disabling failing endpoints, redelivery, and workspace isolation."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from tests.clock import FrozenClock
from tests.factories import Personas, api_ticket
from tests.webhooks.conftest import (
    API,
    Receiver,
    create_endpoint,
    deliveries,
    run_due_jobs,
)

from deskpilot.webhooks import tasks


def test_ticket_events_arrive_signed_and_internal_notes_never_leave(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    admin = personas.acme_admin
    endpoint = create_endpoint(
        client, admin, receiver.url, ["ticket.created", "message.created", "ticket.updated"]
    )
    ticket = api_ticket(client, personas.ann)
    for body, visibility in (("Public answer", "public"), ("Secret note", "internal")):
        r = client.post(
            f"/api/v1/tickets/{ticket['id']}/messages",
            json={"body": body, "visibility": visibility},
            headers=personas.ann.headers,
        )
        assert r.status_code == 201

    assert receiver.events() == ["ticket.created", "message.created"]
    receiver.assert_signed(endpoint["secret"])
    created, message = (r.payload for r in receiver.received)
    assert created["event"] == "ticket.created"
    assert created["data"]["ticket"]["id"] == ticket["id"]
    assert created["data"]["ticket"]["number"] == ticket["number"]
    assert message["data"]["message"]["body"] == "Public answer"
    assert all(b"Secret note" not in r.body for r in receiver.received)
    for request in receiver.received:
        assert request.headers["Deskpilot-Delivery"] == request.payload["id"]
        assert request.headers["Content-Type"] == "application/json"

    log = deliveries(client, admin, endpoint["id"])
    assert [(d["event"], d["status"], d["attempts"], d["response_status"]) for d in log] == [
        ("ticket.created", "delivered", 1, 200),
        ("message.created", "delivered", 1, 200),
    ]
    assert all(d["latency_ms"] is not None and d["latency_ms"] >= 0 for d in log)
    assert all(d["delivered_at"] is not None for d in log)


def test_one_ticket_updated_per_change_and_resolution_has_its_own_event(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    create_endpoint(client, personas.acme_admin, receiver.url, ["*"])
    ticket = api_ticket(client, personas.ann)
    r = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"priority": "high", "category": "billing"},
        headers=personas.ann.headers,
    )
    assert r.status_code == 200
    updated = [r.payload for r in receiver.received if r.event == "ticket.updated"]
    assert len(updated) == 1
    fields = {change["field"] for change in updated[0]["data"]["changes"]}
    assert {"priority", "category"} <= fields
    assert updated[0]["data"]["ticket"]["priority"] == "high"

    receiver.received.clear()
    r = client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=personas.ann.headers
    )
    assert r.status_code == 200
    assert "ticket.resolved" in receiver.events()
    resolved = next(r.payload for r in receiver.received if r.event == "ticket.resolved")
    assert resolved["data"]["ticket"]["status"] == "resolved"


def test_endpoints_get_only_their_events_and_never_another_workspaces(
    client: TestClient,
    personas: Personas,
    receiver: Receiver,
    other_receiver: Receiver,
    clock: FrozenClock,
) -> None:
    create_endpoint(client, personas.acme_admin, receiver.url, ["ticket.resolved"])
    create_endpoint(client, personas.globex_owner, other_receiver.url, ["*"])
    disabled = create_endpoint(
        client, personas.acme_admin, other_receiver.url, ["*"], enabled=False
    )
    assert disabled["disabled_reason"] == "Disabled by an admin"

    ticket = api_ticket(client, personas.ann)
    client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=personas.ann.headers
    )
    assert receiver.events() == ["ticket.resolved"]
    assert other_receiver.received == []  # neither globex's endpoint nor acme's disabled one

    api_ticket(client, personas.gina)
    assert other_receiver.events() == ["ticket.created"]
    assert other_receiver.received[0].payload["workspace_id"] != ticket.get("workspace_id", -1)
    assert receiver.events() == ["ticket.resolved"]


def test_failed_attempts_are_retried_with_backoff_under_the_same_event_id(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    admin = personas.acme_admin
    endpoint = create_endpoint(client, admin, receiver.url, ["ticket.created"])
    receiver.statuses.extend([500, 503])
    api_ticket(client, personas.ann)

    (first,) = deliveries(client, admin, endpoint["id"])
    assert (first["status"], first["attempts"], first["response_status"]) == ("pending", 1, 500)
    assert first["error"] == "HTTP 500"
    assert datetime.fromisoformat(first["next_attempt_at"]) - clock.now == tasks.retry_delay(1)
    assert (
        client.get(f"{API}/endpoints/{endpoint['id']}", headers=admin.headers).json()[
            "consecutive_failures"
        ]
        == 1
    )

    clock.advance(seconds=10)  # not due yet: nothing is sent
    run_due_jobs()
    assert len(receiver.received) == 1

    clock.advance(seconds=21)
    run_due_jobs()
    (second,) = deliveries(client, admin, endpoint["id"])
    assert (second["status"], second["attempts"], second["response_status"]) == ("pending", 2, 503)
    # Exponential: the second wait is twice the first.
    assert datetime.fromisoformat(second["next_attempt_at"]) - clock.now == tasks.retry_delay(2)
    assert tasks.retry_delay(2) == 2 * tasks.retry_delay(1)

    clock.advance(seconds=tasks.retry_delay(2).total_seconds() + 1)
    run_due_jobs()
    (third,) = deliveries(client, admin, endpoint["id"])
    assert (third["status"], third["attempts"], third["response_status"]) == ("delivered", 3, 200)
    assert third["error"] is None
    assert third["next_attempt_at"] is None
    assert len(receiver.received) == 3
    assert len({r.headers["Deskpilot-Delivery"] for r in receiver.received}) == 1
    receiver.assert_signed(endpoint["secret"])
    assert (
        client.get(f"{API}/endpoints/{endpoint['id']}", headers=admin.headers).json()[
            "consecutive_failures"
        ]
        == 0
    )


def _retry_until_settled(clock: FrozenClock) -> None:
    for attempts in range(1, tasks.MAX_ATTEMPTS + 1):
        clock.advance(seconds=tasks.retry_delay(attempts).total_seconds() + 1)
        run_due_jobs()


def test_a_delivery_gives_up_after_max_attempts(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    admin = personas.acme_admin
    endpoint = create_endpoint(client, admin, receiver.url, ["ticket.created"])
    receiver.always = 500
    api_ticket(client, personas.ann)
    _retry_until_settled(clock)
    (delivery,) = deliveries(client, admin, endpoint["id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", tasks.MAX_ATTEMPTS)
    assert delivery["next_attempt_at"] is None
    assert len(receiver.received) == tasks.MAX_ATTEMPTS
    state = client.get(f"{API}/endpoints/{endpoint['id']}", headers=admin.headers).json()
    assert state["enabled"] is True  # 8 failures are fewer than the disabling threshold
    assert state["consecutive_failures"] == tasks.MAX_ATTEMPTS


def test_an_endpoint_that_keeps_failing_is_disabled_then_enabled_and_redelivered(
    client: TestClient,
    personas: Personas,
    receiver: Receiver,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "DISABLE_AFTER_FAILURES", 3)
    admin = personas.acme_admin
    endpoint = create_endpoint(client, admin, receiver.url, ["ticket.created"])
    url = f"{API}/endpoints/{endpoint['id']}"
    receiver.always = 500
    api_ticket(client, personas.ann)
    _retry_until_settled(clock)

    state = client.get(url, headers=admin.headers).json()
    assert state["enabled"] is False
    assert state["disabled_at"] is not None
    assert "3 failed attempts in a row" in state["disabled_reason"]
    (failed,) = deliveries(client, admin, endpoint["id"])
    assert (failed["status"], failed["attempts"]) == ("failed", 3)
    assert len(receiver.received) == 3

    # While disabled, nothing is queued for it, and redelivery is refused.
    api_ticket(client, personas.ann)
    assert len(deliveries(client, admin, endpoint["id"])) == 1
    redeliver = f"{API}/deliveries/{failed['id']}/redeliver"
    assert client.post(redeliver, headers=admin.headers).status_code == 409

    receiver.always = None
    enabled = client.post(f"{url}/enable", headers=admin.headers).json()
    assert (enabled["enabled"], enabled["consecutive_failures"]) == (True, 0)
    assert enabled["disabled_reason"] is None
    r = client.post(redeliver, headers=admin.headers)
    assert r.status_code == 202
    again = r.json()
    assert again["id"] != failed["id"]
    assert again["event_id"] == failed["event_id"]
    log = {d["id"]: d for d in deliveries(client, admin, endpoint["id"])}
    assert log[again["id"]]["status"] == "delivered"
    assert log[failed["id"]]["status"] == "failed"  # the original keeps its history
    assert receiver.received[-1].headers["Deskpilot-Delivery"] == failed["event_id"]
    receiver.assert_signed(endpoint["secret"])
