"""Contact support: anonymous and signed-in requests, deflection suggestions, spam, files."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.customers.models import Contact
from deskpilot.db.engine import Database
from deskpilot.tickets.models import Attachment, Message, Ticket
from tests.factories import Personas
from tests.pages import HTMX, sign_in
from tests.portal.conftest import HelpCenter, search_logs

REQUEST = {
    "name": "Erin Example",
    "email": "Erin@Example.com",
    "subject": "Printer offline",
    "description": "The office printer shows *offline*.",
}


def tickets(db: Database) -> list[Ticket]:
    with db.session(write=False) as s:
        rows = list(s.scalars(select(Ticket).order_by(Ticket.id)))
        s.expunge_all()
    return rows


def test_contact_form_for_visitors_asks_who_they_are(
    client: TestClient, personas: Personas
) -> None:
    r = client.get("/help/acme/contact")
    assert r.status_code == 200
    assert '<label for="f-name">Your name</label>' in r.text
    assert '<label for="f-email">Email</label>' in r.text
    assert 'name="attachments" type="file" multiple' in r.text
    assert 'name="website"' in r.text, "the honeypot field"
    assert 'hx-get="/help/acme/contact/suggestions"' in r.text


def test_anonymous_request_creates_a_portal_ticket_for_the_contact(
    client: TestClient, db: Database, personas: Personas
) -> None:
    r = client.post("/help/acme/contact", data=REQUEST, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/help/acme/contact/sent"
    [ticket] = tickets(db)
    assert (ticket.subject, ticket.channel, ticket.status) == ("Printer offline", "portal", "new")
    assert ticket.description == "The office printer shows *offline*."
    with db.session(write=False) as s:
        contact = s.get(Contact, ticket.requester_id)
        assert contact is not None
        assert (contact.email, contact.name) == ("erin@example.com", "Erin Example")
    page = client.get(r.headers["location"])
    assert "Request received" in page.text
    assert f"Your request #{ticket.number} was received." in page.text


def test_an_existing_contact_is_reused(
    client: TestClient, db: Database, personas: Personas
) -> None:
    form = {**REQUEST, "email": personas.carol.email, "name": "Carol"}
    assert client.post("/help/acme/contact", data=form).status_code == 200
    [ticket] = tickets(db)
    assert ticket.requester_id == personas.carol.contact_id


def test_missing_fields_re_render_the_form_with_errors(
    client: TestClient, db: Database, personas: Personas
) -> None:
    r = client.post("/help/acme/contact", data={"subject": "Hi", "email": "not-an-email"})
    assert r.status_code == 422
    assert "Please describe what you need" in r.text
    assert "Please enter your name" in r.text
    assert "Please enter a valid email address" in r.text
    assert 'value="Hi"' in r.text, "what was typed is kept"
    assert tickets(db) == []


def test_the_honeypot_pretends_success_and_files_nothing(
    client: TestClient, db: Database, personas: Personas
) -> None:
    r = client.post(
        "/help/acme/contact", data={**REQUEST, "website": "http://spam"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/help/acme/contact/sent"
    assert tickets(db) == []


def test_a_form_sent_twice_files_one_ticket(
    client: TestClient, db: Database, personas: Personas
) -> None:
    form = {**REQUEST, "request_key": "abcdefghijklmnop"}
    client.post("/help/acme/contact", data=form)
    client.post("/help/acme/contact", data=form)
    assert len(tickets(db)) == 1


def test_suggestions_appear_as_the_subject_is_typed_and_are_logged(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    r = client.get(
        "/help/acme/contact/suggestions", params={"subject": "reset my password"}, headers=HTMX
    )
    assert r.status_code == 200
    assert "<html" not in r.text
    assert "These articles might answer your question" in r.text
    [logged] = search_logs(db)
    assert (logged.source, logged.query) == ("portal", "reset my password")
    assert f'name="search_id" value="{logged.id}"' in r.text
    assert f"/help/acme/articles/{help_center.password}?from_search={logged.id}" in r.text
    assert "Internal escalation runbook" not in r.text

    full = client.get("/help/acme/contact/suggestions", params={"subject": "invoices"})
    assert "<html" in full.text
    assert 'value="invoices"' in full.text
    assert "Download your invoices" in full.text


def test_filing_anyway_links_the_ticket_to_the_search(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    client.get("/help/acme/contact/suggestions", params={"subject": "password"}, headers=HTMX)
    [logged] = search_logs(db)
    client.post("/help/acme/contact", data={**REQUEST, "search_id": str(logged.id)})
    [ticket] = tickets(db)
    assert search_logs(db)[0].ticket_id == ticket.id


def test_a_foreign_search_id_is_ignored_but_the_ticket_is_filed(
    client: TestClient, db: Database, personas: Personas, help_center: HelpCenter
) -> None:
    client.get("/help/globex/contact/suggestions", params={"subject": "plans"}, headers=HTMX)
    [globex_search] = search_logs(db)
    r = client.post("/help/acme/contact", data={**REQUEST, "search_id": str(globex_search.id)})
    assert r.status_code == 200
    assert len(tickets(db)) == 1
    assert search_logs(db)[0].ticket_id is None


def test_signed_in_customer_files_as_themselves_and_lands_on_the_ticket(
    client: TestClient, db: Database, personas: Personas
) -> None:
    csrf = sign_in(client, personas.carol)
    form = {"subject": "Need an invoice copy", "description": "For March, please."}
    page = client.get("/help/acme/contact")
    assert 'name="email"' not in page.text
    assert "Signed in as Carol" in page.text
    assert client.post("/help/acme/contact", data=form).status_code == 403, "CSRF required"
    r = client.post("/help/acme/contact", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    [ticket] = tickets(db)
    assert r.headers["location"] == f"/help/acme/tickets/{ticket.number}"
    assert ticket.requester_id == personas.carol.contact_id
    assert ticket.channel == "portal"


def test_staff_sessions_use_the_form_like_visitors(
    client: TestClient, db: Database, personas: Personas
) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post(
        "/help/acme/contact", data={**REQUEST, "csrf_token": csrf}, follow_redirects=False
    )
    assert r.headers["location"] == "/help/acme/contact/sent"
    [ticket] = tickets(db)
    assert ticket.requester_id != personas.carol.contact_id


def test_attachments_are_kept_on_a_public_note(
    client: TestClient, db: Database, personas: Personas
) -> None:
    files = [
        ("attachments", ("error.txt", b"E42 paper jam\n", "text/plain")),
        ("attachments", ("", b"", "application/octet-stream")),  # no file chosen
    ]
    r = client.post("/help/acme/contact", data=REQUEST, files=files, follow_redirects=False)
    assert r.status_code == 303
    [ticket] = tickets(db)
    with db.session(write=False) as s:
        [note] = s.scalars(select(Message).where(Message.ticket_id == ticket.id)).all()
        [attachment] = s.scalars(select(Attachment)).all()
        assert (note.visibility, note.author_type) == ("public", "system")
        assert attachment.message_id == note.id
        assert attachment.filename == "error.txt"
