"""Escalation lists: each filter, keyset pages in both orders, bad cursors, workspace scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from deskpilot.core.errors import PermissionDenied, ValidationFailed
from deskpilot.core.pagination import encode_cursor
from deskpilot.escalations import service
from deskpilot.escalations.listing import EscalationFilters
from deskpilot.escalations.models import Escalation
from deskpilot.escalations.schemas import EscalationReason as R
from deskpilot.escalations.schemas import EscalationStatus
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket


@dataclass
class Seeded:
    by_label: dict[str, Escalation]

    def ids(self, *labels: str) -> set[int]:
        return {self.by_label[label].id for label in labels}


def seed(session: Session, personas: Personas, clock: FrozenClock) -> Seeded:
    """Five acme escalations a minute apart (a..e) and one of globex."""
    ann = personas.ann.ctx
    support, billing = personas.teams["acme_support"], personas.teams["acme_billing"]
    specs = [
        ("a", R.low_confidence, 0.2, support),
        ("b", R.low_confidence, 0.6, billing),
        ("c", R.manual, None, None),
        ("d", R.sla, 0.9, support),
        ("e", R.sentiment, 0.5, billing),
    ]
    made: dict[str, Escalation] = {}
    for label, reason, confidence, team in specs:
        clock.advance(minutes=1)
        ticket = make_ticket(session, ann, subject=f"Ticket {label}")
        made[label] = service.escalate_ticket(
            session, ann, ticket.id, reason=reason, ai_confidence=confidence, team_id=team
        )
    service.resolve_escalation(session, ann, made["b"].id, resolution="duplicate")
    globex_ticket = make_ticket(session, personas.gina.ctx)
    service.escalate_ticket(session, personas.gina.ctx, globex_ticket.id, reason=R.manual)
    session.commit()
    return Seeded(made)


def listed(session: Session, personas: Personas, **filters: Any) -> set[int]:
    rows, _ = service.list_escalations(
        session, personas.ann.ctx, EscalationFilters(**filters), limit=100
    )
    return {row.id for row in rows}


def test_each_filter(session: Session, personas: Personas, clock: FrozenClock) -> None:
    s = seed(session, personas, clock)
    support = personas.teams["acme_support"]
    start = s.by_label["a"].created_at
    assert listed(session, personas) == s.ids("a", "b", "c", "d", "e")
    assert listed(session, personas, status=[EscalationStatus.resolved]) == s.ids("b")
    assert listed(session, personas, status=[EscalationStatus.open]) == s.ids("a", "c", "d", "e")
    assert listed(session, personas, reason=[R.low_confidence, R.sla]) == s.ids("a", "b", "d")
    assert listed(session, personas, team_id=support) == s.ids("a", "d")
    assert listed(session, personas, ticket_id=s.by_label["c"].ticket_id) == s.ids("c")
    assert listed(
        session,
        personas,
        created_from=start + timedelta(minutes=1),
        created_to=start + timedelta(minutes=3),
    ) == s.ids("b", "c")
    assert listed(session, personas, min_ai_confidence=0.5) == s.ids("b", "d", "e")
    assert listed(session, personas, max_ai_confidence=0.5) == s.ids("a", "e")
    assert listed(
        session, personas, min_ai_confidence=0.5, max_ai_confidence=0.6, reason=[R.sentiment]
    ) == s.ids("e")


def test_pages_follow_the_sort_without_gaps_or_repeats(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    s = seed(session, personas, clock)
    oldest_first = [s.by_label[label].id for label in "abcde"]
    for sort, expected in (("created_at", oldest_first), ("-created_at", oldest_first[::-1])):
        seen: list[int] = []
        cursor = None
        for _page in range(len(expected)):  # bounded: a cursor that never advances must fail
            rows, cursor = service.list_escalations(
                session, personas.ann.ctx, EscalationFilters(), cursor=cursor, limit=2, sort=sort
            )
            seen += [row.id for row in rows]
            if cursor is None:
                break
        assert (seen, cursor) == (expected, None), sort


def test_equal_timestamps_are_ordered_by_id(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    ann = personas.ann.ctx
    ids = [
        service.escalate_ticket(session, ann, make_ticket(session, ann).id, reason="manual").id
        for _ in range(3)
    ]
    session.commit()
    first, cursor = service.list_escalations(session, ann, EscalationFilters(), limit=1)
    rest, end = service.list_escalations(session, ann, EscalationFilters(), cursor=cursor)
    assert [r.id for r in first + rest] == ids[::-1]
    assert end is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        encode_cursor([1]),
        encode_cursor(["2025-01-01T00:00:00", 1]),  # naive
        encode_cursor(["yesterday", 1]),
        encode_cursor(["2025-01-01T00:00:00+00:00", -1]),
        encode_cursor(["2025-01-01T00:00:00+00:00", True]),
        encode_cursor([5, 1]),
    ],
)
def test_bad_cursors_are_validation_errors(
    session: Session, personas: Personas, cursor: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.list_escalations(session, personas.ann.ctx, EscalationFilters(), cursor=cursor)
    assert caught.value.details[0]["field"] == "cursor"


def test_bad_sort_and_empty_confidence_range(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    with pytest.raises(ValidationFailed):
        service.list_escalations(session, ann, EscalationFilters(), sort="reason")
    with pytest.raises(ValidationFailed) as caught:
        service.list_escalations(
            session, ann, EscalationFilters(min_ai_confidence=0.8, max_ai_confidence=0.2)
        )
    assert caught.value.details[0]["field"] == "min_ai_confidence"


def test_lists_are_staff_only_and_per_workspace(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    s = seed(session, personas, clock)
    with pytest.raises(PermissionDenied):
        service.list_escalations(session, personas.carol.ctx, EscalationFilters())
    globex, _ = service.list_escalations(session, personas.gina.ctx, EscalationFilters())
    assert len(globex) == 1
    assert not {row.id for row in globex} & s.ids(*"abcde")
    acme_ticket = s.by_label["a"].ticket_id
    leaked, _ = service.list_escalations(
        session, personas.gina.ctx, EscalationFilters(ticket_id=acme_ticket)
    )
    assert leaked == []
