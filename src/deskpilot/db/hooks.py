"""Run side effects only after the outermost transaction commits.

SQLAlchemy fires `after_commit` when a savepoint is released and rollback events when one is
rolled back, so callbacks remember the (nested) transaction they were registered in: releasing a
savepoint hands them to the enclosing transaction, rolling one back drops only its own, and they
run when the root transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)
_KEY = "deskpilot_after_commit"


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Queue `fn` to run once the session's outermost transaction commits; dropped on rollback."""
    owner = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_KEY, []).append((owner, fn))


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # only a savepoint was released; the outer transaction may still roll back
    callbacks = session.info.pop(_KEY, [])
    for _owner, fn in callbacks:
        try:
            fn()
        except Exception:
            # The data is committed; a failed side effect is recovered by the job sweeper.
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_KEY, None)
        return
    pending = session.info.get(_KEY, [])
    session.info[_KEY] = [
        (owner, fn) for owner, fn in pending if not _inside(owner, previous_transaction)
    ]


def _inside(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
