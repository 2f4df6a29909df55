"""KB routes: status codes, error bodies, permissions per role and workspace isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Persona, Personas

KB = "/api/v1/kb"
ARTICLES = f"{KB}/articles"
CATEGORIES = f"{KB}/categories"


def create(client: TestClient, persona: Persona, **fields: Any) -> dict[str, Any]:
    body = {"title": "Reset your password", "body": "Open *Settings*."} | fields
    r = client.post(ARTICLES, json=body, headers=persona.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def move(client: TestClient, persona: Persona, article_id: int, to: str) -> Any:
    return client.post(
        f"{ARTICLES}/{article_id}/transitions", json={"to": to}, headers=persona.headers
    )


def publish(client: TestClient, personas: Personas, article_id: int) -> None:
    for step in ("in_review", "approved", "published"):
        r = move(client, personas.acme_admin, article_id, step)
        assert r.status_code == 200, r.text


def fields_of(r: Any) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    return [d["field"] for d in r.json()["error"]["details"]]


# --- articles --------------------------------------------------------------------------------------


def test_create_read_update_delete(client: TestClient, personas: Personas) -> None:
    ann = personas.ann.headers
    r = client.post(
        ARTICLES,
        json={"title": "  Export fails  ", "body": "<script>x</script> **bold**", "tags": ["CSV"]},
        headers=ann,
    )
    assert r.status_code == 201, r.text
    article = r.json()
    assert r.headers["location"] == f"{ARTICLES}/{article['id']}"
    assert (article["title"], article["slug"], article["status"]) == (
        "Export fails",
        "export-fails",
        "draft",
    )
    assert article["tags"] == ["csv"]
    assert "<script" not in article["body_html"]
    assert "<strong>bold</strong>" in article["body_html"]
    assert (article["helpfulness"], article["related"], article["content_version"]) == (None, [], 1)

    url = f"{ARTICLES}/{article['id']}"
    assert client.get(url, headers=ann).json()["title"] == "Export fails"
    r = client.patch(url, json={"body": "new body", "is_beta": True}, headers=ann)
    assert r.status_code == 200, r.text
    assert (r.json()["body"], r.json()["is_beta"], r.json()["content_version"]) == (
        "new body",
        True,
        2,
    )
    assert client.delete(url, headers=ann).status_code == 204
    assert client.get(url, headers=ann).status_code == 404


def test_create_replays_an_idempotency_key(client: TestClient, personas: Personas) -> None:
    headers = personas.ann.headers | {"Idempotency-Key": "kb-create-1"}
    first = client.post(ARTICLES, json={"title": "Once"}, headers=headers)
    again = client.post(ARTICLES, json={"title": "Once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = client.post(ARTICLES, json={"title": "Different"}, headers=headers)
    assert other.status_code == 409
    listed = client.get(ARTICLES, headers=personas.ann.headers).json()["items"]
    assert [a["title"] for a in listed] == ["Once"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "ok", "slug": "Not A Slug"}, "slug"),
        ({"title": "ok", "slug": "trailing-"}, "slug"),
        ({"title": "ok", "visibility": "secret"}, "visibility"),
        ({"title": "ok", "source_type": "scraped"}, "source_type"),
        ({"title": "ok", "tags": ["x" * 65]}, "tags.0"),
        ({"title": "ok", "category_id": 987_654_321}, "category_id"),
        ({"title": "ok", "category_id": 0}, "category_id"),
        ({"title": "ok", "status": "published"}, "status"),
    ],
)
def test_bad_article_input_is_a_422_on_the_field(
    client: TestClient, personas: Personas, body: dict[str, Any], field: str
) -> None:
    assert field in fields_of(client.post(ARTICLES, json=body, headers=personas.ann.headers))


def test_a_taken_slug_is_a_409(client: TestClient, personas: Personas) -> None:
    create(client, personas.ann, slug="reset")
    r = client.post(ARTICLES, json={"title": "x", "slug": "reset"}, headers=personas.ann.headers)
    assert r.status_code == 409
    assert r.json()["error"]["details"][0]["field"] == "slug"


def test_list_filters_and_cursor(client: TestClient, personas: Personas) -> None:
    ids = [
        create(client, personas.ann, title=f"Article {i}", tags=["t"] if i % 2 else [])["id"]
        for i in range(5)
    ]
    publish(client, personas, ids[0])
    ann = personas.ann.headers
    page = client.get(ARTICLES, params={"limit": 2}, headers=ann).json()
    assert [a["id"] for a in page["items"]] == ids[:2]
    assert "body" not in page["items"][0]
    rest = client.get(ARTICLES, params={"limit": 10, "cursor": page["next_cursor"]}, headers=ann)
    assert [a["id"] for a in rest.json()["items"]] == ids[2:]
    assert rest.json()["next_cursor"] is None
    by_status = client.get(ARTICLES, params={"status": ["published"]}, headers=ann).json()
    assert [a["id"] for a in by_status["items"]] == [ids[0]]
    by_tag = client.get(ARTICLES, params={"tag": "t"}, headers=ann).json()
    assert [a["id"] for a in by_tag["items"]] == [ids[1], ids[3]]
    by_title = client.get(ARTICLES, params={"q": "article 4"}, headers=ann).json()
    assert [a["id"] for a in by_title["items"]] == [ids[4]]
    assert client.get(ARTICLES, params={"cursor": "garbage!"}, headers=ann).status_code == 422
    assert client.get(ARTICLES, params={"status": "nope"}, headers=ann).status_code == 422


# --- lifecycle and revisions -------------------------------------------------------------------------


def test_illegal_transitions_are_409_with_the_allowed_targets(
    client: TestClient, personas: Personas
) -> None:
    article = create(client, personas.ann)
    r = move(client, personas.acme_admin, article["id"], "published")
    assert r.status_code == 409
    assert r.json()["error"] == {
        "code": "illegal_transition",
        "message": "Cannot move an article from draft to published",
        "details": {"from": "draft", "to": "published", "allowed": ["in_review"]},
    }
    assert fields_of(move(client, personas.acme_admin, article["id"], "gone")) == ["to"]


def test_agents_submit_admins_publish(client: TestClient, personas: Personas) -> None:
    article = create(client, personas.ann)
    assert move(client, personas.ann, article["id"], "in_review").status_code == 200
    r = move(client, personas.bob, article["id"], "approved")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert move(client, personas.acme_admin, article["id"], "approved").status_code == 200
    assert move(client, personas.ann, article["id"], "published").status_code == 403
    r = move(client, personas.acme_owner, article["id"], "published")
    assert (r.status_code, r.json()["status"]) == (200, "published")
    assert r.json()["published_at"] is not None
    assert move(client, personas.carol, article["id"], "archived").status_code == 403
    r = client.patch(
        f"{ARTICLES}/{article['id']}", json={"title": "x"}, headers=personas.ann.headers
    )
    assert r.status_code == 403
    events = client.get(f"{ARTICLES}/{article['id']}/events", headers=personas.ann.headers).json()
    assert [(e["kind"], e["new_value"]) for e in events["items"]] == [
        ("created", {"status": "draft", "slug": "reset-your-password", "source": "manual"}),
        ("status_changed", {"status": "in_review"}),
        ("status_changed", {"status": "approved"}),
        ("status_changed", {"status": "published"}),
    ]


def test_revisions_list_and_bodies(client: TestClient, personas: Personas) -> None:
    article = create(client, personas.ann, body="v1 body")
    url = f"{ARTICLES}/{article['id']}"
    client.patch(url, json={"body": "v2 body"}, headers=personas.bob.headers)
    listed = client.get(f"{url}/revisions", headers=personas.ann.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(r["version"], r["actor_user_id"]) for r in items] == [
        (1, personas.ann.user_id),
        (2, personas.bob.user_id),
    ]
    assert "body" not in items[0]
    first = client.get(f"{url}/revisions/1", headers=personas.ann.headers).json()
    second = client.get(f"{url}/revisions/2", headers=personas.ann.headers).json()
    assert (first["body"], second["body"]) == ("v1 body", "v2 body")
    assert client.get(f"{url}/revisions/3", headers=personas.ann.headers).status_code == 404
    assert client.get(f"{url}/revisions/0", headers=personas.ann.headers).status_code == 422
    assert client.get(f"{url}/revisions", headers=personas.carol.headers).status_code == 403


# --- customers ---------------------------------------------------------------------------------------


def test_customers_see_only_published_external_articles(
    client: TestClient, personas: Personas
) -> None:
    carol = personas.carol.headers
    draft = create(client, personas.ann, title="Draft")
    internal = create(client, personas.ann, title="Internal", visibility="internal")
    public = create(client, personas.ann, title="Public")
    for article in (internal, public):
        publish(client, personas, article["id"])
    assert client.get(f"{ARTICLES}/{draft['id']}", headers=carol).status_code == 404
    assert client.get(f"{ARTICLES}/{internal['id']}", headers=carol).status_code == 404
    r = client.get(f"{ARTICLES}/{public['id']}", headers=carol)
    assert (r.status_code, r.json()["title"]) == (200, "Public")
    listed = client.get(ARTICLES, params={"status": ["draft", "published"]}, headers=carol)
    assert [a["title"] for a in listed.json()["items"]] == ["Public"]
    assert client.post(ARTICLES, json={"title": "x"}, headers=carol).status_code == 403
    assert (
        client.patch(f"{ARTICLES}/{public['id']}", json={"title": "x"}, headers=carol).status_code
        == 403
    )
    assert client.delete(f"{ARTICLES}/{public['id']}", headers=carol).status_code == 403


def test_customers_hide_internal_details(client: TestClient, personas: Personas) -> None:
    article = create(client, personas.acme_admin, external_id="crm-42")
    publish(client, personas, article["id"])
    staff_view = client.get(f"{ARTICLES}/{article['id']}", headers=personas.ann.headers).json()
    customer_view = client.get(f"{ARTICLES}/{article['id']}", headers=personas.carol.headers).json()
    assert staff_view["external_id"] == "crm-42"
    assert customer_view["external_id"] is None


def test_votes_and_views(client: TestClient, personas: Personas) -> None:
    article = create(client, personas.ann)
    url = f"{ARTICLES}/{article['id']}"
    carol = personas.carol.headers
    assert client.post(f"{url}/votes", json={"helpful": True}, headers=carol).status_code == 404
    assert client.post(f"{url}/view", headers=carol).status_code == 404
    publish(client, personas, article["id"])
    r = client.post(f"{url}/votes", json={"helpful": True}, headers=carol)
    assert r.status_code == 200
    assert r.json() == {
        "article_id": article["id"],
        "helpful": True,
        "helpful_count": 1,
        "not_helpful_count": 0,
        "helpfulness": 1.0,
    }
    client.post(f"{url}/votes", json={"helpful": True}, headers=carol)
    r = client.post(f"{url}/votes", json={"helpful": False}, headers=personas.ann.headers)
    assert (r.json()["helpful_count"], r.json()["not_helpful_count"]) == (1, 1)
    assert fields_of(client.post(f"{url}/votes", json={}, headers=carol)) == ["helpful"]
    assert client.post(f"{url}/view", headers=carol).status_code == 204
    assert client.post(f"{url}/view", headers=personas.ann.headers).status_code == 204
    assert client.get(url, headers=carol).json()["view_count"] == 1


def test_related_articles(client: TestClient, personas: Personas) -> None:
    main, other = (
        create(client, personas.ann, title="Main"),
        create(client, personas.ann, title="Other"),
    )
    globex = create(client, personas.gina, title="Globex")
    url = f"{ARTICLES}/{main['id']}/related"
    r = client.put(url, json={"article_ids": [other["id"]]}, headers=personas.ann.headers)
    assert r.status_code == 200
    assert r.json()["related"] == [{"id": other["id"], "slug": "other", "title": "Other"}]
    for ids in ([globex["id"]], [main["id"]]):
        r = client.put(url, json={"article_ids": ids}, headers=personas.ann.headers)
        assert fields_of(r) == ["article_ids"]
    assert fields_of(client.put(url, json={"article_ids": [0]}, headers=personas.ann.headers)) == [
        "article_ids.0"
    ]


# --- categories --------------------------------------------------------------------------------------


def test_category_crud_and_tree(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    r = client.post(
        CATEGORIES, json={"name": "Billing", "icon": "card", "position": 2}, headers=admin
    )
    assert r.status_code == 201, r.text
    billing = r.json()
    assert r.headers["location"] == f"{CATEGORIES}/{billing['id']}"
    account = client.post(CATEGORIES, json={"name": "Account", "position": 1}, headers=admin).json()
    child = client.post(
        CATEGORIES, json={"name": "Refunds", "parent_id": billing["id"]}, headers=admin
    ).json()
    tree = client.get(CATEGORIES, headers=personas.carol.headers).json()["items"]
    assert [(c["name"], c["depth"]) for c in tree] == [
        ("Account", 0),
        ("Billing", 0),
        ("Refunds", 1),
    ]
    r = client.patch(
        f"{CATEGORIES}/{billing['id']}", json={"visibility": "internal"}, headers=admin
    )
    assert (r.status_code, r.json()["visibility"]) == (200, "internal")
    tree = client.get(CATEGORIES, headers=personas.carol.headers).json()["items"]
    assert [c["name"] for c in tree] == ["Account"]
    assert (
        client.get(f"{CATEGORIES}/{child['id']}", headers=personas.carol.headers).status_code == 404
    )
    assert (
        client.get(f"{CATEGORIES}/{child['id']}", headers=personas.ann.headers).status_code == 200
    )
    assert client.delete(f"{CATEGORIES}/{account['id']}", headers=admin).status_code == 204
    assert client.get(f"{CATEGORIES}/{account['id']}", headers=admin).status_code == 404


def test_category_permissions_and_input(client: TestClient, personas: Personas) -> None:
    admin = personas.acme_admin.headers
    assert (
        client.post(CATEGORIES, json={"name": "x"}, headers=personas.ann.headers).status_code == 403
    )
    assert fields_of(client.post(CATEGORIES, json={"name": ""}, headers=admin)) == ["name"]
    assert fields_of(client.post(CATEGORIES, json={"name": "x", "slug": "A B"}, headers=admin)) == [
        "slug"
    ]
    r = client.post(CATEGORIES, json={"name": "x", "parent_id": 987_654_321}, headers=admin)
    assert fields_of(r) == ["parent_id"]
    category = client.post(CATEGORIES, json={"name": "Root"}, headers=admin).json()
    r = client.patch(f"{CATEGORIES}/{category['id']}", json={"name": None}, headers=admin)
    assert fields_of(r) == ["name"]
    r = client.patch(
        f"{CATEGORIES}/{category['id']}", json={"parent_id": category["id"]}, headers=admin
    )
    assert fields_of(r) == ["parent_id"]


# --- tenancy -----------------------------------------------------------------------------------------


def test_globex_gets_404_for_acme_articles_and_categories(
    client: TestClient, personas: Personas
) -> None:
    article = create(client, personas.ann, title="acme-confidential")
    publish(client, personas, article["id"])
    category = client.post(
        CATEGORIES, json={"name": "acme-confidential"}, headers=personas.acme_admin.headers
    ).json()
    a_url, c_url = f"{ARTICLES}/{article['id']}", f"{CATEGORIES}/{category['id']}"
    gus = personas.globex_owner.headers
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", a_url, None),
        ("PATCH", a_url, {"title": "pwned"}),
        ("DELETE", a_url, None),
        ("POST", f"{a_url}/transitions", {"to": "archived"}),
        ("POST", f"{a_url}/votes", {"helpful": False}),
        ("POST", f"{a_url}/view", None),
        ("PUT", f"{a_url}/related", {"article_ids": []}),
        ("GET", f"{a_url}/revisions", None),
        ("GET", f"{a_url}/revisions/1", None),
        ("GET", f"{a_url}/events", None),
        ("GET", c_url, None),
        ("PATCH", c_url, {"name": "pwned"}),
        ("DELETE", c_url, None),
    ]
    for method, url, body in calls:
        r = client.request(method, url, json=body, headers=gus)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found"), (method, url)
    for url in (ARTICLES, CATEGORIES):
        assert "acme-confidential" not in client.get(url, headers=gus).text
        assert "acme-confidential" in client.get(url, headers=personas.acme_owner.headers).text
    r = client.post(ARTICLES, json={"title": "x", "category_id": category["id"]}, headers=gus)
    assert fields_of(r) == ["category_id"]
    r = client.get(a_url, headers=personas.acme_owner.headers).json()
    assert (r["title"], r["status"], r["helpful_count"]) == ("acme-confidential", "published", 0)
