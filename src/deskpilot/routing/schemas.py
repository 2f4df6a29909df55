"""Request and response shapes for agent availability, team routing and team queues."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_CAPACITY = 500
MAX_SKILLS = 50
DEFAULT_CAPACITY = 10

Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class Availability(StrEnum):
    online = "online"
    away = "away"
    offline = "offline"


class Strategy(StrEnum):
    manual = "manual"
    round_robin = "round_robin"
    least_load = "least_load"


def normalize_skills(skills: list[str]) -> list[str]:
    """Skills are ticket categories, compared case-insensitively: keep the first spelling of each."""
    seen: dict[str, str] = {}
    for skill in skills:
        seen.setdefault(skill.strip().casefold(), skill.strip())
    return list(seen.values())


class AgentStatusUpdate(BaseModel):
    """Partial: omitted fields keep their value. Agents may change their own `availability`;
    `capacity` and `skills` are for admins."""

    model_config = ConfigDict(extra="forbid")

    availability: Availability | None = None
    capacity: Annotated[int, Field(ge=0, le=MAX_CAPACITY)] | None = None
    skills: Annotated[list[Skill], Field(max_length=MAX_SKILLS)] | None = None

    @field_validator("availability", "capacity", "skills")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; omit the field to keep its value")
        return value


class AgentStatusRead(BaseModel):
    user_id: int
    name: str
    email: str
    availability: Availability
    capacity: int
    skills: list[str]
    open_tickets: int
    """Open tickets (any status but resolved and closed) assigned to the agent right now."""
    updated_at: datetime | None
    """`null` while the agent has never had a status (they count as offline)."""


class AgentStatusList(BaseModel):
    items: list[AgentStatusRead]
    next_cursor: str | None


class TeamRoutingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Strategy


class TeamRoutingRead(BaseModel):
    team_id: int
    strategy: Strategy
    last_assigned_user_id: int | None
    updated_at: datetime | None
