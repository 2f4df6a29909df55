"""Organization and contact routes: status codes, permissions, error shapes, tenancy, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Persona, Personas

ORGS = "/api/v1/organizations"
CONTACTS = "/api/v1/contacts"


def create(client: TestClient, who: Persona, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(url, json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def error_fields(body: dict[str, Any]) -> list[str]:
    return [d["field"] for d in body["error"]["details"]]


def walk(client: TestClient, who: Persona, url: str, limit: int) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = client.get(url, params=params, headers=who.headers)
        assert r.status_code == 200, r.text
        seen += [row["id"] for row in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seen


def test_organization_crud(client: TestClient, personas: Personas) -> None:
    ann = personas.ann
    r = client.post(
        ORGS,
        json={"name": "Initech", "domain": "Initech.Example.com", "mrr": "99.90", "tier": "gold"},
        headers=ann.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["Location"] == f"{ORGS}/{body['id']}"
    assert body["domain"] == "initech.example.com"
    assert body["mrr"] == "99.90"
    assert set(body) == {
        "id",
        "name",
        "external_id",
        "crm_id",
        "domain",
        "tier",
        "mrr",
        "created_at",
        "updated_at",
    }
    url = f"{ORGS}/{body['id']}"
    assert client.get(url, headers=ann.headers).json()["name"] == "Initech"

    r = client.patch(url, json={"tier": None}, headers=ann.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["tier"], r.json()["name"], r.json()["mrr"]) == (None, "Initech", "99.90")

    r = client.patch(url, json={"name": None}, headers=ann.headers)
    assert r.status_code == 422
    assert error_fields(r.json()) == ["name"]

    r = client.delete(url, headers=ann.headers)
    assert r.status_code == 204
    assert r.content == b""
    assert client.get(url, headers=ann.headers).status_code == 404
    assert client.delete(url, headers=ann.headers).status_code == 404


def test_organization_validation_errors_name_the_field(
    client: TestClient, personas: Personas
) -> None:
    r = client.post(ORGS, json={"name": "x" * 201}, headers=personas.ann.headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert error_fields(r.json()) == ["name"]
    r = client.post(ORGS, json={"name": "x", "domain": "nope"}, headers=personas.ann.headers)
    assert error_fields(r.json()) == ["domain"]
    r = client.post(ORGS, json={"name": "x", "mrr": -5}, headers=personas.ann.headers)
    assert error_fields(r.json()) == ["mrr"]


def test_duplicate_domain_is_409(client: TestClient, personas: Personas) -> None:
    create(client, personas.ann, ORGS, {"name": "A", "domain": "a.example.com"})
    r = client.post(
        ORGS, json={"name": "B", "domain": "A.example.com"}, headers=personas.ann.headers
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"


def test_organization_idempotency_key_replays(client: TestClient, personas: Personas) -> None:
    headers = {**personas.ann.headers, "Idempotency-Key": "org-1"}
    first = client.post(ORGS, json={"name": "Initech"}, headers=headers)
    again = client.post(ORGS, json={"name": "Initech"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = client.get(ORGS, headers=personas.ann.headers).json()["items"]
    assert [o["id"] for o in listed] == [first.json()["id"]]
    changed = client.post(ORGS, json={"name": "Other"}, headers=headers)
    assert changed.status_code == 409


def test_organization_list_search_and_paging(client: TestClient, personas: Personas) -> None:
    ids = [create(client, personas.ann, ORGS, {"name": f"Org {i}"})["id"] for i in range(5)]
    wanted = create(client, personas.ann, ORGS, {"name": "Zeta", "domain": "zeta.example.com"})
    assert walk(client, personas.ann, ORGS, limit=2) == sorted([*ids, wanted["id"]])
    r = client.get(ORGS, params={"q": "zeta.EXAMPLE"}, headers=personas.ann.headers)
    assert [o["id"] for o in r.json()["items"]] == [wanted["id"]]
    assert r.json()["next_cursor"] is None
    too_many = client.get(ORGS, params={"limit": 101}, headers=personas.ann.headers)
    assert too_many.status_code == 422
    assert error_fields(too_many.json()) == ["limit"]
    bad_cursor = client.get(ORGS, params={"cursor": "garbage"}, headers=personas.ann.headers)
    assert bad_cursor.status_code == 422


def test_contact_crud_and_domain_join(client: TestClient, personas: Personas) -> None:
    ann = personas.ann
    initech = create(client, ann, ORGS, {"name": "Initech", "domain": "initech.example.com"})
    r = client.post(
        CONTACTS, json={"email": "Pat@Initech.example.com", "name": "Pat"}, headers=ann.headers
    )
    assert r.status_code == 201, r.text
    pat = r.json()
    assert (pat["email"], pat["organization_id"]) == ("pat@initech.example.com", initech["id"])
    assert set(pat) == {
        "id",
        "email",
        "name",
        "phone",
        "organization_id",
        "crm_id",
        "created_at",
        "updated_at",
    }
    url = f"{CONTACTS}/{pat['id']}"
    r = client.patch(url, json={"phone": "+1 555 0100"}, headers=ann.headers)
    assert (r.json()["phone"], r.json()["name"]) == ("+1 555 0100", "Pat")
    r = client.patch(url, json={"organization_id": None}, headers=ann.headers)
    assert r.json()["organization_id"] is None
    listed = client.get(
        CONTACTS, params={"email": "PAT@initech.example.com"}, headers=ann.headers
    ).json()
    assert [c["id"] for c in listed["items"]] == [pat["id"]]
    assert client.delete(url, headers=ann.headers).status_code == 204
    assert client.get(url, headers=ann.headers).status_code == 404


def test_contact_errors(client: TestClient, personas: Personas) -> None:
    ann = personas.ann
    r = client.post(CONTACTS, json={"email": "not-an-email"}, headers=ann.headers)
    assert r.status_code == 422
    assert error_fields(r.json()) == ["email"]

    foreign = create(client, personas.gina, ORGS, {"name": "Globex customer"})
    r = client.post(
        CONTACTS,
        json={"email": "pat@example.com", "organization_id": foreign["id"]},
        headers=ann.headers,
    )
    assert r.status_code == 422
    assert error_fields(r.json()) == ["organization_id"]

    create(client, ann, CONTACTS, {"email": "pat@example.com"})
    r = client.post(CONTACTS, json={"email": "PAT@example.com"}, headers=ann.headers)
    assert r.status_code == 409
    assert error_fields(r.json()) == ["email"]


def test_contact_list_filters_and_paging(client: TestClient, personas: Personas) -> None:
    ann = personas.ann
    initech = create(client, ann, ORGS, {"name": "Initech", "domain": "initech.example.com"})
    ids = [
        create(client, ann, CONTACTS, {"email": f"p{i}@initech.example.com"})["id"]
        for i in range(4)
    ]
    r = client.get(CONTACTS, params={"organization_id": initech["id"]}, headers=ann.headers)
    assert [c["id"] for c in r.json()["items"]] == ids
    r = client.get(CONTACTS, params={"q": "P3@"}, headers=ann.headers)
    assert [c["id"] for c in r.json()["items"]] == [ids[3]]
    everything = walk(client, ann, CONTACTS, limit=3)
    assert set(ids) <= set(everything)
    assert len(everything) == len(set(everything)) == len(ids) + 1  # + carol's contact


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", ORGS),
        ("POST", ORGS),
        ("GET", f"{ORGS}/1"),
        ("PATCH", f"{ORGS}/1"),
        ("DELETE", f"{ORGS}/1"),
        ("GET", CONTACTS),
        ("POST", CONTACTS),
        ("GET", f"{CONTACTS}/1"),
        ("PATCH", f"{CONTACTS}/1"),
        ("DELETE", f"{CONTACTS}/1"),
    ],
)
def test_customers_get_403_and_anonymous_401(
    client: TestClient, personas: Personas, method: str, url: str
) -> None:
    body = {"name": "x"} if "organizations" in url else {"email": "x@example.com"}
    kwargs: dict[str, Any] = {"json": body} if method in ("POST", "PATCH") else {}
    r = client.request(method, url, headers=personas.carol.headers, **kwargs)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert client.request(method, url, **kwargs).status_code == 401


def test_other_workspace_ids_are_404_and_lists_stay_separate(
    client: TestClient, personas: Personas
) -> None:
    acme_org = create(client, personas.ann, ORGS, {"name": "Acme customer"})
    acme_contact = create(client, personas.ann, CONTACTS, {"email": "pat@example.com"})
    gina = personas.gina
    for url in (f"{ORGS}/{acme_org['id']}", f"{CONTACTS}/{acme_contact['id']}"):
        assert client.get(url, headers=gina.headers).status_code == 404
        assert client.patch(url, json={"name": "stolen"}, headers=gina.headers).status_code == 404
        assert client.delete(url, headers=gina.headers).status_code == 404
    assert client.get(ORGS, headers=gina.headers).json()["items"] == []
    assert client.get(CONTACTS, headers=gina.headers).json()["items"] == []
    # And the acme rows survived globex's attempts.
    url = f"{ORGS}/{acme_org['id']}"
    assert client.get(url, headers=personas.ann.headers).json()["name"] == "Acme customer"


HUGE = 10**30


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", f"{ORGS}/{HUGE}", None),
        ("PATCH", f"{CONTACTS}/{HUGE}", {"name": "x"}),
        ("GET", f"{CONTACTS}?organization_id={HUGE}", None),
        ("POST", CONTACTS, {"email": "x@example.com", "organization_id": HUGE}),
        ("GET", f"{ORGS}?cursor=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBd", None),  # [10**30]
        ("GET", f"{CONTACTS}?cursor=Wy0xXQ", None),  # [-1]
    ],
)
def test_ids_beyond_bigint_are_422_not_500(
    client: TestClient, personas: Personas, method: str, url: str, body: dict[str, Any] | None
) -> None:
    r = client.request(method, url, json=body, headers=personas.ann.headers)
    assert r.status_code == 422, r.text
