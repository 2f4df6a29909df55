"""Reactions to ticket events, run inside the transaction that recorded them, just before commit.

Every ticket change writes an audit event (`tickets.service._record`). Domains that react to
changes — automation rules, routing, SLA clocks — register a handler here instead of being called
by the ticket service (which therefore depends on none of them). At the end of each public ticket
service call (`@dispatching`), and in any case just before a transaction commits, the handlers
receive the events recorded so far, in registration order; whatever they change
records new events, which are dispatched in the next round, until none are left. A chain longer
than `MAX_ROUNDS` is a loop (two rules undoing each other): it is cut and logged, and the
transaction still commits what happened so far.

Handlers get a system context of the event's workspace and must only write through services.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from deskpilot.tickets.models import TicketEvent

log = logging.getLogger(__name__)

Handler = Callable[[Session, Sequence[TicketEvent]], None]
MAX_ROUNDS = 10
_PENDING = "deskpilot_ticket_events"
_DISPATCHING = "deskpilot_ticket_events_dispatching"
_DEPTH = "deskpilot_ticket_service_depth"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Registration:
    name: str
    order: int
    handler: Handler


_handlers: dict[str, Registration] = {}


def register(name: str, handler: Handler, *, order: int) -> None:
    """Add (or replace) a handler; lower `order` runs first."""
    _handlers[name] = Registration(name, order, handler)


def registered() -> list[Registration]:
    return sorted(_handlers.values(), key=lambda r: (r.order, r.name))


def note(session: Session, ticket_event: TicketEvent) -> None:
    """Remember an event for dispatch before this transaction commits."""
    session.info.setdefault(_PENDING, []).append(ticket_event)


def dispatching(fn: F) -> F:
    """Dispatch at the end of the outermost decorated service call, so the caller (an API
    response, say) sees what the handlers changed; nested calls leave it to the outermost."""

    @functools.wraps(fn)
    def wrapper(session: Session, *args: Any, **kwargs: Any) -> Any:
        depth = session.info.get(_DEPTH, 0)
        session.info[_DEPTH] = depth + 1
        try:
            result = fn(session, *args, **kwargs)
        finally:
            session.info[_DEPTH] = depth
        if depth == 0:
            dispatch(session)
        return result

    return wrapper  # type: ignore[return-value]


def dispatch(session: Session) -> None:
    """Run the handlers on the pending events until there are none (or the loop guard trips)."""
    # Inside a savepoint, wait: if it rolls back, handlers' work on other tickets' events would
    # be lost with it. The outer call (or the commit) dispatches.
    if session.info.get(_DISPATCHING) or session.in_nested_transaction():
        return
    session.info[_DISPATCHING] = True
    try:
        for _round in range(MAX_ROUNDS):
            # Events of a rolled-back savepoint are no longer in the session: nothing happened.
            batch = [e for e in session.info.pop(_PENDING, []) if e in session]
            if not batch:
                return
            session.flush()
            for registration in registered():
                registration.handler(session, batch)
        leftover = session.info.pop(_PENDING, [])
        if leftover:
            log.warning(
                "ticket event chain cut after %d rounds (a loop?): %d events not dispatched",
                MAX_ROUNDS,
                len(leftover),
            )
    finally:
        session.info[_DISPATCHING] = False


@event.listens_for(Session, "before_commit")
def _dispatch_before_commit(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.get(_PENDING):
        return
    dispatch(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
