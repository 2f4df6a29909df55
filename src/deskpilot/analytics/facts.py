"""Per-ticket measurements from a ticket's history: pure functions, no database.

`ticket_fact` turns one ticket's row, public messages, status events and SLA clocks into the
numbers stored in `analytics_ticket_facts`; `docs/analytics.md` gives each definition. Keeping
this free of I/O lets tests feed hand-built histories with known answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deskpilot.sla.calendar import BusinessCalendar, business_seconds_between

WAITING = "waiting_customer"
DONE = frozenset({"resolved", "closed"})
STAFF_AUTHORS = frozenset({"agent", "ai"})
ASSIST_KEY = "assisted_by_decision_id"


@dataclass(frozen=True)
class TicketRow:
    id: int
    created_at: datetime
    status: str
    priority: str
    channel: str
    type: str | None
    category: str | None
    organization_id: int | None
    team_id: int | None
    assignee_id: int | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    reopened_count: int
    csat_score: int | None


@dataclass(frozen=True)
class MessageRow:
    author_type: str
    author_user_id: int | None
    visibility: str
    ai_meta: dict[str, Any] | None
    created_at: datetime

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"

    @property
    def assisted(self) -> bool:
        return self.author_type == "agent" and ASSIST_KEY in (self.ai_meta or {})


@dataclass(frozen=True)
class EventRow:
    kind: str
    actor_type: str
    actor_user_id: int | None
    old_value: Any
    new_value: Any
    created_at: datetime


@dataclass(frozen=True)
class ClockRow:
    metric: str
    cycle: int
    state: str


@dataclass
class History:
    ticket: TicketRow
    messages: list[MessageRow] = field(default_factory=list)
    """All messages, oldest first."""
    events: list[EventRow] = field(default_factory=list)
    """All audit events, oldest first."""
    clocks: list[ClockRow] = field(default_factory=list)
    escalations: int = 0
    ai_decisions: int = 0
    ai_tokens: int = 0
    ai_cost_usd: float = 0.0


def seconds_between(a: datetime, b: datetime, calendar: BusinessCalendar | None) -> int:
    """Whole seconds from a to b, counting only business time when a calendar is given."""
    if b <= a:
        return 0
    return business_seconds_between(a, b, calendar)


def waiting_intervals(
    events: Sequence[EventRow], until: datetime
) -> list[tuple[datetime, datetime]]:
    """Stretches the ticket spent in waiting_customer, from its status events (oldest first);
    a stretch still open ends at `until`."""
    spans: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for event in events:
        if event.kind not in ("status_changed", "resolved", "closed", "reopened"):
            continue
        if event.new_value == WAITING and since is None:
            since = event.created_at
        elif event.old_value == WAITING and since is not None:
            spans.append((since, event.created_at))
            since = None
    if since is not None and since < until:
        spans.append((since, until))
    return spans


def net_seconds(
    start: datetime,
    end: datetime,
    paused: Sequence[tuple[datetime, datetime]],
    calendar: BusinessCalendar | None,
) -> int:
    """Seconds from start to end (business or calendar) minus the paused stretches inside."""
    total = seconds_between(start, end, calendar)
    for lo, hi in paused:
        lo, hi = max(lo, start), min(hi, end)
        if hi > lo:
            total -= seconds_between(lo, hi, calendar)
    return max(total, 0)


def next_response_times(messages: Sequence[MessageRow]) -> list[int]:
    """After the first public staff reply: for each customer message, the calendar seconds until
    the next public agent or AI reply (several customer messages in a row wait from the first)."""
    times: list[int] = []
    responded = False
    waiting_since: datetime | None = None
    for message in messages:
        if not message.is_public:
            continue
        if message.author_type in STAFF_AUTHORS:
            if waiting_since is not None:
                times.append(int((message.created_at - waiting_since).total_seconds()))
                waiting_since = None
            responded = True
        elif message.author_type == "customer" and responded and waiting_since is None:
            waiting_since = message.created_at
    return times


def _resolver(events: Sequence[EventRow]) -> EventRow | None:
    resolved = [e for e in events if e.kind == "resolved"]
    return resolved[-1] if resolved else None


def _actor(event: EventRow) -> str:
    return {"user": "agent", "ai": "ai"}.get(event.actor_type, event.actor_type)


def _clock_state(clocks: Sequence[ClockRow], metric: str) -> str | None:
    """met | breached | None for a one-cycle clock (the latest cycle counts)."""
    rows = sorted((c for c in clocks if c.metric == metric), key=lambda c: c.cycle)
    if not rows:
        return None
    state = rows[-1].state
    return state if state in ("met", "breached") else None


def ticket_fact(
    history: History,
    calendar: BusinessCalendar | None,
    now: datetime,
) -> dict[str, Any]:
    """The stored fact columns of one ticket (without workspace, days and bookkeeping)."""
    t = history.ticket
    paused = waiting_intervals(history.events, now)
    frt = frt_business = None
    first_by = None
    if t.first_response_at is not None:
        frt = seconds_between(t.created_at, t.first_response_at, None)
        frt_business = seconds_between(t.created_at, t.first_response_at, calendar)
        first = next(
            (m for m in history.messages if m.is_public and m.author_type in STAFF_AUTHORS),
            None,
        )
        first_by = first.author_type if first else None
    resolution = resolution_business = None
    done = t.status in DONE and t.resolved_at is not None
    if done and t.resolved_at is not None:
        resolution = net_seconds(t.created_at, t.resolved_at, paused, None)
        resolution_business = net_seconds(t.created_at, t.resolved_at, paused, calendar)
    resolver = _resolver(history.events)
    resolved_by = _actor(resolver) if done and resolver is not None else None
    agent_public = [m for m in history.messages if m.is_public and m.author_type == "agent"]
    nrt = next_response_times(history.messages)
    next_clocks = [c for c in history.clocks if c.metric == "next_response"]
    return {
        "ticket_id": t.id,
        "status": t.status,
        "priority": t.priority,
        "is_open": t.status not in DONE,
        "channel": t.channel,
        "type": t.type,
        "category": t.category,
        "organization_id": t.organization_id,
        "team_id": t.team_id,
        "assignee_id": t.assignee_id,
        "first_response_seconds": frt,
        "first_response_business_seconds": frt_business,
        "first_response_by": first_by,
        "next_response_seconds_sum": sum(nrt),
        "next_response_count": len(nrt),
        "resolution_seconds": resolution,
        "resolution_business_seconds": resolution_business,
        "ever_resolved": done or t.reopened_count > 0 or resolver is not None,
        "reopened_count": t.reopened_count,
        "resolved_by": resolved_by,
        "ai_deflected": resolved_by == "ai" and not agent_public and t.reopened_count == 0,
        "agent_public_replies": len(agent_public),
        "assisted_replies": sum(1 for m in agent_public if m.assisted),
        "escalations": history.escalations,
        "csat_score": t.csat_score,
        "sla_first_response": _clock_state(history.clocks, "first_response"),
        "sla_resolution": _clock_state(history.clocks, "resolution"),
        "sla_next_response_met": sum(1 for c in next_clocks if c.state == "met"),
        "sla_next_response_breached": sum(1 for c in next_clocks if c.state == "breached"),
        "ai_decisions": history.ai_decisions,
        "ai_tokens": history.ai_tokens,
        "ai_cost_usd": history.ai_cost_usd,
    }


@dataclass
class AgentActivity:
    """One staff member's countable actions on one ticket, with when they happened."""

    user_id: int
    kind: str  # reply | assisted_reply | resolved | first_response | csat
    at: datetime
    seconds: int = 0
    ticket_id: int = 0


