"""The ticket state machine: legal and illegal moves, reopen bookkeeping, reply side effects."""

from __future__ import annotations

from collections import deque
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from deskpilot.core.context import ActorType, Context
from deskpilot.core.errors import IllegalTransition
from deskpilot.db.engine import Database
from deskpilot.tickets import service
from deskpilot.tickets.lifecycle import TRANSITIONS, Status
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket

REOPEN_SOURCES = {Status.resolved, Status.closed}


def legal_path(target: Status) -> list[Status]:
    """Shortest chain of legal moves from `new` to `target` (empty for `new` itself)."""
    previous: dict[Status, Status | None] = {Status.new: None}
    queue = deque([Status.new])
    while queue:
        current = queue.popleft()
        for nxt in sorted(TRANSITIONS[current]):
            if nxt not in previous:
                previous[nxt] = current
                queue.append(nxt)
    assert target in previous, f"{target} is unreachable from new"
    path: list[Status] = []
    step: Status | None = target
    while step is not None and step != Status.new:
        path.append(step)
        step = previous[step]
    return path[::-1]


def expected_kind(source: Status, target: Status) -> str:
    if source in REOPEN_SOURCES and target not in REOPEN_SOURCES:
        return "reopened"
    if target in (Status.resolved, Status.closed):
        return target.value
    return "status_changed"


def patch_status(
    client: TestClient, headers: dict[str, str], ticket_id: int, status: Status
) -> Any:
    return client.patch(f"/api/v1/tickets/{ticket_id}", json={"status": status}, headers=headers)


def test_every_status_is_reachable_by_legal_moves() -> None:
    assert set(TRANSITIONS) == set(Status)
    for status in Status:
        path = [Status.new, *legal_path(status)]
        assert path[-1] == status
        assert all(b in TRANSITIONS[a] for a, b in pairwise(path))


def test_every_transition_pair_through_patch(
    client: TestClient, personas: Personas, db: Database
) -> None:
    """Legal moves: 200 and one event of the right kind. Illegal: 409 listing the legal targets."""
    pairs = [(source, target) for source in Status for target in Status]
    tickets: dict[tuple[Status, Status], int] = {}
    with db.session(write=True) as s:
        for source, target in pairs:
            ticket = make_ticket(s, personas.ann.ctx, subject=f"{source} -> {target}")
            for step in legal_path(source):
                service.update_ticket(s, personas.ann.ctx, ticket.id, TicketUpdate(status=step))
            tickets[(source, target)] = ticket.id
        s.commit()

    headers = personas.ann.headers
    failures: list[str] = []
    for (source, target), ticket_id in tickets.items():
        r = patch_status(client, headers, ticket_id, target)
        events = client.get(f"/api/v1/tickets/{ticket_id}/events", headers=headers).json()
        new_events = events["items"][1 + len(legal_path(source)) :]
        label = f"{source.value} -> {target.value}"
        if source == target:
            if r.status_code != 200 or new_events:
                failures.append(f"{label}: a no-op should be 200 with no event, got {r.text}")
        elif target in TRANSITIONS[source]:
            kinds = [e["kind"] for e in new_events]
            if r.status_code != 200 or r.json()["status"] != target.value:
                failures.append(f"{label}: expected 200, got {r.status_code} {r.text}")
            elif kinds != [expected_kind(source, target)]:
                failures.append(f"{label}: events {kinds}")
            elif (new_events[0]["old_value"], new_events[0]["new_value"]) != (source, target):
                failures.append(f"{label}: event values {new_events[0]}")
        else:
            error = r.json().get("error", {})
            details = error.get("details") or {}
            if (
                r.status_code != 409
                or error.get("code") != "illegal_transition"
                or details.get("allowed") != sorted(t.value for t in TRANSITIONS[source])
                or (details.get("from"), details.get("to")) != (source, target)
                or new_events
            ):
                failures.append(f"{label}: expected 409 illegal_transition, got {r.text}")
    assert failures == []
    # Illegal attempts left their tickets where they were.
    with db.session(write=False) as s:
        for (source, target), ticket_id in tickets.items():
            status = service.get_ticket(s, personas.ann.ctx, ticket_id).status
            legal = source == target or target in TRANSITIONS[source]
            assert status == (target if legal else source), (source, target)


@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(walk=st.lists(st.sampled_from(list(Status)), max_size=10))
def test_random_status_walks_keep_timestamps_counts_and_events(
    session: Session, personas: Personas, walk: list[Status]
) -> None:
    ctx = personas.ann.ctx
    ticket = make_ticket(session, ctx)
    expected_kinds = ["created"]
    reopens = 0
    for target in walk:
        source = Status(ticket.status)
        if target != source and target not in TRANSITIONS[source]:
            with pytest.raises(IllegalTransition) as raised:
                service.update_ticket(session, ctx, ticket.id, TicketUpdate(status=target))
            assert raised.value.details["allowed"] == sorted(t.value for t in TRANSITIONS[source])
            assert ticket.status == source
            continue
        service.update_ticket(session, ctx, ticket.id, TicketUpdate(status=target))
        assert ticket.status == target
        if target != source:
            expected_kinds.append(expected_kind(source, target))
            if expected_kinds[-1] == "reopened":
                reopens += 1
        if target == Status.resolved:
            assert ticket.resolved_at is not None
        elif target == Status.closed:
            assert ticket.closed_at is not None
        else:
            assert ticket.resolved_at is None
            assert ticket.closed_at is None
    assert ticket.reopened_count == reopens
    events = service.list_events(session, ctx, ticket.id)
    assert [e.kind for e in events] == expected_kinds
    assert all(e.actor_user_id == personas.ann.user_id for e in events)
    session.rollback()


