from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints


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
    user_id: int | None = None


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
