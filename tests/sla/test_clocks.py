"""SLA clocks driven by real ticket flows (service layer, frozen clock)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from deskpilot.customers import service as customers_service
from deskpilot.customers.schemas import OrganizationCreate
from deskpilot.sla import service
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket
from tests.sla.helpers import clocks_of, event_kinds, make_hours, make_policy


def reply(session: Session, ctx: object, ticket_id: int, body: str = "Thanks") -> None:
    tickets_service.add_message(session, ctx, ticket_id, MessageCreate(body=body))  # type: ignore[arg-type]
    session.commit()


def set_status(session: Session, ctx: object, ticket_id: int, status: str) -> None:
    tickets_service.update_ticket(session, ctx, ticket_id, TicketUpdate(status=status))  # type: ignore[arg-type]
    session.commit()


def test_clocks_follow_a_ticket_through_reply_wait_resolve_and_reopen(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    make_policy(session, personas.acme_admin.ctx)
    session.commit()
    start = clock.now
    ticket = make_ticket(session, personas.carol.ctx)
    session.commit()
    clocks = clocks_of(session, ticket.id)
    assert set(clocks) == {("first_response", 1), ("resolution", 1)}
    assert clocks[("first_response", 1)].due_at == start + timedelta(minutes=60)
    assert clocks[("first_response", 1)].at_risk_at == start + timedelta(minutes=30)
    assert clocks[("resolution", 1)].due_at == start + timedelta(minutes=240)

    clock.advance(minutes=20)
    reply(session, personas.ann.ctx, ticket.id)  # first public agent reply
    clocks = clocks_of(session, ticket.id)
    assert clocks[("first_response", 1)].state == "met"
    assert clocks[("first_response", 1)].elapsed_seconds == 20 * 60

    clock.advance(minutes=10)
    reply(session, personas.carol.ctx, ticket.id, "Still broken")  # customer: next response owed
    clocks = clocks_of(session, ticket.id)
    assert clocks[("next_response", 1)].state == "running"
    assert clocks[("next_response", 1)].due_at == clock.now + timedelta(minutes=30)

    clock.advance(minutes=5)
    reply(session, personas.ann.ctx, ticket.id, "Can you send a screenshot?")
    set_status(session, personas.ann.ctx, ticket.id, "waiting_customer")
    clocks = clocks_of(session, ticket.id)
    assert clocks[("next_response", 1)].state == "met"
    resolution = clocks[("resolution", 1)]
    assert resolution.state == "paused"
    assert resolution.due_at is None
    assert resolution.at_risk_at is None
    assert resolution.elapsed_seconds == 35 * 60

    clock.advance(hours=3)  # the wait does not count
    reply(session, personas.carol.ctx, ticket.id, "Here it is")  # leaves waiting_customer
    clocks = clocks_of(session, ticket.id)
    resolution = clocks[("resolution", 1)]
    assert resolution.state == "running"
    assert resolution.due_at == clock.now + timedelta(minutes=240 - 35)
    assert clocks[("next_response", 2)].state == "running"

    clock.advance(minutes=15)
    set_status(session, personas.ann.ctx, ticket.id, "resolved")
    clocks = clocks_of(session, ticket.id)
    assert clocks[("resolution", 1)].state == "met"
    assert clocks[("resolution", 1)].elapsed_seconds == 50 * 60
    assert clocks[("next_response", 2)].stopped_at is not None

    clock.advance(days=1)
    reply(session, personas.carol.ctx, ticket.id, "It broke again")  # reopens
    clocks = clocks_of(session, ticket.id)
    resolution = clocks[("resolution", 1)]
    assert resolution.state == "running"
    assert resolution.stopped_at is None
    assert resolution.due_at == clock.now + timedelta(minutes=240 - 50)
    assert clocks[("next_response", 3)].state == "running"
    assert event_kinds(session, ticket.id) == []  # no breach, no risk flag (no sweep ran)


def test_a_late_reply_is_recorded_as_a_breach(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    make_policy(session, personas.acme_admin.ctx)
    session.commit()
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    clock.advance(minutes=61)
    reply(session, personas.ann.ctx, ticket.id)
    first = clocks_of(session, ticket.id)[("first_response", 1)]
    assert first.state == "breached"
    assert first.stopped_at is not None
    assert event_kinds(session, ticket.id) == ["sla_breached"]
    view = service.ticket_sla(session, personas.ann.ctx, ticket.id)
    assert [c.state for c in view.clocks] == ["breached", "ok"]
    assert view.clocks[0].seconds_left == -60


def test_waiting_customer_does_not_pause_when_the_policy_says_so(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    make_policy(session, personas.acme_admin.ctx, pause_when_waiting_customer=False)
    session.commit()
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    set_status(session, personas.ann.ctx, ticket.id, "waiting_customer")
    assert clocks_of(session, ticket.id)[("resolution", 1)].state == "running"


def test_first_matching_policy_by_position_wins(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    admin = personas.acme_admin.ctx
    org = customers_service.create_organization(
        session,
        admin,
        OrganizationCreate(name="Big Co", domain="big.example.com", tier="enterprise"),
    )
    make_policy(session, admin, name="Catch-all", position=100, first_response_minutes=480)
    make_policy(
        session, admin, name="Enterprise", position=10, first_response_minutes=30,
        conditions={"organization_tier": ["enterprise"]},
    )  # fmt: skip
    make_policy(
        session, admin, name="Urgent off", position=1, enabled=False,
        first_response_minutes=5, conditions={"priority": ["normal"]},
    )  # fmt: skip
    make_policy(
        session, admin, name="Urgent", position=5, first_response_minutes=15,
        conditions={"priority": ["urgent"]},
    )  # fmt: skip
    session.commit()
    assert org.id
    plain = make_ticket(session, personas.ann.ctx)
    enterprise = make_ticket(
        session, personas.ann.ctx, requester={"email": "eve@big.example.com", "name": "Eve"}
    )
    urgent = make_ticket(
        session, personas.ann.ctx, priority="urgent",
        requester={"email": "eve@big.example.com", "name": "Eve"},
    )  # fmt: skip
    session.commit()
    names = {
        t.id: service.ticket_sla(session, personas.ann.ctx, t.id).policy_name
        for t in (plain, enterprise, urgent)
    }
    assert names == {plain.id: "Catch-all", enterprise.id: "Enterprise", urgent.id: "Urgent"}


def test_a_priority_change_rematches_and_keeps_elapsed_time(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    admin = personas.acme_admin.ctx
    make_policy(session, admin, name="Normal", position=2, resolution_minutes=600)
    make_policy(
        session, admin, name="Urgent", position=1, resolution_minutes=120,
        first_response_minutes=None, conditions={"priority": ["urgent"]},
    )  # fmt: skip
    session.commit()
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    clock.advance(minutes=30)
    tickets_service.update_ticket(
        session, personas.ann.ctx, ticket.id, TicketUpdate(priority="urgent")
    )
    session.commit()
    clocks = clocks_of(session, ticket.id)
    resolution = clocks[("resolution", 1)]
    assert resolution.target_minutes == 120
    assert resolution.elapsed_seconds == 30 * 60
    assert resolution.due_at == clock.now + timedelta(minutes=90)
    assert ("first_response", 1) not in clocks  # the urgent policy has no first-response target


def test_business_hours_policy_counts_only_office_time(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    admin = personas.acme_admin.ctx
    hours_id = make_hours(session, admin)
    make_policy(session, admin, business_hours_id=hours_id, first_response_minutes=120)
    session.commit()
    clock.now = clock.now.replace(day=7, hour=15)  # Friday 16:00 in Berlin
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    first = clocks_of(session, ticket.id)[("first_response", 1)]
    assert first.due_at == clock.now.replace(day=10, hour=9)  # Monday 10:00 Berlin
    clock.advance(days=2)  # Sunday: nothing counted yet beyond Friday's hour
    view = service.ticket_sla(session, personas.ann.ctx, ticket.id)
    assert view.clocks[0].seconds_left == 3600
