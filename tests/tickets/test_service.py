"""Ticket service: the audit trail (one event per effective change, with actor, field, old, new)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound, PermissionDenied
from deskpilot.tickets import service
from deskpilot.tickets.lifecycle import TRANSITIONS, Impact, Priority, Status, TicketType
from deskpilot.tickets.models import Ticket, TicketEvent
from deskpilot.tickets.schemas import MessageCreate, TicketRead, TicketUpdate
from tests.factories import Personas, make_ticket

AUDITED_FIELDS = (
    "subject",
    "status",
    "priority",
    "impact",
    "type",
    "category",
    "assignee_id",
    "team_id",
    "parent_id",
    "tags",
    "custom_fields",
)


def events_of(session: Session, ctx: Context, ticket_id: int) -> list[TicketEvent]:
    return service.list_events(session, ctx, ticket_id)


def snapshot(ticket: Ticket) -> dict[str, Any]:
    values = TicketRead.model_validate(ticket).model_dump(mode="json", include=set(AUDITED_FIELDS))
    # Tag order in the PATCH response is covered in test_api.py.
    values["tags"] = sorted(values["tags"])
    return values


def test_created_event_records_actor_number_and_channel(
    session: Session, personas: Personas
) -> None:
    ticket = make_ticket(session, personas.ann.ctx, channel="email")
    [event] = events_of(session, personas.ann.ctx, ticket.id)
    assert event.kind == "created"
    assert (event.actor_type, event.actor_user_id) == ("user", personas.ann.user_id)
    assert event.meta == {"channel": "email", "number": ticket.number}
    assert event.workspace_id == personas.ann.workspace_id


def test_each_field_change_has_its_own_event_with_old_and_new(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    parent = make_ticket(session, ann, subject="Parent")
    ticket = make_ticket(session, ann, tags=["vip"], custom_fields={"plan": "pro"})
    support = personas.teams["acme_support"]
    update = TicketUpdate(
        subject="Cannot log in on mobile",
        priority=Priority.high,
        impact=Impact.multiple_users,
        type=TicketType.bug,
        category="auth",
        assignee_id=personas.bob.user_id,
        team_id=support,
        parent_id=parent.id,
        tags=["vip", "Mobile App"],
        custom_fields={"plan": None, "os": "ios"},
        status=Status.in_progress,
    )
    service.update_ticket(session, ann, ticket.id, update)

    changes = {
        (e.kind, e.field): (e.old_value, e.new_value) for e in events_of(session, ann, ticket.id)
    }
    assert changes == {
        ("created", None): (None, None),
        ("field_changed", "subject"): ("Cannot log in", "Cannot log in on mobile"),
        ("priority_changed", "priority"): ("normal", "high"),
        ("field_changed", "impact"): ("single_user", "multiple_users"),
        ("type_changed", "type"): (None, "bug"),
        ("category_changed", "category"): (None, "auth"),
        ("assigned", "assignee_id"): (None, personas.bob.user_id),
        ("team_changed", "team_id"): (None, support),
        ("linked", "parent_id"): (None, parent.id),
        ("tagged", "tags"): (["vip"], ["mobile-app", "vip"]),
        ("field_changed", "custom_fields"): ({"plan": "pro"}, {"os": "ios"}),
        ("status_changed", "status"): ("new", "in_progress"),
    }
    tagged = next(e for e in events_of(session, ann, ticket.id) if e.kind == "tagged")
    assert tagged.meta == {"added": ["mobile-app"], "removed": []}
    assert {e.actor_user_id for e in events_of(session, ann, ticket.id)} == {ann.user_id}


def test_an_update_that_changes_nothing_records_nothing(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    ticket = make_ticket(session, ann, tags=["b", "a"], priority="high", custom_fields={"k": 1})
    service.update_ticket(
        session,
        ann,
        ticket.id,
        TicketUpdate(
            priority=Priority.high,
            tags=["A", " b "],
            custom_fields={"k": 1},
            status=Status.new,
            subject="Cannot log in",
        ),
    )
    assert [e.kind for e in events_of(session, ann, ticket.id)] == ["created"]


def test_status_events_for_resolve_close_and_reopen(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    ticket = make_ticket(session, ann)
    for target in (Status.resolved, Status.closed, Status.in_progress):
        service.update_ticket(session, ann, ticket.id, TicketUpdate(status=target))
    trail = [
        (e.kind, e.field, e.old_value, e.new_value) for e in events_of(session, ann, ticket.id)
    ]
    assert trail[1:] == [
        ("resolved", "status", "new", "resolved"),
        ("closed", "status", "resolved", "closed"),
        ("reopened", "status", "closed", "in_progress"),
    ]


def test_messages_and_first_response_are_audited(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    ticket = make_ticket(session, ann)
    note = service.add_message(
        session, ann, ticket.id, MessageCreate(body="look", visibility="internal")
    )
    reply = service.add_message(session, ann, ticket.id, MessageCreate(body="Hello"))
    trail = [(e.kind, e.meta) for e in events_of(session, ann, ticket.id)]
    assert trail[1:] == [
        (
            "message_added",
            {"message_id": note.id, "author_type": "agent", "visibility": "internal"},
        ),
        ("message_added", {"message_id": reply.id, "author_type": "agent", "visibility": "public"}),
        ("first_response", {"author_type": "agent"}),
    ]


def test_merge_is_audited_on_both_tickets(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    original = make_ticket(session, ann)
    duplicate = make_ticket(session, ann, subject="Same again")
    moved = service.add_message(session, ann, duplicate.id, MessageCreate(body="dup"))
    service.merge_tickets(session, ann, duplicate.id, original.id)

    on_duplicate = events_of(session, ann, duplicate.id)[-1]
    on_original = events_of(session, ann, original.id)[-1]
    assert (on_duplicate.kind, on_duplicate.field) == ("merged", "status")
    assert (on_duplicate.old_value, on_duplicate.new_value) == ("new", "closed")
    assert on_duplicate.meta == {"into_ticket_id": original.id, "moved_message_ids": [moved.id]}
    assert on_original.kind == "merged"
    assert on_original.meta == {
        "from_ticket_id": duplicate.id,
        "from_number": duplicate.number,
        "moved_message_ids": [moved.id],
        "made_internal": False,
    }
    assert on_original.actor_user_id == on_duplicate.actor_user_id == ann.user_id


def test_merging_another_requesters_ticket_keeps_its_messages_internal(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    original = make_ticket(session, ann, requester={"email": "first@customer.example.com"})
    duplicate = make_ticket(session, ann, requester={"email": "second@customer.example.com"})
    moved = service.add_message(session, ann, duplicate.id, MessageCreate(body="private to second"))
    service.merge_tickets(session, ann, duplicate.id, original.id)
    session.refresh(moved)
    assert (moved.ticket_id, moved.visibility) == (original.id, "internal")
    assert events_of(session, ann, original.id)[-1].meta["made_internal"] is True


def _updates(personas: Personas, parent_id: int) -> st.SearchStrategy[dict[str, Any]]:
    """Random partial updates drawn from small value pools so that repeats (no-ops) are common."""
    return st.fixed_dictionaries(
        {},
        optional={
            "subject": st.sampled_from(["Cannot log in", "Login broken"]),
            "priority": st.sampled_from(list(Priority)),
            "impact": st.sampled_from(list(Impact)),
            "type": st.sampled_from([None, *TicketType]),
            "category": st.sampled_from([None, "auth", "billing"]),
            "assignee_id": st.sampled_from([None, personas.ann.user_id, personas.bob.user_id]),
            "team_id": st.sampled_from(
                [None, personas.teams["acme_support"], personas.teams["acme_billing"]]
            ),
            "parent_id": st.sampled_from([None, parent_id]),
            "tags": st.lists(st.sampled_from(["a", "B", "c c"]), max_size=3),
            "custom_fields": st.dictionaries(
                st.sampled_from(["x", "y"]), st.sampled_from([None, 1, "two"]), max_size=2
            ),
            "status": st.sampled_from(list(Status)),
        },
    )


@hsettings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_effective_change_has_exactly_one_event(
    session: Session, personas: Personas, data: st.DataObject
) -> None:
    ann = personas.ann.ctx
    parent = make_ticket(session, ann, subject="Parent")
    ticket = make_ticket(session, ann)
    for _ in range(3):
        changes = data.draw(_updates(personas, parent.id))
        if "status" in changes and changes["status"] not in TRANSITIONS[Status(ticket.status)]:
            del changes["status"]
        before = snapshot(ticket)
        seen = len(events_of(session, ann, ticket.id))
        service.update_ticket(session, ann, ticket.id, TicketUpdate.model_validate(changes))
        after = snapshot(ticket)
        new_events = events_of(session, ann, ticket.id)[seen:]
        changed = {name for name in AUDITED_FIELDS if before[name] != after[name]}
        assert sorted(e.field or "" for e in new_events) == sorted(changed)
        for event in new_events:
            assert event.field is not None
            assert (event.old_value, event.new_value) == (before[event.field], after[event.field])
    session.rollback()


def test_events_are_only_visible_to_staff_of_the_workspace(
    session: Session, personas: Personas
) -> None:
    ticket = make_ticket(session, personas.ann.ctx, requester={"email": personas.carol.email})
    session.commit()
    assert session.scalar(select(func.count()).select_from(TicketEvent)) == 1
    with pytest.raises(PermissionDenied):
        service.list_events(session, personas.carol.ctx, ticket.id)
    with pytest.raises(NotFound):
        service.list_events(session, personas.gina.ctx, ticket.id)