@pytest.mark.parametrize("source", [Status.resolved, Status.closed])
def test_reopen_bumps_count_and_clears_resolution_timestamps(
    client: TestClient, personas: Personas, clock: FrozenClock, source: Status
) -> None:
    headers = personas.ann.headers
    ticket = client.post(
        "/api/v1/tickets",
        json={"subject": "Flaky export", "requester": {"email": "r@example.com"}},
        headers=headers,
    ).json()
    resolved_at = clock.advance(minutes=5)
    resolved = patch_status(client, headers, ticket["id"], Status.resolved).json()
    assert resolved["resolved_at"] == resolved_at.isoformat().replace("+00:00", "Z")
    if source == Status.closed:
        closed_at = clock.advance(minutes=5)
        closed = patch_status(client, headers, ticket["id"], Status.closed).json()
        assert closed["closed_at"] == closed_at.isoformat().replace("+00:00", "Z")
        assert closed["resolved_at"] is not None

    reopened = patch_status(client, headers, ticket["id"], Status.in_progress).json()

    assert reopened["status"] == "in_progress"
    assert reopened["reopened_count"] == 1
    assert reopened["resolved_at"] is None
    assert reopened["closed_at"] is None
    events = client.get(f"/api/v1/tickets/{ticket['id']}/events", headers=headers).json()
    last = events["items"][-1]
    assert (last["kind"], last["old_value"], last["new_value"]) == (
        "reopened",
        source.value,
        "in_progress",
    )


def _carol_ticket(session: Session, personas: Personas, status: Status) -> int:
    ticket = make_ticket(session, personas.ann.ctx, requester={"email": personas.carol.email})
    for step in legal_path(status):
        service.update_ticket(session, personas.ann.ctx, ticket.id, TicketUpdate(status=step))
    session.commit()
    return ticket.id


@pytest.mark.parametrize(
    ("status", "after", "reopens", "kind"),
    [
        (Status.resolved, Status.in_progress, 1, "reopened"),
        (Status.closed, Status.in_progress, 1, "reopened"),
        (Status.waiting_customer, Status.in_progress, 0, "status_changed"),
        (Status.new, Status.new, 0, None),
        (Status.waiting_internal, Status.waiting_internal, 0, None),
    ],
)
def test_customer_public_reply_moves_status(
    session: Session,
    personas: Personas,
    status: Status,
    after: Status,
    reopens: int,
    kind: str | None,
) -> None:
    ticket_id = _carol_ticket(session, personas, status)
    carol = personas.carol.ctx
    service.add_message(session, carol, ticket_id, MessageCreate(body="Still broken, sorry"))
    ticket = service.get_ticket(session, personas.ann.ctx, ticket_id)
    assert ticket.status == after
    assert ticket.reopened_count == reopens
    events = service.list_events(session, personas.ann.ctx, ticket_id)
    after_reply = events[[e.kind for e in events].index("message_added") + 1 :]
    if kind is None:
        assert after_reply == []
    else:
        assert len(after_reply) == 1
        assert (events[-1].kind, events[-1].old_value, events[-1].new_value) == (
            kind,
            status,
            after,
        )
        assert events[-1].meta == {"reason": "customer_reply"}
        assert events[-1].actor_user_id == personas.carol.user_id
    if status in REOPEN_SOURCES:
        assert ticket.resolved_at is None
        assert ticket.closed_at is None


def test_first_response_is_stamped_by_the_first_public_agent_reply_only(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    ann = personas.ann.ctx
    ticket_id = _carol_ticket(session, personas, Status.new)
    clock.advance(minutes=1)
    service.add_message(session, personas.carol.ctx, ticket_id, MessageCreate(body="Any news?"))
    clock.advance(minutes=1)
    service.add_message(
        session, ann, ticket_id, MessageCreate(body="Checking logs", visibility="internal")
    )
    clock.advance(minutes=1)
    service.add_message(
        session, Context.system(ann.workspace_id), ticket_id, MessageCreate(body="Auto")
    )
    ticket = service.get_ticket(session, ann, ticket_id)
    assert ticket.first_response_at is None

    first_reply_at = clock.advance(minutes=1)
    service.add_message(session, ann, ticket_id, MessageCreate(body="Fixed it"))
    clock.advance(minutes=1)
    service.add_message(session, personas.bob.ctx, ticket_id, MessageCreate(body="Me too"))

    assert ticket.first_response_at == first_reply_at
    kinds = [e.kind for e in service.list_events(session, ann, ticket_id)]
    assert kinds.count("first_response") == 1


def test_an_ai_public_reply_counts_as_first_response(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    ticket_id = _carol_ticket(session, personas, Status.new)
    ai = Context.system(personas.ann.workspace_id, ActorType.ai)
    message = service.add_message(session, ai, ticket_id, MessageCreate(body="Try resetting"))
    ticket = service.get_ticket(session, personas.ann.ctx, ticket_id)
    assert message.author_type == "ai"
    assert ticket.first_response_at == clock.now
    event = service.list_events(session, personas.ann.ctx, ticket_id)[-1]
    assert (event.kind, event.actor_type, event.meta) == (
        "first_response",
        "ai",
        {"author_type": "ai"},
    )
