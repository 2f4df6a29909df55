"""Tenant isolation across the whole route table: globex can neither see nor touch acme's data.

The walk covers every /api/v1 operation, read from the app's OpenAPI document: the public, stable
view of the route table (FastAPI 0.165 nests included routers in app.routes behind private types).
A route with an id in its path is called by globex users with the id of a real acme object. The
globex owner passes every role gate, so it must get 404 (never 200, 403 or 422, which would tell
that the object exists); a globex agent may get the role gate's 403, but only if a missing id gets
the same answer. A new route whose id parameter or request body this module does not know fails
the walk loudly: teach ID_PARAMS / BODIES about it rather than skipping it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.auth.models import ApiToken
from deskpilot.customers.models import Organization
from deskpilot.db.engine import Database
from tests.factories import Persona, Personas, api_ticket, use_fast_password_hashing

API = "/api/v1"
MISSING_ID = 987_654_321
ACME_CLASSIFIER = "acme-intents"
MARKERS = (
    "@acme.example.com",
    "acme-confidential",
    "acme-secret-note",
    "acme-buyer@acme-client.example.com",
    "acme-secret-file.txt",
    "acme-secret-org",
    "acme-only-tag",
    "acme-secret-category",
)
# Words of acme's article that carry no marker: the intruder's own query is logged in its own
# workspace (content gaps), and must not count as a leak.
LIST_PARAMS: dict[str, dict[str, str]] = {f"{API}/kb/search": {"q": "restart guide"}}
"""List routes with required query parameters -> values that would find acme's data."""
VISITOR_TOKEN_ROUTES = (f"{API}/chat/",)
"""The chat widget's API authenticates a visitor's signed token, not a member: one conversation,
never a list. Foreign and forged tokens are covered in tests/chat/test_api.py."""
PUBLIC_PARAMS = {"workspace_slug"}
REPORT_PARAMS = {"dashboard", "table_name"}
"""Path parameters that name an analytics report, not an object: its rows are always the
caller's workspace (tested in tests/analytics)."""
"""Path parameters of anonymous routes (the public help center): checked on their own below."""


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


@dataclass
class AcmeWorld:
    ticket_id: int
    message_id: int
    attachment_id: int
    contact_id: int
    organization_id: int
    team_id: int
    user_id: int
    token_id: int
    category_id: int
    article_id: int
    search_id: int
    globex_ticket_id: int
    escalation_id: int
    decision_id: int
    macro_id: int = 0
    business_hours_id: int = 0
    rule_id: int = 0
    policy_id: int = 0
    endpoint_id: int = 0
    delivery_id: int = 0


ID_PARAMS: dict[str, Callable[[AcmeWorld], int]] = {
    "ticket_id": lambda w: w.ticket_id,
    "message_id": lambda w: w.message_id,
    "attachment_id": lambda w: w.attachment_id,
    "contact_id": lambda w: w.contact_id,
    "organization_id": lambda w: w.organization_id,
    "team_id": lambda w: w.team_id,
    "user_id": lambda w: w.user_id,
    "token_id": lambda w: w.token_id,
    "category_id": lambda w: w.category_id,
    "article_id": lambda w: w.article_id,
    "version": lambda w: 1,
    "search_id": lambda w: w.search_id,
    "escalation_id": lambda w: w.escalation_id,
    "name": lambda w: ACME_CLASSIFIER,
    "decision_id": lambda w: w.decision_id,
    "macro_id": lambda w: w.macro_id,
    "business_hours_id": lambda w: w.business_hours_id,
    "rule_id": lambda w: w.rule_id,
    "policy_id": lambda w: w.policy_id,
    "endpoint_id": lambda w: w.endpoint_id,
    "delivery_id": lambda w: w.delivery_id,
    "workspace": lambda w: "acme",  # a slug: POST /email/inbound/{workspace}
}
"""Path parameter name -> the id of an acme object of that kind."""

