"""Automation API: permissions, validation (422 with details), 404 across workspaces, dry runs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import Personas, api_ticket

RULES = "/api/v1/automation/rules"
RUNS = "/api/v1/automation/runs"
URGENT_ON_DOWN: dict[str, Any] = {
    "name": "Down means urgent",
    "trigger": "ticket_created",
    "conditions": [{"field": "subject", "op": "contains", "value": "down"}],
    "actions": [{"type": "set_field", "field": "priority", "value": "urgent"}],
}


def create(
    client: TestClient, personas: Personas, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = client.post(RULES, json=body or URGENT_ON_DOWN, headers=personas.acme_admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_admins_write_staff_read_customers_nothing(client: TestClient, personas: Personas) -> None:
    assert client.post(RULES, json=URGENT_ON_DOWN, headers=personas.ann.headers).status_code == 403
    rule = create(client, personas)
    assert rule["position"] == 0
    assert rule["enabled"] is True
    listed = client.get(RULES, headers=personas.ann.headers)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["items"]] == [rule["id"]]
    assert client.get(f"{RULES}/{rule['id']}", headers=personas.bob.headers).status_code == 200
    for method, url in (("get", RULES), ("get", f"{RULES}/{rule['id']}"), ("get", RUNS)):
        assert client.request(method, url, headers=personas.carol.headers).status_code == 403
    patch = client.patch(
        f"{RULES}/{rule['id']}", json={"enabled": False}, headers=personas.ann.headers
    )
    assert patch.status_code == 403
    assert client.delete(f"{RULES}/{rule['id']}", headers=personas.ann.headers).status_code == 403
    assert client.post(f"{RULES}/defaults", headers=personas.ann.headers).status_code == 403
    assert client.get(RULES).status_code == 401


def test_a_rule_created_through_the_api_drives_new_tickets(
    client: TestClient, personas: Personas
) -> None:
    rule = create(client, personas)
    ticket = api_ticket(client, personas.ann, subject="Checkout down")
    shown = client.get(f"/api/v1/tickets/{ticket['id']}", headers=personas.ann.headers).json()
    assert shown["priority"] == "urgent"
    runs = client.get(RUNS, params={"ticket_id": ticket["id"]}, headers=personas.ann.headers)
    assert runs.status_code == 200
    [run] = runs.json()["items"]
    assert (run["rule_id"], run["matched"], run["error"]) == (rule["id"], True, None)


def test_validation_errors_name_the_field(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    bad_bodies = [
        {**URGENT_ON_DOWN, "conditions": [{"field": "subject", "op": "gt", "value": 1}]},
        {**URGENT_ON_DOWN, "conditions": [{"field": "subject", "op": "matches", "value": "(a+)+"}]},
        {**URGENT_ON_DOWN, "actions": []},
        {**URGENT_ON_DOWN, "actions": [{"type": "set_field", "field": "priority", "value": "p0"}]},
        {**URGENT_ON_DOWN, "actions": [{"type": "explode"}]},
        {**URGENT_ON_DOWN, "trigger": "hourly"},
        {**URGENT_ON_DOWN, "name": ""},
    ]
    for body in bad_bodies:
        response = client.post(RULES, json=body, headers=admin)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"], body
    foreign_team = personas.teams["globex_support"]
    response = client.post(
        RULES,
        json={**URGENT_ON_DOWN, "actions": [{"type": "assign_team", "team_id": foreign_team}]},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "actions.0.team_id"
    response = client.post(
        RULES,
        json={
            **URGENT_ON_DOWN,
            "actions": [{"type": "assign_agent", "user_id": personas.carol.user_id}],
        },
        headers=admin,
    )
    assert response.status_code == 422


def test_update_reorders_and_delete_removes(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    first = create(client, personas)
    second = create(client, personas, {**URGENT_ON_DOWN, "name": "Second"})
    assert second["position"] == 1
    moved = client.patch(
        f"{RULES}/{second['id']}", json={"position": 0, "name": "Now first"}, headers=admin
    )
    assert moved.status_code == 200
    assert moved.json()["name"] == "Now first"
    client.patch(f"{RULES}/{first['id']}", json={"position": 1}, headers=admin)
    order = [r["id"] for r in client.get(RULES, headers=admin).json()["items"]]
    assert order == [second["id"], first["id"]]
    assert (
        client.patch(f"{RULES}/{first['id']}", json={"enabled": None}, headers=admin).status_code
        == 422
    )
    assert client.delete(f"{RULES}/{first['id']}", headers=admin).status_code == 204
    assert client.get(f"{RULES}/{first['id']}", headers=admin).status_code == 404


def test_other_workspaces_rules_are_404(client: TestClient, personas: Personas) -> None:
    rule = create(client, personas)
    gus = personas.globex_owner.headers
    assert client.get(f"{RULES}/{rule['id']}", headers=gus).status_code == 404
    assert (
        client.patch(f"{RULES}/{rule['id']}", json={"enabled": False}, headers=gus).status_code
        == 404
    )
    assert client.delete(f"{RULES}/{rule['id']}", headers=gus).status_code == 404
    globex_ticket = api_ticket(client, personas.gina)
    tested = client.post(
        f"{RULES}/{rule['id']}/test", json={"ticket_id": globex_ticket["id"]}, headers=gus
    )
    assert tested.status_code == 404
    assert client.get(RULES, headers=gus).json()["items"] == []
    # An acme rule tested against a globex ticket: that ticket does not exist for acme.
    tested = client.post(
        f"{RULES}/{rule['id']}/test",
        json={"ticket_id": globex_ticket["id"]},
        headers=personas.acme_admin.headers,
    )
    assert tested.status_code == 422


def test_dry_run_explains_and_changes_nothing(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann, subject="Checkout down")  # before the rule exists
    rule = create(client, personas)
    response = client.post(
        f"{RULES}/{rule['id']}/test", json={"ticket_id": ticket["id"]}, headers=personas.ann.headers
    )
    assert response.status_code == 200
    result = response.json()
    assert result["matched"] is True
    assert result["conditions"][0]["result"] is True
    assert result["conditions"][0]["actual"] == "Checkout down"
    assert result["actions"] == URGENT_ON_DOWN["actions"]
    shown = client.get(f"/api/v1/tickets/{ticket['id']}", headers=personas.ann.headers).json()
    assert shown["priority"] == "normal"
    assert client.get(RUNS, headers=personas.ann.headers).json()["items"] == []


def test_defaults_are_idempotent(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    first = client.post(f"{RULES}/defaults", headers=admin)
    assert first.status_code == 200
    assert len(first.json()["created"]) == 6
    assert first.json()["existing"] == []
    assert len(first.json()["skipped_actions"]) == 2  # acme has no On-call team
    again = client.post(f"{RULES}/defaults", headers=admin).json()
    assert again["created"] == []
    assert len(again["existing"]) == 6
    assert len(client.get(RULES, headers=admin).json()["items"]) == 6


def test_runs_are_paginated_newest_first(client: TestClient, personas: Personas) -> None:
    rule = create(client, personas, {**URGENT_ON_DOWN, "conditions": []})
    ids = [api_ticket(client, personas.ann)["id"] for _ in range(3)]
    page = client.get(
        RUNS, params={"limit": 2, "rule_id": rule["id"]}, headers=personas.ann.headers
    ).json()
    assert [r["ticket_id"] for r in page["items"]] == [ids[2], ids[1]]
    rest = client.get(
        RUNS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=personas.ann.headers
    ).json()
    assert [r["ticket_id"] for r in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None
    assert (
        client.get(RUNS, params={"cursor": "garbage!"}, headers=personas.ann.headers).status_code
        == 422
    )


def test_idempotency_key_replays_the_first_rule(client: TestClient, personas: Personas) -> None:
    headers = {**personas.acme_admin.headers, "Idempotency-Key": "rule-1"}
    first = client.post(RULES, json=URGENT_ON_DOWN, headers=headers)
    second = client.post(RULES, json=URGENT_ON_DOWN, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


def test_changing_the_trigger_puts_the_rule_last_there(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    create(client, personas, {**URGENT_ON_DOWN, "trigger": "ticket_updated"})
    create(client, personas, {**URGENT_ON_DOWN, "trigger": "ticket_updated", "position": 4})
    rule = create(client, personas)
    moved = client.patch(f"{RULES}/{rule['id']}", json={"trigger": "ticket_updated"}, headers=admin)
    assert moved.status_code == 200
    assert (moved.json()["trigger"], moved.json()["position"]) == ("ticket_updated", 5)
    placed = client.patch(
        f"{RULES}/{rule['id']}", json={"trigger": "time_based", "position": 3}, headers=admin
    )
    assert placed.json()["position"] == 3


def test_move_swaps_with_the_neighbour_and_renumbers(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    first = create(client, personas)
    second = create(client, personas, {**URGENT_ON_DOWN, "name": "Second"})
    third = create(client, personas, {**URGENT_ON_DOWN, "name": "Third"})
    r = client.post(f"{RULES}/{third['id']}/move", json={"direction": "up"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["position"] == 1
    items = client.get(RULES, headers=admin).json()["items"]
    assert [(i["id"], i["position"]) for i in items] == [
        (first["id"], 0),
        (third["id"], 1),
        (second["id"], 2),
    ]
    top = client.post(f"{RULES}/{first['id']}/move", json={"direction": "up"}, headers=admin)
    assert top.json()["position"] == 0, "the first rule cannot move up"
    bad = client.post(f"{RULES}/{first['id']}/move", json={"direction": "left"}, headers=admin)
    assert bad.status_code == 422
    agent = personas.ann.headers
    forbidden = client.post(
        f"{RULES}/{first['id']}/move", json={"direction": "down"}, headers=agent
    )
    assert forbidden.status_code == 403
    other = personas.globex_owner.headers
    hidden = client.post(f"{RULES}/{first['id']}/move", json={"direction": "down"}, headers=other)
    assert hidden.status_code == 404
