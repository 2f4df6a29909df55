"""Background jobs of automation: the time-based sweep and webhook deliveries."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from deskpilot.automation import hooks as automation_hooks
from deskpilot.automation import schedule, webhooks
from deskpilot.automation.actions import WEBHOOK_JOB
from deskpilot.jobs.registry import job, periodic

__all__ = ["automation_hooks", "deliver_webhook", "prepare_webhook", "time_based_rules"]

SWEEP_EVERY_MINUTES = 15


@periodic("automation.time_based_rules", every_minutes=SWEEP_EVERY_MINUTES)
def time_based_rules(session: Session) -> None:
    """Every 15 minutes: apply time-based rules (auto-close, reminders, stale flags)."""
    schedule.sweep(session)


def prepare_webhook(
    session: Session, *, workspace_id: int, url: str, payload: dict[str, Any], delivery_id: str
) -> dict[str, Any]:
    """The POST itself, outside the job's write transaction (a slow receiver holds no lock)."""
    status = webhooks.deliver(url, payload, delivery_id=delivery_id)
    return {"status": status}


@job(WEBHOOK_JOB, max_attempts=webhooks.MAX_ATTEMPTS, prepare=prepare_webhook)
def deliver_webhook(
    session: Session,
    *,
    prepared: dict[str, Any],
    workspace_id: int,
    url: str,
    payload: dict[str, Any],
    delivery_id: str,
) -> None:
    """Delivered in `prepare_webhook`; a failure there is retried with backoff by the runner."""