BODIES: dict[tuple[str, str], Callable[[AcmeWorld], dict[str, Any]]] = {
    ("PATCH", f"{API}/tickets/{{ticket_id}}"): lambda w: {"priority": "urgent", "tags": ["pwned"]},
    ("POST", f"{API}/tickets/{{ticket_id}}/messages"): lambda w: {"body": "pwned"},
    ("POST", f"{API}/tickets/{{ticket_id}}/merge"): lambda w: {
        "into_ticket_id": w.globex_ticket_id
    },
    ("POST", f"{API}/tickets/{{ticket_id}}/satisfaction"): lambda w: {"score": 1},
    ("PATCH", f"{API}/teams/{{team_id}}"): lambda w: {"description": "pwned"},
    ("PATCH", f"{API}/organizations/{{organization_id}}"): lambda w: {"name": "pwned"},
    ("PATCH", f"{API}/contacts/{{contact_id}}"): lambda w: {"name": "pwned"},
    ("PATCH", f"{API}/users/{{user_id}}"): lambda w: {"role": "admin"},
    ("PATCH", f"{API}/kb/categories/{{category_id}}"): lambda w: {"description": "pwned"},
    ("PATCH", f"{API}/kb/articles/{{article_id}}"): lambda w: {"title": "pwned"},
    ("POST", f"{API}/kb/articles/{{article_id}}/transitions"): lambda w: {"to": "draft"},
    ("PUT", f"{API}/kb/articles/{{article_id}}/related"): lambda w: {"article_ids": []},
    ("POST", f"{API}/kb/articles/{{article_id}}/votes"): lambda w: {"helpful": False},
    ("POST", f"{API}/kb/searches/{{search_id}}/click"): lambda w: {"article_id": w.article_id},
    ("POST", f"{API}/kb/searches/{{search_id}}/ticket"): lambda w: {
        "ticket_id": w.globex_ticket_id
    },
    ("POST", f"{API}/ai/classifiers/{{name}}/predict"): lambda w: {"texts": ["refund please"]},
    ("POST", f"{API}/tickets/{{ticket_id}}/escalations"): lambda w: {"reason": "manual"},
    ("POST", f"{API}/escalations/{{escalation_id}}/resolve"): lambda w: {"resolution": "duplicate"},
    ("POST", f"{API}/tickets/{{ticket_id}}/ai-confirmation"): lambda w: {"solved": False},
    ("PUT", f"{API}/agents/{{user_id}}/status"): lambda w: {"availability": "away"},
    ("PUT", f"{API}/teams/{{team_id}}/routing"): lambda w: {"strategy": "round_robin"},
    ("PATCH", f"{API}/macros/{{macro_id}}"): lambda w: {"name": "pwned"},
    ("PATCH", f"{API}/business-hours/{{business_hours_id}}"): lambda w: {"name": "pwned"},
    ("PATCH", f"{API}/automation/rules/{{rule_id}}"): lambda w: {"name": "pwned"},
    ("POST", f"{API}/automation/rules/{{rule_id}}/move"): lambda w: {"direction": "up"},
    ("POST", f"{API}/automation/rules/{{rule_id}}/test"): lambda w: {
        "ticket_id": w.globex_ticket_id
    },
    ("PATCH", f"{API}/sla-policies/{{policy_id}}"): lambda w: {"name": "pwned"},
    ("PATCH", f"{API}/webhooks/endpoints/{{endpoint_id}}"): lambda w: {
        "url": "https://pwned.example"
    },
    ("POST", f"{API}/email/inbound/{{workspace}}"): lambda w: {"raw": "From: a@b.example"},
}
"""(method, path) -> a body that would succeed if the object were globex's own."""


def build_acme(client: TestClient, personas: Personas, db: Database) -> AcmeWorld:
    with db.session(write=True) as s:
        org = Organization(
            workspace_id=personas.ann.workspace_id,
            name="acme-secret-org",
            domain="acme-client.example.com",
        )
        s.add(org)
        s.commit()
        organization_id = org.id
        token_id = s.scalars(
            select(ApiToken.id).where(ApiToken.user_id == personas.ann.user_id)
        ).one()
    ann = personas.ann.headers
    upload = client.post(
        f"{API}/attachments",
        files={"file": ("acme-secret-file.txt", b"acme-confidential bytes", "text/plain")},
        headers=ann,
    )
    ticket = api_ticket(
        client,
        personas.ann,
        subject="acme-confidential outage",
        requester={"email": "acme-buyer@acme-client.example.com"},
        tags=["acme-only-tag"],
        team_id=personas.teams["acme_support"],
        assignee_id=personas.ann.user_id,
    )
    message = client.post(
        f"{API}/tickets/{ticket['id']}/messages",
        json={"body": "acme-secret-note", "attachment_ids": [upload.json()["id"]]},
        headers=ann,
    )
    assert message.status_code == 201, message.text
    assert ticket["organization_id"] == organization_id
    category_id, article_id, search_id = build_acme_kb(client, personas)
    build_acme_classifier(client, personas)
    escalation = client.post(
        f"{API}/tickets/{ticket['id']}/escalations", json={"note": "acme-secret-note"}, headers=ann
    )
    assert escalation.status_code == 201, escalation.text
    decision = client.post(
        f"{API}/ai/answer", json={"question": "acme-confidential restart guide"}, headers=ann
    )
    assert decision.status_code == 200, decision.text
    world = AcmeWorld(
        ticket_id=ticket["id"],
        message_id=message.json()["id"],
        attachment_id=upload.json()["id"],
        contact_id=ticket["requester"]["id"],
        organization_id=organization_id,
        team_id=personas.teams["acme_support"],
        user_id=personas.ann.user_id,
        token_id=token_id,
        category_id=category_id,
        article_id=article_id,
        search_id=search_id,
        globex_ticket_id=api_ticket(client, personas.gina, subject="globex own")["id"],
        escalation_id=escalation.json()["id"],
        decision_id=decision.json()["decision_id"],
    )
    build_acme_sla(client, personas, world)
    build_acme_macro(client, personas, world)
    build_acme_rule(client, personas, world)
    build_acme_webhook(client, personas, world)
    return world


