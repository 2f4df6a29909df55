"""Escalation codes and the request and response shapes of the escalation API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from deskpilot.core.ids import MAX_DB_ID

MAX_NOTE_LENGTH = 5000
RowId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
Note = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NOTE_LENGTH)
]


class EscalationReason(StrEnum):
    """Why the ticket went to humans."""

    low_confidence = "low_confidence"
    user_requested = "user_requested"
    policy = "policy"
    sentiment = "sentiment"
    turn_limit = "turn_limit"
    sla = "sla"
    manual = "manual"


class EscalationStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class EscalationResolution(StrEnum):
    """How the hand-off ended (not how the ticket ended)."""

    answered_by_agent = "answered_by_agent"
    ai_answer_used = "ai_answer_used"
    returned_to_ai = "returned_to_ai"
    duplicate = "duplicate"
    no_action_needed = "no_action_needed"


class EscalationCreate(BaseModel):
    """A manual hand-off by an agent."""

    model_config = ConfigDict(extra="forbid")

    reason: EscalationReason = EscalationReason.manual
    team_id: RowId | None = None
    note: Note | None = None


class EscalationResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: EscalationResolution
    note: Note | None = None


class EscalationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    decision_id: int | None
    reason: str
    ai_confidence: float | None
    attempted: dict[str, Any]
    summary: str
    team_id: int | None
    created_by_user_id: int | None
    status: str
    resolution: str | None
    resolution_note: str | None
    resolved_by_user_id: int | None
    resolved_at: datetime | None
    created_at: datetime


class EscalationList(BaseModel):
    items: list[EscalationRead]
    next_cursor: str | None
