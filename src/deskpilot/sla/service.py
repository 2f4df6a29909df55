"""SLAs: business hours, policies (matched in order) and the read side of each ticket's clocks.

Admins write business hours and policies; staff read them. Editing a calendar or a policy
re-targets the open clocks that use it (time already counted is kept). The clocks themselves are
driven by ticket events (`deskpilot.sla.hooks`) and the periodic sweep (`deskpilot.sla.tasks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.customers import service as customers_service
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency
from deskpilot.sla import clocks
from deskpilot.sla.models import BusinessHours, SlaPolicy, TicketSla
from deskpilot.sla.schemas import (
    BusinessHoursCreate,
    BusinessHoursUpdate,
    SlaClockRead,
    SlaPolicyCreate,
    SlaPolicyUpdate,
    TicketSlaRead,
)
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.models import Ticket
from deskpilot.workspaces import service as workspaces_service

# --- business hours ------------------------------------------------------------------------------


def get_business_hours(
    session: Session, ctx: Context, hours_id: int, *, for_update: bool = False
) -> BusinessHours:
    ctx.require_staff()
    return get_scoped(
        session, ctx, BusinessHours, hours_id, for_update=for_update, what="Business hours"
    )


def list_business_hours(
    session: Session, ctx: Context, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> tuple[list[BusinessHours], str | None]:
    ctx.require_staff()
    stmt = scoped(ctx, BusinessHours)
    return keyset_page(session, stmt, BusinessHours.id, limit=limit, cursor=cursor)


def default_business_hours(session: Session, ctx: Context) -> BusinessHours | None:
    stmt = scoped(ctx, BusinessHours).where(BusinessHours.is_default.is_(True))
    return session.scalars(stmt.order_by(BusinessHours.id).limit(1)).first()


def create_business_hours(
    session: Session,
    ctx: Context,
    data: BusinessHoursCreate,
    *,
    idempotency_key: str | None = None,
) -> tuple[BusinessHours, bool]:
    """Returns (hours, created); a replayed Idempotency-Key returns the first one."""
    ctx.require_admin()
    payload = data.model_dump(mode="json")
    claim = idempotency.claim(
        session, ctx, scope="business_hours.create", key=idempotency_key, payload=payload
    )
    if claim.existing_id is not None:
        return get_business_hours(session, ctx, claim.existing_id), False
    _check_hours_name_free(session, ctx, data.name)
    if data.is_default:
        _clear_default(session, ctx)
    hours = BusinessHours(
        workspace_id=ctx.workspace_id,
        name=data.name,
        timezone=data.timezone,
        schedule=payload["schedule"],
        holidays=payload["holidays"],
        is_default=data.is_default,
    )
    try:
        with session.begin_nested():
            session.add(hours)
    except IntegrityError as exc:
        raise _hours_name_taken(data.name) from exc
    claim.bind(hours.id)
    return hours, True


def update_business_hours(
    session: Session, ctx: Context, hours_id: int, data: BusinessHoursUpdate
) -> BusinessHours:
    """Change a calendar; open clocks counting in it get new due times from now on."""
    ctx.require_admin()
    hours = get_business_hours(session, ctx, hours_id, for_update=True)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "name" in changes:
        _check_hours_name_free(session, ctx, changes["name"], exclude_id=hours.id)
    if changes.get("is_default"):
        _clear_default(session, ctx, exclude_id=hours.id)
    # Time counted so far was counted under the old calendar: fold it in before switching.
    now = utcnow()
    affected = _open_clocks(session, ctx, TicketSla.business_hours_id == hours.id)
    for clock in affected:
        clocks.fold_elapsed(session, ctx, clock, now)
    try:
        with session.begin_nested():
            for name, value in changes.items():
                setattr(hours, name, value)
    except IntegrityError as exc:
        raise _hours_name_taken(str(changes.get("name", ""))) from exc
    _reschedule(session, ctx, affected, now)
    return hours


def delete_business_hours(session: Session, ctx: Context, hours_id: int) -> None:
    """Refused (409) while a policy counts in it; clocks that did fall back to calendar hours."""
    ctx.require_admin()
    hours = get_business_hours(session, ctx, hours_id, for_update=True)
    used_by = session.scalars(
        scoped(ctx, SlaPolicy).where(SlaPolicy.business_hours_id == hours.id)
    ).all()
    if used_by:
        raise Conflict(
            "These business hours are used by SLA policies",
            details={"policy_ids": sorted(p.id for p in used_by)},
        )
    now = utcnow()
    affected = _open_clocks(session, ctx, TicketSla.business_hours_id == hours.id)
    for clock in affected:
        clocks.fold_elapsed(session, ctx, clock, now)
        clock.business_hours_id = None
    session.delete(hours)
    session.flush()
    _reschedule(session, ctx, affected, now)


def _clear_default(session: Session, ctx: Context, *, exclude_id: int | None = None) -> None:
    stmt = update(BusinessHours).where(
        BusinessHours.workspace_id == ctx.workspace_id, BusinessHours.is_default.is_(True)
    )
    if exclude_id is not None:
        stmt = stmt.where(BusinessHours.id != exclude_id)
    session.execute(
        stmt.values(is_default=False), execution_options={"synchronize_session": "fetch"}
    )


def _check_hours_name_free(
    session: Session, ctx: Context, name: str, *, exclude_id: int | None = None
) -> None:
    existing = session.scalars(
        scoped(ctx, BusinessHours).where(func.lower(BusinessHours.name) == name.lower()).limit(1)
    ).first()
    if existing is not None and existing.id != exclude_id:
        raise _hours_name_taken(name)


def _hours_name_taken(name: str) -> Conflict:
    return Conflict(
        f"Business hours named {name!r} already exist",
        details=[{"field": "name", "message": "already used by other business hours"}],
    )


# --- policies ------------------------------------------------------------------------------------


def get_policy(
    session: Session, ctx: Context, policy_id: int, *, for_update: bool = False
) -> SlaPolicy:
    ctx.require_staff()
    return get_scoped(session, ctx, SlaPolicy, policy_id, for_update=for_update, what="SLA policy")


def list_policies(
    session: Session, ctx: Context, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
) -> tuple[list[SlaPolicy], str | None]:
    """Policies in id order (pages); `ordered_policies` gives the matching order."""
    ctx.require_staff()
    return keyset_page(session, scoped(ctx, SlaPolicy), SlaPolicy.id, limit=limit, cursor=cursor)


def ordered_policies(session: Session, ctx: Context) -> list[SlaPolicy]:
    """Enabled policies in matching order: position, then id."""
    stmt = scoped(ctx, SlaPolicy).where(SlaPolicy.enabled.is_(True))
    return list(session.scalars(stmt.order_by(SlaPolicy.position, SlaPolicy.id)))


def create_policy(
    session: Session, ctx: Context, data: SlaPolicyCreate, *, idempotency_key: str | None = None
) -> tuple[SlaPolicy, bool]:
    ctx.require_admin()
    payload = data.model_dump(mode="json")
    claim = idempotency.claim(
        session, ctx, scope="sla_policies.create", key=idempotency_key, payload=payload
    )
    if claim.existing_id is not None:
        return get_policy(session, ctx, claim.existing_id), False
    values = _policy_values(session, ctx, payload, hours=payload.pop("hours"))
    policy = SlaPolicy(workspace_id=ctx.workspace_id, **values)
    session.add(policy)
    session.flush()
    claim.bind(policy.id)
    return policy, True


def update_policy(
    session: Session, ctx: Context, policy_id: int, data: SlaPolicyUpdate
) -> SlaPolicy:
    """Change a policy; open clocks under it take its new targets (counted time is kept)."""
    ctx.require_admin()
    policy = get_policy(session, ctx, policy_id, for_update=True)
    changes = data.model_dump(exclude_unset=True, mode="json")
    hours = changes.pop("hours", None)
    if hours is None and "business_hours_id" in changes:
        hours = "business" if changes["business_hours_id"] is not None else "calendar"
    if hours == "business" and changes.get("business_hours_id") is None:
        changes["business_hours_id"] = policy.business_hours_id
    values = _policy_values(session, ctx, changes, hours=hours)
    for name, value in values.items():
        setattr(policy, name, value)
    session.flush()
    now = utcnow()
    for clock in _open_clocks(session, ctx, TicketSla.policy_id == policy.id):
        dropped = not clocks.retarget(session, ctx, clock, policy, now)
        if dropped and clock.breached_at is None:
            session.delete(clock)
        elif dropped:
            clocks.stop(session, ctx, clock, now)  # keep the breach on record, stop counting
    session.flush()
    return policy


def delete_policy(session: Session, ctx: Context, policy_id: int) -> None:
    """Clocks it started stay, with their targets (their `policy_id` becomes null)."""
    ctx.require_admin()
    policy = get_policy(session, ctx, policy_id, for_update=True)
    session.execute(
        update(TicketSla)
        .where(TicketSla.workspace_id == ctx.workspace_id, TicketSla.policy_id == policy.id)
        .values(policy_id=None),
        execution_options={"synchronize_session": "fetch"},
    )
    session.delete(policy)
    session.flush()


def _policy_values(
    session: Session, ctx: Context, values: dict[str, Any], *, hours: str | None
) -> dict[str, Any]:
    """Check references (business hours, teams in actions) and resolve `hours` to an id:
    `default` (or `business` without an id) is the workspace default calendar as of now."""
    out = dict(values)
    if "conditions" in out:
        out["conditions"] = {k: v for k, v in out["conditions"].items() if v is not None}
    if hours == "calendar":
        out["business_hours_id"] = None
    elif hours == "default" or (hours == "business" and out.get("business_hours_id") is None):
        out["business_hours_id"] = _default_hours_id(session, ctx)
    elif hours == "business":
        try:
            get_business_hours(session, ctx, out["business_hours_id"])
        except NotFound as exc:
            raise ValidationFailed(
                "Unknown business hours",
                details=[{"field": "business_hours_id", "message": "no such business hours"}],
            ) from exc
    for index, action in enumerate(out.get("breach_actions") or []):
        if action["type"] == "assign_team":
            try:
                workspaces_service.get_team(session, ctx, action["team_id"])
            except NotFound as exc:
                raise ValidationFailed(
                    "Unknown team in a breach action",
                    details=[
                        {"field": f"breach_actions.{index}.team_id", "message": "no such team"}
                    ],
                ) from exc
    return out


def _default_hours_id(session: Session, ctx: Context) -> int:
    default = default_business_hours(session, ctx)
    if default is None:
        message = "the workspace has no default business hours: pick a calendar"
        raise ValidationFailed(
            "No business hours given and the workspace has no default",
            details=[{"field": "business_hours_id", "message": message}],
        )
    return default.id


def policy_hours(policy: SlaPolicy) -> str:
    return "business" if policy.business_hours_id is not None else "calendar"


# --- matching ------------------------------------------------------------------------------------


def ticket_facts(session: Session, ctx: Context, ticket: Ticket) -> dict[str, str | None]:
    """The values policy conditions compare (the tier comes from the ticket's organization)."""
    tier = None
    if ticket.organization_id is not None:
        try:
            tier = customers_service.get_organization(session, ctx, ticket.organization_id).tier
        except NotFound:
            tier = None
    return {
        "priority": ticket.priority,
        "organization_tier": tier,
        "channel": ticket.channel,
        "type": ticket.type,
        "category": ticket.category,
    }


def policy_matches(policy: SlaPolicy, facts: dict[str, str | None]) -> bool:
    for field, allowed in (policy.conditions or {}).items():
        if allowed is None:
            continue
        value = facts.get(field)
        if value is None or value.lower() not in {str(a).lower() for a in allowed}:
            return False
    return True


def match_policy(policies: Sequence[SlaPolicy], facts: dict[str, str | None]) -> SlaPolicy | None:
    """The first enabled policy (by position, then id) whose conditions all hold."""
    for policy in sorted(policies, key=lambda p: (p.position, p.id)):
        if policy.enabled and policy_matches(policy, facts):
            return policy
    return None


def policy_for_ticket(session: Session, ctx: Context, ticket: Ticket) -> SlaPolicy | None:
    return match_policy(ordered_policies(session, ctx), ticket_facts(session, ctx, ticket))


# --- a ticket's clocks ---------------------------------------------------------------------------


def ticket_sla(session: Session, ctx: Context, ticket_id: int) -> TicketSlaRead:
    """The ticket's clocks as of now: target, due time, time left and state (staff only)."""
    ctx.require_staff()
    ticket = tickets_service.get_ticket(session, ctx, ticket_id)
    now = utcnow()
    rows = clocks.ticket_clocks(session, ctx, ticket.id)
    policies = {
        p.id: p
        for p in session.scalars(
            scoped(ctx, SlaPolicy).where(SlaPolicy.id.in_({c.policy_id for c in rows} - {None}))
        )
    }
    items = []
    for clock in rows:
        policy = policies.get(clock.policy_id) if clock.policy_id is not None else None
        percent = policy.at_risk_percent if policy else clocks.DEFAULT_AT_RISK_PERCENT
        calendar = clocks.load_calendar(session, ctx, clock.business_hours_id)
        seen = clocks.view(clock, now, calendar, percent)
        items.append(
            SlaClockRead(
                metric=clock.metric,
                cycle=clock.cycle,
                state=seen.state,
                target_minutes=clock.target_minutes,
                elapsed_seconds=seen.elapsed_seconds,
                seconds_left=seen.seconds_left,
                due_at=clock.due_at,
                at_risk_at=clock.at_risk_at,
                paused=seen.paused,
                breached=seen.breached,
                started_at=clock.started_at,
                breached_at=clock.breached_at,
                stopped_at=clock.stopped_at,
                policy_id=clock.policy_id,
                policy_name=policy.name if policy else None,
                business_hours_id=clock.business_hours_id,
            )
        )
    current = next((p for c in reversed(rows) if (p := policies.get(c.policy_id or 0))), None)
    return TicketSlaRead(
        ticket_id=ticket.id,
        policy_id=current.id if current else None,
        policy_name=current.name if current else None,
        clocks=items,
    )


# --- internals -----------------------------------------------------------------------------------


def _open_clocks(session: Session, ctx: Context, condition: Any) -> list[TicketSla]:
    stmt = scoped(ctx, TicketSla).where(condition, TicketSla.stopped_at.is_(None))
    return list(session.scalars(stmt.order_by(TicketSla.id)))


def _reschedule(session: Session, ctx: Context, affected: Sequence[TicketSla], now: Any) -> None:
    percents = {
        p.id: p.at_risk_percent
        for p in session.scalars(
            scoped(ctx, SlaPolicy).where(SlaPolicy.id.in_({c.policy_id for c in affected} - {None}))
        )
    }
    for clock in affected:
        percent = percents.get(clock.policy_id or 0, clocks.DEFAULT_AT_RISK_PERCENT)
        clocks.reschedule(session, ctx, clock, now, percent)
    session.flush()
