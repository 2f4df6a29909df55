"""Admin pages for mail settings and templates (/admin/email).

Owners and admins only. The settings form goes through `settings_service.write_settings` (as
`PUT /api/v1/email/settings`, which replaces the whole configuration, so the form always sends
every field); the template pages (`template_pages`, included below) go through
`templates_service`. Password references are never put back into a form: the page says whether
one is set, a new one replaces it, a box clears it, and an empty field keeps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import Conflict, ValidationFailed
from deskpilot.email import notifications, settings_service
from deskpilot.email.api import INBOUND_PATH
from deskpilot.email.log_pages import router as log_pages_router
from deskpilot.email.schemas import MailSettingsRead, MailSettingsWrite
from deskpilot.email.template_pages import KIND_LABELS
from deskpilot.email.template_pages import router as template_pages_router
from deskpilot.web.deps import DbSession, get_settings
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import FormText
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.team_pages import field_errors, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)
router.include_router(template_pages_router)
router.include_router(log_pages_router)

SECURITY_OPTIONS = (("starttls", "STARTTLS"), ("tls", "TLS from the start"), ("none", "None"))
BACKEND_OPTIONS = (
    ("outbox", "Outbox folder (files on the server, for development)"),
    ("smtp", "SMTP server"),
)
CLOSED_REPLY_OPTIONS = (
    ("reopen", "Reopen the closed ticket"),
    ("follow_up", "Open a new follow-up ticket linked to it"),
)
SETTINGS_FIELDS = tuple(MailSettingsWrite.model_fields)
REFERENCE_HELP = (
    "Write env:NAME, the name of an environment variable of the server that holds the "
    "password (never the password itself)."
)
_ADDRESS_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass
class SettingsForm:
    """The settings as the form shows them: numbers as typed, lists as text, no passwords."""

    enabled: bool = True
    support_address: str = ""
    from_name: str = ""
    own_addresses: str = ""
    subject_tag: str = "[#{number}]"
    closed_reply_policy: str = "reopen"
    outbound_backend: str = "outbox"
    smtp_host: str = ""
    smtp_port: str = "587"
    smtp_security: str = "starttls"
    smtp_username: str = ""
    imap_host: str = ""
    imap_port: str = "993"
    imap_security: str = "tls"
    imap_username: str = ""
    imap_folder: str = "INBOX"
    imap_processed_folder: str = ""
    max_replies_per_sender_per_hour: str = "10"
    notifications: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PasswordState:
    """Whether a password reference is stored, and which variable it names (not a secret:
    the password itself never reaches the database)."""

    is_set: bool
    variable: str


@dataclass(frozen=True)
class InboundInfo:
    """Where mail for this workspace comes in, for copying into a mail server's set-up."""

    support_address: str | None
    ticket_address_example: str | None
    http_endpoint: str
    imap_mailbox: str | None


@dataclass(frozen=True)
class NotificationKind:
    kind: str
    label: str


@dataclass(kw_only=True)
class EmailSettingsPage(PageContext):
    form: SettingsForm
    configured: bool
    updated_at: datetime | None
    smtp_password: PasswordState
    imap_password: PasswordState
    inbound: InboundInfo
    kinds: list[NotificationKind]
    errors: dict[str, str] = field(default_factory=dict)
    security_options: tuple[tuple[str, str], ...] = SECURITY_OPTIONS
    backend_options: tuple[tuple[str, str], ...] = BACKEND_OPTIONS
    closed_reply_options: tuple[tuple[str, str], ...] = CLOSED_REPLY_OPTIONS
    reference_help: str = REFERENCE_HELP
    nav: str = "admin"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _settings_form(current: MailSettingsRead) -> SettingsForm:
    return SettingsForm(
        enabled=current.enabled if current.configured else True,
        support_address=_text(current.support_address),
        from_name=current.from_name,
        own_addresses="\n".join(current.own_addresses),
        subject_tag=current.subject_tag,
        closed_reply_policy=current.closed_reply_policy,
        outbound_backend=current.outbound_backend,
        smtp_host=_text(current.smtp_host),
        smtp_port=str(current.smtp_port),
        smtp_security=current.smtp_security,
        smtp_username=_text(current.smtp_username),
        imap_host=_text(current.imap_host),
        imap_port=str(current.imap_port),
        imap_security=current.imap_security,
        imap_username=_text(current.imap_username),
        imap_folder=current.imap_folder,
        imap_processed_folder=_text(current.imap_processed_folder),
        max_replies_per_sender_per_hour=str(current.max_replies_per_sender_per_hour),
        notifications=[k for k in notifications.KINDS if current.notifications.get(k) is True],
    )


def _password_state(ref: str | None) -> PasswordState:
    return PasswordState(is_set=bool(ref), variable=(ref or "").removeprefix("env:"))


def _inbound_info(request: Request, auth: AdminPage, current: MailSettingsRead) -> InboundInfo:
    base_url = get_settings(request).base_url.rstrip("/")
    address = current.support_address
    example = None
    if address:
        local, _, domain = address.partition("@")
        example = f"{local}+t42@{domain}"
    mailbox = None
    if current.imap_host:
        who = f"{current.imap_username}@" if current.imap_username else ""
        mailbox = f"{who}{current.imap_host}:{current.imap_port}, folder {current.imap_folder}"
    return InboundInfo(
        support_address=address,
        ticket_address_example=example,
        http_endpoint=f"{base_url}{INBOUND_PATH}/{auth.viewer.workspace_slug}",
        imap_mailbox=mailbox,
    )


