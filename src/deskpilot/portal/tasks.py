"""The `portal.account_email` job: build and send one account mail (verification, reset).

It follows `email.tasks.send` step by step: the slow part (building the MIME message, talking to
SMTP or writing the outbox file) runs in the read-only `prepare` phase; the write phase records
the attempt on the `EmailMessage` and schedules a retry (1, 2, 4, 8 minutes) after a temporary
failure. The only difference is the body, which comes from `portal.accounts` with a freshly
signed link instead of a ticket's message or notification template.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.db.hooks import after_commit
from deskpilot.email import outbound
from deskpilot.email.models import EmailMessage
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.email.tasks import MAX_ATTEMPTS, retry_delay
from deskpilot.jobs import queue
from deskpilot.jobs.registry import job
from deskpilot.portal import accounts


def _failure(attempts: int, error: str) -> dict[str, Any]:
    return {"skip": False, "attempts": attempts, "ok": False, "temporary": False, "error": error}


def prepare_account_email(
    session: Session, *, email_id: int, user_id: int, workspace_id: int
) -> dict[str, Any]:
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
        return _failure(record.attempts, "email is not enabled for this workspace")
    settings = outbound.current_settings()
    body = accounts.render_account_email(session, settings, record.kind, workspace_id, user_id)
    if body is None:
        return _failure(record.attempts, "the account no longer exists")
    raw = outbound.build_mime(
        session, record, settings, text=body.text, html=body.html, in_reply_to=None, references=[]
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
        "size": len(raw),
    }


@job(accounts.ACCOUNT_MAIL_JOB, prepare=prepare_account_email)
def send_account_email(
    session: Session, *, prepared: dict[str, Any], email_id: int, user_id: int, workspace_id: int
) -> None:
    if prepared["skip"]:
        return
    record = session.get(EmailMessage, email_id, with_for_update=True)
    if record is None or record.status != "queued" or record.attempts != prepared["attempts"]:
        return  # another run recorded this attempt
    now = utcnow()
    record.attempts += 1
    if prepared.get("raw_path"):
        record.raw_path = prepared["raw_path"]
        record.size_bytes = prepared["size"]
    if prepared["ok"]:
        record.status, record.reason = "sent", None
        record.sent_at = now
        record.next_attempt_at = None
        return
    record.reason = prepared["error"]
    if not prepared["temporary"] or record.attempts >= MAX_ATTEMPTS:
        record.status = "failed"
        record.next_attempt_at = None
        return
    record.next_attempt_at = now + retry_delay(record.attempts)
    next_job = queue.enqueue(
        session,
        accounts.ACCOUNT_MAIL_JOB,
        workspace_id=workspace_id,
        email_id=email_id,
        user_id=user_id,
    )
    next_job.run_after = record.next_attempt_at
    next_job.dispatched_at = record.next_attempt_at
    job_id, delay = next_job.id, (record.next_attempt_at - now).total_seconds()
    after_commit(session, lambda: queue.dispatch(job_id, delay))
