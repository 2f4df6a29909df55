"""Automation rules: read (staff), write (admins), dry-run, and the record of runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.automation import engine
from deskpilot.automation.actions import AssignAgent, AssignTeam
from deskpilot.automation.models import AutomationRule, AutomationRun
from deskpilot.automation.schemas import Direction, RuleCreate, RuleUpdate
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.core.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_id_cursor,
    encode_cursor,
)
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency
from deskpilot.tickets import service as tickets_service
from deskpilot.workspaces import service as workspaces_service

MAX_RULES = 500
"""Rules per workspace: every ticket change evaluates its trigger's enabled rules."""


# --- queries -------------------------------------------------------------------------------------


def list_rules(
    session: Session, ctx: Context, *, trigger: str | None = None
) -> list[AutomationRule]:
    """Every rule of the workspace in evaluation order (trigger, position, id)."""
    ctx.require_staff()
    stmt = scoped(ctx, AutomationRule)
    if trigger is not None:
        stmt = stmt.where(AutomationRule.trigger == trigger)
    order = (AutomationRule.trigger, AutomationRule.position, AutomationRule.id)
    return list(session.scalars(stmt.order_by(*order).limit(MAX_RULES)))


def get_rule(
    session: Session, ctx: Context, rule_id: int, *, for_update: bool = False
) -> AutomationRule:
    ctx.require_staff()
    return get_scoped(
        session, ctx, AutomationRule, rule_id, for_update=for_update, what="Automation rule"
    )


