from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from deskpilot.auth.passwords import MIN_PASSWORD_LENGTH
from deskpilot.core.context import Role
from deskpilot.core.ids import MAX_DB_ID


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    email: EmailStr
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    remember: bool = False


class SessionRead(BaseModel):
    user_id: int
    workspace_id: int
    role: str
    csrf_token: str | None = None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=120)] = ""
    user_id: Annotated[int, Field(ge=1, le=MAX_DB_ID)] | None = None


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    display_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenRead):
    token: str
    """Shown once; store it now."""


# Ids are BIGINT: a larger number cannot name a row, and would fail in the driver, not here.
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
NewPassword = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]


def _not_null(value: object) -> object:
    """Partial updates may omit a field, but may not blank a required one with null."""
    if value is None:
        raise ValueError("may not be null")
    return value


class MemberCreate(BaseModel):
    """Add a person to the workspace. An existing identity keeps its own name and password."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: PersonName
    role: Role
    password: NewPassword | None = None


class MemberUpdate(BaseModel):
    """What a workspace admin may change: access, never the identity (name, email, password)."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None

    _required = field_validator("role", "is_active")(_not_null)


class MemberRead(BaseModel):
    user_id: int
    email: str
    name: str
    role: Role
    is_active: bool
    contact_id: int | None
    team_ids: list[int]
    created_at: datetime
    """When the person joined this workspace."""


class MemberList(BaseModel):
    items: list[MemberRead]
    next_cursor: str | None


class ProfileUpdate(BaseModel):
    """A signed-in person changing their own identity; a new password needs the current one."""

    model_config = ConfigDict(extra="forbid")

    name: PersonName | None = None
    password: NewPassword | None = None
    current_password: Annotated[str, StringConstraints(max_length=1024)] | None = None

    _required = field_validator("name", "password")(_not_null)
