"""Browser sessions the server can end.

The session cookie is signed (`web.sessions.SessionCodec`) and names a random key; the key's hash
is a `WebSession` row, and a cookie is honoured only while its row is live: not ended, not
expired, same person and workspace. So signing out ends that browser's session for good, and a
password change (or reset) ends every session of the person, even a cookie copied elsewhere.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from deskpilot.auth.models import WebSession
from deskpilot.core.clock import utcnow

EXPIRED_KEPT_FOR = timedelta(days=1)
"""Ended or expired rows are deleted this long afterwards, at the person's next sign-in."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start(session: Session, *, workspace_id: int, user_id: int, lifetime: timedelta) -> str:
    """Record a new session and return its key (for the cookie; only its hash is stored)."""
    now = utcnow()
    session.execute(
        delete(WebSession).where(
            WebSession.user_id == user_id, WebSession.expires_at < now - EXPIRED_KEPT_FOR
        )
    )
    key = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            workspace_id=workspace_id,
            user_id=user_id,
            key_hash=_hash(key),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return key


def is_live(session: Session, key: str, *, workspace_id: int, user_id: int) -> bool:
    row = session.scalars(select(WebSession).where(WebSession.key_hash == _hash(key))).first()
    return (
        row is not None
        and row.ended_at is None
        and row.expires_at > utcnow()
        and row.workspace_id == workspace_id
        and row.user_id == user_id
    )


def end(session: Session, key: str) -> None:
    """Sign one browser out (again is harmless)."""
    session.execute(
        update(WebSession)
        .where(WebSession.key_hash == _hash(key), WebSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def end_all_for_user(session: Session, user_id: int) -> int:
    """End every live session of a person in every workspace (their password changed)."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