def list_runs(
    session: Session,
    ctx: Context,
    *,
    ticket_id: int | None = None,
    rule_id: int | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> tuple[list[AutomationRun], str | None]:
    """Runs newest first, one keyset page at a time."""
    ctx.require_staff()
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    stmt = scoped(ctx, AutomationRun)
    if ticket_id is not None:
        stmt = stmt.where(AutomationRun.ticket_id == ticket_id)
    if rule_id is not None:
        stmt = stmt.where(AutomationRun.rule_id == rule_id)
    before = decode_id_cursor(cursor)
    if before is not None:
        stmt = stmt.where(AutomationRun.id < before)
    rows = list(session.scalars(stmt.order_by(AutomationRun.id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id])


def test_rule(session: Session, ctx: Context, rule_id: int, ticket_id: int) -> dict[str, Any]:
    """Dry run: how the rule judges the ticket right now and what it would do."""
    rule = get_rule(session, ctx, rule_id)
    try:
        ticket = tickets_service.get_ticket(session, ctx, ticket_id)
    except NotFound as exc:
        raise ValidationFailed(
            "Unknown ticket", details=[{"field": "ticket_id", "message": "no ticket with this id"}]
        ) from exc
    return engine.explain(session, ctx, rule, ticket)


# --- commands ------------------------------------------------------------------------------------


def create_rule(
    session: Session, ctx: Context, data: RuleCreate, *, idempotency_key: str | None = None
) -> tuple[AutomationRule, bool]:
    """Returns (rule, created); a replayed Idempotency-Key returns the first rule."""
    ctx.require_admin()
    claim = idempotency.claim(
        session,
        ctx,
        scope="automation.rules.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
    )
    if claim.existing_id is not None:
        return get_rule(session, ctx, claim.existing_id), False
    count = session.scalar(
        select(func.count())
        .select_from(AutomationRule)
        .where(AutomationRule.workspace_id == ctx.workspace_id)
    )
    if (count or 0) >= MAX_RULES:
        raise ValidationFailed(
            f"A workspace has at most {MAX_RULES} automation rules",
            details=[{"field": "name", "message": "too many rules"}],
        )
    check_refs(session, ctx, data.actions)
    position = data.position
    if position is None:
        position = next_position(session, ctx, data.trigger)
    rule = AutomationRule(
        workspace_id=ctx.workspace_id,
        name=data.name,
        description=data.description,
        trigger=data.trigger,
        position=position,
        enabled=data.enabled,
        match=data.match,
        conditions=[c.model_dump(mode="json") for c in data.conditions],
        actions=[a.model_dump(mode="json") for a in data.actions],
        stop_processing=data.stop_processing,
    )
    session.add(rule)
    session.flush()
    claim.bind(rule.id)
    return rule, True


def update_rule(session: Session, ctx: Context, rule_id: int, data: RuleUpdate) -> AutomationRule:
    ctx.require_admin()
    rule = get_rule(session, ctx, rule_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "trigger", "match", "enabled", "stop_processing", "position"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(
                f"{name} cannot be null", details=[{"field": name, "message": "cannot be null"}]
            )
    if changes.get("trigger", rule.trigger) != rule.trigger and "position" not in changes:
        # Positions are per trigger: a rule moved to another trigger goes after its last rule.
        changes["position"] = next_position(session, ctx, changes["trigger"])
    if data.actions is not None:
        check_refs(session, ctx, data.actions)
        rule.actions = [a.model_dump(mode="json") for a in data.actions]
    if data.conditions is not None:
        rule.conditions = [c.model_dump(mode="json") for c in data.conditions]
    for name in ("name", "description", "trigger", "match", "enabled", "stop_processing"):
        if name in changes and changes[name] is not None:
            setattr(rule, name, changes[name])
    if "position" in changes:
        rule.position = changes["position"]
    session.flush()
    return rule


def move_rule(session: Session, ctx: Context, rule_id: int, direction: Direction) -> AutomationRule:
    """Swap the rule with its neighbour in its trigger's order (`up` runs it earlier), then
    number the trigger's rules 0, 1, 2... (positions may repeat or have gaps after API edits;
    the order is position, then id). The first rule going up, or the last going down, is a
    no-op."""
    ctx.require_admin()
    if direction not in ("up", "down"):
        raise ValidationFailed(
            "direction must be up or down",
            details=[{"field": "direction", "message": "must be up or down"}],
        )
    rule = get_rule(session, ctx, rule_id)
    siblings = _lock_trigger_rules(session, ctx, rule.trigger)
    if rule not in siblings:
        raise Conflict("The rule changed meanwhile (another trigger, or deleted); reload")
    siblings.sort(key=lambda r: (r.position, r.id))
    index = siblings.index(rule)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(siblings):
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, sibling in enumerate(siblings):
            if sibling.position != position:
                sibling.position = position
        session.flush()
    return rule


def _lock_trigger_rules(session: Session, ctx: Context, trigger: str) -> list[AutomationRule]:
    """The trigger's rules, locked in id order (one order for every caller: no deadlock) and
    read again under the lock."""
    stmt = (
        scoped(ctx, AutomationRule)
        .where(AutomationRule.trigger == trigger)
        .order_by(AutomationRule.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def delete_rule(session: Session, ctx: Context, rule_id: int) -> None:
    """Deletes the rule and its runs (the tickets keep their audit events)."""
    ctx.require_admin()
    rule = get_rule(session, ctx, rule_id, for_update=True)
    session.delete(rule)
    session.flush()


def next_position(session: Session, ctx: Context, trigger: str) -> int:
    last = session.scalar(
        select(func.max(AutomationRule.position)).where(
            AutomationRule.workspace_id == ctx.workspace_id, AutomationRule.trigger == trigger
        )
    )
    return 0 if last is None else int(last) + 1


def check_refs(session: Session, ctx: Context, actions: list[Any]) -> None:
    """Teams and agents named by actions must exist in this workspace: a 422 on the action."""
    for index, action in enumerate(actions):
        if isinstance(action, AssignTeam):
            try:
                workspaces_service.get_team(session, ctx, action.team_id)
            except NotFound as exc:
                raise ValidationFailed(
                    "Unknown team",
                    details=[
                        {"field": f"actions.{index}.team_id", "message": "no team with this id"}
                    ],
                ) from exc
        elif isinstance(action, AssignAgent):
            try:
                membership = auth_service.get_membership(session, ctx, action.user_id)
            except NotFound:
                membership = None
            if (
                membership is None
                or membership.role == Role.customer.value
                or not membership.is_active
            ):
                raise ValidationFailed(
                    "Unknown agent",
                    details=[
                        {
                            "field": f"actions.{index}.user_id",
                            "message": "no active agent with this id",
                        }
                    ],
                )
