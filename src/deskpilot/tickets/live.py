"""The change feed behind the console's live updates (Server-Sent Events).

Each open stream polls a cheap "latest change" marker of the viewer's workspace every couple of
seconds and sends an event when it moves. The marker is read from the database, so it sees changes
made by any process on either database, with no broker. It is built from indexed lookups only:
the newest ticket update (ix_tickets_ws_updated), the highest ticket number (the unique
(workspace_id, number) index) and the open escalations (ix_escalations_ws_status_created).
The stream holds no database connection between polls: `load_marker` opens and closes a session
for each read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.escalations.models import Escalation
from deskpilot.tickets.models import Ticket

POLL_SECONDS = 2.0
HEARTBEAT_EVERY = 8
"""Polls between heartbeat comments (~15 s), which keep proxies from closing an idle stream."""
MAX_POLLS = 900
"""The server ends a stream after ~30 minutes; EventSource reconnects on its own."""
RETRY_MS = 5000


def change_marker(session: Session, ctx: Context) -> str:
    """An opaque value that changes whenever a ticket of the workspace is created or updated, or
    an escalation is opened or resolved."""
    ctx.require_staff()
    ws = ctx.workspace_id
    latest = (
        select(Ticket.updated_at)
        .where(Ticket.workspace_id == ws)
        .order_by(Ticket.updated_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    top_number = select(func.max(Ticket.number)).where(Ticket.workspace_id == ws).scalar_subquery()
    open_escalations = select(func.count(), func.max(Escalation.id)).where(
        Escalation.workspace_id == ws, Escalation.status == "open"
    )
    updated_at, number = session.execute(select(latest, top_number)).one()
    escalations, last_escalation = session.execute(open_escalations).one()
    stamp = updated_at.isoformat() if updated_at is not None else "-"
    return f"{stamp}|{number or 0}|{escalations or 0}|{last_escalation or 0}"


def _event(marker: str) -> str:
    # The marker is the event id: a reconnecting EventSource sends it back as Last-Event-ID.
    return f"id: {marker}\nevent: message\ndata: changed\n\n"


async def event_stream(
    load_marker: Callable[[], Awaitable[str]],
    is_disconnected: Callable[[], Awaitable[bool]],
    *,
    last_event_id: str | None = None,
    poll_seconds: float | None = None,
    heartbeat_every: int | None = None,
    max_polls: int | None = None,
) -> AsyncIterator[str]:
    """Server-Sent Events text: `changed` whenever the marker moves, a heartbeat comment now and
    then, until the client disconnects or `max_polls` polls have run.

    A client reconnecting with a stale Last-Event-ID gets an event at once, so it catches up on
    what changed while it was away.
    """
    poll = POLL_SECONDS if poll_seconds is None else poll_seconds
    heartbeat = HEARTBEAT_EVERY if heartbeat_every is None else heartbeat_every
    polls = MAX_POLLS if max_polls is None else max_polls
    yield f"retry: {RETRY_MS}\n: connected\n\n"
    marker = await load_marker()
    if last_event_id and last_event_id != marker:
        yield _event(marker)
    for count in range(1, polls + 1):
        await asyncio.sleep(poll)
        if await is_disconnected():
            return
        current = await load_marker()
        if current != marker:
            marker = current
            yield _event(marker)
        elif heartbeat and count % heartbeat == 0:
            yield ": heartbeat\n\n"