def build_acme_webhook(client: TestClient, personas: Personas, world: AcmeWorld) -> None:
    """An acme webhook endpoint and one delivery (to a closed loopback port: it just fails)."""
    endpoint = client.post(
        f"{API}/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/acme-secret-hook", "events": ["ticket.created"]},
        headers=personas.acme_owner.headers,
    )
    assert endpoint.status_code == 201, endpoint.text
    world.endpoint_id = endpoint.json()["id"]
    api_ticket(client, personas.ann, subject="acme-confidential webhook ticket")
    log = client.get(
        f"{API}/webhooks/endpoints/{world.endpoint_id}/deliveries",
        headers=personas.acme_owner.headers,
    )
    world.delivery_id = log.json()["items"][0]["id"]


def build_acme_rule(client: TestClient, personas: Personas, world: AcmeWorld) -> None:
    """An acme automation rule (time-based and far off, so it changes nothing here)."""
    rule = client.post(
        f"{API}/automation/rules",
        json={
            "name": "acme-confidential rule",
            "trigger": "time_based",
            "conditions": [{"field": "hours_since_created", "op": "gte", "value": 100000}],
            "actions": [{"type": "add_note", "body": "acme-secret-note"}],
        },
        headers=personas.acme_owner.headers,
    )
    assert rule.status_code == 201, rule.text
    world.rule_id = rule.json()["id"]


def build_acme_macro(client: TestClient, personas: Personas, world: AcmeWorld) -> None:
    """A shared acme macro (routing needs nothing: every agent and team has a routing state)."""
    macro = client.post(
        f"{API}/macros",
        json={"name": "acme-confidential macro", "body": "acme-secret-note", "shared": True},
        headers=personas.acme_owner.headers,
    )
    assert macro.status_code == 201, macro.text
    world.macro_id = macro.json()["id"]


def build_acme_sla(client: TestClient, personas: Personas, world: AcmeWorld) -> None:
    """acme business hours and an SLA policy counting in them."""
    owner = personas.acme_owner.headers
    hours = client.post(
        f"{API}/business-hours",
        json={
            "name": "acme-secret-hours",
            "timezone": "UTC",
            "schedule": {"mon": [["09:00", "17:00"]]},
        },
        headers=owner,
    )
    assert hours.status_code == 201, hours.text
    policy = client.post(
        f"{API}/sla-policies",
        json={
            "name": "acme-secret-policy",
            "business_hours_id": hours.json()["id"],
            "first_response_minutes": 60,
        },
        headers=owner,
    )
    assert policy.status_code == 201, policy.text
    world.business_hours_id = hours.json()["id"]
    world.policy_id = policy.json()["id"]


def build_acme_kb(client: TestClient, personas: Personas) -> tuple[int, int, int]:
    """A published acme article in an acme category, and a logged acme search that finds it."""
    owner = personas.acme_owner.headers
    category = client.post(
        f"{API}/kb/categories", json={"name": "acme-secret-category"}, headers=owner
    )
    assert category.status_code == 201, category.text
    article = client.post(
        f"{API}/kb/articles",
        json={
            "title": "acme-confidential guide",
            "body": "acme-secret-note: restart the acme-confidential service.",
            "category_id": category.json()["id"],
        },
        headers=owner,
    )
    assert article.status_code == 201, article.text
    article_id = article.json()["id"]
    for target in ("in_review", "approved", "published"):
        moved = client.post(
            f"{API}/kb/articles/{article_id}/transitions", json={"to": target}, headers=owner
        )
        assert moved.status_code == 200, moved.text
    for query in LIST_PARAMS[f"{API}/kb/search"]["q"], "acme-confidential":
        search = client.get(f"{API}/kb/search", params={"q": query}, headers=owner)
        assert search.status_code == 200, search.text
        assert [hit["article_id"] for hit in search.json()] == [article_id], query
    return category.json()["id"], article_id, int(search.headers["x-search-id"])


