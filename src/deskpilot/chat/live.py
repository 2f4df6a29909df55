"""In-process wake-ups for the chat stream: a conversation's stream wakes as soon as a
transaction that touched its ticket commits in this process.

The AI pipeline stores its reply in a job (embedded consumer threads in `deskpilot serve`, or
`deskpilot worker` processes). A ticket hook notes which tickets a transaction changed and, once
it commits, wakes the streams watching them here; a stream in another process does not hear it
and notices on its next poll (`stream.POLL_SECONDS`). So the hook is a latency shortcut only:
correctness never depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence

from sqlalchemy.orm import Session

from deskpilot.db.hooks import after_commit
from deskpilot.tickets import hooks
from deskpilot.tickets.models import TicketEvent

ORDER = 90
"""After every other handler: it only reads ids and runs nothing before the commit."""


class Watch:
    """One stream's wake-up flag, settable from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def wake(self) -> None:
        # RuntimeError: the stream's loop is gone (server shutting down); nothing to wake.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self, seconds: float) -> bool:
        """True when woken, False when `seconds` passed; clears the flag either way."""
        try:
            async with asyncio.timeout(seconds):
                await self.event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self.event.clear()


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[int, set[Watch]] = {}

    def watch(self, ticket_id: int) -> Watch:
        watch = Watch(asyncio.get_running_loop())
        with self._lock:
            self._watches.setdefault(ticket_id, set()).add(watch)
        return watch

    def unwatch(self, ticket_id: int, watch: Watch) -> None:
        with self._lock:
            watches = self._watches.get(ticket_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[ticket_id]

    def watched(self, ticket_ids: set[int]) -> set[int]:
        with self._lock:
            return {t for t in ticket_ids if t in self._watches}

    def notify(self, ticket_ids: set[int]) -> None:
        with self._lock:
            watches = [w for t in ticket_ids for w in self._watches.get(t, ())]
        for watch in watches:
            watch.wake()


notifier = Notifier()


def on_ticket_events(session: Session, batch: Sequence[TicketEvent]) -> None:
    ticket_ids = notifier.watched({e.ticket_id for e in batch if e.ticket_id is not None})
    if ticket_ids:
        after_commit(session, lambda: notifier.notify(ticket_ids))


hooks.register("chat.live", on_ticket_events, order=ORDER)
