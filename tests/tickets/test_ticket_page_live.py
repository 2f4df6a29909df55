"""Live updates of the ticket page (SSE marker stream) and its fixed query budget."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from deskpilot.db.engine import Database
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets import ticket_pages
from deskpilot.tickets.schemas import MessageCreate
from tests.factories import Personas
from tests.pages import sign_in
from tests.tickets.test_ticket_page_support import add_ai_decision, ticket_with_conversation


@pytest.fixture
def quick_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two polls, no waiting: the stream ends by itself and the test reads all of it."""
    monkeypatch.setattr(ticket_pages, "SSE_POLL_SECONDS", 0)
    monkeypatch.setattr(ticket_pages, "SSE_MAX_POLLS", 2)


def _latest_event_id(db: Database, personas: Personas, ticket_id: int) -> int:
    with db.session(write=False) as s:
        return tickets_service.latest_event_id(s, personas.ann.ctx, ticket_id)


@pytest.mark.usefixtures("quick_stream")
def test_stream_reports_changes_since_the_rendered_marker(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ticket = ticket_with_conversation(db, personas)
    sign_in(client, personas.ann)
    page = client.get(f"/app/tickets/{ticket.number}").text
    rendered = _latest_event_id(db, personas, ticket.id)
    assert f"/events?since={rendered}" in page
    # Nothing changed since the render: only the retry hint and a heartbeat.
    r = client.get(f"/app/tickets/{ticket.number}/events?since={rendered}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "data:" not in r.text
    assert ": heartbeat" in r.text
    # A message arrives (from another process, say): the next poll announces it.
    with db.session(write=True) as s:
        tickets_service.add_message(
            s, personas.bob.ctx, ticket.id, MessageCreate(body="Bob was here")
        )
        s.commit()
    marker = _latest_event_id(db, personas, ticket.id)
    assert marker > rendered
    r = client.get(f"/app/tickets/{ticket.number}/events?since={rendered}")
    assert f"id: {marker}\ndata: {marker}\n\n" in r.text
    assert r.text.count("data:") == 1
    # A reconnecting EventSource sends Last-Event-ID, which wins over the page's marker.
    r = client.get(
        f"/app/tickets/{ticket.number}/events?since={rendered}",
        headers={"Last-Event-ID": str(marker)},
    )
    assert "data:" not in r.text
    # What the refresh then fetches shows the new message.
    live = client.get(f"/app/tickets/{ticket.number}/live", headers={"HX-Request": "true"})
    assert "Bob was here" in live.text


@pytest.mark.usefixtures("quick_stream")
def test_stream_permissions(client: TestClient, personas: Personas, db: Database) -> None:
    ticket = ticket_with_conversation(db, personas)
    url = f"/app/tickets/{ticket.number}/events"
    r = client.get(url, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    sign_in(client, personas.carol)
    assert client.get(url).status_code == 403
    sign_in(client, personas.gina)
    assert client.get(url).status_code == 404


@contextmanager
def _count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    engines = {db.read_engine, db.write_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def test_page_queries_do_not_grow_with_the_conversation(
    client: TestClient, personas: Personas, db: Database
) -> None:
    """Batch loads only: 50 messages with attachments cost the same queries as 3."""
    small = ticket_with_conversation(db, personas)
    big = ticket_with_conversation(db, personas, subject="Long thread")
    with db.session(write=True) as s:
        for i in range(47):
            ctx = personas.ann.ctx if i % 2 else personas.bob.ctx
            visibility = "internal" if i % 5 == 0 else "public"
            tickets_service.add_message(
                s, ctx, big.id, MessageCreate(body=f"Message {i}", visibility=visibility)
            )
        for ticket in (small, big):
            add_ai_decision(s, personas.ann.workspace_id, ticket.id)
        s.commit()
    sign_in(client, personas.ann)
    client.get(f"/app/tickets/{small.number}")  # warm the KB index and caches
    with _count_queries(db) as small_queries:
        assert client.get(f"/app/tickets/{small.number}").status_code == 200
    with _count_queries(db) as big_queries:
        r = client.get(f"/app/tickets/{big.number}")
    assert r.status_code == 200
    assert "Message 46" in r.text
    assert len(big_queries) == len(small_queries), "\n".join(big_queries)
    assert len(big_queries) < 40
