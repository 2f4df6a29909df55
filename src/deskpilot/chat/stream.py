"""The live stream of one conversation (Server-Sent Events).

Each round reads the conversation's signature (one cheap query, in a short-lived session on a
worker thread, so no connection is held while waiting) and, only when it changed, the new
messages; then it waits for an in-process wake-up (`live.notifier`, fired when a transaction
touching the ticket commits) or the poll interval, whichever comes first. Comments every
`HEARTBEAT_SECONDS` keep proxies from closing an idle stream; the loop ends when the client goes.

Events (each `data:` is JSON):

- `message` (with `id:`): a public message the widget has not shown yet (agents' replies, the
  visitor's own from another tab, the AI's once streamed);
- `ai_start`, `ai_delta` (`text` chunks of a few words), then `message`: an AI reply, streamed
  so the widget renders it progressively; `message` carries the final HTML and citations;
- `state`: status and whether a person has taken over, when they change;
- `end`: the conversation can no longer be read (deleted, merged away): stop reconnecting.

The SSE `id` is the last message id sent, so a reconnecting EventSource (`Last-Event-ID`)
resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from deskpilot.chat import present
from deskpilot.chat import service as chat_service
from deskpilot.chat.live import notifier
from deskpilot.chat.schemas import ChatMessageRead, ConversationState
from deskpilot.chat.tokens import Visitor
from deskpilot.core.errors import NotFound
from deskpilot.db.engine import Database

POLL_SECONDS = 0.5
"""Fallback when the change happened in another process (a `deskpilot worker`)."""
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000
WORDS_PER_CHUNK = 3
CHUNK_PAUSE_SECONDS = 0.015
"""The builtin provider answers whole; a short pause between chunks lets the reply appear as it
would from a streaming model, without delaying the first chunk."""


@dataclass
class Poll:
    signature: chat_service.Signature | None
    messages: list[ChatMessageRead] = field(default_factory=list)
    state: ConversationState | None = None


def read_changes(
    db: Database,
    visitor: Visitor,
    after_id: int,
    seen: chat_service.Signature | None,
    base_url: str,
) -> Poll:
    """One poll: the signature, and the messages newer than `after_id` if it changed."""
    with db.session(write=False) as session:
        current = chat_service.signature(session, visitor)
        if current == seen:
            return Poll(current)
        conversation = chat_service.get_conversation(session, visitor)
        messages = [
            present.message_read(m, base_url) for m in conversation.messages if m.id > after_id
        ]
        return Poll(current, messages, present.state_of(conversation))


def ensure_readable(db: Database, visitor: Visitor) -> None:
    with db.session(write=False) as session:
        chat_service.signature(session, visitor)


def sse(event: str, data: Any, *, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def ai_reply_events(message: ChatMessageRead, pause: float) -> AsyncIterator[str]:
    yield sse("ai_start", {"id": message.id})
    for i, chunk in enumerate(
        present.word_chunks(present.plain_text(message.body), WORDS_PER_CHUNK)
    ):
        if i and pause:
            await asyncio.sleep(pause)
        yield sse("ai_delta", {"id": message.id, "text": chunk})
    yield sse("message", message.model_dump(mode="json"), event_id=message.id)


async def conversation_events(
    db: Database,
    visitor: Visitor,
    *,
    after_id: int,
    base_url: str,
    disconnected: Callable[[], Awaitable[bool]],
    once: bool = False,
    chunk_pause: float = CHUNK_PAUSE_SECONDS,
    poll_seconds: float = POLL_SECONDS,
) -> AsyncGenerator[str, None]:
    """The stream's text. `once` sends what is new and ends (a plain long-poll for clients
    without EventSource, and for tests)."""
    watch = notifier.watch(visitor.ticket_id)
    try:
        yield f"retry: {RETRY_MS}\n\n"
        seen: chat_service.Signature | None = None
        last_state: ConversationState | None = None
        last_sent = time.monotonic()
        while True:
            try:
                poll = await run_in_threadpool(read_changes, db, visitor, after_id, seen, base_url)
            except NotFound:
                yield sse("end", {"reason": "not_found"})
                return
            seen = poll.signature
            for message in poll.messages:
                if message.author == "ai":
                    async for chunk in ai_reply_events(message, chunk_pause):
                        yield chunk
                else:
                    yield sse("message", message.model_dump(mode="json"), event_id=message.id)
                after_id = max(after_id, message.id)
                last_sent = time.monotonic()
            if poll.state is not None and poll.state != last_state:
                last_state = poll.state
                yield sse("state", poll.state.model_dump(mode="json"))
                last_sent = time.monotonic()
            if once or await disconnected():
                return
            await watch.wait(poll_seconds)
            if time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
    finally:
        notifier.unwatch(visitor.ticket_id, watch)
