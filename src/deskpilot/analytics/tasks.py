"""The analytics schedule: every few minutes, rebuild yesterday and today for every workspace.

Yesterday is included so activity late in the day (and outcomes recorded around midnight) land
in the final numbers. Each workspace is rebuilt inside a savepoint: one failing workspace is
logged and skipped, the others still refresh.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from deskpilot.analytics import rollups
from deskpilot.core.context import Context
from deskpilot.core.errors import DomainError
from deskpilot.jobs.registry import periodic
from deskpilot.workspaces.models import Workspace

log = logging.getLogger(__name__)

ROLLUP_JOB = "analytics.rollup"
ROLLUP_EVERY_MINUTES = 10


@periodic(ROLLUP_JOB, every_minutes=ROLLUP_EVERY_MINUTES)
def rollup_recent(session: Session) -> None:
    for workspace_id in session.scalars(select(Workspace.id).order_by(Workspace.id)).all():
        try:
            with session.begin_nested():
                rollups.recompute_recent(session, Context.system(workspace_id))
        except (DomainError, SQLAlchemyError):
            log.exception("analytics roll-up failed for workspace %s", workspace_id)
