"""Read and write a workspace's mail settings; map a recipient address to its workspace."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict
from deskpilot.email.models import MailSettings
from deskpilot.email.schemas import MailSettingsRead, MailSettingsWrite
from deskpilot.email.threads import base_address


def get_mail_settings(session: Session, workspace_id: int) -> MailSettings | None:
    return session.scalars(
        select(MailSettings).where(MailSettings.workspace_id == workspace_id)
    ).one_or_none()


def read_settings(session: Session, ctx: Context) -> MailSettingsRead:
    ctx.require_staff()
    row = get_mail_settings(session, ctx.workspace_id)
    if row is None:
        defaults = MailSettingsWrite.model_construct(support_address="").model_dump()
        defaults.update(support_address=None, enabled=False)
        return MailSettingsRead(configured=False, updated_at=None, **defaults)
    return MailSettingsRead.model_validate({**_as_dict(row), "configured": True})


def write_settings(session: Session, ctx: Context, data: MailSettingsWrite) -> MailSettingsRead:
    """Replace the configuration. A support address serves one workspace only: the SMTP
    listener routes mail by it."""
    ctx.require_admin()
    address = base_address(str(data.support_address))
    taken = session.scalars(
        select(MailSettings.workspace_id).where(
            func.lower(MailSettings.support_address) == address,
            MailSettings.workspace_id != ctx.workspace_id,
        )
    ).first()
    if taken is not None:
        raise Conflict(
            "This support address is used by another workspace",
            details={"field": "support_address"},
        )
    row = get_mail_settings(session, ctx.workspace_id)
    if row is None:
        row = MailSettings(workspace_id=ctx.workspace_id)
        session.add(row)
    values = data.model_dump()
    values["support_address"] = address
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return MailSettingsRead.model_validate({**_as_dict(row), "configured": True})


def workspace_for_recipient(session: Session, address: str) -> MailSettings | None:
    """The enabled settings whose support address receives `address` (plus tags ignored)."""
    return session.scalars(
        select(MailSettings).where(
            func.lower(MailSettings.support_address) == base_address(address),
            MailSettings.enabled.is_(True),
        )
    ).first()


def own_addresses(mail: MailSettings) -> set[str]:
    """Addresses whose mail is never a customer's: ours, so answering them would loop."""
    return {base_address(mail.support_address)} | {base_address(a) for a in mail.own_addresses}


def _as_dict(row: MailSettings) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in MailSettings.__table__.columns}