def _settings_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    form: SettingsForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    current = settings_service.read_settings(session, auth.ctx)
    page = EmailSettingsPage(
        title="Email",
        viewer=auth.viewer,
        form=form or _settings_form(current),
        configured=current.configured,
        updated_at=current.updated_at,
        smtp_password=_password_state(current.smtp_password_ref),
        imap_password=_password_state(current.imap_password_ref),
        inbound=_inbound_info(request, auth, current),
        kinds=[NotificationKind(k, KIND_LABELS[k]) for k in notifications.KINDS],
        errors=errors or {},
    )
    return render(request, "email/admin_email.html", page, status_code=status_code)


@router.get("/admin/email")
def email_settings(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _settings_page(request, session, auth)


LongText = Annotated[str, Form(max_length=20_000)]


def _blank_none(value: str) -> str | None:
    return value.strip() or None


def _password_ref(new: str, clear: str, stored: str | None) -> str | None:
    """A new reference replaces the stored one; the box clears it; empty keeps it."""
    if new.strip():
        return new.strip()
    if clear:
        return None
    return stored


def _write_data(
    form: SettingsForm, current: MailSettingsRead, **refs: str | None
) -> dict[str, Any]:
    """The PUT body the form stands for. Blank numbers and folder take their defaults;
    notification kinds the page does not show keep their stored state."""
    data: dict[str, Any] = {
        "enabled": form.enabled,
        "support_address": form.support_address.strip(),
        "from_name": form.from_name,
        "own_addresses": [a for a in _ADDRESS_SEPARATORS.split(form.own_addresses) if a],
        "subject_tag": form.subject_tag.strip(),
        "closed_reply_policy": form.closed_reply_policy,
        "outbound_backend": form.outbound_backend,
        "smtp_host": _blank_none(form.smtp_host),
        "smtp_security": form.smtp_security,
        "smtp_username": _blank_none(form.smtp_username),
        "imap_host": _blank_none(form.imap_host),
        "imap_security": form.imap_security,
        "imap_username": _blank_none(form.imap_username),
        "imap_processed_folder": _blank_none(form.imap_processed_folder),
        "notifications": {
            **current.notifications,
            **{kind: kind in form.notifications for kind in notifications.KINDS},
        },
        **refs,
    }
    for name in ("smtp_port", "imap_port", "imap_folder", "max_replies_per_sender_per_hour"):
        value = str(getattr(form, name)).strip()
        if value:
            data[name] = value
    return data


@router.post("/admin/email")
def save_email_settings(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    support_address: FormText = "",
    from_name: FormText = "",
    own_addresses: LongText = "",
    subject_tag: FormText = "",
    closed_reply_policy: FormText = "reopen",
    outbound_backend: FormText = "outbox",
    smtp_host: FormText = "",
    smtp_port: FormText = "",
    smtp_security: FormText = "starttls",
    smtp_username: FormText = "",
    smtp_password_ref: FormText = "",
    smtp_password_clear: FormText = "",
    imap_host: FormText = "",
    imap_port: FormText = "",
    imap_security: FormText = "tls",
    imap_username: FormText = "",
    imap_password_ref: FormText = "",
    imap_password_clear: FormText = "",
    imap_folder: FormText = "",
    imap_processed_folder: FormText = "",
    max_replies_per_sender_per_hour: FormText = "",
    enabled: FormText = "",
    notify: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Replace the whole configuration with what the form shows (unticked boxes are off)."""
    form = SettingsForm(
        enabled=bool(enabled), support_address=support_address, from_name=from_name,
        own_addresses=own_addresses, subject_tag=subject_tag,
        closed_reply_policy=closed_reply_policy, outbound_backend=outbound_backend,
        smtp_host=smtp_host, smtp_port=smtp_port, smtp_security=smtp_security,
        smtp_username=smtp_username, imap_host=imap_host, imap_port=imap_port,
        imap_security=imap_security, imap_username=imap_username, imap_folder=imap_folder,
        imap_processed_folder=imap_processed_folder,
        max_replies_per_sender_per_hour=max_replies_per_sender_per_hour,
        notifications=[k for k in (notify or []) if k in notifications.KINDS],
    )  # fmt: skip
    current = settings_service.read_settings(session, auth.ctx)
    data = _write_data(
        form,
        current,
        smtp_password_ref=_password_ref(
            smtp_password_ref, smtp_password_clear, current.smtp_password_ref
        ),
        imap_password_ref=_password_ref(
            imap_password_ref, imap_password_clear, current.imap_password_ref
        ),
    )
    try:
        settings_service.write_settings(session, auth.ctx, MailSettingsWrite.model_validate(data))
    except ValidationError as exc:
        errors = schema_errors(exc)
        for name in ("smtp_password_ref", "imap_password_ref"):
            if name in errors:
                errors[name] = REFERENCE_HELP
        return _settings_page(request, session, auth, form=form, errors=errors, status_code=422)
    except (Conflict, ValidationFailed) as exc:
        errors = field_errors(exc, SETTINGS_FIELDS, "support_address")
        return _settings_page(
            request, session, auth, form=form, errors=errors, status_code=exc.status
        )
    return redirect(request, "/admin/email", flash="Mail settings saved.")
