"""Shared request parameter types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Header, Path, Query, Response, status

from deskpilot.core.ids import MAX_DB_ID

IdPath = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_DB_ID)]

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
"""The optional `Idempotency-Key` header of create routes."""


def mark_created(response: Response, created: bool, location: str) -> None:
    """201 with Location for a new resource; 200 and Idempotent-Replayed for a replayed key."""
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = location


FormText = Annotated[str, Form(max_length=1000)]
"""A short form field (names, select values, checkboxes) as typed; longer text sets its own cap."""
