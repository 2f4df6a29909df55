"""The rules engine: which rules an event triggers, in which order, and the record of each run.

- Triggers: a ticket's `created` event runs `ticket_created` rules; a customer's message runs
  `message_received` rules; any other change (fields, status, tags, assignment, AI verdict) runs
  `ticket_updated` rules. One trigger per ticket per batch of events, in that precedence, so a
  customer reply that also reopens the ticket is one `message_received`, not two passes.
- Order: enabled rules of the trigger by `position`, then id. A matching rule with
  `stop_processing` ends the pass. Later rules see what earlier ones changed.
- Loop guard: a rule fires at most once per ticket per transaction (the chain of hook rounds
  before one commit), so two rules undoing each other each fire once and the chain ends; the
  hooks' round limit is the backstop.
- Idempotency: every run that matched (and every error) is an AutomationRun, unique on
  (rule, ticket, event_key) and claimed with INSERT .. ON CONFLICT DO NOTHING before any action
  runs, so a replayed event never runs a rule twice. Evaluations that did not match are not
  recorded: they would add a row per rule per ticket change; the dry-run API explains them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from deskpilot.automation import facts as facts_module
from deskpilot.automation.actions import Action, RuleInfo, apply_actions, describe
from deskpilot.automation.conditions import ConditionGroup as Group
from deskpilot.automation.conditions import ConditionItem, evaluate, holds
from deskpilot.automation.models import AutomationRule, AutomationRun
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.db.scoped import scoped
from deskpilot.db.upsert import insert_for
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket, TicketEvent

log = logging.getLogger(__name__)

TICKET_CREATED = "ticket_created"
TICKET_UPDATED = "ticket_updated"
MESSAGE_RECEIVED = "message_received"
TIME_BASED = "time_based"
TRIGGERS = (TICKET_CREATED, TICKET_UPDATED, MESSAGE_RECEIVED, TIME_BASED)
UPDATE_KINDS = frozenset(
    {
        "status_changed",
        "resolved",
        "closed",
        "reopened",
        "assigned",
        "team_changed",
        "priority_changed",
        "type_changed",
        "category_changed",
        "field_changed",
        "tagged",
        "linked",
        "ai_decided",
    }
)
"""Event kinds that count as "the ticket was updated" (not notes, first responses, ratings)."""
_FIRED = "deskpilot_automation_fired"
MAX_ERROR = 500

_conditions = TypeAdapter(list[ConditionItem])
_actions = TypeAdapter(list[Action])


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    trigger: str
    match: str
    conditions: list[Any]
    actions: list[Any]
    stop_processing: bool

    @classmethod
    def of(cls, rule: AutomationRule) -> CompiledRule:
        return cls(
            id=rule.id,
            name=rule.name,
            trigger=rule.trigger,
            match=rule.match,
            conditions=_conditions.validate_python(rule.conditions),
            actions=_actions.validate_python(rule.actions),
            stop_processing=rule.stop_processing,
        )


@dataclass(frozen=True)
class Trigger:
    """What one ticket's batch of events means for the rules."""

    ticket_id: int
    trigger: str
    event_key: str
    message_id: int | None = None


# --- event triggers ------------------------------------------------------------------------------


def triggers_for(events: Sequence[TicketEvent]) -> list[tuple[int, Trigger]]:
    """(workspace_id, trigger) per ticket of the batch, in first-event order."""
    by_ticket: dict[tuple[int, int], list[TicketEvent]] = {}
    for e in events:
        by_ticket.setdefault((e.workspace_id, e.ticket_id), []).append(e)
    found: list[tuple[int, Trigger]] = []
    for (workspace_id, ticket_id), ticket_events in by_ticket.items():
        trigger = _trigger_of(ticket_id, ticket_events)
        if trigger is not None:
            found.append((workspace_id, trigger))
    return found


def _trigger_of(ticket_id: int, events: list[TicketEvent]) -> Trigger | None:
    for e in events:
        if e.kind == "created":
            return Trigger(ticket_id, TICKET_CREATED, f"event:{e.id}")
    for e in events:
        if e.kind == "message_added" and (e.meta or {}).get("author_type") == "customer":
            message_id = (e.meta or {}).get("message_id")
            return Trigger(ticket_id, MESSAGE_RECEIVED, f"event:{e.id}", message_id)
    for e in events:
        if e.kind in UPDATE_KINDS:
            return Trigger(ticket_id, TICKET_UPDATED, f"event:{e.id}")
    return None


def handle_events(session: Session, events: Sequence[TicketEvent]) -> None:
    """The ticket-hook handler: run the triggered rules of every ticket in the batch."""
    rules_cache: dict[tuple[int, str], list[CompiledRule]] = {}
    for workspace_id, trigger in triggers_for(events):
        ctx = Context.system(workspace_id)
        key = (workspace_id, trigger.trigger)
        if key not in rules_cache:
            rules_cache[key] = enabled_rules(session, ctx, trigger.trigger)
        if not rules_cache[key]:
            continue
        try:
            ticket = tickets_service.get_ticket(session, ctx, trigger.ticket_id)
        except NotFound:
            continue
        cache = facts_module.FactCache(session, ctx)
        latest = _latest_message(session, ctx, ticket, trigger)
        run_rules(session, ctx, ticket, rules_cache[key], trigger.event_key, cache, latest)


