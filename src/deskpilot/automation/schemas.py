"""Request and response shapes of the automation API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from deskpilot.automation.actions import MAX_ACTIONS, Action
from deskpilot.automation.conditions import MAX_CONDITIONS, ConditionItem
from deskpilot.core.ids import MAX_DB_ID

Trigger = Literal["ticket_created", "ticket_updated", "message_received", "time_based"]
Direction = Literal["up", "down"]
RowId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Position = Annotated[int, Field(ge=0, le=1_000_000)]
Conditions = Annotated[list[ConditionItem], Field(max_length=MAX_CONDITIONS)]
Actions = Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)]


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    trigger: Trigger
    position: Position | None = Field(
        default=None, description="Order among the trigger's rules; default: after the last"
    )
    enabled: bool = True
    match: Literal["all", "any"] = "all"
    conditions: Conditions = []
    actions: Actions
    stop_processing: bool = False


class RuleMove(BaseModel):
    """One place earlier (`up`) or later (`down`) among the trigger's rules."""

    model_config = ConfigDict(extra="forbid")

    direction: Direction


class RuleUpdate(BaseModel):
    """Partial update; `position` reorders the rule among its trigger's rules."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    trigger: Trigger | None = None
    position: Position | None = None
    enabled: bool | None = None
    match: Literal["all", "any"] | None = None
    conditions: Conditions | None = None
    actions: Actions | None = None
    stop_processing: bool | None = None


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    trigger: str
    position: int
    enabled: bool
    match: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    stop_processing: bool
    created_at: datetime
    updated_at: datetime


class RuleList(BaseModel):
    items: list[RuleRead]


class DefaultsResult(BaseModel):
    created: list[RuleRead]
    existing: list[RuleRead]
    skipped_actions: list[str] = Field(
        description="Default actions left out, e.g. assigning an on-call team that does not exist"
    )


class RuleTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: RowId


class RuleTestResult(BaseModel):
    rule_id: int
    ticket_id: int
    matched: bool
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    stop_processing: bool


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    ticket_id: int
    trigger: str
    event_key: str
    matched: bool
    actions_applied: list[dict[str, Any]]
    error: str | None
    created_at: datetime


class RunList(BaseModel):
    items: list[RunRead]
    next_cursor: str | None
