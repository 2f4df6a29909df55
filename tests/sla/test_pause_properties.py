"""Property: whatever the sequence of waits, resumes, resolves and reopens, the resolution clock
counts exactly the time the ticket spent in counted states, in calendar and in business hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from deskpilot.sla.calendar import BusinessCalendar, business_seconds_between
from deskpilot.sla.models import BusinessHours
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import TicketUpdate
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket
from tests.sla.helpers import clocks_of, make_hours, make_policy

# Moves that are legal from where the walk is, and whether the resolution clock counts after.
MOVES = {
    "in_progress": {"waiting_customer": False, "resolved": False},
    "waiting_customer": {"in_progress": True, "resolved": False},
    "resolved": {"in_progress": True},
}

steps = st.lists(
    st.tuples(st.integers(min_value=1, max_value=600), st.integers(min_value=0, max_value=1)),
    min_size=1,
    max_size=8,
)


def walk(
    session: Session, personas: Personas, clock: FrozenClock, plan: list[tuple[int, int]]
) -> tuple[int, list[tuple[datetime, datetime]]]:
    """Run the plan on a new ticket; returns its id and the intervals its clock should count."""
    agent = personas.ann.ctx
    ticket = make_ticket(session, agent)
    tickets_service.update_ticket(session, agent, ticket.id, TicketUpdate(status="in_progress"))
    session.commit()
    counted: list[tuple[datetime, datetime]] = []
    status, running_since = "in_progress", clock.now
    for minutes, choice in plan:
        clock.advance(minutes=minutes)
        target, counts = sorted(MOVES[status].items())[choice % len(MOVES[status])]
        if running_since is not None and not counts:
            counted.append((running_since, clock.now))
            running_since = None
        elif running_since is None and counts:
            running_since = clock.now
        tickets_service.update_ticket(session, agent, ticket.id, TicketUpdate(status=target))
        session.commit()
        status = target
    clock.advance(minutes=7)
    if running_since is not None:
        counted.append((running_since, clock.now))
    return ticket.id, counted


def elapsed_now(
    session: Session, ticket_id: int, clock: FrozenClock, hours: BusinessHours | None
) -> int:
    resolution = clocks_of(session, ticket_id)[("resolution", 1)]
    elapsed = resolution.elapsed_seconds
    if resolution.state in ("running", "breached") and resolution.stopped_at is None:
        calendar = BusinessCalendar.from_model(hours) if hours else None
        elapsed += business_seconds_between(resolution.counted_at, clock.now, calendar)
    return elapsed


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps)
def test_calendar_clock_counts_only_running_time(
    session: Session, personas: Personas, clock: FrozenClock, plan: list[tuple[int, int]]
) -> None:
    if session.info.get("policy") is None:
        make_policy(session, personas.acme_admin.ctx, resolution_minutes=100_000)
        session.commit()
        session.info["policy"] = True
    ticket_id, counted = walk(session, personas, clock, plan)
    expected = sum(int((b - a).total_seconds()) for a, b in counted)
    assert elapsed_now(session, ticket_id, clock, None) == expected


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps)
def test_business_clock_counts_only_running_business_time(
    session: Session, personas: Personas, clock: FrozenClock, plan: list[tuple[int, int]]
) -> None:
    if session.info.get("hours_id") is None:
        hours_id = make_hours(session, personas.acme_admin.ctx)
        make_policy(
            session, personas.acme_admin.ctx, resolution_minutes=100_000, business_hours_id=hours_id
        )
        session.commit()
        session.info["hours_id"] = hours_id
    hours = session.get(BusinessHours, session.info["hours_id"])
    assert hours is not None
    calendar = BusinessCalendar.from_model(hours)
    ticket_id, counted = walk(session, personas, clock, plan)
    expected = sum(business_seconds_between(a, b, calendar) for a, b in counted)
    assert elapsed_now(session, ticket_id, clock, hours) == expected
    assert timedelta(seconds=expected) >= timedelta(0)
