"""Background jobs of the resolution engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.jobs.registry import job, periodic
from deskpilot.triage import calibration, pipeline
from deskpilot.workspaces.models import Workspace


@job(pipeline.TRIAGE_JOB, prepare=pipeline.prepare)
def triage_ticket(
    session: Session,
    *,
    prepared: dict[str, Any],
    workspace_id: int,
    ticket_id: int,
    message_id: int | None,
) -> None:
    pipeline.apply(
        session,
        prepared=prepared,
        workspace_id=workspace_id,
        ticket_id=ticket_id,
        message_id=message_id,
    )


@periodic("ai.refit_calibrators", every_minutes=60)
def refit_calibrators(session: Session) -> None:
    """Hourly: a workspace with enough new outcomes gets a calibrator fitted on them."""
    for workspace_id in session.scalars(select(Workspace.id)).all():
        calibration.refit(session, Context.system(workspace_id))
