"""Ticket events drive the SLA clocks (handler order 30, after automation and routing).

- `created`: the first enabled policy whose conditions hold starts `first_response` and
  `resolution` clocks (only metrics the policy has a target for).
- A public agent or AI reply (`message_added`, `first_response`) meets the open response clocks.
- A public customer message after the first agent reply starts a new `next_response` cycle
  (unless one is already open).
- Entering `waiting_customer` pauses the open clocks of policies with
  `pause_when_waiting_customer`; leaving it resumes them.
- `resolved`, `closed` (and being merged away) stop every open clock; `reopened` resumes the
  latest resolution clock.
- A change of priority, type or category re-matches the policy: open clocks take the new
  policy's targets and calendar, keeping the time already counted; metrics the new policy adds
  start counting from the ticket's creation; clocks it has no target for are dropped (unless
  already breached, then they stop).

Breaches found here (a clock stopped or paused after its due time, before the sweep saw it) are
recorded as `sla_breached` events without running the policy's actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.db.hooks import after_commit
from deskpilot.observability import metrics
from deskpilot.sla import clocks, service
from deskpilot.sla.models import SlaPolicy, TicketSla
from deskpilot.sla.schemas import Metric
from deskpilot.tickets import hooks
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket, TicketEvent

HANDLER_ORDER = 30
STOP_STATUSES = frozenset({Status.resolved.value, Status.closed.value})
REMATCH_KINDS = frozenset({"priority_changed", "type_changed", "category_changed"})
RESPONSE_METRICS = frozenset({Metric.first_response.value, Metric.next_response.value})
STAFF_AUTHORS = frozenset({"agent", "ai"})


def handle_ticket_events(session: Session, events: Sequence[TicketEvent]) -> None:
    by_ticket: dict[tuple[int, int], list[TicketEvent]] = {}
    for event in events:
        if event.kind.startswith("sla_"):
            continue
        by_ticket.setdefault((event.workspace_id, event.ticket_id), []).append(event)
    for (workspace_id, ticket_id), ticket_events in by_ticket.items():
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            continue
        _TicketClocks(session, Context.system(workspace_id), ticket).apply(ticket_events)


class _TicketClocks:
    """The open clocks of one ticket while its events of this round are applied in order."""

    def __init__(self, session: Session, ctx: Context, ticket: Ticket) -> None:
        self.session = session
        self.ctx = ctx
        self.ticket = ticket
        self.clocks = clocks.ticket_clocks(session, ctx, ticket.id)
        self._policies: dict[int, SlaPolicy | None] = {}

    def apply(self, events: Sequence[TicketEvent]) -> None:
        rematch = False
        for event in events:
            now = event.created_at
            meta: dict[str, Any] = event.meta or {}
            if event.kind == "created":
                self._start(now)
            elif event.kind == "first_response" or (
                event.kind == "message_added"
                and meta.get("author_type") in STAFF_AUTHORS
                and meta.get("visibility") == "public"
            ):
                self._stop(now, RESPONSE_METRICS)
            elif event.kind == "message_added" and meta.get("author_type") == "customer":
                self._customer_message(now)
            elif event.kind in ("resolved", "closed") or (
                event.kind == "merged" and event.new_value == Status.closed.value
            ):
                self._stop(now, None)
            elif event.kind == "reopened":
                self._reopen(now)
            elif event.kind == "status_changed":
                self._status_changed(now, event.old_value, event.new_value)
            elif event.kind in REMATCH_KINDS:
                rematch = True
        if rematch:
            self._rematch(events[-1].created_at)
        self.session.flush()

    # --- helpers ---------------------------------------------------------------------------------

    def _policy(self, policy_id: int | None) -> SlaPolicy | None:
        if policy_id is None:
            return None
        if policy_id not in self._policies:
            policy = self.session.get(SlaPolicy, policy_id)
            ok = policy is not None and policy.workspace_id == self.ctx.workspace_id
            self._policies[policy_id] = policy if ok else None
        return self._policies[policy_id]

    def _percent(self, clock: TicketSla) -> int:
        policy = self._policy(clock.policy_id)
        return policy.at_risk_percent if policy else clocks.DEFAULT_AT_RISK_PERCENT

    def _open(self, metrics: frozenset[str] | None = None) -> list[TicketSla]:
        return [
            c
            for c in self.clocks
            if c.stopped_at is None and (metrics is None or c.metric in metrics)
        ]

    def _waiting_pauses(self, policy: SlaPolicy) -> bool:
        return (
            self.ticket.status == Status.waiting_customer.value
            and policy.pause_when_waiting_customer
        )

    def _add(self, clock: TicketSla | None) -> None:
        if clock is not None:
            self.clocks.append(clock)

    def _record_late_breach(self, change: clocks.ClockChange) -> None:
        if change.breached_now:
            _record_breach(self.session, self.ctx, self.ticket, change.clock, detected="on_stop")

    # --- transitions -----------------------------------------------------------------------------

    def _start(self, now: datetime) -> None:
        if any(c.metric != Metric.next_response.value for c in self.clocks):
            return  # already started (a replayed event)
        policy = service.policy_for_ticket(self.session, self.ctx, self.ticket)
        if policy is None:
            return
        paused = self._waiting_pauses(policy)
        for metric in (Metric.first_response, Metric.resolution):
            if metric == Metric.first_response and self.ticket.first_response_at is not None:
                continue
            self._add(
                clocks.start_clock(
                    self.session, self.ctx, self.ticket, policy, metric.value, now=now,
                    since=self.ticket.created_at, paused=paused,
                )
            )  # fmt: skip

    def _stop(self, now: datetime, metrics: frozenset[str] | None) -> None:
        for clock in self._open(metrics):
            self._record_late_breach(clocks.stop(self.session, self.ctx, clock, now))

    def _customer_message(self, now: datetime) -> None:
        if self.ticket.first_response_at is None or self.ticket.status in STOP_STATUSES:
            return
        if self._open(frozenset({Metric.next_response.value})):
            return  # still owed a reply: the running cycle goes on
        policy = service.policy_for_ticket(self.session, self.ctx, self.ticket)
        if policy is None:
            return
        cycle = 1 + max(
            (c.cycle for c in self.clocks if c.metric == Metric.next_response.value), default=0
        )
        self._add(
            clocks.start_clock(
                self.session, self.ctx, self.ticket, policy, Metric.next_response.value,
                now=now, cycle=cycle, paused=self._waiting_pauses(policy),
            )
        )  # fmt: skip

    def _reopen(self, now: datetime) -> None:
        resolution = [c for c in self.clocks if c.metric == Metric.resolution.value]
        if resolution:
            latest = resolution[-1]
            clocks.resume(self.session, self.ctx, latest, now, self._percent(latest))
            policy = self._policy(latest.policy_id)
            if policy is not None and self._waiting_pauses(policy):
                clocks.pause(self.session, self.ctx, latest, now)

    def _status_changed(self, now: datetime, old: Any, new: Any) -> None:
        if new == Status.waiting_customer.value:
            for clock in self._open():
                policy = self._policy(clock.policy_id)
                if policy is None or policy.pause_when_waiting_customer:
                    change = clocks.pause(self.session, self.ctx, clock, now)
                    self._record_late_breach(change)
        elif old == Status.waiting_customer.value:
            for clock in self._open():
                if clock.state == clocks.PAUSED:
                    clocks.resume(self.session, self.ctx, clock, now, self._percent(clock))

    def _rematch(self, now: datetime) -> None:
        if self.ticket.status in STOP_STATUSES:
            return
        policy = service.policy_for_ticket(self.session, self.ctx, self.ticket)
        for clock in self._open():
            if policy is not None and clock.policy_id == policy.id:
                continue
            if policy is not None and clocks.retarget(self.session, self.ctx, clock, policy, now):
                continue
            if clock.breached_at is not None:
                clocks.stop(self.session, self.ctx, clock, now)
            else:
                self.clocks.remove(clock)
                self.session.delete(clock)
        if policy is None:
            return
        have = {c.metric for c in self.clocks}
        paused = self._waiting_pauses(policy)
        for metric in (Metric.first_response, Metric.resolution):
            if metric.value in have:
                continue
            if metric == Metric.first_response and self.ticket.first_response_at is not None:
                continue
            self._add(
                clocks.start_clock(
                    self.session, self.ctx, self.ticket, policy, metric.value, now=now,
                    since=self.ticket.created_at, paused=paused,
                )
            )  # fmt: skip


def _record_breach(
    session: Session, ctx: Context, ticket: Ticket, clock: TicketSla, *, detected: str
) -> None:
    tickets_service.record_event(
        session, ctx, ticket, "sla_breached", meta=breach_meta(clock, detected=detected)
    )
    metric = clock.metric
    after_commit(session, lambda: metrics.record_sla_breaches(metric, detected))


def breach_meta(clock: TicketSla, *, detected: str) -> dict[str, Any]:
    return {
        "metric": clock.metric,
        "cycle": clock.cycle,
        "target_minutes": clock.target_minutes,
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "policy_id": clock.policy_id,
        "detected": detected,
    }


hooks.register("sla.clocks", handle_ticket_events, order=HANDLER_ORDER)
