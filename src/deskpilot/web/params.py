"""Shared request parameter types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from deskpilot.core.ids import MAX_DB_ID

IdPath = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_DB_ID)]
