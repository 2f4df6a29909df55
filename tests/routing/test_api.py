"""Routing API: who may change availability, capacity, skills and strategies; queues; lists."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Personas, api_ticket

API = "/api/v1"


def status_url(user_id: int) -> str:
    return f"{API}/agents/{user_id}/status"


def test_an_agent_sets_their_own_availability_but_not_capacity_or_skills(
    client: TestClient, personas: Personas
) -> None:
    ann = personas.ann
    before = client.get(status_url(ann.user_id), headers=ann.headers)
    assert before.status_code == 200
    assert before.json() | {"updated_at": None} == {
        "user_id": ann.user_id,
        "name": "Ann",
        "email": ann.email,
        "availability": "offline",
        "capacity": 10,
        "skills": [],
        "open_tickets": 0,
        "updated_at": None,
    }
    r = client.put(status_url(ann.user_id), json={"availability": "online"}, headers=ann.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["availability"], r.json()["capacity"]) == ("online", 10)
    assert r.json()["updated_at"] is not None
    for body in ({"capacity": 50}, {"skills": ["billing"]}):
        denied = client.put(status_url(ann.user_id), json=body, headers=ann.headers)
        assert denied.status_code == 403, body
    other = client.put(
        status_url(personas.bob.user_id), json={"availability": "online"}, headers=ann.headers
    )
    assert other.status_code == 403


def test_admins_set_capacity_and_skills_for_anyone_and_limits_are_422(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    bob = personas.bob.user_id
    r = client.put(
        status_url(bob),
        json={"capacity": 3, "skills": ["Billing", " billing ", "outage"]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    # A first status leaves the agent offline: setting capacity does not put anyone to work.
    assert (r.json()["availability"], r.json()["capacity"], r.json()["skills"]) == (
        "offline",
        3,
        ["Billing", "outage"],
    )
    for body in (
        {"capacity": 501},
        {"capacity": -1},
        {"availability": "busy"},
        {"availability": None},
        {"skills": ["x"] * 51},
        {"colour": "red"},
    ):
        bad = client.put(status_url(bob), json=body, headers=admin)
        assert bad.status_code == 422, body
    assert client.get(status_url(bob), headers=admin).json()["capacity"] == 3


def test_unknown_users_and_customers_are_not_agents_and_customers_are_refused(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    assert client.get(status_url(987654), headers=admin).status_code == 404
    assert client.get(status_url(personas.carol.user_id), headers=admin).status_code == 404
    assert client.put(status_url(personas.carol.user_id), json={}, headers=admin).status_code == 404
    carol = personas.carol.headers
    assert client.get(f"{API}/agents/status", headers=carol).status_code == 403
    assert client.get(status_url(personas.ann.user_id), headers=carol).status_code == 403


def test_the_agent_list_shows_staff_with_their_load_and_filters(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    client.put(status_url(personas.ann.user_id), json={"availability": "online"}, headers=admin)
    api_ticket(client, personas.ann, assignee_id=personas.ann.user_id)
    api_ticket(client, personas.ann, assignee_id=personas.ann.user_id)
    items = client.get(f"{API}/agents/status", headers=personas.bob.headers).json()["items"]
    by_user = {i["user_id"]: i for i in items}
    expected = [personas.by_key[k].user_id for k in ("acme_owner", "acme_admin", "ann", "bob")]
    assert list(by_user) == expected  # staff only, no customer, user-id order
    assert (
        by_user[personas.ann.user_id]["open_tickets"],
        by_user[personas.bob.user_id]["open_tickets"],
    ) == (2, 0)

    online = client.get(f"{API}/agents/status", params={"availability": "online"}, headers=admin)
    assert [i["user_id"] for i in online.json()["items"]] == [personas.ann.user_id]
    offline = client.get(f"{API}/agents/status", params={"availability": "offline"}, headers=admin)
    assert personas.ann.user_id not in [i["user_id"] for i in offline.json()["items"]]
    team = personas.teams["acme_support"]
    client.put(f"{API}/teams/{team}/members/{personas.bob.user_id}", headers=admin)
    members = client.get(f"{API}/agents/status", params={"team_id": team}, headers=admin)
    assert [i["user_id"] for i in members.json()["items"]] == [personas.bob.user_id]
    page = client.get(f"{API}/agents/status", params={"limit": 3}, headers=admin).json()
    rest = client.get(
        f"{API}/agents/status", params={"cursor": page["next_cursor"]}, headers=admin
    ).json()
    assert [i["user_id"] for i in page["items"] + rest["items"]] == expected


def test_team_routing_is_read_by_staff_and_changed_by_admins(
    client: TestClient, personas: Personas
) -> None:
    team = personas.teams["acme_support"]
    url = f"{API}/teams/{team}/routing"
    r = client.get(url, headers=personas.ann.headers)
    assert r.json() == {
        "team_id": team,
        "strategy": "manual",
        "last_assigned_user_id": None,
        "updated_at": None,
    }
    assert (
        client.put(url, json={"strategy": "round_robin"}, headers=personas.ann.headers).status_code
        == 403
    )
    assert (
        client.put(
            url, json={"strategy": "fastest"}, headers=personas.acme_admin.headers
        ).status_code
        == 422
    )
    r = client.put(url, json={"strategy": "least_load"}, headers=personas.acme_admin.headers)
    assert r.status_code == 200
    assert client.get(url, headers=personas.bob.headers).json()["strategy"] == "least_load"
    assert (
        client.get(f"{API}/teams/987654/routing", headers=personas.bob.headers).status_code == 404
    )


def test_a_configured_team_drives_the_assignee_of_a_new_ticket_end_to_end(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    team = personas.teams["acme_billing"]
    client.put(f"{API}/teams/{team}/members/{personas.bob.user_id}", headers=admin)
    client.put(f"{API}/teams/{team}/routing", json={"strategy": "round_robin"}, headers=admin)
    client.put(
        status_url(personas.bob.user_id),
        json={"availability": "online"},
        headers=personas.bob.headers,
    )
    created = api_ticket(client, personas.ann, team_id=team)
    # Read it back: the create response is serialized before the commit-time hooks run.
    ticket = client.get(f"{API}/tickets/{created['id']}", headers=personas.ann.headers).json()
    assert ticket["assignee_id"] == personas.bob.user_id


def test_the_team_queue_lists_open_unassigned_tickets_oldest_first_by_pages(
    client: TestClient, personas: Personas
) -> None:
    team = personas.teams["acme_support"]
    waiting = [
        api_ticket(client, personas.ann, subject=f"q{i}", team_id=team)["id"] for i in range(3)
    ]
    api_ticket(client, personas.ann, team_id=team, assignee_id=personas.ann.user_id)
    api_ticket(client, personas.ann)  # no team
    done = api_ticket(client, personas.ann, team_id=team)["id"]
    client.patch(f"{API}/tickets/{done}", json={"status": "resolved"}, headers=personas.ann.headers)
    url = f"{API}/teams/{team}/queue"
    first = client.get(url, params={"limit": 2}, headers=personas.bob.headers).json()
    second = client.get(
        url, params={"cursor": first["next_cursor"]}, headers=personas.bob.headers
    ).json()
    assert [t["id"] for t in first["items"] + second["items"]] == waiting
    assert second["next_cursor"] is None
    assert client.get(url, headers=personas.carol.headers).status_code == 403
    assert client.get(f"{API}/teams/987654/queue", headers=personas.bob.headers).status_code == 404
