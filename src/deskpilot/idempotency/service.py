"""Claim a key before creating; a second request with the same key gets the first resource id.

The key row is inserted inside a savepoint *before* the resource, so two concurrent requests with
one key serialize on the unique constraint: the loser sees the winner's row once it commits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, ValidationFailed
from deskpilot.idempotency.models import IdempotencyKey

MAX_KEY_LENGTH = 255


def request_fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class Claim:
    """Result of claiming a key: either `existing_id` is set, or the caller creates and calls `bind`."""

    def __init__(self, row: IdempotencyKey | None, existing_id: int | None) -> None:
        self._row = row
        self.existing_id = existing_id

    def bind(self, resource_id: int) -> None:
        if self._row is not None:
            self._row.resource_id = resource_id


def claim(session: Session, ctx: Context, *, scope: str, key: str | None, payload: Any) -> Claim:
    if key is None:
        return Claim(None, None)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "Invalid Idempotency-Key",
            details=[{"field": "Idempotency-Key", "message": f"1 to {MAX_KEY_LENGTH} characters"}],
        )
    fingerprint = request_fingerprint(payload)
    existing = _find(session, ctx, scope, key)
    if existing is None:
        row = IdempotencyKey(
            workspace_id=ctx.workspace_id,
            scope=scope,
            key=key,
            request_hash=fingerprint,
            user_id=ctx.user_id,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            existing = _find(session, ctx, scope, key)
            if existing is None:  # pragma: no cover - the unique violation implies a row
                raise
        else:
            return Claim(row, None)
    if existing.request_hash != fingerprint:
        raise Conflict(
            "Idempotency-Key was already used with a different request body",
            details={"idempotency_key": key},
        )
    if existing.resource_id is None:  # pragma: no cover - bound in the same transaction
        raise Conflict("A request with this Idempotency-Key is still being processed")
    return Claim(None, existing.resource_id)


def _find(session: Session, ctx: Context, scope: str, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.workspace_id == ctx.workspace_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
        )
    ).one_or_none()
