"""Request and response shapes of the chat widget's API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints

MAX_MESSAGE_LENGTH = 5000
Body = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_LENGTH)
]
Author = Literal["customer", "ai", "agent", "system"]


class ConversationStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=63)]
    message: Body
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    email: EmailStr | None = None
    page_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    """The page the visitor was on (shown to agents in the ticket's custom fields)."""


class ChatMessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Body


class HandoffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None


class Citation(BaseModel):
    title: str
    url: str


class ChatMessageRead(BaseModel):
    id: int
    """0 is the visitor's first message (the ticket's description)."""
    author: Author
    body: str
    html: str
    """Sanitized HTML, links made absolute (the widget runs on another site)."""
    citations: list[Citation]
    created_at: datetime


class ConversationState(BaseModel):
    status: str
    handed_off: bool
    """A person has taken over (an open escalation): the AI no longer answers."""


class ConversationRead(BaseModel):
    ticket_number: int
    workspace: str
    state: ConversationState
    messages: list[ChatMessageRead]


class ConversationStarted(ConversationRead):
    token: str
