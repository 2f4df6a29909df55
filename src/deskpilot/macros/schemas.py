"""Request and response shapes for macros."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from deskpilot.tickets.lifecycle import Priority, Status, TicketType
from deskpilot.tickets.schemas import MAX_TAGS, MessageRead, RowId, TagStr, TicketRead

MacroName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
MacroBody = Annotated[str, StringConstraints(max_length=100_000)]
Visibility = Literal["public", "internal"]


class MacroChanges(BaseModel):
    """Ticket changes applied with the reply; omitted fields are left alone."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    priority: Priority | None = None
    type: TicketType | None = None
    category: Annotated[str, StringConstraints(max_length=120)] | None = None
    team_id: RowId | None = None
    assignee_id: RowId | None = None
    add_tags: Annotated[list[TagStr], Field(max_length=MAX_TAGS)] = []


class MacroCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: MacroName
    body: MacroBody = ""
    visibility: Visibility = "public"
    changes: MacroChanges = MacroChanges()
    shared: bool = False
    """Shared with every agent of the workspace (admins only); otherwise personal to you."""


class MacroUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: MacroName | None = None
    body: MacroBody | None = None
    visibility: Visibility | None = None
    changes: MacroChanges | None = None
    shared: bool | None = None

    @field_validator("name", "body", "visibility", "changes", "shared")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; omit the field to keep its value")
        return value


class MacroRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    body: str
    visibility: str
    changes: dict[str, Any]
    shared: bool
    owner_user_id: int | None
    usage_count: int
    created_at: datetime
    updated_at: datetime


class MacroList(BaseModel):
    items: list[MacroRead]
    next_cursor: str | None


class VariableRead(BaseModel):
    name: str
    description: str


class MacroApplyResult(BaseModel):
    """What applying the macro did (or, with `preview`, would do)."""

    preview: bool
    rendered: str
    """The reply body with the variables filled in (empty: the macro posts no reply)."""
    visibility: str
    changes: dict[str, Any]
    message: MessageRead | None
    """The posted reply; `null` in a preview or when the body is empty."""
    ticket: TicketRead