def build_acme_classifier(client: TestClient, personas: Personas) -> None:
    """An acme intent classifier whose labels are markers."""
    examples = [
        {"text": f"{word} request {n}", "label": label}
        for n in range(3)
        for word, label in (("refund", "acme-only-tag"), ("password", "acme-secret-note"))
    ]
    r = client.post(
        f"{API}/ai/classifiers",
        json={"name": ACME_CLASSIFIER, "examples": examples},
        headers=personas.acme_owner.headers,
    )
    assert r.status_code == 201, r.text


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    params: tuple[str, ...]
    has_body: bool


def api_operations(app: FastAPI) -> list[Operation]:
    operations = []
    for path, item in app.openapi()["paths"].items():
        if not path.startswith(API):
            continue
        for method, spec in item.items():
            if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                continue
            operations.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    params=tuple(re.findall(r"{(\w+)}", path)),
                    has_body="requestBody" in spec,
                )
            )
    return operations


def test_every_id_route_is_404_for_another_workspace(
    app: FastAPI, client: TestClient, personas: Personas, db: Database
) -> None:
    world = build_acme(client, personas, db)
    operations = [
        op
        for op in api_operations(app)
        if op.params and not (PUBLIC_PARAMS | REPORT_PARAMS) & set(op.params)
    ]
    for op in operations:
        unknown = [p for p in op.params if p not in ID_PARAMS]
        if unknown:
            pytest.fail(f"{op.path} has id parameter(s) {unknown}: add them to ID_PARAMS")
        if op.has_body and (op.method, op.path) not in BODIES:
            pytest.fail(f"{op.method} {op.path} takes a body: add a valid one to BODIES")

    def url_of(op: Operation) -> str:
        return op.path.format(**{p: ID_PARAMS[p](world) for p in op.params})

    # The acme owner can read every object: the ids are real, so a 404 below means isolation.
    owner = personas.acme_owner.headers
    readable = [url_of(op) for op in operations if op.method == "GET"]
    before = {url: client.get(url, headers=owner) for url in readable}
    assert {url: r.status_code for url, r in before.items()} == dict.fromkeys(readable, 200)

    problems: list[str] = []
    for op in operations:
        body = BODIES[(op.method, op.path)](world) if op.has_body else None
        # globex's owner passes every role gate, so only the workspace check can stop it.
        r = client.request(op.method, url_of(op), json=body, headers=personas.globex_owner.headers)
        if r.status_code != 404 or r.json()["error"]["code"] != "not_found":
            problems.append(f"globex_owner {op.method} {op.path}: {r.status_code} {r.text[:120]}")
        # An agent may meet a role gate first (403 on admin routes); that answer must not depend
        # on the id, or it would reveal which acme ids exist.
        r = client.request(op.method, url_of(op), json=body, headers=personas.gina.headers)
        missing = client.request(
            op.method,
            op.path.format(**dict.fromkeys(op.params, MISSING_ID)),
            json=body,
            headers=personas.gina.headers,
        )
        answer = (r.status_code, r.json()["error"]["code"])
        role_gate = r.status_code == 403 and answer == (
            missing.status_code,
            missing.json()["error"]["code"],
        )
        if answer != (404, "not_found") and not role_gate:
            problems.append(f"gina {op.method} {op.path}: {r.status_code} {r.text[:120]}")
        if any(marker in r.text for marker in MARKERS):
            problems.append(f"gina {op.method} {op.path} leaked acme data")
    assert problems == []

    walked = {(op.method, op.path) for op in operations}
    assert {
        ("GET", f"{API}/tickets/{{ticket_id}}"),
        ("PATCH", f"{API}/tickets/{{ticket_id}}"),
        ("POST", f"{API}/tickets/{{ticket_id}}/messages"),
        ("POST", f"{API}/tickets/{{ticket_id}}/merge"),
        ("GET", f"{API}/attachments/{{attachment_id}}"),
        ("DELETE", f"{API}/tokens/{{token_id}}"),
    } <= walked
    after = {url: client.get(url, headers=owner) for url in readable}
    changed = [url for url in readable if after[url].content != before[url].content]
    assert changed == []
    assert client.get(f"{API}/auth/me", headers=personas.ann.headers).status_code == 200


