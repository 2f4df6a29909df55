"""Run side effects only after the surrounding transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_KEY = "deskpilot_after_commit"


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Queue `fn` to run once the session's current transaction commits; dropped on rollback."""
    session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for fn in callbacks:
        try:
            fn()
        except Exception:
            # The data is committed; a failed side effect is recovered by the job sweeper.
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop_on_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
