"""The widget's public API: starting, writing, transcript, hand-off, CORS, limits, isolation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.chat import api as chat_api
from deskpilot.chat.tokens import Visitor, VisitorTokens
from deskpilot.customers.models import Contact
from deskpilot.db.engine import Database
from deskpilot.escalations.models import Escalation
from deskpilot.tickets.models import Message, Ticket
from deskpilot.workspaces.models import Workspace
from tests.chat.conftest import CHAT, auth, start
from tests.conftest import TEST_SECRET
from tests.factories import Personas


def ticket_of(db: Database, number: int, slug: str = "acme") -> Ticket:
    with db.session(write=False) as s:
        ticket = s.scalars(
            select(Ticket)
            .join(Workspace, Workspace.id == Ticket.workspace_id)
            .where(Workspace.slug == slug, Ticket.number == number)
        ).one()
        s.expunge(ticket)
        return ticket


def set_workspace_settings(db: Database, slug: str, **values: Any) -> None:
    with db.session(write=True) as s:
        ws = s.scalars(select(Workspace).where(Workspace.slug == slug)).one()
        ws.settings = {**(ws.settings or {}), **values}
        s.commit()


def test_starting_a_conversation_creates_a_chat_ticket(
    client: TestClient, db: Database, personas: Personas
) -> None:
    started = start(
        client,
        message="My export is stuck at 99%.\nIt has been an hour.",
        name="Vera Visitor",
        email="Vera@Example.com",
        page_url="https://shop.example/cart",
    )
    assert started["token"]
    assert started["workspace"] == "acme"
    assert started["state"] == {"status": "new", "handed_off": False}
    [first] = started["messages"]
    assert first["id"] == 0
    assert first["author"] == "customer"
    assert first["body"].startswith("My export is stuck")
    ticket = ticket_of(db, started["ticket_number"])
    assert ticket.channel == "chat"
    assert ticket.subject == "My export is stuck at 99%."
    assert ticket.description == "My export is stuck at 99%.\nIt has been an hour."
    assert ticket.custom_fields == {"chat_page_url": "https://shop.example/cart"}
    with db.session(write=False) as s:
        contact = s.get(Contact, ticket.requester_id)
        assert contact is not None
        assert (contact.email, contact.name) == ("vera@example.com", "Vera Visitor")
    # The token names exactly this workspace, ticket and contact.
    visitor = VisitorTokens(TEST_SECRET).read(started["token"])
    assert visitor == Visitor(personas.ann.workspace_id, ticket.id, contact.id)


def test_an_anonymous_visitor_gets_an_undeliverable_contact(
    client: TestClient, db: Database, personas: Personas
) -> None:
    one, two = start(client), start(client)
    first, second = ticket_of(db, one["ticket_number"]), ticket_of(db, two["ticket_number"])
    assert first.requester_id != second.requester_id
    with db.session(write=False) as s:
        contact = s.get(Contact, first.requester_id)
        assert contact is not None
        assert contact.email.startswith("visitor-")
        assert contact.email.endswith("@chat.invalid")


def test_a_long_first_line_is_cut_for_the_subject(
    client: TestClient, db: Database, personas: Personas
) -> None:
    started = start(client, message="word " * 60)
    subject = ticket_of(db, started["ticket_number"]).subject
    assert len(subject) <= 80
    assert subject.endswith("…")


def test_start_validation_is_422(client: TestClient, personas: Personas) -> None:
    cases = [
        {"workspace": "acme", "message": "   "},
        {"workspace": "acme", "message": "hi", "email": "not-an-email"},
        {"workspace": "acme", "message": "x" * 5001},
        {"workspace": "acme", "message": "hi", "priority": "urgent"},
        {"message": "hi"},
    ]
    for body in cases:
        r = client.post(f"{CHAT}/conversations", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "validation_error"
        assert r.headers["access-control-allow-origin"] == "*"


def test_unknown_or_disabled_workspace_is_404(
    client: TestClient, db: Database, personas: Personas
) -> None:
    r = client.post(f"{CHAT}/conversations", json={"workspace": "nope", "message": "hi"})
    assert r.status_code == 404
    set_workspace_settings(db, "acme", chat_enabled=False)
    r = client.post(f"{CHAT}/conversations", json={"workspace": "acme", "message": "hi"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_allowed_origins_limit_which_sites_may_start(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_workspace_settings(db, "acme", chat_allowed_origins=["https://shop.example"])
    body = {"workspace": "acme", "message": "hi"}
    denied = client.post(
        f"{CHAT}/conversations", json=body, headers={"Origin": "https://evil.example"}
    )
    assert denied.status_code == 403
    assert denied.headers["access-control-allow-origin"] == "*"
    allowed = client.post(
        f"{CHAT}/conversations", json=body, headers={"Origin": "https://SHOP.example"}
    )
    assert allowed.status_code == 201
    # Deskpilot's own pages (the demo) always may.
    own = client.post(f"{CHAT}/conversations", json=body, headers={"Origin": "http://testserver"})
    assert own.status_code == 201


def test_preflight_allows_the_token_header_from_any_origin(client: TestClient) -> None:
    r = client.options(
        f"{CHAT}/conversation/messages",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-chat-token",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "X-Chat-Token" in r.headers["access-control-allow-headers"]
    assert "POST" in r.headers["access-control-allow-methods"]


def test_transcript_needs_a_valid_token(client: TestClient, personas: Personas) -> None:
    started = start(client)
    ok = client.get(f"{CHAT}/conversation", headers=auth(started["token"]))
    assert ok.status_code == 200
    assert ok.json()["messages"][0]["body"] == "How do I reset my password?"
    assert ok.headers["access-control-allow-origin"] == "*"
    missing = client.get(f"{CHAT}/conversation")
    assert missing.status_code == 401
    assert missing.headers["access-control-allow-origin"] == "*"
    forged = client.get(f"{CHAT}/conversation", headers=auth(started["token"][:-2] + "xx"))
    assert forged.status_code == 401
    other_key = VisitorTokens("another-secret-" + "y" * 32).issue(Visitor(1, 1, 1))
    assert client.get(f"{CHAT}/conversation", headers=auth(other_key)).status_code == 401


def test_a_token_for_another_visitor_or_workspace_is_404(
    client: TestClient, db: Database, personas: Personas
) -> None:
    """A validly signed token can only read the ticket its contact requested, in its workspace."""
    acme = start(client)
    globex = start(client, workspace="globex", message="globex-secret question")
    acme_visitor = VisitorTokens(TEST_SECRET).read(acme["token"])
    globex_visitor = VisitorTokens(TEST_SECRET).read(globex["token"])
    tokens = VisitorTokens(TEST_SECRET)
    forged = [
        # acme's workspace and contact, globex's ticket id
        Visitor(acme_visitor.workspace_id, globex_visitor.ticket_id, acme_visitor.contact_id),
        # globex's workspace with acme's ticket and contact
        Visitor(globex_visitor.workspace_id, acme_visitor.ticket_id, acme_visitor.contact_id),
        # the right ticket, another contact (carol's)
        Visitor(acme_visitor.workspace_id, acme_visitor.ticket_id, personas.carol.contact_id or 0),
    ]
    for visitor in forged:
        headers = auth(tokens.issue(visitor))
        for method, path, body in (
            ("GET", "/conversation", None),
            ("POST", "/conversation/messages", {"body": "pwned"}),
            ("POST", "/conversation/handoff", {}),
        ):
            r = client.request(method, f"{CHAT}{path}", json=body, headers=headers)
            assert r.status_code == 404, (visitor, path, r.text)
            assert "globex-secret" not in r.text
        stream = client.get(
            f"{CHAT}/conversation/stream", params={"token": tokens.issue(visitor), "once": "1"}
        )
        assert stream.status_code == 404
    with db.session(write=False) as s:
        assert s.scalars(select(Message.body).where(Message.body == "pwned")).all() == []
        assert s.scalars(select(Escalation)).all() == []


def test_posting_a_message_adds_it_as_the_customer(
    client: TestClient, db: Database, personas: Personas
) -> None:
    started = start(client)
    r = client.post(
        f"{CHAT}/conversation/messages",
        json={"body": "Still stuck."},
        headers=auth(started["token"]),
    )
    assert r.status_code == 201, r.text
    shown = r.json()
    assert shown["author"] == "customer"
    assert shown["html"] == "<p>Still stuck.</p>\n"
    ticket = ticket_of(db, started["ticket_number"])
    with db.session(write=False) as s:
        message = s.get(Message, shown["id"])
        assert message is not None
        assert (message.ticket_id, message.author_type, message.visibility, message.channel) == (
            ticket.id,
            "customer",
            "public",
            "chat",
        )
        assert message.author_contact_id == ticket.requester_id
    bad = client.post(
        f"{CHAT}/conversation/messages",
        json={"body": "x", "visibility": "internal"},
        headers=auth(started["token"]),
    )
    assert bad.status_code == 422


def test_posting_is_rate_limited_per_conversation(
    client: TestClient, personas: Personas, monkeypatch: Any
) -> None:
    monkeypatch.setattr(chat_api, "MESSAGES_PER_MINUTE", 3)
    one, two = start(client), start(client)
    for i in range(3):
        r = client.post(
            f"{CHAT}/conversation/messages", json={"body": f"m{i}"}, headers=auth(one["token"])
        )
        assert r.status_code == 201
    limited = client.post(
        f"{CHAT}/conversation/messages", json={"body": "again"}, headers=auth(one["token"])
    )
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["access-control-allow-origin"] == "*"
    # Another conversation has its own budget.
    other = client.post(
        f"{CHAT}/conversation/messages", json={"body": "hi"}, headers=auth(two["token"])
    )
    assert other.status_code == 201


def test_starting_is_rate_limited_per_address_and_workspace(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_workspace_settings(db, "acme", chat_starts_per_minute=2)
    start(client)
    start(client)
    r = client.post(f"{CHAT}/conversations", json={"workspace": "acme", "message": "hi"})
    assert r.status_code == 429
    start(client, workspace="globex")


def test_hand_off_escalates_with_the_transcript_and_a_summary(
    client: TestClient, db: Database, personas: Personas
) -> None:
    started = start(client, message="The invoice PDF for March is empty.")
    client.post(
        f"{CHAT}/conversation/messages",
        json={"body": "It shows a blank page in every browser."},
        headers=auth(started["token"]),
    )
    r = client.post(f"{CHAT}/conversation/handoff", json={}, headers=auth(started["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == {"status": "in_progress", "handed_off": True}
    ticket = ticket_of(db, started["ticket_number"])
    with db.session(write=False) as s:
        [escalation] = s.scalars(select(Escalation).where(Escalation.ticket_id == ticket.id))
        assert escalation.status == "open"
        assert escalation.reason == "user_requested"
        assert escalation.summary
        assert escalation.attempted["channel"] == "chat"
    # Agents see the whole conversation on the ticket.
    messages = client.get(
        f"/api/v1/tickets/{ticket.id}/messages", headers=personas.ann.headers
    ).json()
    bodies = [m["body"] for m in (messages["items"] if isinstance(messages, dict) else messages)]
    assert "It shows a blank page in every browser." in bodies
    # Asking twice joins the open escalation rather than opening another.
    again = client.post(f"{CHAT}/conversation/handoff", headers=auth(started["token"]))
    assert again.status_code == 200
    with db.session(write=False) as s:
        assert (
            len(s.scalars(select(Escalation).where(Escalation.ticket_id == ticket.id)).all()) == 1
        )
