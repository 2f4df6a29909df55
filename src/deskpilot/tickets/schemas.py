"""Request and response shapes for tickets, messages, events and attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from deskpilot.core.ids import MAX_DB_ID
from deskpilot.tickets.lifecycle import Channel, Impact, Priority, Status, TicketType

TagStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MAX_TAGS = 20
MAX_CUSTOM_FIELDS = 50
MAX_ATTACHMENTS_PER_MESSAGE = 20
RowId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]


def _check_custom_fields(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    if len(value) > MAX_CUSTOM_FIELDS:
        raise ValueError(f"at most {MAX_CUSTOM_FIELDS} custom fields")
    for key in value:
        if not 1 <= len(key) <= 64:
            raise ValueError("custom field names are 1 to 64 characters")
    return value


class RequesterIn(BaseModel):
    email: EmailStr
    name: Annotated[str, StringConstraints(max_length=200)] | None = None


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    description: Annotated[str, StringConstraints(max_length=50_000)] = ""
    channel: Channel = Channel.api
    priority: Priority | None = None
    impact: Impact | None = None
    type: TicketType | None = None
    category: Annotated[str, StringConstraints(max_length=120)] | None = None
    tags: Annotated[list[TagStr], Field(max_length=MAX_TAGS)] = []
    custom_fields: dict[str, Any] = {}
    requester: RequesterIn | None = None
    team_id: RowId | None = None
    assignee_id: RowId | None = None
    parent_id: RowId | None = None

    _custom = field_validator("custom_fields")(_check_custom_fields)


class TicketUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = None
    status: Status | None = None
    priority: Priority | None = None
    impact: Impact | None = None
    type: TicketType | None = None
    category: Annotated[str, StringConstraints(max_length=120)] | None = None
    assignee_id: RowId | None = None
    team_id: RowId | None = None
    parent_id: RowId | None = None
    tags: Annotated[list[TagStr], Field(max_length=MAX_TAGS)] | None = None
    custom_fields: dict[str, Any] | None = None

    _custom = field_validator("custom_fields")(_check_custom_fields)


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    visibility: Literal["public", "internal"] = "public"
    attachment_ids: Annotated[list[RowId], Field(max_length=MAX_ATTACHMENTS_PER_MESSAGE)] = []


class SatisfactionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into_ticket_id: RowId


class RequesterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    message_id: int | None
    created_at: datetime


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    author_type: str
    author_user_id: int | None
    author_contact_id: int | None
    visibility: str
    channel: str
    body: str
    body_html: str
    ai_meta: dict[str, Any] | None
    attachments: list[AttachmentRead]
    created_at: datetime


class TicketAI(BaseModel):
    confidence: float | None
    decision: str | None
    model: str | None
    ran_at: datetime | None


class TicketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: int
    subject: str
    description: str
    status: str
    priority: str
    impact: str
    channel: str
    type: str | None
    category: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    requester: RequesterRead | None
    organization_id: int | None
    assignee_id: int | None
    team_id: int | None
    parent_id: int | None
    merged_into_id: int | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopened_count: int
    csat_score: int | None
    csat_comment: str | None
    ai: TicketAI | None
    created_at: datetime
    updated_at: datetime


class TicketDetail(TicketRead):
    messages: list[MessageRead]


class TicketList(BaseModel):
    items: list[TicketRead]
    next_cursor: str | None


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    kind: str
    actor_type: str
    actor_user_id: int | None
    field: str | None
    old_value: Any
    new_value: Any
    meta: dict[str, Any]
    created_at: datetime


class EventList(BaseModel):
    items: list[EventRead]
