"""The demo workspace: complete, realistic, written through the services, and safe to rerun."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.auth.models import Membership
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict
from deskpilot.customers.models import Contact, Organization
from deskpilot.demo.seed import (
    DEMO_PASSWORD,
    DEMO_SLUG,
    DemoSummary,
    directory,
    seed_demo,
    status_path,
    ticket_specs,
)
from deskpilot.kb import search as kb_search
from deskpilot.tickets import listing as tickets_listing
from deskpilot.tickets.lifecycle import TRANSITIONS, Channel, Priority, Status, TicketType
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.models import Team

SEEDED_AT = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def seeded(session: Session) -> DemoSummary:
    summary = seed_demo(session, now=SEEDED_AT)
    session.commit()
    return summary


def test_directory_people_teams_and_customers(session: Session, seeded: DemoSummary) -> None:
    assert (seeded.members, seeded.teams, seeded.organizations, seeded.contacts) == (7, 3, 5, 15)
    roles = Counter(session.scalars(select(Membership.role)))
    assert roles == {"owner": 1, "admin": 1, "agent": 3, "customer": 2}
    customers = session.scalars(select(Membership).where(Membership.role == "customer")).all()
    assert all(m.contact_id is not None for m in customers)

    system = workspaces_service.require_workspace_by_slug(session, DEMO_SLUG)
    assert system.name == "Acme Cloud Support"
    teams = {t.name: t.id for t in session.scalars(select(Team))}
    assert set(teams) == {"Support", "Billing", "Engineering"}
    ctx = Context.system(system.id)
    for team_id in teams.values():
        assert workspaces_service.list_team_member_ids(session, ctx, team_id)

    orgs = session.scalars(select(Organization)).all()
    assert {o.tier for o in orgs} == {"free", "pro", "enterprise"}
    assert all(o.domain and o.mrr is not None for o in orgs)
    with_org = session.scalars(select(Contact).where(Contact.organization_id.is_not(None))).all()
    assert len(with_org) == 13


def test_tickets_cover_every_status_channel_type_and_priority(
    session: Session, seeded: DemoSummary
) -> None:
    tickets = session.scalars(select(Ticket)).all()
    assert seeded.tickets == len(tickets) == len(ticket_specs()) >= 40
    assert {t.status for t in tickets} == {s.value for s in Status}
    assert {t.channel for t in tickets} == {c.value for c in Channel}
    assert {t.type for t in tickets} == {t.value for t in TicketType}
    assert {t.priority for t in tickets} == {p.value for p in Priority}
    assert any(t.assignee_id for t in tickets)
    assert any(t.assignee_id is None for t in tickets)
    assert any(t.team_id for t in tickets)
    assert all(t.tags for t in tickets)
    assert [t.number for t in sorted(tickets, key=lambda t: t.created_at)] == list(
        range(1, len(tickets) + 1)
    )


def test_history_is_spread_over_the_last_month(session: Session, seeded: DemoSummary) -> None:
    del seeded
    created = [t.created_at for t in session.scalars(select(Ticket))]
    assert min(created) >= SEEDED_AT - timedelta(days=31)
    assert max(created) <= SEEDED_AT
    assert max(created) - min(created) > timedelta(days=25)
    for message in session.scalars(select(Message)):
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None
        assert ticket.created_at - timedelta(days=1) <= message.created_at <= SEEDED_AT
    assert all(e.created_at <= SEEDED_AT for e in session.scalars(select(TicketEvent)))
    # The real clock is back once seeding is over.
    assert abs(utcnow() - SEEDED_AT) > timedelta(days=1)


def test_conversations_are_written_by_the_right_actors(
    session: Session, seeded: DemoSummary
) -> None:
    del seeded
    messages = session.scalars(select(Message)).all()
    kinds = Counter((m.author_type, m.visibility) for m in messages)
    assert kinds[("customer", "public")] >= 10
    assert kinds[("agent", "public")] >= 30
    assert kinds[("agent", "internal")] >= 10
    staff = set(session.scalars(select(Membership.user_id).where(Membership.role != "customer")))
    for message in messages:
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None
        if message.author_type == "customer":
            assert message.author_contact_id == ticket.requester_id
        else:
            assert message.author_user_id in staff
    answered = {
        m.ticket_id for m in messages if m.author_type == "agent" and m.visibility == "public"
    }
    for ticket in session.scalars(select(Ticket)):
        assert (ticket.first_response_at is not None) == (ticket.id in answered)


def test_a_reopened_ticket_and_a_merged_duplicate(session: Session, seeded: DemoSummary) -> None:
    del seeded
    reopened = session.scalars(select(Ticket).where(Ticket.reopened_count > 0)).all()
    assert len(reopened) == 1
    assert reopened[0].status == Status.in_progress
    kinds = [
        e.kind
        for e in session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == reopened[0].id)
            .order_by(TicketEvent.id)
        )
    ]
    assert kinds.index("resolved") < kinds.index("reopened")

    [merged] = session.scalars(select(Ticket).where(Ticket.merged_into_id.is_not(None))).all()
    assert merged.status == Status.closed
    target = session.get(Ticket, merged.merged_into_id)
    assert target is not None
    assert target.subject.startswith("Deployments stuck")
    moved = session.scalars(select(Message).where(Message.ticket_id == target.id)).all()
    assert any("staging project" in m.body for m in moved)
    assert session.scalars(select(Message).where(Message.ticket_id == merged.id)).all() == []


def test_demo_logins_work_and_customers_see_only_their_tickets(
    session: Session, seeded: DemoSummary
) -> None:
    del seeded
    people = directory()
    for person in people["staff"]:
        ctx = auth_service.authenticate(session, DEMO_SLUG, person["email"], DEMO_PASSWORD)
        assert ctx.role == Role(person["role"])
    portal = [c["email"] for c in people["contacts"] if c.get("portal")]
    assert len(portal) == 2
    for email in portal:
        ctx = auth_service.authenticate(session, DEMO_SLUG, email, DEMO_PASSWORD)
        assert ctx.role == Role.customer
        visible, _ = tickets_listing.list_tickets(
            session, ctx, tickets_listing.TicketFilters(), limit=100
        )
        expected = [s for s in ticket_specs() if s["requester"] == email]
        assert len(visible) == len(expected) > 0
        assert {t.requester_id for t in visible} == {ctx.contact_id}


def test_seeding_an_existing_demo_conflicts_and_restores_the_clock(
    session: Session, seeded: DemoSummary
) -> None:
    del seeded
    with pytest.raises(Conflict):
        seed_demo(session, now=SEEDED_AT)
    session.rollback()
    assert abs(utcnow() - SEEDED_AT) > timedelta(days=1)
    assert len(session.scalars(select(Ticket)).all()) == len(ticket_specs())


# --- status paths --------------------------------------------------------------------------------


def test_the_help_center_has_published_searchable_articles(
    session: Session, seeded: DemoSummary
) -> None:
    assert seeded.articles >= 10
    visitor = Context(workspace_id=seeded.workspace_id, user_id=None, role=Role.customer)
    hits = kb_search.search(session, visitor, "I forgot my password and cannot sign in").hits
    assert hits
    assert hits[0].external_id == "reset-password"


def test_status_path_is_legal_and_shortest() -> None:
    assert status_path(Status.new, Status.new) == []
    assert status_path(Status.new, Status.closed) == [Status.resolved, Status.closed]
    assert status_path(Status.closed, Status.waiting_customer) == [
        Status.in_progress,
        Status.waiting_customer,
    ]
    for start in Status:
        for target in Status:
            # Nothing moves back to new, and only new moves to triage.
            unreachable = (target == Status.new and start != Status.new) or (
                target == Status.triage and start not in (Status.new, Status.triage)
            )
            if unreachable:
                with pytest.raises(ValueError, match="no legal path"):
                    status_path(start, target)
                continue
            path = status_path(start, target)
            steps = [start, *path]
            assert steps[-1] == target
            assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(steps))
            assert len(path) <= 3


def test_the_demo_month_is_rolled_up_for_the_dashboards(
    session: Session, seeded: DemoSummary
) -> None:
    from deskpilot.analytics.models import AgentDailyStats, TicketFact

    facts = session.scalar(
        select(func.count())
        .select_from(TicketFact)
        .where(TicketFact.workspace_id == seeded.workspace_id)
    )
    days = session.scalar(
        select(func.count(func.distinct(AgentDailyStats.day))).where(
            AgentDailyStats.workspace_id == seeded.workspace_id
        )
    )
    assert facts == seeded.tickets
    assert days is not None
    assert days > 7  # activity spread over the month, not only yesterday and today


def test_agents_have_shared_macros_that_render_for_a_demo_ticket(
    session: Session, seeded: DemoSummary
) -> None:
    from deskpilot.macros import service as macros_service
    from deskpilot.macros.rendering import unknown_variables

    agent_email = next(p["email"] for p in directory()["staff"] if p["role"] == "agent")
    agent = auth_service.authenticate(session, DEMO_SLUG, agent_email, DEMO_PASSWORD)
    macros, _ = macros_service.list_macros(session, agent)
    by_name = {m.name: m for m in macros}
    assert set(by_name) >= {"Ask for details", "Solved: close the loop"}
    assert all(m.owner_user_id is None for m in macros), "shared with every agent"
    for macro in macros:
        assert unknown_variables(macro.body) == [], macro.name
    assert by_name["Ask for details"].changes == {"status": "waiting_customer"}
