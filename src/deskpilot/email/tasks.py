"""The `email.send` job: build one outbound email, send it, record what happened.

As with webhook deliveries, sending happens in the job's read-only `prepare` phase (no write
transaction is held while an SMTP server answers) and retries are scheduled here, not by the job
runner: every attempt is counted on the email (`attempts`, `reason`, `next_attempt_at`), a
temporary failure (SMTP 4xx, connection refused or lost, timeout) is tried again after 1, 2, 4, 8
minutes, and after `MAX_ATTEMPTS` or on a permanent failure (5xx, bad configuration) the email is
`failed`. Delivery is at least once: a worker dying between the SMTP `250` and the commit sends
it again with the same Message-ID, which receivers treat as a duplicate.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.email import bodies, notifications, outbound
from deskpilot.email import hooks as _hooks  # noqa: F401 -- registers the ticket hook
from deskpilot.email import staff_hooks as _staff_hooks  # noqa: F401 -- and the mail to agents
from deskpilot.email import test_mail as _test_mail  # noqa: F401 -- the test mail's body
from deskpilot.email.models import EmailMessage
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.jobs.registry import job
from deskpilot.tickets import service as tickets_service

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 60
SUPERSEDED_REASON = "not needed: the ticket was answered before the receipt was due"


def retry_delay(attempts: int) -> timedelta:
    """Wait before the attempt after `attempts` failed ones: 1, 2, 4, 8 minutes."""
    return timedelta(seconds=FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0))


def _failed(record: EmailMessage, error: str) -> dict[str, Any]:
    """A permanent failure found before anything was built or sent."""
    return {"skip": False, "attempts": record.attempts, "ok": False, "temporary": False,
            "error": error, "raw_path": None}  # fmt: skip


def prepare_send(session: Session, *, email_id: int, workspace_id: int) -> dict[str, Any]:
    """Read-only phase: build and send the email if it is still due."""
    record = session.get(EmailMessage, email_id)
    if (
        record is None
        or record.workspace_id != workspace_id
        or record.direction != "outbound"
        or record.status != "queued"
    ):
        return {"skip": True}
    if record.next_attempt_at is not None and record.next_attempt_at > utcnow() + timedelta(
        seconds=1
    ):
        return {"skip": True}  # an early duplicate of a scheduled attempt
    mail = get_mail_settings(session, workspace_id)
    if mail is None or not mail.enabled:
        return _failed(record, "email is not enabled for this workspace")
    # A public answer already told the customer the request arrived: a held receipt would be a
    # second, redundant email.
    if (
        record.kind == "ticket_received"
        and record.ticket_id is not None
        and tickets_service.has_public_reply(
            session, Context.system(workspace_id), record.ticket_id
        )
    ):
        return {"skip": False, "superseded": True, "attempts": record.attempts}
    settings = outbound.current_settings()
    renderer = bodies.renderer_for(record.kind)
    if renderer is None:
        text, html = notifications.body_for(session, record, settings)
    else:
        rendered = renderer(session, record, settings)
        if rendered is None:
            return _failed(record, "what this email was about no longer exists")
        text, html = rendered
    in_reply_to, references = outbound.thread_headers(session, record)
    raw = outbound.build_mime(
        session,
        record,
        settings,
        text=text,
        html=html,
        in_reply_to=in_reply_to,
        references=references,
    )
    relative = Path("mail") / str(workspace_id) / f"{record.created_at:%Y}" / f"{record.id}.eml"
    outbound.write_atomically(settings.data_dir / relative, raw)
    result = outbound.transmit(mail, record, raw, settings)
    return {
        "skip": False,
        "attempts": record.attempts,
        "ok": result.ok,
        "temporary": result.temporary,
        "error": result.error,
        "raw_path": relative.as_posix(),
        "in_reply_to": in_reply_to,
        "references": references,
        "size": len(raw),
    }


@job(outbound.SEND_JOB, prepare=prepare_send)
def send(session: Session, *, prepared: dict[str, Any], email_id: int, workspace_id: int) -> None:
    if prepared["skip"]:
        return
    record = session.get(EmailMessage, email_id, with_for_update=True)
    if record is None or record.status != "queued" or record.attempts != prepared["attempts"]:
        return  # another job recorded this attempt
    now = utcnow()
    if prepared.get("superseded"):
        record.status, record.reason = "suppressed", SUPERSEDED_REASON
        record.next_attempt_at = None
        return
    record.attempts += 1
    if prepared.get("raw_path"):
        record.raw_path = prepared["raw_path"]
        record.size_bytes = prepared["size"]
        record.in_reply_to = prepared["in_reply_to"]
        record.references = prepared["references"]
    if prepared["ok"]:
        record.status, record.reason = "sent", None
        record.sent_at = now
        record.next_attempt_at = None
        return
    record.reason = prepared["error"]
    if not prepared["temporary"] or record.attempts >= MAX_ATTEMPTS:
        record.status = "failed"
        record.next_attempt_at = None
        log.warning("outbound email %s failed: %s", record.id, record.reason)
        return
    record.next_attempt_at = now + retry_delay(record.attempts)
    outbound.schedule_send(session, record, due_in=(record.next_attempt_at - now).total_seconds())
