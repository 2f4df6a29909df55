"""Macros API: personal vs shared permissions, search, 422 for unknown variables, preview and
apply (reply, changes, usage count), all within one workspace."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import Persona, Personas, api_ticket

API = "/api/v1"


def create(client: TestClient, who: Persona, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Greeting")
    r = client.post(f"{API}/macros", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def test_personal_macros_exist_only_for_their_owner(client: TestClient, personas: Personas) -> None:
    mine = create(client, personas.ann, name="Ann's own", body="Hello")
    assert (mine["shared"], mine["owner_user_id"]) == (False, personas.ann.user_id)
    url = f"{API}/macros/{mine['id']}"
    assert client.get(url, headers=personas.ann.headers).status_code == 200
    for other in (personas.bob, personas.acme_admin, personas.acme_owner):
        assert client.get(url, headers=other.headers).status_code == 404
        assert client.patch(url, json={"name": "x"}, headers=other.headers).status_code == 404
        assert client.delete(url, headers=other.headers).status_code == 404
        listed = client.get(f"{API}/macros", headers=other.headers).json()["items"]
        assert mine["id"] not in [m["id"] for m in listed]
    r = client.patch(url, json={"name": "Renamed"}, headers=personas.ann.headers)
    assert r.json()["name"] == "Renamed"
    assert client.delete(url, headers=personas.ann.headers).status_code == 204
    assert client.get(url, headers=personas.ann.headers).status_code == 404


def test_shared_macros_are_seen_by_staff_and_changed_by_admins(
    client: TestClient, personas: Personas
) -> None:
    denied = client.post(
        f"{API}/macros", json={"name": "x", "shared": True}, headers=personas.ann.headers
    )
    assert denied.status_code == 403
    shared = create(client, personas.acme_admin, name="Team reply", shared=True)
    assert (shared["shared"], shared["owner_user_id"]) == (True, None)
    url = f"{API}/macros/{shared['id']}"
    assert client.get(url, headers=personas.bob.headers).status_code == 200
    assert client.patch(url, json={"body": "x"}, headers=personas.bob.headers).status_code == 403
    assert client.delete(url, headers=personas.bob.headers).status_code == 403
    assert (
        client.patch(url, json={"body": "y"}, headers=personas.acme_owner.headers).json()["body"]
        == "y"
    )
    # An agent cannot publish their own macro; an admin can.
    mine = create(client, personas.ann, name="Mine")
    ann_url = f"{API}/macros/{mine['id']}"
    assert (
        client.patch(ann_url, json={"shared": True}, headers=personas.ann.headers).status_code
        == 403
    )
    carol = personas.carol.headers
    assert client.get(f"{API}/macros", headers=carol).status_code == 403
    assert client.get(url, headers=carol).status_code == 403


def test_search_matches_name_or_body_case_insensitively(
    client: TestClient, personas: Personas
) -> None:
    refund = create(client, personas.ann, name="Refund issued", body="We sent the money back")
    create(client, personas.ann, name="Password reset", body="Use the REFUND_LINK? no: reset link")
    other = create(client, personas.ann, name="Shipping", body="On its way 100%_done")
    shared = create(client, personas.acme_admin, name="Refund policy", shared=True)

    def search(**params: Any) -> list[str]:
        r = client.get(f"{API}/macros", params=params, headers=personas.ann.headers)
        assert r.status_code == 200
        return [m["name"] for m in r.json()["items"]]

    assert search(q="refund") == ["Refund issued", "Password reset", "Refund policy"]
    assert search(q="MONEY") == ["Refund issued"]
    assert search(q="%_") == ["Shipping"]  # wildcards are literal
    assert search(q="refund", shared=True) == ["Refund policy"]
    assert search(q="refund", shared=False) == ["Refund issued", "Password reset"]
    first = client.get(f"{API}/macros", params={"limit": 2}, headers=personas.ann.headers).json()
    rest = client.get(
        f"{API}/macros", params={"cursor": first["next_cursor"]}, headers=personas.ann.headers
    ).json()
    ids = [m["id"] for m in first["items"] + rest["items"]]
    assert ids == sorted(ids)
    assert {refund["id"], other["id"], shared["id"]} <= set(ids)


def test_unknown_variables_and_foreign_references_are_422_at_save_time(
    client: TestClient, personas: Personas
) -> None:
    r = client.post(
        f"{API}/macros",
        json={"name": "x", "body": "Hi {{ requester.name }} {{ requester.password }} {{ 7*7 }}"},
        headers=personas.ann.headers,
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"field": "body", "message": "unknown variables: 7*7, requester.password"}
    ]
    globex_team = personas.teams["globex_support"]
    bad = client.post(
        f"{API}/macros",
        json={
            "name": "x",
            "changes": {"team_id": globex_team, "assignee_id": personas.gina.user_id},
        },
        headers=personas.ann.headers,
    )
    assert bad.status_code == 422
    assert [d["field"] for d in bad.json()["error"]["details"]] == [
        "changes.team_id",
        "changes.assignee_id",
    ]
    for changes in ({"status": "done"}, {"priority": "asap"}, {"colour": "red"}):
        assert (
            client.post(
                f"{API}/macros",
                json={"name": "x", "changes": changes},
                headers=personas.ann.headers,
            ).status_code
            == 422
        ), changes
    macro = create(client, personas.ann, body="ok")
    r = client.patch(
        f"{API}/macros/{macro['id']}",
        json={"body": "{{ agent.email }}"},
        headers=personas.ann.headers,
    )
    assert r.status_code == 422


def test_preview_renders_without_changing_anything(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(
        client,
        personas.ann,
        subject="Invoice wrong",
        requester={"email": "dave@customer.example.com", "name": "Dave"},
    )
    macro = create(
        client,
        personas.ann,
        body="Hi {{ requester.name }} ({{ requester.email }}), about #{{ ticket.number }} "
        '"{{ ticket.subject }}": {{ agent.name }} of {{ workspace.name }}{{ organization.name }}.',
        changes={"status": "waiting_customer", "add_tags": ["billing"]},
    )
    url = f"{API}/tickets/{ticket['id']}/macros/{macro['id']}/apply"
    r = client.post(url, params={"preview": "true"}, headers=personas.ann.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["preview"] is True
    assert body["rendered"] == (
        f'Hi Dave (dave@customer.example.com), about #{ticket["number"]} "Invoice wrong": Ann of Acme.'
    )
    assert body["message"] is None
    assert body["changes"] == {"status": "waiting_customer", "add_tags": ["billing"]}
    after = client.get(f"{API}/tickets/{ticket['id']}", headers=personas.ann.headers).json()
    assert (after["status"], after["tags"], after["messages"]) == ("new", [], [])
    assert (
        client.get(f"{API}/macros/{macro['id']}", headers=personas.ann.headers).json()[
            "usage_count"
        ]
        == 0
    )


def test_apply_posts_the_reply_applies_the_changes_and_counts_the_use(
    client: TestClient, personas: Personas
) -> None:
    ticket = api_ticket(client, personas.ann, tags=["vip"])
    team = personas.teams["acme_billing"]
    macro = create(
        client,
        personas.acme_admin,
        shared=True,
        body="Thanks {{ requester.name }}, {{ agent.name }} is on it.",
        visibility="internal",
        changes={
            "status": "waiting_customer",
            "priority": "high",
            "type": "billing",
            "category": "invoices",
            "team_id": team,
            "assignee_id": personas.bob.user_id,
            "add_tags": ["Billing Issue", "vip"],
        },
    )
    url = f"{API}/tickets/{ticket['id']}/macros/{macro['id']}/apply"
    r = client.post(url, headers=personas.ann.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"]["body"] == "Thanks Dave, Ann is on it."
    assert (body["message"]["visibility"], body["message"]["author_user_id"]) == (
        "internal",
        personas.ann.user_id,
    )
    t = client.get(f"{API}/tickets/{ticket['id']}", headers=personas.ann.headers).json()
    assert (
        t["status"],
        t["priority"],
        t["type"],
        t["category"],
        t["team_id"],
        t["assignee_id"],
    ) == (
        "waiting_customer",
        "high",
        "billing",
        "invoices",
        team,
        personas.bob.user_id,
    )
    assert t["tags"] == ["billing-issue", "vip"]
    assert t["first_response_at"] is None  # an internal note is not a response
    client.post(url, headers=personas.bob.headers)
    assert (
        client.get(f"{API}/macros/{macro['id']}", headers=personas.ann.headers).json()[
            "usage_count"
        ]
        == 2
    )
    events = client.get(f"{API}/tickets/{ticket['id']}/events", headers=personas.ann.headers).json()
    kinds = [e["kind"] for e in events["items"]]
    assert {
        "message_added",
        "status_changed",
        "priority_changed",
        "assigned",
        "team_changed",
        "tagged",
    } <= set(kinds)


def test_a_public_macro_reply_is_the_first_response_and_customers_cannot_apply(
    client: TestClient, personas: Personas
) -> None:
    ticket = api_ticket(client, personas.carol, subject="Help")
    macro = create(client, personas.ann, body="On it, {{ requester.name }}.")
    url = f"{API}/tickets/{ticket['id']}/macros/{macro['id']}/apply"
    assert client.post(url, headers=personas.carol.headers).status_code == 403
    r = client.post(url, headers=personas.ann.headers)
    assert r.json()["message"]["visibility"] == "public"
    t = client.get(f"{API}/tickets/{ticket['id']}", headers=personas.carol.headers).json()
    assert t["first_response_at"] is not None
    assert [m["body"] for m in t["messages"]] == ["On it, Carol."]


def test_an_illegal_status_change_applies_nothing(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann)
    client.patch(
        f"{API}/tickets/{ticket['id']}", json={"status": "resolved"}, headers=personas.ann.headers
    )
    client.patch(
        f"{API}/tickets/{ticket['id']}", json={"status": "closed"}, headers=personas.ann.headers
    )
    macro = create(
        client, personas.ann, body="Waiting for you", changes={"status": "waiting_customer"}
    )
    r = client.post(
        f"{API}/tickets/{ticket['id']}/macros/{macro['id']}/apply", headers=personas.ann.headers
    )
    assert r.status_code == 409
    t = client.get(f"{API}/tickets/{ticket['id']}", headers=personas.ann.headers).json()
    assert (t["status"], t["messages"]) == ("closed", [])
    assert (
        client.get(f"{API}/macros/{macro['id']}", headers=personas.ann.headers).json()[
            "usage_count"
        ]
        == 0
    )


def test_a_macro_with_only_changes_posts_no_reply(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann)
    macro = create(client, personas.ann, body="", changes={"priority": "urgent"})
    r = client.post(
        f"{API}/tickets/{ticket['id']}/macros/{macro['id']}/apply", headers=personas.ann.headers
    )
    assert (r.json()["message"], r.json()["ticket"]["priority"]) == (None, "urgent")


def test_macros_and_tickets_of_another_workspace_are_404(
    client: TestClient, personas: Personas
) -> None:
    acme_macro = create(client, personas.acme_admin, shared=True, name="acme-secret")
    acme_ticket = api_ticket(client, personas.ann)
    globex_ticket = api_ticket(client, personas.gina)
    globex_macro = create(client, personas.gina, body="hi")
    gina = personas.gina.headers
    assert client.get(f"{API}/macros/{acme_macro['id']}", headers=gina).status_code == 404
    assert "acme-secret" not in client.get(f"{API}/macros", headers=gina).text
    for ticket_id, macro_id in (
        (globex_ticket["id"], acme_macro["id"]),
        (acme_ticket["id"], globex_macro["id"]),
    ):
        r = client.post(f"{API}/tickets/{ticket_id}/macros/{macro_id}/apply", headers=gina)
        assert r.status_code == 404


def test_variables_are_listed_and_create_is_idempotent(
    client: TestClient, personas: Personas
) -> None:
    names = [
        v["name"]
        for v in client.get(f"{API}/macros/variables", headers=personas.ann.headers).json()
    ]
    assert "requester.name" in names
    assert "ticket.number" in names
    headers = personas.ann.headers | {"Idempotency-Key": "k1"}
    first = client.post(f"{API}/macros", json={"name": "Once"}, headers=headers)
    again = client.post(f"{API}/macros", json={"name": "Once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


def test_organization_name_comes_from_the_requesters_organization(
    client: TestClient, personas: Personas
) -> None:
    org = client.post(
        f"{API}/organizations",
        json={"name": "Initech", "domain": "initech.example.com"},
        headers=personas.ann.headers,
    )
    assert org.status_code == 201, org.text
    ticket = api_ticket(client, personas.ann, requester={"email": "peter@initech.example.com"})
    macro = create(client, personas.ann, body="{{ organization.name }} / {{ requester.name }}")
    r = client.post(
        f"{API}/tickets/{ticket['id']}/macros/{macro['id']}/apply",
        params={"preview": "true"},
        headers=personas.ann.headers,
    )
    # No name given: the requester is addressed by email.
    assert r.json()["rendered"] == "Initech / peter@initech.example.com"
