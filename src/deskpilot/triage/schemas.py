"""Request and response shapes of the resolution engine's routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from deskpilot.triage.service import MAX_QUESTION

Decision = Literal["resolve", "confirm", "clarify", "escalate"]


class AnswerRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUESTION)]


class CitationRead(BaseModel):
    article_id: int
    external_id: str | None
    chunk_id: int
    score: float


class AnswerRead(BaseModel):
    decision_id: int
    decision: Decision
    answer: str | None = Field(description="The grounded answer (for escalate: the agent's draft)")
    confidence: float
    citations: list[CitationRead]
    reasons: list[str]
    rule: str
    reply: str | None = Field(description="What the customer would be sent (None for escalate)")
    escalation_reason: str | None


class DecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int | None
    trigger_message_id: int | None
    reply_message_id: int | None
    source: str
    query: str
    decision: Decision
    confidence: float
    rule: str
    reasons: list[str]
    inputs: dict[str, Any]
    answer: str | None
    citations: list[dict[str, Any]]
    provider: str
    model: str
    prompt_version: str
    calibrator: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    outcome: str | None
    outcome_at: datetime | None
    created_at: datetime


class DecisionList(BaseModel):
    items: list[DecisionRead]
    next_cursor: str | None


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    solved: bool
