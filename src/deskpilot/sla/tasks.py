"""The SLA sweep: every minute, flag clocks at risk and breach clocks past due, in bulk.

Detection is a range scan on the precomputed `due_at` / `at_risk_at` of running clocks, in pages
of `PAGE` clocks, so a sweep costs a constant number of statements however many tickets are open
(plus a few per page of clocks that actually changed state). For each page:

1. select due (or at-risk) running clock ids, keyset-paged by id (no lock yet);
2. lock their tickets (`FOR UPDATE SKIP LOCKED`): the same order the ticket write path uses
   (ticket, then its clocks), so a sweep never deadlocks with a request; a ticket busy right now
   is simply left for the next sweep;
3. one conditional `UPDATE ... WHERE state = 'running' AND due_at <= now ... RETURNING` marks them.
   Only the transaction whose UPDATE changed a row acts on it, so two sweepers (or a sweep racing
   a reply) never double-act: each breach gets its `sla_breached` event and its actions exactly
   once, stamped `breach_handled_at` in the same transaction;
4. events are inserted in one batch; the policy's breach actions run per breached ticket (few):
   notify_assignee / notify_team -> one internal note, raise_priority -> one step up,
   assign_team -> the team plus an escalation with reason "sla". An action that fails (the team
   was deleted, say) is logged and skipped; the others still run.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, lazyload

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import DomainError
from deskpilot.db.hooks import after_commit
from deskpilot.escalations import service as escalations_service
from deskpilot.jobs.registry import periodic
from deskpilot.observability import metrics
from deskpilot.sla.hooks import breach_meta
from deskpilot.sla.models import SlaPolicy, TicketSla
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Priority
from deskpilot.tickets.models import Ticket
from deskpilot.tickets.schemas import MessageCreate, TicketUpdate

log = logging.getLogger(__name__)

SWEEP_JOB = "sla.sweep"
PAGE = 1000
PRIORITY_STEPS = [p.value for p in Priority]  # low, normal, high, urgent
RUNNING = "running"


@dataclass
class SweepResult:
    at_risk: int = 0
    breached: int = 0
    actions: int = 0
    skipped_busy: int = 0
    breached_ids: list[int] = field(default_factory=list)


@periodic(SWEEP_JOB, every_minutes=1)
def sla_sweep(session: Session) -> None:
    result = sweep(session)
    if result.breached or result.at_risk:
        log.info(
            "sla sweep: %d breached, %d at risk, %d actions, %d busy tickets left for later",
            result.breached,
            result.at_risk,
            result.actions,
            result.skipped_busy,
        )


def sweep(session: Session, *, now: datetime | None = None, page: int = PAGE) -> SweepResult:
    """One sweep over every workspace; the caller commits (the periodic runner does)."""
    now = now or utcnow()
    result = SweepResult()
    _breaches(session, now, page, result)
    _at_risk(session, now, page, result)
    session.flush()
    return result


def _candidates(
    session: Session, condition: Any, order: Any, skipped: set[int], page: int
) -> Sequence[Any]:
    """A page of running clocks meeting `condition`, in index order (`state`, `order`).

    Clocks that change state leave the set; those whose ticket was busy are excluded by id, so
    the loop ends. Ordering by the indexed time column (not by id) keeps this a range scan.
    """
    stmt = select(TicketSla.id, TicketSla.ticket_id).where(TicketSla.state == RUNNING, condition)
    if skipped:
        stmt = stmt.where(TicketSla.id.not_in(sorted(skipped)))
    return session.execute(stmt.order_by(order, TicketSla.id).limit(page)).all()


def _lock_tickets(session: Session, ticket_ids: set[int]) -> dict[int, Ticket]:
    stmt = (
        select(Ticket)
        .where(Ticket.id.in_(sorted(ticket_ids)))
        .order_by(Ticket.id)
        .options(lazyload("*"))
        .with_for_update(skip_locked=True)
    )
    return {t.id: t for t in session.scalars(stmt)}


def _breaches(session: Session, now: datetime, page: int, result: SweepResult) -> None:
    skipped: set[int] = set()
    while rows := _candidates(session, TicketSla.due_at <= now, TicketSla.due_at, skipped, page):
        tickets = _lock_tickets(session, {r.ticket_id for r in rows})
        busy = [r for r in rows if r.ticket_id not in tickets]
        skipped.update(r.id for r in busy)
        result.skipped_busy += len({r.ticket_id for r in busy})
        ids = [r.id for r in rows if r.ticket_id in tickets]
        if not ids:
            continue
        breached = list(
            session.scalars(
                update(TicketSla)
                .where(TicketSla.id.in_(ids), TicketSla.state == RUNNING, TicketSla.due_at <= now)
                .values(state="breached", breached_at=TicketSla.due_at, breach_handled_at=now)
                .returning(TicketSla)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        )
        result.breached += len(breached)
        result.breached_ids += [c.id for c in breached]
        _count_breaches_after_commit(session, Counter(c.metric for c in breached))
        policies = _policies(session, {c.policy_id for c in breached})
        for clock in breached:
            ctx = Context.system(clock.workspace_id)
            ticket = tickets[clock.ticket_id]
            tickets_service.record_event(
                session, ctx, ticket, "sla_breached", meta=breach_meta(clock, detected="sweep")
            )
        session.flush()
        acted: set[int] = set()
        for clock in breached:
            policy = policies.get(clock.policy_id or 0)
            # Two clocks of one ticket breaching in the same sweep act once (one priority step).
            if policy is not None and policy.breach_actions and clock.ticket_id not in acted:
                acted.add(clock.ticket_id)
                ctx = Context.system(clock.workspace_id)
                result.actions += _run_actions(
                    session, ctx, tickets[clock.ticket_id], clock, policy
                )
        if len(rows) < page:
            break


def _count_breaches_after_commit(session: Session, by_metric: Counter[str]) -> None:
    for metric, count in sorted(by_metric.items()):
        after_commit(session, partial(metrics.record_sla_breaches, metric, "sweep", count))


def _at_risk(session: Session, now: datetime, page: int, result: SweepResult) -> None:
    condition = (TicketSla.at_risk_at <= now) & TicketSla.at_risk_flagged_at.is_(None)
    skipped: set[int] = set()
    while rows := _candidates(session, condition, TicketSla.at_risk_at, skipped, page):
        tickets = _lock_tickets(session, {r.ticket_id for r in rows})
        busy = [r for r in rows if r.ticket_id not in tickets]
        skipped.update(r.id for r in busy)
        result.skipped_busy += len({r.ticket_id for r in busy})
        ids = [r.id for r in rows if r.ticket_id in tickets]
        if not ids:
            continue
        flagged = session.execute(
            update(TicketSla)
            .where(TicketSla.id.in_(ids), TicketSla.state == RUNNING, condition)
            .values(at_risk_flagged_at=now)
            .returning(
                TicketSla.workspace_id,
                TicketSla.ticket_id,
                TicketSla.metric,
                TicketSla.cycle,
                TicketSla.due_at,
                TicketSla.target_minutes,
                TicketSla.policy_id,
            )
            .execution_options(synchronize_session=False)
        ).all()
        result.at_risk += len(flagged)
        for row in flagged:
            tickets_service.record_event(
                session,
                Context.system(row.workspace_id),
                tickets[row.ticket_id],
                "sla_at_risk",
                meta={
                    "metric": row.metric,
                    "cycle": row.cycle,
                    "target_minutes": row.target_minutes,
                    "due_at": row.due_at.isoformat() if row.due_at else None,
                    "policy_id": row.policy_id,
                },
            )
        session.flush()
        # At risk, the policy's notifications go out once (the flag above guards them); the
        # other actions wait for an actual breach.
        policies = _policies(session, {row.policy_id for row in flagged})
        for row in flagged:
            policy = policies.get(row.policy_id or 0)
            kinds = [
                a["type"] for a in (policy.breach_actions if policy else [])
                if a["type"].startswith("notify_")
            ]  # fmt: skip
            if policy is not None and kinds:
                ctx = Context.system(row.workspace_id)
                ticket = tickets[row.ticket_id]
                result.actions += _try(
                    session,
                    "notify_at_risk",
                    lambda ctx=ctx, ticket=ticket, row=row, policy=policy, kinds=kinds: _notify(
                        session, ctx, ticket, row, policy, kinds, headline="SLA at risk",
                        verb="is due",
                    ),
                )  # fmt: skip
        if len(rows) < page:
            break


def _policies(session: Session, ids: set[int | None]) -> dict[int, SlaPolicy]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(SlaPolicy).where(SlaPolicy.id.in_(wanted)))}


def _run_actions(
    session: Session, ctx: Context, ticket: Ticket, clock: TicketSla, policy: SlaPolicy
) -> int:
    """The policy's breach actions on one ticket; returns how many ran."""
    done = 0
    notify = [a["type"] for a in policy.breach_actions if a["type"].startswith("notify_")]
    if notify:
        done += _try(
            session, "notify", lambda: _notify(session, ctx, ticket, clock, policy, notify)
        )
    for action in policy.breach_actions:
        if action["type"] == "raise_priority":
            done += _try(session, "raise_priority", lambda: _raise_priority(session, ctx, ticket))
        elif action["type"] == "assign_team":
            team_id = int(action["team_id"])
            done += _try(
                session,
                "assign_team",
                lambda team_id=team_id: escalations_service.escalate_ticket(
                    session,
                    ctx,
                    ticket.id,
                    reason="sla",
                    team_id=team_id,
                    note=f"SLA breached: {_metric_label(clock.metric)} target missed",
                ),
            )
    return done


