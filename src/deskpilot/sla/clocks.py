"""SLA clocks of one ticket: start, pause, resume, stop and re-target, keeping due times precomputed.

A clock (`TicketSla` row) counts business (or calendar) seconds in `elapsed_seconds` up to
`counted_at`. While it counts, `due_at` and `at_risk_at` hold the instants the target and the
at-risk threshold are reached, so the periodic sweep finds due clocks with a range scan instead of
computing anything per ticket. Table states:

- `running`: counting, not yet breached. `paused`: not counting (`due_at`/`at_risk_at` NULL); a
  paused clock may already be breached (`breached_at` set).
- `breached`: the target passed; it keeps counting (so the time over is shown) until stopped.
- `met`: stopped in time. A breached clock that stops keeps the state `breached`.

`stopped_at` is set when a clock stops for good (met, resolved, closed); reopening a ticket
resumes its resolution clock. Breaches are final for a clock: a later, longer target does not
undo one. The callers (hooks, sweep) hold the ticket's row lock, then touch its clocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.db.scoped import scoped
from deskpilot.sla.calendar import (
    BusinessCalendar,
    add_business_seconds,
    business_seconds_between,
)
from deskpilot.sla.models import BusinessHours, SlaPolicy, TicketSla
from deskpilot.sla.schemas import ClockState, Metric
from deskpilot.tickets.models import Ticket

RUNNING = "running"
PAUSED = "paused"
MET = "met"
BREACHED = "breached"
DEFAULT_AT_RISK_PERCENT = 80
TARGET_FIELDS = {
    Metric.first_response: "first_response_minutes",
    Metric.next_response: "next_response_minutes",
    Metric.resolution: "resolution_minutes",
}
METRIC_ORDER = {m.value: i for i, m in enumerate(Metric)}


def policy_target(policy: SlaPolicy | None, metric: str) -> int | None:
    if policy is None:
        return None
    value: int | None = getattr(policy, TARGET_FIELDS[Metric(metric)])
    return value


def load_calendar(
    session: Session, ctx: Context, business_hours_id: int | None
) -> BusinessCalendar | None:
    """The clock's calendar; None (calendar hours) when unset or no longer in the workspace."""
    if business_hours_id is None:
        return None
    hours = session.get(BusinessHours, business_hours_id)
    if hours is None or hours.workspace_id != ctx.workspace_id:
        return None
    return BusinessCalendar.from_model(hours)


def is_counting(clock: TicketSla) -> bool:
    return clock.stopped_at is None and clock.state in (RUNNING, BREACHED)


def at_risk_seconds(target_minutes: int, percent: int) -> int:
    return math.ceil(target_minutes * 60 * percent / 100)


def _advance(clock: TicketSla, now: datetime, calendar: BusinessCalendar | None) -> None:
    """Fold the time counted since `counted_at` into `elapsed_seconds`."""
    if is_counting(clock) and now > clock.counted_at:
        clock.elapsed_seconds += business_seconds_between(clock.counted_at, now, calendar)
    clock.counted_at = max(now, clock.counted_at)


def _schedule(clock: TicketSla, calendar: BusinessCalendar | None, percent: int) -> None:
    """Precompute `due_at` and `at_risk_at` of a running clock; NULL them while paused."""
    if clock.state == PAUSED:
        clock.due_at = None
        clock.at_risk_at = None
        return
    if clock.state != RUNNING:
        return  # breached or stopped: the sweep no longer looks at it
    target = clock.target_minutes * 60
    left = max(target - clock.elapsed_seconds, 0)
    risk_left = max(at_risk_seconds(clock.target_minutes, percent) - clock.elapsed_seconds, 0)
    clock.due_at = add_business_seconds(clock.counted_at, left, calendar)
    clock.at_risk_at = add_business_seconds(clock.counted_at, risk_left, calendar)


@dataclass
class ClockChange:
    """What the caller must record: a breach found while stopping or pausing a clock."""

    clock: TicketSla
    breached_now: bool = False


def start_clock(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    policy: SlaPolicy,
    metric: str,
    *,
    now: datetime,
    cycle: int = 1,
    since: datetime | None = None,
    paused: bool = False,
) -> TicketSla | None:
    """A new clock for `metric` (None when the policy has no target for it).

    `since` counts time already passed (a policy that starts applying later counts from the
    ticket's creation); `paused` starts it paused (the ticket waits on the customer).
    """
    target = policy_target(policy, metric)
    if target is None:
        return None
    calendar = load_calendar(session, ctx, policy.business_hours_id)
    start = since if since is not None and since < now else now
    clock = TicketSla(
        workspace_id=ctx.workspace_id,
        ticket_id=ticket.id,
        policy_id=policy.id,
        metric=metric,
        cycle=cycle,
        target_minutes=target,
        business_hours_id=policy.business_hours_id,
        state=RUNNING,
        started_at=start,
        counted_at=now,
        elapsed_seconds=business_seconds_between(start, now, calendar),
    )
    if paused:
        clock.state = PAUSED
    _schedule(clock, calendar, policy.at_risk_percent)
    session.add(clock)
    return clock


