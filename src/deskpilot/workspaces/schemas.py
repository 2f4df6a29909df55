"""Request and response shapes for teams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
TeamDescription = Annotated[str, StringConstraints(max_length=2000)]
# Ids are BIGINT: a larger number cannot name a row, and would fail in the driver, not here.


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TeamName
    description: TeamDescription = ""


class TeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TeamName | None = None
    description: TeamDescription | None = None

    @field_validator("name", "description")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Omit a field to keep it; null is not a value either column can hold.
        if value is None:
            raise ValueError("may not be null")
        return value


class TeamRead(BaseModel):
    id: int
    name: str
    description: str
    member_ids: list[int]
    created_at: datetime
    updated_at: datetime


class TeamList(BaseModel):
    items: list[TeamRead]
    next_cursor: str | None
