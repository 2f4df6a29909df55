"""Ticket create, read and update through the JSON API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deskpilot.customers.models import Contact, Organization
from deskpilot.db.engine import Database
from tests.factories import Personas, api_ticket

TICKETS = "/api/v1/tickets"


def count(db: Database, model: type[Any]) -> int:
    with db.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def add_organization(db: Database, workspace_id: int, domain: str) -> int:
    with db.session(write=True) as s:
        org = Organization(workspace_id=workspace_id, name=domain.split(".")[0], domain=domain)
        s.add(org)
        s.commit()
        return org.id


# --- create --------------------------------------------------------------------------------------


def test_create_returns_the_full_ticket(client: TestClient, personas: Personas) -> None:
    r = client.post(
        TICKETS,
        json={
            "subject": "  Export fails  ",
            "description": "CSV export times out",
            "priority": "high",
            "type": "bug",
            "category": "exports",
            "custom_fields": {"plan": "pro"},
            "requester": {"email": "Erin@Example.com", "name": "Erin"},
            "team_id": personas.teams["acme_support"],
            "assignee_id": personas.bob.user_id,
        },
        headers=personas.ann.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"{TICKETS}/{body['id']}"
    assert body["subject"] == "Export fails"
    assert (body["status"], body["priority"], body["impact"], body["channel"]) == (
        "new",
        "high",
        "single_user",
        "api",
    )
    assert (body["type"], body["category"], body["custom_fields"]) == (
        "bug",
        "exports",
        {"plan": "pro"},
    )
    assert body["requester"]["email"] == "erin@example.com"
    assert body["requester"]["name"] == "Erin"
    assert (body["team_id"], body["assignee_id"]) == (
        personas.teams["acme_support"],
        personas.bob.user_id,
    )
    assert body["ai"] is None
    assert body["messages"] == []
    assert body["reopened_count"] == 0
    assert body["first_response_at"] is body["resolved_at"] is body["closed_at"] is None


def test_requester_is_found_by_email_case_insensitively(
    client: TestClient, personas: Personas, db: Database
) -> None:
    first = api_ticket(client, personas.ann, requester={"email": "Frank@Example.com"})
    second = api_ticket(client, personas.bob, requester={"email": "frank@example.COM", "name": "F"})
    assert first["requester"]["id"] == second["requester"]["id"]
    assert second["requester"]["name"] == "F"
    with db.session(write=False) as s:
        emails = list(s.scalars(select(Contact.email).where(Contact.email.like("frank%"))))
    assert emails == ["frank@example.com"]


def test_requester_joins_the_organization_of_its_email_domain(
    client: TestClient, personas: Personas, db: Database
) -> None:
    initech = add_organization(db, personas.ann.workspace_id, "Initech.example.com")
    add_organization(db, personas.gina.workspace_id, "globex-client.example.com")

    linked = api_ticket(client, personas.ann, requester={"email": "peter@initech.example.com"})
    unlinked = api_ticket(client, personas.ann, requester={"email": "x@globex-client.example.com"})

    assert linked["organization_id"] == initech
    assert unlinked["organization_id"] is None


def test_tags_are_normalised_deduplicated_and_sorted(
    client: TestClient, personas: Personas
) -> None:
    tags = ["  Billing  Issue ", "billing issue", "VIP", "refund,urgent"]
    ticket = api_ticket(client, personas.ann, tags=tags)
    assert ticket["tags"] == ["billing-issue", "refund-urgent", "vip"], "no stored tag has a comma"
    listed = client.get(TICKETS, params={"tag": "Billing Issue"}, headers=personas.ann.headers)
    assert [t["id"] for t in listed.json()["items"]] == [ticket["id"]]


def test_ticket_numbers_are_per_workspace(client: TestClient, personas: Personas) -> None:
    acme = [api_ticket(client, personas.ann)["number"] for _ in range(3)]
    globex = [api_ticket(client, personas.gina)["number"] for _ in range(2)]
    assert acme == [1, 2, 3]
    assert globex == [1, 2]


def test_staff_must_name_a_requester(client: TestClient, personas: Personas) -> None:
    r = client.post(TICKETS, json={"subject": "No one asked"}, headers=personas.ann.headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [{"field": "requester", "message": "Field required"}]


def test_a_customer_creates_tickets_for_themselves_only(
    client: TestClient, personas: Personas
) -> None:
    r = client.post(
        TICKETS,
        json={"subject": "Help", "requester": {"email": "someone-else@example.com"}},
        headers=personas.carol.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["requester"]["id"] == personas.carol.contact_id

    routed = client.post(
        TICKETS,
        json={"subject": "Help", "team_id": personas.teams["acme_support"]},
        headers=personas.carol.headers,
    )
    assert routed.status_code == 422


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("team_id", "globex_support"),
        ("team_id", 99_999),
        ("assignee_id", "gina"),
        ("assignee_id", "carol"),
        ("parent_id", 99_999),
    ],
)
def test_create_rejects_references_outside_the_workspace(
    client: TestClient, personas: Personas, field: str, value: Any
) -> None:
    if value in personas.teams:
        value = personas.teams[value]
    elif isinstance(value, str):
        value = getattr(personas, value).user_id
    r = client.post(
        TICKETS,
        json={"subject": "x", "requester": {"email": "a@example.com"}, field: value},
        headers=personas.ann.headers,
    )
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]


# --- read ----------------------------------------------------------------------------------------


def test_get_includes_messages_in_order(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann)
    for body in ("first", "second"):
        r = client.post(
            f"{TICKETS}/{ticket['id']}/messages", json={"body": body}, headers=personas.ann.headers
        )
        assert r.status_code == 201
    got = client.get(f"{TICKETS}/{ticket['id']}", headers=personas.ann.headers).json()
    assert [m["body"] for m in got["messages"]] == ["first", "second"]
    assert got["ai"] is None


def test_customer_sees_only_their_own_tickets(client: TestClient, personas: Personas) -> None:
    mine = api_ticket(client, personas.ann, requester={"email": personas.carol.email})
    other = api_ticket(client, personas.ann, requester={"email": "dave@example.com"})
    carol = personas.carol.headers
    assert client.get(f"{TICKETS}/{mine['id']}", headers=carol).status_code == 200
    assert client.get(f"{TICKETS}/{other['id']}", headers=carol).status_code == 404
    listed = client.get(TICKETS, headers=carol).json()["items"]
    assert [t["id"] for t in listed] == [mine["id"]]
    assert client.get(f"{TICKETS}/{mine['id']}/events", headers=carol).status_code == 403


# --- update --------------------------------------------------------------------------------------


def test_patch_accepts_every_documented_field(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann, custom_fields={"plan": "pro", "seats": 3})
    r = client.patch(
        f"{TICKETS}/{ticket['id']}",
        json={
            "status": "in_progress",
            "priority": "urgent",
            "assignee_id": personas.bob.user_id,
            "team_id": personas.teams["acme_billing"],
            "tags": ["Refund", "vip"],
            "type": "billing",
            "category": "refunds",
            "custom_fields": {"seats": None, "region": "eu"},
        },
        headers=personas.ann.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    expected = {
        "status": "in_progress",
        "priority": "urgent",
        "assignee_id": personas.bob.user_id,
        "team_id": personas.teams["acme_billing"],
        "type": "billing",
        "category": "refunds",
        "custom_fields": {"plan": "pro", "region": "eu"},
    }
    assert {k: body[k] for k in expected} == expected
    assert sorted(body["tags"]) == ["refund", "vip"]
    again = client.get(f"{TICKETS}/{ticket['id']}", headers=personas.ann.headers).json()
    assert {k: again[k] for k in expected} == expected


def test_patch_can_unassign(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann, assignee_id=personas.ann.user_id)
    r = client.patch(
        f"{TICKETS}/{ticket['id']}", json={"assignee_id": None}, headers=personas.ann.headers
    )
    assert r.json()["assignee_id"] is None
    events = client.get(f"{TICKETS}/{ticket['id']}/events", headers=personas.ann.headers).json()
    last = events["items"][-1]
    assert (last["kind"], last["old_value"], last["new_value"]) == (
        "assigned",
        personas.ann.user_id,
        None,
    )


def test_patch_response_lists_tags_sorted_like_get(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann, tags=["b"])
    patched = client.patch(
        f"{TICKETS}/{ticket['id']}", json={"tags": ["a", "b"]}, headers=personas.ann.headers
    ).json()
    fetched = client.get(f"{TICKETS}/{ticket['id']}", headers=personas.ann.headers).json()
    assert fetched["tags"] == ["a", "b"]
    assert patched["tags"] == fetched["tags"]


@pytest.mark.parametrize("who", ["gina", "carol", "nobody"])
def test_patch_rejects_an_assignee_who_is_not_an_agent_here(
    client: TestClient, personas: Personas, who: str
) -> None:
    ticket = api_ticket(client, personas.ann)
    user_id = 99_999 if who == "nobody" else getattr(personas, who).user_id
    r = client.patch(
        f"{TICKETS}/{ticket['id']}", json={"assignee_id": user_id}, headers=personas.ann.headers
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "assignee_id"
    unchanged = client.get(f"{TICKETS}/{ticket['id']}", headers=personas.ann.headers).json()
    assert unchanged["assignee_id"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"number": 7}, "number"),
        ({"requester_id": 1}, "requester_id"),
        ({"priority": "whenever"}, "priority"),
        ({"status": "done"}, "status"),
        ({"priority": None}, "priority"),
        ({"subject": None}, "subject"),
        ({"subject": ""}, "subject"),
        ({"tags": ["x"] * 21}, "tags"),
        ({"team_id": "not-a-number"}, "team_id"),
    ],
)
def test_patch_rejects_unknown_fields_and_bad_values(
    client: TestClient, personas: Personas, payload: dict[str, Any], field: str
) -> None:
    ticket = api_ticket(client, personas.ann)
    r = client.patch(f"{TICKETS}/{ticket['id']}", json=payload, headers=personas.ann.headers)
    assert r.status_code == 422, r.text
    assert field in [d["field"] for d in r.json()["error"]["details"]]


def test_customers_cannot_patch_even_their_own_ticket(
    client: TestClient, personas: Personas
) -> None:
    ticket = api_ticket(client, personas.ann, requester={"email": personas.carol.email})
    r = client.patch(
        f"{TICKETS}/{ticket['id']}", json={"priority": "urgent"}, headers=personas.carol.headers
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    fetched = client.get(f"{TICKETS}/{ticket['id']}", headers=personas.ann.headers).json()
    assert fetched["priority"] == "normal"
