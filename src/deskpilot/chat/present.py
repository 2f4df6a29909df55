"""What the widget receives: messages as JSON with absolute links, and text for streaming.

Pure functions over already-loaded rows (no database access). The widget runs on another site,
so the help-center links our Markdown holds as `/help/...` paths are made absolute against the
address the widget reached us at.
"""

from __future__ import annotations

import re
from typing import Any

from deskpilot.chat.schemas import (
    ChatMessageRead,
    Citation,
    ConversationRead,
    ConversationState,
)
from deskpilot.chat.service import Conversation
from deskpilot.core.markdown import render_markdown
from deskpilot.tickets.models import Message, Ticket

_RELATIVE_HREF = re.compile(r'(href|src)="/(?!/)')
_MD_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()\s]+)\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")
_WORD_CHUNK = re.compile(r"\S+\s*")


def absolute(html: str, base_url: str) -> str:
    return _RELATIVE_HREF.sub(rf'\1="{base_url.rstrip("/")}/', html)


def absolute_url(url: str, base_url: str) -> str:
    return base_url.rstrip("/") + url if url.startswith("/") and not url.startswith("//") else url


def _author(message: Message) -> Any:
    return message.author_type if message.author_type in ("ai", "agent", "system") else "customer"


def message_read(message: Message, base_url: str) -> ChatMessageRead:
    citations = (message.ai_meta or {}).get("citations") or []
    return ChatMessageRead(
        id=message.id,
        author=_author(message),
        body=message.body,
        html=absolute(message.body_html, base_url),
        citations=[
            Citation(title=str(c.get("title") or ""), url=absolute_url(str(c["url"]), base_url))
            for c in citations
            if c.get("url")
        ],
        created_at=message.created_at,
    )


def description_read(ticket: Ticket, base_url: str) -> ChatMessageRead:
    """The visitor's first message is the ticket's description (it has no message row): id 0."""
    return ChatMessageRead(
        id=0,
        author="customer",
        body=ticket.description,
        html=absolute(render_markdown(ticket.description), base_url),
        citations=[],
        created_at=ticket.created_at,
    )


def state_of(conversation: Conversation) -> ConversationState:
    return ConversationState(status=conversation.ticket.status, handed_off=conversation.handed_off)


def conversation_read(conversation: Conversation, base_url: str) -> ConversationRead:
    messages = [description_read(conversation.ticket, base_url)]
    messages += [message_read(m, base_url) for m in conversation.messages]
    return ConversationRead(
        ticket_number=conversation.ticket.number,
        workspace=conversation.workspace_slug,
        state=state_of(conversation),
        messages=messages,
    )


def plain_text(markdown: str) -> str:
    """Markdown as readable text for the streamed preview (`[title](url)` -> `title`); the
    finished message replaces it with the sanitized HTML."""
    return _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", markdown))


def word_chunks(text: str, words_per_chunk: int) -> list[str]:
    """Consecutive pieces of `text` of a few words each, whitespace kept: ''.join() == text."""
    words = _WORD_CHUNK.findall(text)
    lead = text[: len(text) - len(text.lstrip())]
    chunks = [
        "".join(words[i : i + words_per_chunk]) for i in range(0, len(words), words_per_chunk)
    ]
    if lead:
        chunks = [lead + chunks[0], *chunks[1:]] if chunks else [lead]
    return chunks
