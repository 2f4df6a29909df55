"""Team routes: staff read, admins write, member management, tenancy, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Personas

TEAMS = "/api/v1/teams"


def test_admin_manages_a_team(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    r = client.post(TEAMS, json={"name": "Escalations", "description": "L2"}, headers=admin)
    assert r.status_code == 201, r.text
    team = r.json()
    assert set(team) == {"id", "name", "description", "member_ids", "created_at", "updated_at"}
    assert team["member_ids"] == []
    assert r.headers["Location"] == f"{TEAMS}/{team['id']}"
    url = f"{TEAMS}/{team['id']}"

    r = client.put(f"{url}/members/{personas.ann.user_id}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["member_ids"] == [personas.ann.user_id]
    r = client.put(f"{url}/members/{personas.ann.user_id}", headers=admin)  # idempotent
    assert r.json()["member_ids"] == [personas.ann.user_id]

    r = client.patch(url, json={"description": "Level two"}, headers=admin)
    assert (r.json()["name"], r.json()["description"]) == ("Escalations", "Level two")
    assert r.json()["member_ids"] == [personas.ann.user_id]

    r = client.delete(f"{url}/members/{personas.ann.user_id}", headers=admin)
    assert r.status_code == 204
    assert client.get(url, headers=admin).json()["member_ids"] == []

    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404


def test_team_errors(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    r = client.post(TEAMS, json={"name": "SUPPORT"}, headers=admin)
    assert r.status_code == 409
    assert r.json()["error"]["details"][0]["field"] == "name"
    r = client.post(TEAMS, json={"name": "x" * 121}, headers=admin)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "name"
    support = personas.teams["acme_support"]
    r = client.put(f"{TEAMS}/{support}/members/{personas.carol.user_id}", headers=admin)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "user_id"
    r = client.put(f"{TEAMS}/{support}/members/{personas.gina.user_id}", headers=admin)
    assert r.status_code == 422


def test_agents_read_teams_but_cannot_change_them(client: TestClient, personas: Personas) -> None:
    ann = personas.ann.headers
    support = personas.teams["acme_support"]
    listed = client.get(TEAMS, headers=ann)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["items"]] == ["Support", "Billing"]
    assert client.get(f"{TEAMS}/{support}", headers=ann).status_code == 200
    forbidden = [
        client.post(TEAMS, json={"name": "Mine"}, headers=ann),
        client.patch(f"{TEAMS}/{support}", json={"name": "Mine"}, headers=ann),
        client.delete(f"{TEAMS}/{support}", headers=ann),
        client.put(f"{TEAMS}/{support}/members/{personas.ann.user_id}", headers=ann),
        client.delete(f"{TEAMS}/{support}/members/{personas.ann.user_id}", headers=ann),
    ]
    assert [r.status_code for r in forbidden] == [403] * 5
    assert client.get(f"{TEAMS}/{support}", headers=ann).json()["name"] == "Support"


@pytest.mark.parametrize(("method", "path"), [("GET", ""), ("GET", "/{id}"), ("POST", "")])
def test_customers_cannot_see_teams(
    client: TestClient, personas: Personas, method: str, path: str
) -> None:
    url = TEAMS + path.format(id=personas.teams["acme_support"])
    kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "POST" else {}
    assert client.request(method, url, headers=personas.carol.headers, **kwargs).status_code == 403


def test_team_paging_and_idempotency(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    keyed = {**admin, "Idempotency-Key": "team-1"}
    first = client.post(TEAMS, json={"name": "Nights"}, headers=keyed)
    again = client.post(TEAMS, json={"name": "Nights"}, headers=keyed)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get(TEAMS, params=params, headers=admin).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [personas.teams["acme_support"], personas.teams["acme_billing"], first.json()["id"]]
    assert seen == sorted(expected)


def test_globex_cannot_reach_acme_teams(client: TestClient, personas: Personas) -> None:
    gus = personas.globex_owner.headers
    acme_team = personas.teams["acme_support"]
    url = f"{TEAMS}/{acme_team}"
    assert client.get(url, headers=gus).status_code == 404
    assert client.patch(url, json={"name": "Mine"}, headers=gus).status_code == 404
    assert client.delete(url, headers=gus).status_code == 404
    assert client.put(f"{url}/members/{personas.gina.user_id}", headers=gus).status_code == 404
    assert client.delete(f"{url}/members/{personas.ann.user_id}", headers=gus).status_code == 404
    listed = client.get(TEAMS, headers=gus).json()["items"]
    assert [t["id"] for t in listed] == [personas.teams["globex_support"]]
    assert client.get(url, headers=personas.acme_admin.headers).json()["name"] == "Support"


@pytest.mark.parametrize(
    "url",
    [
        f"{TEAMS}/{10**30}",
        f"{TEAMS}/1/members/{10**30}",
        f"{TEAMS}/0",
        f"{TEAMS}?cursor=WzkyMjMzNzIwMzY4NTQ3NzU4MDhd",  # [2**63]
    ],
)
def test_out_of_range_ids_are_422_not_500(client: TestClient, personas: Personas, url: str) -> None:
    method = "PUT" if "/members/" in url else "GET"
    r = client.request(method, url, headers=personas.acme_admin.headers)
    assert r.status_code == 422, r.text
