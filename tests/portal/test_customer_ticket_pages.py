"""A signed-in customer's tickets: list, conversation, reply, reopen, AI confirmation, rating."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.db.engine import Database
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Message, Ticket
from deskpilot.tickets.schemas import MessageCreate
from tests.factories import PASSWORD, Personas, api_ticket, make_ticket
from tests.pages import HTMX, sign_in
from tests.triage.conftest import ALWAYS_CONFIRM, ARTICLES, publish, set_policy


def carol_ticket(client: TestClient, personas: Personas, **fields: Any) -> dict[str, Any]:
    body = {"subject": "Export is stuck", "description": "My CSV export never finishes."}
    return api_ticket(client, personas.carol, **{**body, **fields})


def ticket_row(db: Database, ticket_id: int) -> Ticket:
    with db.session(write=False) as s:
        row = s.get(Ticket, ticket_id)
        assert row is not None
        s.expunge(row)
    return row


def set_status(session: Session, personas: Personas, ticket_id: int, status: Status) -> None:
    ticket = tickets_service.get_ticket(session, personas.ann.ctx, ticket_id, for_update=True)
    steps = [Status.in_progress, Status.resolved] + ([status] if status == Status.closed else [])
    for step in steps:
        tickets_service.change_status(session, personas.ann.ctx, ticket, step)
    session.commit()


def test_visitors_sign_in_first_and_staff_are_refused(
    client: TestClient, personas: Personas
) -> None:
    for url in ("/help/acme/tickets", "/help/acme/tickets/1"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/login?next={url}&workspace=acme"
    sign_in(client, personas.ann)
    r = client.get("/help/acme/tickets")
    assert r.status_code == 403
    assert "Agents work in the console" in r.text


def test_a_session_for_another_workspace_must_sign_in_here(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.gina)
    r = client.get("/help/acme/tickets", follow_redirects=False)
    assert r.headers["location"].startswith("/login?next=/help/acme/tickets")


def test_the_list_shows_only_the_customers_own_tickets(
    client: TestClient, session: Session, personas: Personas
) -> None:
    mine = carol_ticket(client, personas)
    make_ticket(session, personas.ann.ctx, subject="Dave's private problem")
    session.commit()
    sign_in(client, personas.carol)
    r = client.get("/help/acme/tickets")
    assert r.status_code == 200
    assert f'<a href="/help/acme/tickets/{mine["number"]}">Export is stuck</a>' in r.text
    assert "Dave's private problem" not in r.text
    # Customers added by staff count as verified: no banner (portal sign-ups get one).
    assert "Please confirm your email address" not in r.text
    partial = client.get("/help/acme/tickets", headers=HTMX)
    assert "<html" not in partial.text
    assert "Export is stuck" in partial.text


def test_the_list_pages_with_a_cursor(
    client: TestClient, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deskpilot.portal import service as portal_service

    monkeypatch.setattr(portal_service, "TICKETS_PER_PAGE", 1)
    carol_ticket(client, personas, subject="Older one")
    carol_ticket(client, personas, subject="Newer one")
    sign_in(client, personas.carol)
    first = client.get("/help/acme/tickets")
    assert "Newer one" in first.text
    assert "Older one" not in first.text
    [more] = [line for line in first.text.splitlines() if "Show older requests" in line]
    url = more.split('href="')[1].split('"')[0]
    second = client.get(url.replace("&amp;", "&"), headers=HTMX)
    assert "Older one" in second.text
    assert "<html" not in second.text


def test_the_conversation_shows_public_messages_never_internal_notes(
    client: TestClient, session: Session, personas: Personas
) -> None:
    created = carol_ticket(client, personas)
    ctx = personas.ann.ctx
    tickets_service.add_message(
        session, ctx, created["id"], MessageCreate(body="We are **on it**.")
    )
    tickets_service.add_message(
        session, ctx, created["id"], MessageCreate(body="Secret note", visibility="internal")
    )
    session.commit()
    sign_in(client, personas.carol)
    r = client.get(f"/help/acme/tickets/{created['number']}")
    assert r.status_code == 200
    assert "My CSV export never finishes." in r.text
    assert "We are <strong>on it</strong>." in r.text
    assert "Secret note" not in r.text
    assert 'name="body"' in r.text
    assert "Send reply" in r.text
    assert "How did we do?" not in r.text, "open tickets are not rated"
    partial = client.get(f"/help/acme/tickets/{created['number']}", headers=HTMX)
    assert "<html" not in partial.text
    assert "We are <strong>on it</strong>." in partial.text


def test_other_customers_and_other_workspaces_tickets_are_404(
    client: TestClient, session: Session, personas: Personas
) -> None:
    theirs = make_ticket(session, personas.ann.ctx)  # Dave's, same workspace
    erin = auth_service.add_member(
        session,
        Context.system(personas.carol.workspace_id),
        email="erin@customer.example.com",
        role=Role.customer,
        name="Erin",
        password=PASSWORD,
    )
    erin_ctx = Context(
        personas.carol.workspace_id, erin.user_id, Role.customer, contact_id=erin.contact_id
    )
    erins = make_ticket(session, erin_ctx, requester=None)
    globex = make_ticket(session, personas.gina.ctx)
    session.commit()
    csrf = sign_in(client, personas.carol)
    for number in (theirs.number, erins.number, 999):
        assert client.get(f"/help/acme/tickets/{number}").status_code == 404, number
        r = client.post(
            f"/help/acme/tickets/{number}/reply", data={"body": "hi", "csrf_token": csrf}
        )
        assert r.status_code == 404
    # Globex's ticket number 1 is not acme's number 1 (which is Dave's here).
    assert globex.number == 1
    assert client.get("/help/globex/tickets/1", follow_redirects=False).status_code == 303


def test_reply_needs_csrf_and_text(client: TestClient, db: Database, personas: Personas) -> None:
    created = carol_ticket(client, personas)
    csrf = sign_in(client, personas.carol)
    url = f"/help/acme/tickets/{created['number']}/reply"
    assert client.post(url, data={"body": "Any news?"}).status_code == 403
    r = client.post(url, data={"body": "  ", "csrf_token": csrf})
    assert r.status_code == 422
    assert "Please write a message" in r.text
    files = [("attachments", ("log.txt", b"stack trace\n", "text/plain"))]
    r = client.post(
        url, data={"body": "Any news?", "csrf_token": csrf}, files=files, follow_redirects=False
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "Any news?" in page.text
    assert "Your reply was sent." in page.text
    assert 'href="/api/v1/attachments/' in page.text
    assert "log.txt" in page.text
    with db.session(write=False) as s:
        [reply] = s.scalars(select(Message).where(Message.ticket_id == created["id"])).all()
        assert (reply.author_type, reply.author_contact_id) == (
            "customer",
            personas.carol.contact_id,
        )


def test_a_reply_on_a_resolved_ticket_reopens_it(
    client: TestClient, db: Database, session: Session, personas: Personas
) -> None:
    created = carol_ticket(client, personas)
    set_status(session, personas, created["id"], Status.resolved)
    csrf = sign_in(client, personas.carol)
    page = client.get(f"/help/acme/tickets/{created['number']}")
    assert "Replying reopens it" in page.text
    r = client.post(
        f"/help/acme/tickets/{created['number']}/reply",
        data={"body": "Still broken", "csrf_token": csrf},
    )
    assert "the request reopened" in r.text
    assert ticket_row(db, created["id"]).status == "in_progress"


def test_explicit_reopen_of_a_closed_ticket(
    client: TestClient, db: Database, session: Session, personas: Personas
) -> None:
    created = carol_ticket(client, personas)
    csrf = sign_in(client, personas.carol)
    url = f"/help/acme/tickets/{created['number']}/reopen"
    assert client.post(url, data={"csrf_token": csrf}).status_code == 409, "not resolved yet"
    set_status(session, personas, created["id"], Status.closed)
    assert client.post(url).status_code == 403
    r = client.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    row = ticket_row(db, created["id"])
    assert (row.status, row.reopened_count) == ("in_progress", 1)


def test_rating_a_resolved_ticket(
    client: TestClient, db: Database, session: Session, personas: Personas
) -> None:
    created = carol_ticket(client, personas)
    csrf = sign_in(client, personas.carol)
    url = f"/help/acme/tickets/{created['number']}/rate"
    assert client.post(url, data={"score": "5", "csrf_token": csrf}).status_code == 409
    set_status(session, personas, created["id"], Status.resolved)
    page = client.get(f"/help/acme/tickets/{created['number']}")
    assert "How did we do?" in page.text
    assert client.post(url, data={"score": "9", "csrf_token": csrf}).status_code == 422
    assert client.post(url, data={"score": "4"}).status_code == 403
    r = client.post(url, data={"score": "4", "comment": "Quick, thanks", "csrf_token": csrf})
    assert r.status_code == 200
    assert "Thanks for rating our help." in r.text
    row = ticket_row(db, created["id"])
    assert (row.csat_score, row.csat_comment) == (4, "Quick, thanks")
    assert "You rated this 4 of 5" in r.text


@pytest.mark.usefixtures("ai_pipeline")
def test_the_ai_answer_shows_its_sources_and_can_be_confirmed(
    client: TestClient, db: Database, personas: Personas
) -> None:
    publish(db, personas.acme_admin, ARTICLES)
    set_policy(db, personas.acme_admin, **ALWAYS_CONFIRM)
    created = carol_ticket(
        client,
        personas,
        subject="Forgot my password",
        description="How do I reset my password? I never got a reset link.",
    )
    assert ticket_row(db, created["id"]).status == "waiting_customer"
    csrf = sign_in(client, personas.carol)
    page = client.get(f"/help/acme/tickets/{created['number']}")
    assert "AI answer" in page.text
    assert "Sources:" in page.text
    assert 'href="/help/acme/articles/reset-your-password">Reset your password</a>' in page.text
    assert "Yes, this solved my problem" in page.text
    url = f"/help/acme/tickets/{created['number']}/confirm"
    assert client.post(url, data={"solved": "yes"}).status_code == 403
    r = client.post(url, data={"solved": "yes", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert ticket_row(db, created["id"]).status == "resolved"
    after = client.get(f"/help/acme/tickets/{created['number']}")
    assert "Yes, this solved my problem" not in after.text
    again = client.post(url, data={"solved": "no", "csrf_token": csrf})
    assert again.status_code == 409
