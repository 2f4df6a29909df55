"""Time-based rules: the periodic sweep that applies them to tickets that have waited long enough.

For each workspace with enabled `time_based` rules, one scan in pages of ticket ids, narrowed in
SQL by what every rule needs: the statuses the rules name (rules without a status condition
look at every status but `closed`) and the youngest creation time any rule could accept (a
ticket cannot have waited 72 hours in a status, or since its last update, if it was created
less than 72 hours ago). Each page costs a fixed number of queries (tickets, their tags and
requesters, status entry times, earlier runs), plus a lock and the actions for tickets that
match. Pages commit as they go, so the ticket hooks (other rules, routing, SLA) run per page and
no write lock is held for the whole sweep.

Idempotency: a time-based rule fires at most once per ticket per stay in a status. The run's
event key is `time:<status>@<when the ticket entered it>`, so a ticket left in
`waiting_customer` gets one reminder however often the sweep runs, and gets another only after
it leaves that status and comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.automation import engine
from deskpilot.automation import facts as facts_module
from deskpilot.automation.conditions import Condition, Op, evaluate
from deskpilot.automation.models import AutomationRule, AutomationRun
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.db.scoped import scoped
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket

PAGE_SIZE = 200
AGE_FIELDS = ("hours_since_update", "hours_in_status", "hours_since_created")
ALL_BUT_CLOSED = frozenset(s.value for s in Status) - {Status.closed.value}


@dataclass
class SweepStats:
    workspaces: int = 0
    pages: int = 0
    tickets_scanned: int = 0
    runs: int = 0


def event_key(status: str, entered_at: datetime) -> str:
    return f"time:{status}@{entered_at.isoformat(timespec='seconds')}"


def sweep(session: Session, *, page_size: int = PAGE_SIZE) -> SweepStats:
    """Apply every workspace's time-based rules once; commits page by page."""
    stats = SweepStats()
    workspace_ids = list(
        session.scalars(
            select(AutomationRule.workspace_id)
            .where(AutomationRule.trigger == engine.TIME_BASED, AutomationRule.enabled.is_(True))
            .distinct()
            .order_by(AutomationRule.workspace_id)
        )
    )
    for workspace_id in workspace_ids:
        stats.workspaces += 1
        sweep_workspace(session, Context.system(workspace_id), stats, page_size=page_size)
    return stats


def sweep_workspace(
    session: Session, ctx: Context, stats: SweepStats, *, page_size: int = PAGE_SIZE
) -> None:
    rules = engine.enabled_rules(session, ctx, engine.TIME_BASED)
    if not rules:
        return
    now = utcnow()
    statuses, min_age_hours = _prefilter(rules)
    stmt = scoped(ctx, Ticket).where(
        Ticket.status.in_(sorted(statuses)),
        Ticket.merged_into_id.is_(None),
        Ticket.created_at <= now - timedelta(hours=min_age_hours),
    )
    after = 0
    while True:
        page = list(
            session.scalars(stmt.where(Ticket.id > after).order_by(Ticket.id).limit(page_size))
        )
        if not page:
            return
        after = page[-1].id
        stats.pages += 1
        stats.tickets_scanned += len(page)
        stats.runs += _sweep_page(session, ctx, rules, page, now)
        session.commit()
        if len(page) < page_size:
            return


def _sweep_page(
    session: Session,
    ctx: Context,
    rules: Sequence[engine.CompiledRule],
    page: list[Ticket],
    now: datetime,
) -> int:
    cache = facts_module.FactCache(session, ctx)
    cache.load_status_entries(page)
    keys = {t.id: event_key(t.status, cache.status_entered_at(t)) for t in page}
    done: dict[int, set[int]] = {}
    existing = select(
        AutomationRun.ticket_id, AutomationRun.rule_id, AutomationRun.event_key
    ).where(
        AutomationRun.workspace_id == ctx.workspace_id,
        AutomationRun.ticket_id.in_(list(keys)),
        AutomationRun.event_key.like("time:%"),
    )
    for ticket_id, rule_id, key in session.execute(existing).all():
        if keys.get(ticket_id) == key:
            done.setdefault(ticket_id, set()).add(rule_id)
    runs = 0
    for ticket in page:
        todo = [r for r in rules if r.id not in done.get(ticket.id, set())]
        facts = facts_module.ticket_facts(ticket, cache, latest_message=None, now=now)
        if not any(evaluate(r.match, r.conditions, facts).matched for r in todo):
            continue
        # Something matches: lock the ticket and judge it again as it is now.
        session.refresh(ticket, with_for_update=True)
        key = event_key(ticket.status, cache.status_entered_at(ticket))
        if key != keys[ticket.id]:
            continue  # it moved since the page was read; the next sweep sees it afresh
        runs += len(
            engine.run_rules(
                session, ctx, ticket, todo, key, cache, None, done=done.get(ticket.id, set())
            )
        )
    return runs


def _prefilter(rules: Sequence[engine.CompiledRule]) -> tuple[set[str], float]:
    """Statuses any rule could accept, and the smallest ticket age (hours) any rule needs."""
    statuses: set[str] = set()
    ages: list[float] = []
    for rule in rules:
        flat = (
            [c for c in rule.conditions if isinstance(c, Condition)] if rule.match == "all" else []
        )
        statuses |= _statuses_of(flat)
        needed = [
            float(c.value)
            for c in flat
            if c.field.value in AGE_FIELDS
            and c.op in (Op.gt, Op.gte)
            and isinstance(c.value, int | float)
        ]
        ages.append(max(needed, default=0.0))
    return statuses, max(0.0, min(ages, default=0.0))


def _statuses_of(conditions: Sequence[Condition]) -> set[str]:
    """Statuses the rule's status conditions allow; `closed` only when a rule names it."""
    allowed = {s.value for s in Status}
    named = False
    for c in conditions:
        if c.field.value != "status":
            continue
        values = {str(v) for v in c.value} if isinstance(c.value, list) else {str(c.value)}
        if c.op in (Op.eq, Op.in_):
            allowed &= values
            named = True
        elif c.op in (Op.ne, Op.not_in):
            allowed -= values
    return allowed if named else allowed & ALL_BUT_CLOSED