def agent_activity(
    history: History, calendar: BusinessCalendar | None, now: datetime
) -> list[AgentActivity]:
    """Replies, resolutions, first responses and ratings credited to staff members.

    Resolution seconds are calendar time minus waiting_customer time up to that resolution; a
    rating is credited to the ticket's current assignee."""
    del calendar  # agent figures are in calendar time; kept for a symmetric call site
    t = history.ticket
    paused = waiting_intervals(history.events, now)
    out: list[AgentActivity] = []
    for m in history.messages:
        if m.is_public and m.author_type == "agent" and m.author_user_id is not None:
            kind = "assisted_reply" if m.assisted else "reply"
            out.append(AgentActivity(m.author_user_id, kind, m.created_at, ticket_id=t.id))
    for e in history.events:
        if e.actor_user_id is None and e.kind != "csat_received":
            continue
        if e.kind == "resolved" and e.actor_type == "user" and e.actor_user_id is not None:
            seconds = net_seconds(t.created_at, e.created_at, paused, None)
            out.append(AgentActivity(e.actor_user_id, "resolved", e.created_at, seconds, t.id))
        elif e.kind == "first_response" and e.actor_type == "user" and e.actor_user_id:
            seconds = seconds_between(t.created_at, e.created_at, None)
            out.append(
                AgentActivity(e.actor_user_id, "first_response", e.created_at, seconds, t.id)
            )
        elif e.kind == "csat_received" and t.assignee_id is not None:
            score = int(e.new_value) if isinstance(e.new_value, int | float) else 0
            if score:
                out.append(AgentActivity(t.assignee_id, "csat", e.created_at, score, t.id))
    return out
