"""Time-based rules on a frozen clock: auto-close, remind then close, stale flags, defaults."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from deskpilot.automation import defaults, schedule
from deskpilot.automation.models import AutomationRun
from deskpilot.core.context import Context
from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Message, Ticket
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate
from deskpilot.workspaces.models import Team
from tests.automation.conftest import make_rule
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket


def install(session: Session, ctx: Context) -> defaults.Installed:
    installed = defaults.install_defaults(session, ctx)
    session.commit()
    return installed


def move(session: Session, ctx: Context, ticket_id: int, *statuses: Status) -> None:
    for status in statuses:
        tickets_service.update_ticket(session, ctx, ticket_id, TicketUpdate(status=status))
    session.commit()


def fresh(session: Session, ticket_id: int) -> Ticket:
    session.expire_all()
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


def bodies(session: Session, ticket_id: int) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
    )
    return [(m.visibility, m.body) for m in rows]


def run_count(session: Session) -> int:
    return len(session.scalars(select(AutomationRun)).all())


def test_resolved_tickets_close_after_seven_days_once(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    install(session, personas.acme_admin.ctx)
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    move(session, personas.ann.ctx, ticket.id, Status.resolved)
    clock.advance(days=6, hours=23)
    schedule.sweep(session)
    assert fresh(session, ticket.id).status == "resolved"
    clock.advance(hours=2)
    stats = schedule.sweep(session)
    closed = fresh(session, ticket.id)
    assert closed.status == "closed"
    assert stats.runs == 1
    [run] = session.scalars(select(AutomationRun)).all()
    assert run.event_key.startswith("time:resolved@")
    assert run.trigger == "time_based"
    clock.advance(days=3)
    assert schedule.sweep(session).runs == 0
    assert run_count(session) == 1


def test_waiting_customers_are_reminded_once_then_closed(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    install(session, personas.acme_admin.ctx)
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    move(session, personas.ann.ctx, ticket.id, Status.in_progress, Status.waiting_customer)
    clock.advance(hours=71)
    schedule.sweep(session)
    assert bodies(session, ticket.id) == []
    clock.advance(hours=2)
    schedule.sweep(session)
    assert bodies(session, ticket.id) == [("public", defaults.REMINDER)]
    assert fresh(session, ticket.id).status == "waiting_customer"  # a reminder keeps it waiting
    for _ in range(3):  # later sweeps in the same wait send nothing more
        clock.advance(hours=20)
        schedule.sweep(session)
    assert len(bodies(session, ticket.id)) == 1
    clock.advance(hours=40)  # 73 + 60 + 40 = 173 hours in waiting_customer
    schedule.sweep(session)
    assert fresh(session, ticket.id).status == "closed"
    assert bodies(session, ticket.id)[1] == ("internal", defaults.AUTO_CLOSE_NOTE)


def test_a_customer_reply_re_arms_the_reminder(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    install(session, personas.acme_admin.ctx)
    carol = personas.carol.ctx
    ticket = make_ticket(session, carol, requester=None)
    session.commit()
    move(session, personas.ann.ctx, ticket.id, Status.in_progress, Status.waiting_customer)
    clock.advance(hours=80)
    schedule.sweep(session)
    tickets_service.add_message(session, carol, ticket.id, MessageCreate(body="Still broken"))
    session.commit()
    clock.advance(hours=100)  # in_progress now: neither reminded nor closed
    schedule.sweep(session)
    assert fresh(session, ticket.id).status == "in_progress"
    move(session, personas.ann.ctx, ticket.id, Status.waiting_customer)
    clock.advance(hours=73)
    schedule.sweep(session)
    reminders = [b for v, b in bodies(session, ticket.id) if b == defaults.REMINDER]
    assert len(reminders) == 2


def test_untouched_open_tickets_are_flagged_stale(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    install(session, personas.acme_admin.ctx)
    idle = make_ticket(session, personas.ann.ctx, subject="idle")
    busy = make_ticket(session, personas.ann.ctx, subject="busy")
    waiting = make_ticket(session, personas.ann.ctx, subject="waiting")
    session.commit()
    move(session, personas.ann.ctx, waiting.id, Status.waiting_customer)
    clock.advance(hours=47)
    tickets_service.update_ticket(session, personas.ann.ctx, busy.id, TicketUpdate(priority="high"))
    session.commit()
    clock.advance(hours=2)
    schedule.sweep(session)
    assert fresh(session, idle.id).tags == [defaults.STALE_TAG]
    assert fresh(session, busy.id).tags == []
    assert fresh(session, waiting.id).tags == []
    clock.advance(hours=60)
    schedule.sweep(session)
    assert fresh(session, busy.id).tags == [defaults.STALE_TAG]
    flagged = session.scalars(
        select(AutomationRun.ticket_id).where(AutomationRun.ticket_id != waiting.id)
    )
    assert sorted(flagged) == sorted([idle.id, busy.id])  # once each (the waiting one was reminded)


def test_the_periodic_job_runs_the_sweep_in_its_own_transaction(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    install(session, personas.acme_admin.ctx)
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    move(session, personas.ann.ctx, ticket.id, Status.resolved)
    clock.advance(days=8)
    session.close()
    queue.run_periodic("automation.time_based_rules")
    assert fresh(session, ticket.id).status == "closed"


def test_time_rules_never_touch_another_workspace(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    make_rule(
        session,
        personas.globex_owner.ctx,
        trigger="time_based",
        conditions=[{"field": "hours_since_created", "op": "gte", "value": 1}],
        actions=[{"type": "add_tags", "tags": ["globex-was-here"]}],
    )
    acme = make_ticket(session, personas.ann.ctx)
    globex = make_ticket(session, personas.gina.ctx)
    session.commit()
    clock.advance(hours=2)
    schedule.sweep(session)
    assert fresh(session, acme.id).tags == []
    assert fresh(session, globex.id).tags == ["globex-was-here"]


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    engine = db.write_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_sweep_page_costs_the_same_queries_for_few_or_many_tickets(
    session: Session, personas: Personas, clock: FrozenClock, db: Database
) -> None:
    """Non-matching candidates cost no per-ticket queries (tags, requester, status times are
    loaded per page)."""
    install(session, personas.acme_admin.ctx)
    counts = []
    for batch in (5, 40):
        for _ in range(batch):
            ticket = make_ticket(session, personas.ann.ctx)
            tickets_service.change_status(session, personas.ann.ctx, ticket, Status.resolved)
        session.commit()
        clock.advance(hours=50)  # old enough to be a candidate, resolved too recently to close
        with count_queries(db) as seen:
            stats = schedule.sweep(session)
        assert stats.runs == 0
        assert stats.tickets_scanned >= batch
        counts.append(len(seen))
        for row in session.scalars(select(Ticket)):  # park them: closed tickets are not scanned
            tickets_service.change_status(session, personas.ann.ctx, row, Status.closed)
        session.commit()
    assert counts[0] == counts[1]


def test_defaults_are_installed_once_and_assign_the_on_call_team(
    session: Session, personas: Personas
) -> None:
    admin = personas.acme_admin.ctx
    on_call = Team(workspace_id=admin.workspace_id, name="On-call", description="")
    session.add(on_call)
    session.commit()
    first = install(session, admin)
    assert len(first.created) == len(defaults.DEFAULT_RULES)
    assert first.skipped_actions == []
    again = install(session, admin)
    assert again.created == []
    assert len(again.existing) == len(defaults.DEFAULT_RULES)

    outage = make_ticket(session, personas.ann.ctx, category="outage", impact="site_down")
    bug = make_ticket(session, personas.ann.ctx, impact="site_down")
    minor = make_ticket(session, personas.ann.ctx, category="outage")
    session.commit()
    assert (fresh(session, outage.id).priority, fresh(session, outage.id).team_id) == (
        "urgent",
        on_call.id,
    )
    assert fresh(session, bug.id).priority == "normal"
    assert fresh(session, minor.id).priority == "normal"
    # Triage marks the second one a bug: the "updated" twin of the rule takes it.
    tickets_service.update_ticket(session, personas.ann.ctx, bug.id, TicketUpdate(type="bug"))
    session.commit()
    handled = fresh(session, bug.id)
    assert (handled.priority, handled.team_id) == ("urgent", on_call.id)
    assert defaults.SITE_DOWN_TAG in handled.tags
    # An agent who lowers the priority afterwards is not overruled.
    tickets_service.update_ticket(session, personas.ann.ctx, bug.id, TicketUpdate(priority="high"))
    session.commit()
    assert fresh(session, bug.id).priority == "high"


def test_without_an_on_call_team_the_outage_rules_only_raise_priority(
    session: Session, personas: Personas
) -> None:
    installed = install(session, personas.acme_admin.ctx)
    assert len(installed.skipped_actions) == 2
    ticket = make_ticket(session, personas.ann.ctx, category="outage", impact="site_down")
    session.commit()
    assert (fresh(session, ticket.id).priority, fresh(session, ticket.id).team_id) == (
        "urgent",
        None,
    )
