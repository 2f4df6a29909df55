"""User (member) routes: permissions per role, shapes, owner protection, /users/me, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import PASSWORD, Personas

USERS = "/api/v1/users"
MEMBER_FIELDS = {
    "user_id",
    "email",
    "name",
    "role",
    "is_active",
    "contact_id",
    "team_ids",
    "created_at",
}


def login(client: TestClient, workspace: str, email: str, password: str) -> int:
    return client.post(
        "/api/v1/auth/login", json={"workspace": workspace, "email": email, "password": password}
    ).status_code


def test_staff_list_and_read_members(client: TestClient, personas: Personas) -> None:
    support = personas.teams["acme_support"]
    r = client.put(
        f"/api/v1/teams/{support}/members/{personas.bob.user_id}",
        headers=personas.acme_admin.headers,
    )
    assert r.status_code == 200
    r = client.get(USERS, params={"role": "agent"}, headers=personas.ann.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [m["email"] for m in items] == ["ann@acme.example.com", "bob@acme.example.com"]
    assert set(items[0]) == MEMBER_FIELDS
    assert (items[1]["team_ids"], items[0]["team_ids"]) == ([support], [])
    r = client.get(f"{USERS}/{personas.carol.user_id}", headers=personas.ann.headers)
    assert (r.json()["role"], r.json()["contact_id"]) == ("customer", personas.carol.contact_id)
    assert (
        client.get(USERS, params={"role": "boss"}, headers=personas.ann.headers).status_code == 422
    )


def test_member_paging(client: TestClient, personas: Personas) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(USERS, params=params, headers=personas.ann.headers).json()
        seen += [m["user_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    acme = ["acme_owner", "acme_admin", "ann", "bob", "carol"]
    assert seen == sorted(personas.by_key[k].user_id for k in acme)


def test_admin_adds_a_member_idempotently(client: TestClient, personas: Personas) -> None:
    headers = {**personas.acme_admin.headers, "Idempotency-Key": "user-1"}
    body = {
        "email": "dana@acme.example.com",
        "name": "Dana",
        "role": "agent",
        "password": "s3cret-pw",
    }
    first = client.post(USERS, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert set(first.json()) == MEMBER_FIELDS
    assert first.headers["Location"] == f"{USERS}/{first.json()['user_id']}"
    again = client.post(USERS, json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["user_id"] == first.json()["user_id"]
    emails = [m["email"] for m in client.get(USERS, headers=headers).json()["items"]]
    assert emails.count("dana@acme.example.com") == 1
    assert login(client, "acme", "dana@acme.example.com", "s3cret-pw") == 200
    dup = client.post(USERS, json=body, headers=personas.acme_admin.headers)
    assert dup.status_code == 409


def test_member_body_errors(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    r = client.post(USERS, json={"email": "bad", "name": "X", "role": "agent"}, headers=admin)
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == ["email"]
    r = client.post(
        USERS, json={"email": "x@example.com", "name": "x" * 201, "role": "agent"}, headers=admin
    )
    assert [d["field"] for d in r.json()["error"]["details"]] == ["name"]


def test_admin_cannot_change_an_identity(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    r = client.patch(
        f"{USERS}/{personas.ann.user_id}", json={"password": "taken-over!"}, headers=admin
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "password"
    r = client.patch(f"{USERS}/{personas.ann.user_id}", json={"name": "Renamed"}, headers=admin)
    assert r.status_code == 422
    # Adding someone who already has an account elsewhere ignores the password sent.
    body = {
        "email": "gina@globex.example.com",
        "name": "Not Gina",
        "role": "agent",
        "password": "taken-over!",
    }
    r = client.post(USERS, json=body, headers=admin)
    assert r.status_code == 201
    assert r.json()["name"] == "Gina"
    assert login(client, "acme", "gina@globex.example.com", "taken-over!") == 401
    assert login(client, "globex", "gina@globex.example.com", PASSWORD) == 200


def test_admin_changes_role_and_deactivates(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    url = f"{USERS}/{personas.bob.user_id}"
    r = client.patch(url, json={"role": "admin"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["is_active"]) == ("admin", True)
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).json()["is_active"] is False
    assert client.get(f"{USERS}/me", headers=personas.bob.headers).status_code == 401
    r = client.patch(url, json={"is_active": True}, headers=admin)
    assert r.json()["is_active"] is True
    assert client.get(f"{USERS}/me", headers=personas.bob.headers).status_code == 200


def test_owner_access_rules(client: TestClient, personas: Personas) -> None:
    owner_url = f"{USERS}/{personas.acme_owner.user_id}"
    admin = personas.acme_admin.headers
    assert client.patch(owner_url, json={"role": "agent"}, headers=admin).status_code == 403
    assert client.delete(owner_url, headers=admin).status_code == 403
    bob_url = f"{USERS}/{personas.bob.user_id}"
    assert client.patch(bob_url, json={"role": "owner"}, headers=admin).status_code == 403

    owner = personas.acme_owner.headers
    r = client.patch(owner_url, json={"role": "admin"}, headers=owner)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert client.delete(owner_url, headers=owner).status_code == 409
    assert client.patch(bob_url, json={"role": "owner"}, headers=owner).status_code == 200
    assert client.patch(owner_url, json={"role": "admin"}, headers=owner).status_code == 200


@pytest.mark.parametrize("who", ["ann", "carol"])
def test_agents_and_customers_cannot_manage_members(
    client: TestClient, personas: Personas, who: str
) -> None:
    headers = personas.by_key[who].headers
    target = f"{USERS}/{personas.bob.user_id}"
    body = {"email": "x@example.com", "name": "X", "role": "agent"}
    assert client.post(USERS, json=body, headers=headers).status_code == 403
    assert client.patch(target, json={"role": "admin"}, headers=headers).status_code == 403
    assert client.delete(target, headers=headers).status_code == 403
    expected_read = 200 if who == "ann" else 403
    assert client.get(USERS, headers=headers).status_code == expected_read
    assert client.get(target, headers=headers).status_code == expected_read


def test_me_for_every_role(client: TestClient, personas: Personas) -> None:
    for key in ("acme_owner", "ann", "carol", "gina"):
        persona = personas.by_key[key]
        r = client.get(f"{USERS}/me", headers=persona.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["user_id"], r.json()["role"]) == (persona.user_id, persona.role.value)
    assert client.get(f"{USERS}/me").status_code == 401


def test_me_updates_name_and_password(client: TestClient, personas: Personas) -> None:
    carol = personas.carol.headers
    r = client.patch(f"{USERS}/me", json={"name": "Carol C."}, headers=carol)
    assert r.status_code == 200
    assert r.json()["name"] == "Carol C."
    r = client.patch(
        f"{USERS}/me",
        json={"password": "new password!", "current_password": "wrong"},
        headers=carol,
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "current_password"
    r = client.patch(
        f"{USERS}/me",
        json={"password": "new password!", "current_password": PASSWORD},
        headers=carol,
    )
    assert r.status_code == 200
    assert login(client, "acme", "carol@customer.example.com", "new password!") == 200
    r = client.patch(f"{USERS}/me", json={"role": "owner"}, headers=carol)
    assert r.status_code == 422  # nobody changes their own role here


def test_globex_cannot_reach_acme_members(client: TestClient, personas: Personas) -> None:
    gus = personas.globex_owner.headers
    url = f"{USERS}/{personas.ann.user_id}"
    assert client.get(url, headers=gus).status_code == 404
    assert client.patch(url, json={"role": "admin"}, headers=gus).status_code == 404
    assert client.delete(url, headers=gus).status_code == 404
    emails = {m["email"] for m in client.get(USERS, headers=gus).json()["items"]}
    assert emails == {"gus@globex.example.com", "gina@globex.example.com"}
    assert client.get(url, headers=personas.ann.headers).json()["is_active"] is True


def test_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        "/api/v1/users": {"get", "post"},
        "/api/v1/users/me": {"get", "patch"},
        "/api/v1/users/{user_id}": {"get", "patch", "delete"},
        "/api/v1/teams": {"get", "post"},
        "/api/v1/teams/{team_id}": {"get", "patch", "delete"},
        "/api/v1/teams/{team_id}/members/{user_id}": {"put", "delete"},
        "/api/v1/organizations": {"get", "post"},
        "/api/v1/organizations/{organization_id}": {"get", "patch", "delete"},
        "/api/v1/contacts": {"get", "post"},
        "/api/v1/contacts/{contact_id}": {"get", "patch", "delete"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    listed = paths["/api/v1/users"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("/MemberList")


@pytest.mark.parametrize("url", [f"{USERS}/{10**30}", f"{USERS}?cursor=WzEuNV0"])  # [1.5]
def test_malformed_ids_are_422_not_500(client: TestClient, personas: Personas, url: str) -> None:
    assert client.get(url, headers=personas.ann.headers).status_code == 422