def _overdue(clock: TicketSla) -> bool:
    return clock.elapsed_seconds >= clock.target_minutes * 60


def _mark_late_breach(clock: TicketSla, now: datetime) -> bool:
    """A clock found overdue while stopping or pausing (before the sweep saw it).

    The breach is recorded but its actions are not run: the moment to act has passed.
    """
    if clock.breached_at is not None or not _overdue(clock):
        return False
    clock.breached_at = clock.due_at or now
    clock.breach_handled_at = now
    return True


def fold_elapsed(session: Session, ctx: Context, clock: TicketSla, now: datetime) -> None:
    """Count the time up to now in the clock's current calendar (before the calendar changes)."""
    _advance(clock, now, load_calendar(session, ctx, clock.business_hours_id))


def pause(session: Session, ctx: Context, clock: TicketSla, now: datetime) -> ClockChange:
    change = ClockChange(clock)
    if not is_counting(clock):
        return change
    _advance(clock, now, load_calendar(session, ctx, clock.business_hours_id))
    change.breached_now = _mark_late_breach(clock, now)
    clock.state = PAUSED
    clock.due_at = None
    clock.at_risk_at = None
    return change


def resume(session: Session, ctx: Context, clock: TicketSla, now: datetime, percent: int) -> None:
    """A paused (or stopped resolution) clock counts again from now."""
    if is_counting(clock):
        return
    calendar = load_calendar(session, ctx, clock.business_hours_id)
    clock.counted_at = max(now, clock.counted_at)
    clock.stopped_at = None
    clock.state = BREACHED if clock.breached_at is not None else RUNNING
    _schedule(clock, calendar, percent)


def stop(session: Session, ctx: Context, clock: TicketSla, now: datetime) -> ClockChange:
    """Met (a reply, a resolution): final state met, or breached when it came too late."""
    change = ClockChange(clock)
    if clock.stopped_at is not None:
        return change
    _advance(clock, now, load_calendar(session, ctx, clock.business_hours_id))
    change.breached_now = _mark_late_breach(clock, now)
    clock.state = BREACHED if clock.breached_at is not None else MET
    clock.stopped_at = now
    return change


def retarget(
    session: Session, ctx: Context, clock: TicketSla, policy: SlaPolicy, now: datetime
) -> bool:
    """Apply a (new) policy's target and calendar to an open clock, keeping the time counted.

    Returns False when the policy has no target for the clock's metric (the caller drops it).
    """
    target = policy_target(policy, clock.metric)
    if target is None:
        return False
    old_calendar = load_calendar(session, ctx, clock.business_hours_id)
    _advance(clock, now, old_calendar)
    clock.policy_id = policy.id
    if clock.target_minutes != target:
        # A new target may be reached at a new moment: the at-risk flag is re-armed.
        clock.at_risk_flagged_at = None
    clock.target_minutes = target
    clock.business_hours_id = policy.business_hours_id
    _schedule(clock, load_calendar(session, ctx, clock.business_hours_id), policy.at_risk_percent)
    return True


def reschedule(
    session: Session, ctx: Context, clock: TicketSla, now: datetime, percent: int
) -> None:
    """The clock's calendar changed (new hours or holidays): recompute from what was counted."""
    calendar = load_calendar(session, ctx, clock.business_hours_id)
    clock.counted_at = max(now, clock.counted_at)
    _schedule(clock, calendar, percent)


def ticket_clocks(session: Session, ctx: Context, ticket_id: int) -> list[TicketSla]:
    rows = session.scalars(scoped(ctx, TicketSla).where(TicketSla.ticket_id == ticket_id))
    return sorted(rows, key=lambda c: (METRIC_ORDER.get(c.metric, 9), c.cycle, c.id))


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockView:
    clock: TicketSla
    state: ClockState
    elapsed_seconds: int
    seconds_left: int
    paused: bool
    breached: bool


def view(
    clock: TicketSla, now: datetime, calendar: BusinessCalendar | None, percent: int
) -> ClockView:
    """The clock as of `now`: time counted so far, time left and the state the API shows."""
    elapsed = clock.elapsed_seconds
    if is_counting(clock) and now > clock.counted_at:
        elapsed += business_seconds_between(clock.counted_at, now, calendar)
    target = clock.target_minutes * 60
    breached = clock.breached_at is not None or (is_counting(clock) and elapsed >= target)
    paused = clock.state == PAUSED
    if breached:
        state = ClockState.breached
    elif clock.stopped_at is not None:
        state = ClockState.met
    elif paused:
        state = ClockState.paused
    elif elapsed >= at_risk_seconds(clock.target_minutes, percent):
        state = ClockState.at_risk
    else:
        state = ClockState.ok
    return ClockView(clock, state, elapsed, target - elapsed, paused, breached)


def open_clocks(clocks: Sequence[TicketSla]) -> list[TicketSla]:
    return [c for c in clocks if c.stopped_at is None]
