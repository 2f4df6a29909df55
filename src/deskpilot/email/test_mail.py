"""The "send a test email" action: a short mail to the admin who asks, to check the settings.

It goes the way every other outbound mail goes: an outbound `EmailMessage` of kind `test` is
recorded in the caller's transaction (with the same suppression rules: never to the workspace's
own addresses, not to an address that bounced, at most the hourly per-recipient limit) and the
one `email.send` job builds and sends it after the commit, with its retries, so the result shows
in the delivery log like any mail. The body comes from the renderer registered below with
`email.bodies`; `email/tasks.py` imports this module so a worker has it.
"""

from __future__ import annotations

import html

from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, ValidationFailed
from deskpilot.email import bodies, outbound
from deskpilot.email.models import EmailMessage
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.settings import Settings
from deskpilot.workspaces import service as workspaces_service

KIND_TEST = "test"


class MailNotEnabled(Conflict):
    code = "mail_not_enabled"


def subject_for(workspace_name: str) -> str:
    return f"Test email from Deskpilot for {workspace_name}"


def queue_test_email(session: Session, ctx: Context) -> EmailMessage:
    """Record a test mail to the signed-in admin and enqueue its sending (after the caller's
    commit). A suppressed one is recorded with its reason and not queued. MailNotEnabled when
    the workspace has no enabled mail settings."""
    ctx.require_admin()
    if ctx.user_id is None:
        raise ValidationFailed("A test email goes to a person: sign in to send one")
    mail = get_mail_settings(session, ctx.workspace_id)
    if mail is None or not mail.enabled:
        raise MailNotEnabled(
            "Email is not enabled for this workspace: save the mail settings with "
            "'Email is on' ticked first"
        )
    profile = auth_service.viewer_profile(session, ctx)
    return outbound.queue_ticketless_email(
        session,
        mail,
        kind=KIND_TEST,
        to_address=profile.email,
        subject=subject_for(profile.workspace_name),
    )


def render_test_mail(
    session: Session, record: EmailMessage, settings: Settings
) -> tuple[str, str] | None:
    """`email.bodies` renderer for kind `test`: (text, HTML) naming the workspace and how the
    mail was sent."""
    workspace = workspaces_service.get_workspace(session, Context.system(record.workspace_id))
    mail = get_mail_settings(session, record.workspace_id)
    backend = mail.outbound_backend if mail is not None else "outbox"
    how = (
        f"the SMTP server {mail.smtp_host}:{mail.smtp_port}"
        if mail is not None and backend == "smtp"
        else "the outbox folder"
    )
    lines = [
        f"This is a test email from Deskpilot for workspace {workspace.name}.",
        f"It was sent through {how} from {record.from_address}.",
        "If you can read this, sending mail works. You do not need to answer.",
    ]
    text = "\n\n".join(lines)
    body_html = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return text, body_html


bodies.register(KIND_TEST, render_test_mail)
