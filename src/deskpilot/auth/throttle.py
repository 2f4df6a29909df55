"""Slowing down password guessing: failed sign-ins lock an account (and a client address) for a while.

An account gets `ACCOUNT_FREE_FAILURES` free failures per window; each failure after that locks it
for a doubling time (1 min, 2 min, ... up to `MAX_LOCK`). A client address gets a larger allowance,
so one person mistyping does not lock an office behind a shared address. A successful sign-in
clears the account's counter. Keys are hashed: the table names no account.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.auth.models import LoginThrottle
from deskpilot.core.clock import utcnow

WINDOW = timedelta(minutes=15)
BASE_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(minutes=15)


@dataclass(frozen=True)
class ThrottleKey:
    key: str
    free_failures: int


ACCOUNT_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 30


def account_key(workspace_slug: str, email: str) -> ThrottleKey:
    raw = f"account:{workspace_slug.strip().lower()}:{email.strip().lower()}"
    return ThrottleKey(hashlib.sha256(raw.encode()).hexdigest(), ACCOUNT_FREE_FAILURES)


def address_key(address: str) -> ThrottleKey:
    raw = f"address:{address}"
    return ThrottleKey(hashlib.sha256(raw.encode()).hexdigest(), ADDRESS_FREE_FAILURES)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)


def seconds_locked(session: Session, keys: list[ThrottleKey], now: datetime | None = None) -> int:
    """How long until a sign-in may be tried again (0 when it may be tried now)."""
    now = now or utcnow()
    rows = session.scalars(
        select(LoginThrottle).where(LoginThrottle.key.in_([k.key for k in keys]))
    ).all()
    waits = [
        (_aware(row.locked_until) - now).total_seconds()
        for row in rows
        if row.locked_until is not None
    ]
    return max(0, int(max(waits, default=0) + 0.999))


def _row(session: Session, key: str, now: datetime) -> LoginThrottle:
    row = session.scalars(
        select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
    ).one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
    except IntegrityError:
        # Another sign-in inserted it first; use theirs.
        row = session.scalars(
            select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
        ).one()
    return row


def record_failure(session: Session, keys: list[ThrottleKey], now: datetime | None = None) -> None:
    now = now or utcnow()
    for key in keys:
        row = _row(session, key.key, now)
        if now - _aware(row.window_started_at) > WINDOW:
            row.failures = 0
            row.window_started_at = now
        row.failures += 1
        over = row.failures - key.free_failures
        if over > 0:
            lock = min(BASE_LOCK * (2 ** min(over - 1, 10)), MAX_LOCK)
            row.locked_until = now + lock
    session.flush()


def clear(session: Session, key: ThrottleKey) -> None:
    row = session.scalars(select(LoginThrottle).where(LoginThrottle.key == key.key)).one_or_none()
    if row is not None:
        session.delete(row)
        session.flush()
