"""SLA routes: status codes, permissions, validation, foreign ids, a ticket's clocks."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.clock import FrozenClock
from tests.factories import Personas, api_ticket

API = "/api/v1"
OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def hours_body(**fields: Any) -> dict[str, Any]:
    return {"name": "Office", "timezone": "Europe/Berlin", "schedule": OFFICE, **fields}


def test_business_hours_crud_and_permissions(client: TestClient, personas: Personas) -> None:
    admin, agent = personas.acme_admin.headers, personas.ann.headers
    assert client.post(f"{API}/business-hours", json=hours_body(), headers=agent).status_code == 403
    created = client.post(
        f"{API}/business-hours",
        json=hours_body(is_default=True, holidays=["2025-12-25", "2025-12-24"]),
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["holidays"] == ["2025-12-24", "2025-12-25"]
    assert body["schedule"]["sat"] == []
    assert body["schedule"]["mon"] == [["09:00", "17:00"]]
    second = client.post(
        f"{API}/business-hours", json=hours_body(name="Night", is_default=True), headers=admin
    )
    assert second.status_code == 201
    listed = client.get(f"{API}/business-hours", headers=agent).json()["items"]
    assert [h["is_default"] for h in listed] == [False, True]
    dup = client.post(f"{API}/business-hours", json=hours_body(), headers=admin)
    assert dup.status_code == 409
    url = f"{API}/business-hours/{body['id']}"
    patched = client.patch(url, json={"timezone": "Asia/Kolkata"}, headers=admin)
    assert patched.status_code == 200
    assert patched.json()["timezone"] == "Asia/Kolkata"
    assert client.patch(url, json={"name": "x"}, headers=agent).status_code == 403
    assert client.get(url, headers=personas.carol.headers).status_code == 403
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"timezone": "Mars/Olympus"},
        {"schedule": {}},
        {"schedule": {"mon": [["17:00", "09:00"]]}},
        {"schedule": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}},
        {"schedule": {"someday": [["09:00", "12:00"]]}},
        {"holidays": ["2025-02-30"]},
    ],
)
def test_bad_business_hours_are_422(
    client: TestClient, personas: Personas, fields: dict[str, Any]
) -> None:
    r = client.post(
        f"{API}/business-hours", json=hours_body(**fields), headers=personas.acme_admin.headers
    )
    assert r.status_code == 422, r.text


def test_policy_crud_validation_and_foreign_references(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    globex_hours = client.post(
        f"{API}/business-hours", json=hours_body(), headers=personas.globex_owner.headers
    ).json()
    base = {"name": "Gold", "first_response_minutes": 30}
    bad = [
        ({"at_risk_percent": 100}, "at_risk_percent"),
        ({"first_response_minutes": 0}, "first_response_minutes"),
        ({"conditions": {"priority": ["critical"]}}, "conditions"),
        ({"conditions": {"colour": ["red"]}}, "conditions"),
        ({"breach_actions": [{"type": "call_mom"}]}, "breach_actions"),
        ({"breach_actions": [{"type": "assign_team"}]}, "breach_actions"),
        ({"breach_actions": [{"type": "notify_team"}, {"type": "notify_team"}]}, "breach_actions"),
        (
            {
                "breach_actions": [
                    {"type": "assign_team", "team_id": personas.teams["globex_support"]}
                ]
            },
            "breach_actions.0.team_id",
        ),
        ({"business_hours_id": globex_hours["id"]}, "business_hours_id"),
        ({"hours": "business"}, "business_hours_id"),  # no default calendar yet
    ]
    for fields, field in bad:
        r = client.post(f"{API}/sla-policies", json={**base, **fields}, headers=admin)
        assert r.status_code == 422, (fields, r.text)
        assert field in r.text, (fields, r.text)

    hours = client.post(f"{API}/business-hours", json=hours_body(is_default=True), headers=admin)
    created = client.post(
        f"{API}/sla-policies",
        json={
            **base,
            "hours": "business",
            "conditions": {"priority": ["urgent", "high"], "organization_tier": ["gold"]},
            "breach_actions": [
                {"type": "notify_assignee"},
                {"type": "assign_team", "team_id": personas.teams["acme_billing"]},
            ],
        },
        headers={**admin, "Idempotency-Key": "gold-1"},
    )
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["business_hours_id"] == hours.json()["id"]
    assert policy["hours"] == "business"
    replay = client.post(
        f"{API}/sla-policies",
        json={**base, "hours": "business", "conditions": policy["conditions"],
              "breach_actions": policy["breach_actions"]},
        headers={**admin, "Idempotency-Key": "gold-1"},
    )  # fmt: skip
    assert replay.status_code == 200
    assert replay.json()["id"] == policy["id"]
    url = f"{API}/sla-policies/{policy['id']}"
    assert client.get(url, headers=personas.ann.headers).status_code == 200
    assert client.patch(url, json={"name": "x"}, headers=personas.ann.headers).status_code == 403
    patched = client.patch(
        url, json={"hours": "calendar", "resolution_minutes": 600}, headers=admin
    )
    assert patched.status_code == 200
    assert (patched.json()["hours"], patched.json()["resolution_minutes"]) == ("calendar", 600)
    assert client.patch(url, json={"name": None}, headers=admin).status_code == 422
    in_use = client.patch(url, json={"business_hours_id": hours.json()["id"]}, headers=admin)
    assert in_use.status_code == 200
    blocked = client.delete(f"{API}/business-hours/{hours.json()['id']}", headers=admin)
    assert blocked.status_code == 409
    assert client.get(url, headers=personas.globex_owner.headers).status_code == 404
    assert client.delete(url, headers=admin).status_code == 204


def test_ticket_sla_shows_clocks(
    client: TestClient, personas: Personas, clock: FrozenClock
) -> None:
    admin = personas.acme_admin.headers
    r = client.post(
        f"{API}/sla-policies",
        json={"name": "Standard", "first_response_minutes": 60, "resolution_minutes": 480},
        headers=admin,
    )
    assert r.status_code == 201
    ticket = api_ticket(client, personas.ann)
    clock.advance(minutes=50)
    sla = client.get(f"{API}/tickets/{ticket['id']}/sla", headers=personas.ann.headers)
    assert sla.status_code == 200, sla.text
    body = sla.json()
    assert body["policy_name"] == "Standard"
    first, resolution = body["clocks"]
    assert (first["metric"], first["state"], first["seconds_left"]) == (
        "first_response", "at_risk", 600,
    )  # fmt: skip
    assert (resolution["metric"], resolution["state"]) == ("resolution", "ok")
    assert first["due_at"].startswith("2025-03-03T10:00:00")
    assert (
        client.get(f"{API}/tickets/{ticket['id']}/sla", headers=personas.carol.headers).status_code
        == 403
    )
    foreign = client.get(f"{API}/tickets/{ticket['id']}/sla", headers=personas.gina.headers)
    assert foreign.status_code == 404
