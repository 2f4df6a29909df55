"""Claim a key before creating; a second request with the same key gets the first resource id.

The key row is inserted inside a savepoint *before* the resource, so two concurrent requests with
one key serialize on the unique constraint: the loser sees the winner's row once it commits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, ValidationFailed
from deskpilot.db.upsert import insert_for
from deskpilot.idempotency.models import IdempotencyKey

MAX_KEY_LENGTH = 255


def request_fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class Claim:
    """Result of claiming a key: either `existing_id` is set, or the caller creates and calls `bind`."""

    def __init__(
        self, session: Session | None, key_id: int | None, existing_id: int | None
    ) -> None:
        self._session = session
        self._key_id = key_id
        self.existing_id = existing_id

    def bind(self, resource_id: int) -> None:
        if self._session is not None and self._key_id is not None:
            self._session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == self._key_id)
                .values(resource_id=resource_id)
            )


def claim(session: Session, ctx: Context, *, scope: str, key: str | None, payload: Any) -> Claim:
    """Insert the key, or learn that it exists: one `INSERT ... ON CONFLICT DO NOTHING`.

    A concurrent request with the same key waits on the unique index until the first one commits
    (PostgreSQL) or on the write lock (SQLite), then finds the committed row.
    """
    if key is None:
        return Claim(None, None, None)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "Invalid Idempotency-Key",
            details=[{"field": "Idempotency-Key", "message": f"1 to {MAX_KEY_LENGTH} characters"}],
        )
    fingerprint = request_fingerprint(payload)
    # Keys are the client's: two users of one workspace may pick the same one independently.
    scope = f"{scope}:user:{ctx.user_id}" if ctx.user_id is not None else f"{scope}:system"
    values = {
        "workspace_id": ctx.workspace_id,
        "scope": scope,
        "key": key,
        "request_hash": fingerprint,
        "user_id": ctx.user_id,
        "created_at": utcnow(),
    }
    key_id = session.execute(
        insert_for(session, IdempotencyKey)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "scope", "key"])
        .returning(IdempotencyKey.id)
    ).scalar_one_or_none()
    if key_id is not None:
        return Claim(session, key_id, None)
    existing = _find(session, ctx, scope, key)
    if existing is None:  # pragma: no cover - the conflict implies a committed row
        raise Conflict("Idempotency-Key could not be claimed, retry the request")
    if existing.request_hash != fingerprint:
        raise Conflict(
            "Idempotency-Key was already used with a different request body",
            details={"idempotency_key": key},
        )
    if existing.resource_id is None:  # pragma: no cover - bound in the same transaction
        raise Conflict("A request with this Idempotency-Key is still being processed")
    return Claim(None, None, existing.resource_id)


def _find(session: Session, ctx: Context, scope: str, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.workspace_id == ctx.workspace_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
        )
    ).one_or_none()