def test_every_list_route_shows_another_workspace_nothing(
    app: FastAPI, client: TestClient, personas: Personas, db: Database
) -> None:
    world = build_acme(client, personas, db)
    listed: list[str] = []
    for op in api_operations(app):
        if op.params or op.method != "GET" or op.path.startswith(VISITOR_TOKEN_ROUTES):
            continue
        for intruder in (personas.globex_owner, personas.gina):
            r = client.get(op.path, params=LIST_PARAMS.get(op.path), headers=intruder.headers)
            allowed = (200,) if intruder is personas.globex_owner else (200, 403)
            assert r.status_code in allowed, f"{op.path} needs parameters: teach this test"
            leaked = [m for m in MARKERS if m in r.text]
            assert leaked == [], f"{intruder.key} GET {op.path} leaked {leaked}"
        listed.append(op.path)
    assert f"{API}/tickets" in listed

    gina = personas.gina.headers
    filters: list[dict[str, Any]] = [
        {},
        {"requester_id": world.contact_id},
        {"organization_id": world.organization_id},
        {"assignee_id": world.user_id},
        {"team_id": world.team_id},
        {"tag": "acme-only-tag"},
        {"limit": 100, "sort": "number"},
    ]
    for params in filters:
        items = client.get(f"{API}/tickets", params=params, headers=gina).json()["items"]
        assert world.ticket_id not in [t["id"] for t in items], params
        assert all(t["id"] == world.globex_ticket_id for t in items), params
    tokens = client.get(f"{API}/tokens", headers=personas.globex_owner.headers).json()
    assert world.token_id not in [t["id"] for t in tokens]
    acme_view = client.get(f"{API}/tickets", headers=personas.ann.headers).json()["items"]
    assert world.globex_ticket_id not in [t["id"] for t in acme_view]


def test_the_public_help_center_searches_one_workspace_only(
    app: FastAPI, client: TestClient, personas: Personas, db: Database
) -> None:
    world = build_acme(client, personas, db)
    public = [op for op in api_operations(app) if PUBLIC_PARAMS & set(op.params)]
    assert public, "no public routes left: drop PUBLIC_PARAMS"
    for op in public:
        assert op.path == f"{API}/help/{{workspace_slug}}/search", f"teach this test {op.path}"
    query = {"q": "acme-confidential"}
    own = client.get(f"{API}/help/acme/search", params=query)
    assert [hit["article_id"] for hit in own.json()] == [world.article_id]
    other = client.get(f"{API}/help/globex/search", params=query)
    assert other.status_code == 200
    assert other.json() == []
    assert not any(marker in other.text for marker in MARKERS)


def _intrude(client: TestClient, gina: Persona, method: str, url: str, body: dict[str, Any]) -> Any:
    return client.request(method, f"{API}{url}", json=body, headers=gina.headers)


def test_acme_ids_inside_request_bodies_are_rejected(
    client: TestClient, personas: Personas, db: Database
) -> None:
    world = build_acme(client, personas, db)
    gina = personas.gina
    own = world.globex_ticket_id
    cases: list[tuple[str, str, dict[str, Any], int, str | None]] = [
        (
            "POST",
            "/tickets",
            {"subject": "x", "requester": {"email": "g@example.com"}, "team_id": world.team_id},
            422,
            "team_id",
        ),
        (
            "POST",
            "/tickets",
            {"subject": "x", "requester": {"email": "g@example.com"}, "assignee_id": world.user_id},
            422,
            "assignee_id",
        ),
        (
            "POST",
            "/tickets",
            {"subject": "x", "requester": {"email": "g@example.com"}, "parent_id": world.ticket_id},
            422,
            "parent_id",
        ),
        ("PATCH", f"/tickets/{own}", {"team_id": world.team_id}, 422, "team_id"),
        ("PATCH", f"/tickets/{own}", {"assignee_id": world.user_id}, 422, "assignee_id"),
        ("PATCH", f"/tickets/{own}", {"parent_id": world.ticket_id}, 422, "parent_id"),
        (
            "POST",
            f"/tickets/{own}/messages",
            {"body": "x", "attachment_ids": [world.attachment_id]},
            422,
            "attachment_ids",
        ),
        ("POST", f"/tickets/{own}/merge", {"into_ticket_id": world.ticket_id}, 404, None),
    ]
    for method, url, body, status, field in cases:
        r = _intrude(client, gina, method, url, body)
        assert r.status_code == status, (method, url, body, r.text)
        if field is not None:
            assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    issued = client.post(
        f"{API}/tokens", json={"user_id": world.user_id}, headers=personas.globex_owner.headers
    )
    assert issued.status_code == 404
    globex_ticket = client.get(f"{API}/tickets/{own}", headers=gina.headers).json()
    assert (globex_ticket["team_id"], globex_ticket["assignee_id"], globex_ticket["parent_id"]) == (
        None,
        None,
        None,
    )
    assert globex_ticket["merged_into_id"] is None
