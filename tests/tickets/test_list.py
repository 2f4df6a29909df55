"""Ticket list: every filter against an independent oracle, sorts, and keyset cursor pagination."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from deskpilot.core.pagination import encode_cursor
from deskpilot.db.engine import Database
from deskpilot.tickets import service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.schemas import TicketUpdate
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket

TICKETS = "/api/v1/tickets"


@dataclass(frozen=True)
class Row:
    """What the test knows about a ticket it made, used to compute expected results."""

    id: int
    number: int
    status: str
    priority: str
    type: str | None
    assignee_id: int | None
    team_id: int | None
    requester_id: int
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


SPECS: list[dict[str, Any]] = [
    {"priority": "low", "type": "bug", "tags": ["a"], "assignee": "ann", "team": "acme_support"},
    {
        "priority": "high",
        "type": "question",
        "tags": ["a", "B"],
        "assignee": "bob",
        "team": "acme_billing",
        "status": Status.in_progress,
        "email": "erin@example.com",
    },
    {"priority": "urgent", "status": Status.resolved},
    {
        "type": "billing",
        "tags": ["b"],
        "assignee": "ann",
        "team": "acme_support",
        "status": Status.waiting_customer,
        "email": "carol",
    },
    {"tags": ["c"], "email": "erin@example.com"},
    {"priority": "low", "type": "bug", "status": Status.triage},
]


def make_rows(db: Database, personas: Personas, clock: FrozenClock) -> list[Row]:
    rows: list[Row] = []
    ann = personas.ann.ctx
    with db.session(write=True) as s:
        for spec in SPECS:
            clock.advance(hours=1)
            email = spec.get("email", "dave@example.com")
            ticket = make_ticket(
                s,
                ann,
                priority=spec.get("priority", "normal"),
                type=spec.get("type"),
                tags=spec.get("tags", []),
                assignee_id=getattr(personas, spec["assignee"]).user_id
                if "assignee" in spec
                else None,
                team_id=personas.teams[spec["team"]] if "team" in spec else None,
                requester={"email": personas.carol.email if email == "carol" else email},
            )
            if "status" in spec:
                service.update_ticket(s, ann, ticket.id, TicketUpdate(status=spec["status"]))
            rows.append(
                Row(
                    id=ticket.id,
                    number=ticket.number,
                    status=ticket.status,
                    priority=ticket.priority,
                    type=ticket.type,
                    assignee_id=ticket.assignee_id,
                    team_id=ticket.team_id,
                    requester_id=ticket.requester_id or 0,
                    tags=tuple(ticket.tags),
                    created_at=ticket.created_at,
                    updated_at=ticket.updated_at,
                )
            )
        make_ticket(s, personas.gina.ctx, priority="low", tags=["a"])
        s.commit()
    # Touch the oldest ticket last so updated_at order differs from created_at order.
    with db.session(write=True) as s:
        clock.advance(hours=1)
        service.update_ticket(s, ann, rows[0].id, TicketUpdate(category="touched"))
        s.commit()
    rows[0] = Row(**{**rows[0].__dict__, "updated_at": clock.now})
    return rows


def listed_ids(client: TestClient, headers: dict[str, str], params: dict[str, Any]) -> list[int]:
    r = client.get(TICKETS, params={"limit": 100, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["items"]]


def test_each_filter_returns_exactly_the_matching_tickets(
    client: TestClient, personas: Personas, db: Database, clock: FrozenClock
) -> None:
    rows = make_rows(db, personas, clock)
    ann, bob = personas.ann.user_id, personas.bob.user_id
    support = personas.teams["acme_support"]
    erin = next(r.requester_id for r in rows if r.id == rows[1].id)
    cases: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
        ({}, lambda r: True),
        ({"status": "new"}, lambda r: r.status == "new"),
        ({"status": ["new", "resolved"]}, lambda r: r.status in ("new", "resolved")),
        ({"priority": "low"}, lambda r: r.priority == "low"),
        ({"priority": ["high", "urgent"]}, lambda r: r.priority in ("high", "urgent")),
        ({"type": "bug"}, lambda r: r.type == "bug"),
        ({"assignee_id": ann}, lambda r: r.assignee_id == ann),
        ({"assignee_id": bob}, lambda r: r.assignee_id == bob),
        ({"unassigned": "true"}, lambda r: r.assignee_id is None),
        ({"unassigned": "true", "assignee_id": ann}, lambda r: r.assignee_id is None),
        ({"team_id": support}, lambda r: r.team_id == support),
        ({"tag": "a"}, lambda r: "a" in r.tags),
        ({"tag": " B "}, lambda r: "b" in r.tags),
        ({"requester_id": erin}, lambda r: r.requester_id == erin),
        (
            {
                "created_after": rows[1].created_at.isoformat(),
                "created_before": rows[3].created_at.isoformat(),
            },
            lambda r: rows[1].created_at <= r.created_at < rows[3].created_at,
        ),
        ({"priority": "low", "type": "bug", "status": "triage"}, lambda r: r.id == rows[5].id),
    ]
    for params, matches in cases:
        expected = sorted(r.id for r in rows if matches(r))
        assert sorted(listed_ids(client, personas.ann.headers, params)) == expected, params
    assert listed_ids(client, personas.ann.headers, {"tag": "nope"}) == []


def test_customer_filters_never_widen_their_view(
    client: TestClient, personas: Personas, db: Database, clock: FrozenClock
) -> None:
    rows = make_rows(db, personas, clock)
    carol = personas.carol.headers
    mine = [r.id for r in rows if r.requester_id == personas.carol.contact_id]
    assert len(mine) == 1
    assert listed_ids(client, carol, {}) == mine
    assert listed_ids(client, carol, {"requester_id": rows[0].requester_id}) == []


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [
        ("number", "number", False),
        ("-number", "number", True),
        ("created_at", "created_at", False),
        ("-created_at", "created_at", True),
        ("updated_at", "updated_at", False),
        ("-updated_at", "updated_at", True),
    ],
)
def test_sorts(
    client: TestClient,
    personas: Personas,
    db: Database,
    clock: FrozenClock,
    sort: str,
    key: str,
    reverse: bool,
) -> None:
    rows = make_rows(db, personas, clock)
    expected = [r.id for r in sorted(rows, key=lambda r: getattr(r, key), reverse=reverse)]
    assert listed_ids(client, personas.ann.headers, {"sort": sort}) == expected


def test_default_sort_is_newest_first(
    client: TestClient, personas: Personas, db: Database, clock: FrozenClock
) -> None:
    rows = make_rows(db, personas, clock)
    assert listed_ids(client, personas.ann.headers, {}) == [r.id for r in reversed(rows)]


def walk_pages(client: TestClient, headers: dict[str, str], params: dict[str, Any]) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        page = client.get(
            TICKETS, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= params["limit"]
        seen += [t["id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not terminate")


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "-updated_at", "number", "-number"])
def test_cursor_pagination_visits_every_ticket_once_even_with_equal_timestamps(
    client: TestClient, personas: Personas, db: Database, clock: FrozenClock, sort: str
) -> None:
    """Timestamps repeat in groups of three, so the id tie-breaker decides the page boundaries."""
    with db.session(write=True) as s:
        for i in range(10):
            if i % 3 == 0:
                clock.advance(seconds=1)
            make_ticket(s, personas.ann.ctx, subject=f"t{i}")
        make_ticket(s, personas.gina.ctx)
        s.commit()
    headers = personas.ann.headers
    full = listed_ids(client, headers, {"sort": sort})
    assert len(full) == 10
    for limit in (1, 2, 3, 4, 9, 10, 11):
        assert walk_pages(client, headers, {"sort": sort, "limit": limit}) == full, limit


def test_cursor_pagination_applies_filters_on_every_page(
    client: TestClient, personas: Personas, db: Database, clock: FrozenClock
) -> None:
    with db.session(write=True) as s:
        for i in range(8):
            make_ticket(s, personas.ann.ctx, priority="high" if i % 2 else "low")
        s.commit()
    walked = walk_pages(client, personas.ann.headers, {"priority": "high", "limit": 1})
    assert sorted(walked) == sorted(listed_ids(client, personas.ann.headers, {"priority": "high"}))
    assert len(walked) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"sort": "subject"}, "sort"),
        ({"cursor": "not a cursor!"}, "cursor"),
        ({"cursor": encode_cursor(["x"])}, "cursor"),
        ({"cursor": encode_cursor({"a": 1})}, "cursor"),  # type: ignore[arg-type]
        ({"cursor": encode_cursor(["yesterday", 1])}, "cursor"),
        ({"status": "done"}, "status.0"),
        ({"priority": "meh"}, "priority.0"),
        ({"assignee_id": "ann"}, "assignee_id"),
        ({"created_after": "last week"}, "created_after"),
    ],
)
def test_bad_list_parameters_are_422_on_their_field(
    client: TestClient, personas: Personas, params: dict[str, Any], field: str
) -> None:
    r = client.get(TICKETS, params=params, headers=personas.ann.headers)
    assert r.status_code == 422, r.text
    assert field in [d["field"] for d in r.json()["error"]["details"]]


@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_a_timestamp_without_timezone_is_422_not_a_server_error(
    client: TestClient, personas: Personas, name: str
) -> None:
    r = client.get(TICKETS, params={name: "2025-01-01T00:00:00"}, headers=personas.ann.headers)
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [name]


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        ("-created_at", ["2025-01-01T00:00:00+00:00", 2**63]),
        ("number", [2**63, 1]),
        ("-created_at", ["2025-01-01T00:00:00", 1]),
    ],
)
def test_a_forged_cursor_is_422_not_500(
    client: TestClient, personas: Personas, sort: str, values: list[Any]
) -> None:
    r = client.get(
        TICKETS,
        params={"sort": sort, "cursor": encode_cursor(values)},
        headers=personas.ann.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"] == [{"field": "cursor", "message": "not a cursor"}]


@hsettings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=st.text(max_size=80))
def test_arbitrary_cursor_text_is_never_a_server_error(
    client: TestClient, personas: Personas, raw: str
) -> None:
    r = client.get(TICKETS, params={"cursor": raw}, headers=personas.ann.headers)
    assert r.status_code in (200, 422), r.text
