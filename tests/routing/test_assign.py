"""Automatic assignment: strategies, skills, capacity, availability, queues and pulls."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.auth.schemas import MemberUpdate
from deskpilot.routing import service
from deskpilot.routing.schemas import AgentStatusUpdate, Availability, Strategy
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.schemas import TicketUpdate
from deskpilot.workspaces import service as workspaces_service
from tests.factories import Personas, make_ticket
from tests.routing.conftest import key_of, staff_team

ON = Availability.online


def new_tickets(session: Session, personas: Personas, team_id: int | None, n: int, **kw: object):
    """Create n tickets, one transaction each (as n requests would), and return their assignees."""
    result = []
    for i in range(n):
        ticket = make_ticket(session, personas.ann.ctx, subject=f"t{i}", team_id=team_id, **kw)
        session.commit()
        result.append(key_of(personas, ticket.assignee_id))
    return result


def test_round_robin_takes_turns_in_user_id_order_and_spreads_evenly(
    session: Session, personas: Personas
) -> None:
    team = staff_team(
        session,
        personas,
        Strategy.round_robin,
        {"ann": (ON, 50), "bob": (ON, 50), "acme_admin": (ON, 50)},
    )
    got = new_tickets(session, personas, team, 30)
    assert got[:6] == ["acme_admin", "ann", "bob", "acme_admin", "ann", "bob"]
    assert Counter(got) == {"acme_admin": 10, "ann": 10, "bob": 10}
    routing = service.get_team_routing(session, personas.ann.ctx, team)
    assert routing.last_assigned_user_id == personas.bob.user_id


def test_round_robin_skips_a_full_agent_without_losing_its_turn_order(
    session: Session, personas: Personas
) -> None:
    team = staff_team(session, personas, Strategy.round_robin, {"ann": (ON, 1), "bob": (ON, 5)})
    assert new_tickets(session, personas, team, 4) == ["ann", "bob", "bob", "bob"]


def test_least_load_prefers_the_emptiest_agent_then_takes_turns(
    session: Session, personas: Personas
) -> None:
    team = staff_team(session, personas, Strategy.least_load, {"ann": (ON, 10), "bob": (ON, 10)})
    for _ in range(2):  # ann already holds two open tickets, assigned by hand
        make_ticket(session, personas.ann.ctx, assignee_id=personas.ann.user_id)
    session.commit()
    assert new_tickets(session, personas, team, 4) == ["bob", "bob", "ann", "bob"]
    assert (
        service.get_agent_status(session, personas.ann.ctx, personas.bob.user_id).open_tickets == 3
    )


def test_capacity_is_never_exceeded_and_the_rest_waits_in_the_queue_oldest_first(
    session: Session, personas: Personas
) -> None:
    team = staff_team(session, personas, Strategy.least_load, {"ann": (ON, 2), "bob": (ON, 1)})
    got = new_tickets(session, personas, team, 5)
    assert Counter(got) == {"ann": 2, "bob": 1, "none": 2}
    queue, _ = service.team_queue(session, personas.ann.ctx, team)
    assert [t.subject for t in queue] == ["t3", "t4"]
    assert all(t.assignee_id is None for t in queue)


def test_zero_capacity_away_offline_inactive_and_statusless_agents_get_nothing(
    session: Session, personas: Personas
) -> None:
    team = staff_team(
        session,
        personas,
        Strategy.round_robin,
        {"ann": (Availability.away, 10), "bob": (Availability.offline, 10), "acme_admin": (ON, 0)},
    )
    # The owner joins the team but never set a status: offline by default.
    workspaces_service.add_team_member(
        session, personas.acme_admin.ctx, team, personas.acme_owner.user_id
    )
    session.commit()
    assert new_tickets(session, personas, team, 2) == ["none", "none"]
    # An online agent whose membership was deactivated is skipped too.
    service.set_agent_status(
        session, personas.acme_admin.ctx, personas.bob.user_id, AgentStatusUpdate(availability=ON)
    )
    auth_service.update_member(
        session, personas.acme_owner.ctx, personas.bob.user_id, MemberUpdate(is_active=False)
    )
    session.commit()
    assert new_tickets(session, personas, team, 1) == ["none"]


def test_skills_win_when_a_skilled_agent_has_room_otherwise_anyone_qualifies(
    session: Session, personas: Personas
) -> None:
    team = staff_team(
        session,
        personas,
        Strategy.round_robin,
        {"ann": (ON, 2, ["Billing"]), "bob": (ON, 10, ["outage"])},
    )
    # Categories match skills case-insensitively; ann has the skill until she is full.
    assert new_tickets(session, personas, team, 3, category="billing") == ["ann", "ann", "bob"]
    assert new_tickets(session, personas, team, 1, category="OUTAGE") == ["bob"]
    # No one has the skill: plain round robin among everyone with room (ann is full).
    assert new_tickets(session, personas, team, 1, category="shipping") == ["bob"]


def test_manual_teams_and_teams_without_routing_are_left_alone(
    session: Session, personas: Personas
) -> None:
    staff_team(session, personas, Strategy.manual, {"ann": (ON, 10)})
    assert new_tickets(session, personas, personas.teams["acme_support"], 1) == ["none"]
    assert new_tickets(session, personas, personas.teams["acme_billing"], 1) == ["none"]
    assert new_tickets(session, personas, None, 1) == ["none"]


def test_tickets_created_with_an_assignee_keep_it(session: Session, personas: Personas) -> None:
    team = staff_team(session, personas, Strategy.round_robin, {"ann": (ON, 10)})
    ticket = make_ticket(session, personas.ann.ctx, team_id=team, assignee_id=personas.bob.user_id)
    session.commit()
    assert ticket.assignee_id == personas.bob.user_id


def test_moving_a_ticket_to_a_routed_team_assigns_it_as_the_system(
    session: Session, personas: Personas
) -> None:
    team = staff_team(session, personas, Strategy.round_robin, {"bob": (ON, 10)})
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    tickets_service.update_ticket(session, personas.ann.ctx, ticket.id, TicketUpdate(team_id=team))
    session.commit()
    assert ticket.assignee_id == personas.bob.user_id
    events = tickets_service.list_events(session, personas.ann.ctx, ticket.id)
    [assigned] = [e for e in events if e.kind == "assigned"]
    assert (assigned.actor_type, assigned.actor_user_id, assigned.new_value) == (
        "system",
        None,
        personas.bob.user_id,
    )


def test_an_agent_coming_online_pulls_the_queue_oldest_first(
    session: Session, personas: Personas
) -> None:
    team = staff_team(
        session,
        personas,
        Strategy.round_robin,
        {"ann": (Availability.away, 2), "bob": (Availability.offline, 5)},
    )
    first, second, third = (
        make_ticket(session, personas.ann.ctx, subject=s, team_id=team) for s in "abc"
    )
    session.commit()
    assert [t.assignee_id for t in (first, second, third)] == [None, None, None]

    state = service.set_agent_status(
        session, personas.ann.ctx, personas.ann.user_id, AgentStatusUpdate(availability=ON)
    )
    session.commit()
    assert state.open_tickets == 2
    assert [t.assignee_id for t in (first, second, third)] == [personas.ann.user_id] * 2 + [None]


def test_resolving_a_ticket_frees_capacity_for_the_next_queued_one(
    session: Session, personas: Personas
) -> None:
    team = staff_team(session, personas, Strategy.least_load, {"ann": (ON, 1)})
    first = make_ticket(session, personas.ann.ctx, team_id=team)
    session.commit()
    waiting = make_ticket(session, personas.ann.ctx, team_id=team)
    session.commit()
    assert (first.assignee_id, waiting.assignee_id) == (personas.ann.user_id, None)

    tickets_service.update_ticket(
        session, personas.ann.ctx, first.id, TicketUpdate(status=Status.resolved)
    )
    session.commit()
    assert waiting.assignee_id == personas.ann.user_id


def test_switching_a_team_to_automatic_hands_out_its_waiting_queue(
    session: Session, personas: Personas
) -> None:
    team = staff_team(session, personas, Strategy.manual, {"ann": (ON, 10), "bob": (ON, 10)})
    tickets = [make_ticket(session, personas.ann.ctx, team_id=team) for _ in range(4)]
    session.commit()
    service.set_team_routing(session, personas.acme_admin.ctx, team, Strategy.round_robin)
    session.commit()
    assert [key_of(personas, t.assignee_id) for t in tickets] == ["ann", "bob", "ann", "bob"]