def _try(session: Session, name: str, action: Any) -> int:
    try:
        with session.begin_nested():
            action()
    except DomainError as exc:
        log.warning("sla breach action %s failed: %s", name, exc.message)
        return 0
    return 1


def _metric_label(metric: str) -> str:
    return metric.replace("_", " ")


def _notify(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    clock: Any,
    policy: SlaPolicy,
    kinds: list[str],
    *,
    headline: str = "SLA breached",
    verb: str = "was due",
) -> None:
    """An internal note for the assignee and/or the team (email notification comes later).

    `clock` is a TicketSla or a row with the same `metric`, `target_minutes` and `due_at`."""
    who = []
    if "notify_assignee" in kinds:
        who.append(
            f"assignee (user {ticket.assignee_id})" if ticket.assignee_id else "assignee (none)"
        )
    if "notify_team" in kinds:
        who.append(f"team {ticket.team_id} lead" if ticket.team_id else "team (none)")
    due = clock.due_at.strftime("%Y-%m-%d %H:%M UTC") if clock.due_at else "-"
    body = (
        f"**{headline}**: the {_metric_label(clock.metric)} target of "
        f"{clock.target_minutes} min (policy “{policy.name}”) {verb} {due}. "
        f"Notifying: {', '.join(who)}."
    )
    tickets_service.add_message(
        session, ctx, ticket.id, MessageCreate(body=body, visibility="internal")
    )


def _raise_priority(session: Session, ctx: Context, ticket: Ticket) -> None:
    index = PRIORITY_STEPS.index(ticket.priority) if ticket.priority in PRIORITY_STEPS else 1
    if index + 1 < len(PRIORITY_STEPS):
        tickets_service.update_ticket(
            session, ctx, ticket.id, TicketUpdate(priority=Priority(PRIORITY_STEPS[index + 1]))
        )