def _latest_message(session: Session, ctx: Context, ticket: Ticket, trigger: Trigger) -> str | None:
    if trigger.trigger == TICKET_CREATED:
        return ticket.description
    if trigger.message_id is not None:
        return facts_module.message_text(session, ctx, ticket.id, trigger.message_id)
    return None


def enabled_rules(session: Session, ctx: Context, trigger: str) -> list[CompiledRule]:
    stmt = (
        scoped(ctx, AutomationRule)
        .where(AutomationRule.trigger == trigger, AutomationRule.enabled.is_(True))
        .order_by(AutomationRule.position, AutomationRule.id)
    )
    compiled = []
    for rule in session.scalars(stmt):
        try:
            compiled.append(CompiledRule.of(rule))
        except ValidationError:
            # Rules are validated on write; one that no longer parses is skipped, not fatal.
            log.warning("automation rule %s does not validate; skipped", rule.id)
    return compiled


# --- running rules -------------------------------------------------------------------------------


def _fired(session: Session) -> set[tuple[int, int]]:
    """(rule_id, ticket_id) pairs that fired in this session's current transaction."""
    root = session.get_transaction()
    holder = session.info.get(_FIRED)
    if holder is None or holder[0] is not root:
        holder = (root, set())
        session.info[_FIRED] = holder
    fired: set[tuple[int, int]] = holder[1]
    return fired


def already_run(session: Session, ctx: Context, ticket_id: int, event_key: str) -> set[int]:
    stmt = select(AutomationRun.rule_id).where(
        AutomationRun.workspace_id == ctx.workspace_id,
        AutomationRun.ticket_id == ticket_id,
        AutomationRun.event_key == event_key,
    )
    return set(session.scalars(stmt))


def run_rules(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    rules: Sequence[CompiledRule],
    event_key: str,
    cache: facts_module.FactCache,
    latest_message: str | None,
    *,
    done: set[int] | None = None,
) -> list[int]:
    """Evaluate `rules` in order on the ticket; returns the ids of the runs recorded."""
    if ticket.merged_into_id is not None:
        return []  # a merged duplicate is a closed record
    fired = _fired(session)
    if done is None:
        done = already_run(session, ctx, ticket.id, event_key)
    run_ids: list[int] = []
    facts: dict[str, Any] | None = None
    for rule in rules:
        if rule.id in done or (rule.id, ticket.id) in fired:
            continue
        if facts is None:
            facts = facts_module.ticket_facts(ticket, cache, latest_message=latest_message)
        if not evaluate(rule.match, rule.conditions, facts).matched:
            continue
        run_id = claim_run(session, ctx, rule, ticket.id, event_key)
        if run_id is None:
            continue  # a replay, or another worker claimed it first
        fired.add((rule.id, ticket.id))
        info = RuleInfo(rule.id, rule.name, rule.trigger, event_key)
        applied, error = apply_actions(session, ctx, ticket, rule.actions, info)
        finish_run(session, run_id, applied, error)
        run_ids.append(run_id)
        facts = None  # the actions may have changed what later rules see
        if rule.stop_processing:
            break
    return run_ids


def claim_run(
    session: Session, ctx: Context, rule: CompiledRule, ticket_id: int, event_key: str
) -> int | None:
    """Insert the run row unless it exists; its id, or None when this run already happened."""
    table = AutomationRun.__table__
    stmt = (
        insert_for(session, table)
        .values(
            workspace_id=ctx.workspace_id,
            rule_id=rule.id,
            ticket_id=ticket_id,
            trigger=rule.trigger,
            event_key=event_key[:80],
            matched=True,
            actions_applied=[],
            error=None,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["rule_id", "ticket_id", "event_key"])
        .returning(table.c.id)
    )
    run_id: int | None = session.execute(stmt).scalar_one_or_none()
    return run_id


def finish_run(
    session: Session, run_id: int, applied: list[dict[str, Any]], error: str | None
) -> None:
    session.execute(
        update(AutomationRun)
        .where(AutomationRun.id == run_id)
        .values(actions_applied=applied, error=error[:MAX_ERROR] if error else None)
        .execution_options(synchronize_session=False)
    )


# --- dry run -------------------------------------------------------------------------------------


def explain(session: Session, ctx: Context, rule: AutomationRule, ticket: Ticket) -> dict[str, Any]:
    """How the rule judges the ticket now, and what it would do. Changes nothing."""
    compiled = CompiledRule.of(rule)
    cache = facts_module.FactCache(session, ctx)
    latest = facts_module.latest_customer_message(session, ctx, ticket)
    facts = facts_module.ticket_facts(ticket, cache, latest_message=latest)
    outcome = evaluate(compiled.match, compiled.conditions, facts)
    details = []
    for item, result in zip(compiled.conditions, outcome.results, strict=True):
        entry: dict[str, Any] = {"condition": item.model_dump(mode="json"), "result": result}
        if isinstance(item, Group):
            entry["inner"] = [
                {
                    "field": c.field.value,
                    "actual": _shown(facts.get(c.field.value)),
                    "result": holds(c, facts),
                }
                for c in item.conditions
            ]
        else:
            entry["actual"] = _shown(facts.get(item.field.value))
        details.append(entry)
    return {
        "rule_id": rule.id,
        "ticket_id": ticket.id,
        "matched": outcome.matched,
        "conditions": details,
        "actions": [describe(a) for a in compiled.actions] if outcome.matched else [],
        "stop_processing": compiled.stop_processing and outcome.matched,
    }


def _shown(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    if isinstance(value, datetime):
        return value.isoformat()
    return value
