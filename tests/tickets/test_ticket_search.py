"""Full-text ticket search (FTS5 / tsvector), the extended list filters, keyset paging both ways,
and the live-update change marker, on the real database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.escalations import service as escalations_service
from deskpilot.tickets import live, search
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.listing import TicketFilters, list_tickets, page_tickets
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate
from tests.factories import Personas, make_ticket


def _numbers(session: Session, ctx: Context, **filters: object) -> list[int]:
    rows, _ = list_tickets(session, ctx, TicketFilters(**filters), sort="number", limit=100)  # type: ignore[arg-type]
    return [t.number for t in rows]


@pytest.fixture
def tickets(session: Session, personas: Personas) -> dict[str, Ticket]:
    ann = personas.ann.ctx
    made = {
        "refund": make_ticket(
            session, ann, subject="Refund for order 1234", description="Charged twice."
        ),
        "login": make_ticket(
            session, ann, subject="Cannot sign in", description="Password reset email never came."
        ),
        "printer": make_ticket(
            session, ann, subject="Printer jam", description="Paper stuck in the tray."
        ),
    }
    tickets_service.add_message(
        session, ann, made["printer"].id, MessageCreate(body="Tried the duplex unit as well.")
    )
    tickets_service.add_message(
        session,
        ann,
        made["login"].id,
        MessageCreate(body="Internal: suspect the mailgun quota.", visibility="internal"),
    )
    make_ticket(session, personas.gina.ctx, subject="Refund please", description="Globex refund.")
    session.commit()
    return made


def test_search_matches_subject_description_and_messages(
    session: Session, personas: Personas, tickets: dict[str, Ticket]
) -> None:
    ctx = personas.ann.ctx
    assert _numbers(session, ctx, text="refund") == [tickets["refund"].number]
    assert _numbers(session, ctx, text="twice") == [tickets["refund"].number]
    assert _numbers(session, ctx, text="duplex") == [tickets["printer"].number]
    # Words are prefixes and every word must match; case and punctuation do not matter.
    assert _numbers(session, ctx, text="REFUN") == [tickets["refund"].number]
    assert _numbers(session, ctx, text="password, reset!") == [tickets["login"].number]
    assert _numbers(session, ctx, text="password printer") == []


def test_search_is_scoped_to_the_workspace(
    session: Session, personas: Personas, tickets: dict[str, Ticket]
) -> None:
    assert len(_numbers(session, personas.gina.ctx, text="refund")) == 1
    assert _numbers(session, personas.gina.ctx, text="duplex") == []
    assert _numbers(session, personas.ann.ctx, text="globex") == []


def test_customers_do_not_search_internal_notes(
    session: Session, personas: Personas, tickets: dict[str, Ticket]
) -> None:
    carol = personas.carol.ctx
    own = make_ticket(session, carol, subject="My invoice", description="Where is it?")
    tickets_service.add_message(
        session, personas.ann.ctx, own.id, MessageCreate(body="secretword", visibility="internal")
    )
    session.commit()
    assert _numbers(session, personas.ann.ctx, text="secretword") == [own.number]
    assert _numbers(session, carol, text="secretword") == []
    assert _numbers(session, carol, text="invoice") == [own.number]
    assert _numbers(session, personas.ann.ctx, text="mailgun") == [tickets["login"].number]


def test_search_follows_edits_and_finds_ticket_numbers(
    session: Session, personas: Personas, tickets: dict[str, Ticket]
) -> None:
    ctx = personas.ann.ctx
    tickets_service.update_ticket(
        session, ctx, tickets["printer"].id, TicketUpdate(subject="Scanner offline")
    )
    session.commit()
    assert _numbers(session, ctx, text="scanner") == [tickets["printer"].number]
    assert _numbers(session, ctx, text="jam") == []
    number = tickets["login"].number
    assert _numbers(session, ctx, text=f"#{number}") == [number]


@pytest.mark.parametrize("query", ['"', "*", "NEAR(a b)", "a OR", "-x", ":*", "'", "&|!", "()"])
def test_query_syntax_is_never_interpreted(
    session: Session, personas: Personas, tickets: dict[str, Ticket], query: str
) -> None:
    # Only words reach the index; a query of punctuation alone matches nothing and never errors.
    assert isinstance(_numbers(session, personas.ann.ctx, text=query), list)


def test_search_terms() -> None:
    assert search.search_terms("Re: Refund, refund_policy!") == ["re", "refund", "policy"]
    assert search.search_terms("  ") == []
    assert len(search.search_terms(" ".join(f"w{i}" for i in range(20)))) == search.MAX_TERMS
    assert search.ticket_number_in("#12") == 12
    assert search.ticket_number_in("12 apples") is None


def test_category_open_only_and_escalated_filters(
    session: Session, personas: Personas, tickets: dict[str, Ticket]
) -> None:
    ctx = personas.ann.ctx
    tickets_service.update_ticket(
        session, ctx, tickets["refund"].id, TicketUpdate(category="billing/refunds")
    )
    tickets_service.update_ticket(
        session, ctx, tickets["printer"].id, TicketUpdate(status="resolved")
    )
    escalations_service.escalate_ticket(session, ctx, tickets["login"].id, reason="manual")
    session.commit()
    assert _numbers(session, ctx, category=["billing/refunds"]) == [tickets["refund"].number]
    assert tickets["printer"].number not in _numbers(session, ctx, open_only=True)
    assert _numbers(session, ctx, escalated=True) == [tickets["login"].number]
    assert _numbers(session, personas.gina.ctx, escalated=True) == []


def test_pages_walk_forwards_and_backwards(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    made = [make_ticket(session, ctx, subject=f"T{i}").number for i in range(5)]
    session.commit()
    first = page_tickets(session, ctx, TicketFilters(), sort="number", limit=2)
    assert [t.number for t in first.rows] == made[:2]
    assert first.prev_cursor is None
    second = page_tickets(
        session, ctx, TicketFilters(), sort="number", limit=2, after=first.next_cursor
    )
    assert [t.number for t in second.rows] == made[2:4]
    third = page_tickets(
        session, ctx, TicketFilters(), sort="number", limit=2, after=second.next_cursor
    )
    assert [t.number for t in third.rows] == made[4:]
    assert third.next_cursor is None
    back = page_tickets(
        session, ctx, TicketFilters(), sort="number", limit=2, before=third.prev_cursor
    )
    assert [t.number for t in back.rows] == made[2:4]
    assert back.next_cursor is not None
    assert back.prev_cursor is not None
    start = page_tickets(
        session, ctx, TicketFilters(), sort="number", limit=2, before=back.prev_cursor
    )
    assert [t.number for t in start.rows] == made[:2]
    assert start.prev_cursor is None
    # `also` ANDs a second filter set with the first.
    both = page_tickets(
        session,
        ctx,
        TicketFilters(text="t1"),
        sort="number",
        limit=10,
        also=[TicketFilters(status=[])],
    )
    assert [t.number for t in both.rows] == [made[1]]


def test_change_marker_moves_with_the_workspace_only(
    session: Session, personas: Personas, clock: object
) -> None:
    ann, gina = personas.ann.ctx, personas.gina.ctx
    before = live.change_marker(session, ann)
    ticket = make_ticket(session, ann)
    session.commit()
    created = live.change_marker(session, ann)
    assert created != before
    make_ticket(session, gina)
    session.commit()
    assert live.change_marker(session, ann) == created
    escalations_service.escalate_ticket(session, ann, ticket.id, reason="manual")
    session.commit()
    assert live.change_marker(session, ann) != created


def test_event_stream_emits_on_change_and_stops_on_disconnect(
    session: Session, personas: Personas
) -> None:
    ctx = personas.ann.ctx
    reads = 0

    async def load_marker() -> str:
        nonlocal reads
        reads += 1
        if reads == 2:  # something changes between the first and the second poll
            make_ticket(session, ctx)
            session.commit()
        return live.change_marker(session, ctx)

    disconnected = False

    async def is_disconnected() -> bool:
        return disconnected

    async def collect() -> list[str]:
        nonlocal disconnected
        chunks = []
        stream = live.event_stream(
            load_marker, is_disconnected, poll_seconds=0, heartbeat_every=2, max_polls=50
        )
        async for chunk in stream:
            chunks.append(chunk)
            if len(chunks) == 3:
                disconnected = True
        return chunks

    chunks = asyncio.run(collect())
    assert chunks[0].startswith("retry: ")
    # The first poll (reads == 2) sees the new ticket; the stream ends right after the client
    # goes away, long before max_polls.
    assert "data: changed" in chunks[1]
    assert chunks[2] == ": heartbeat\n\n"
    assert len(chunks) == 3
    assert reads < 10


def test_event_stream_catches_up_a_stale_reconnect(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx

    async def load_marker() -> str:
        return live.change_marker(session, ctx)

    async def never() -> bool:
        return False

    async def collect(last_event_id: str | None) -> list[str]:
        stream = live.event_stream(
            load_marker, never, last_event_id=last_event_id, poll_seconds=0, max_polls=1
        )
        return [chunk async for chunk in stream]

    current = live.change_marker(session, ctx)
    assert not any("changed" in c for c in asyncio.run(collect(None)))
    assert not any("changed" in c for c in asyncio.run(collect(current)))
    stale = asyncio.run(collect("old-marker"))
    assert any(c.startswith(f"id: {current}\n") for c in stale)


def test_the_api_exposes_search_and_category(
    client: object, session: Session, personas: Personas, tickets: dict[str, Ticket]
) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    r = client.get("/api/v1/tickets", params={"q": "duplex"}, headers=personas.ann.headers)
    assert r.status_code == 200
    assert [t["number"] for t in r.json()["items"]] == [tickets["printer"].number]
    r = client.get("/api/v1/tickets", params={"q": "refund"}, headers=personas.gina.headers)
    assert [t["subject"] for t in r.json()["items"]] == ["Refund please"]
    r = client.get("/api/v1/tickets", params={"category": "none"}, headers=personas.ann.headers)
    assert r.json()["items"] == []
