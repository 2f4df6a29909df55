"""Attachment storage under DATA_DIR: size-limited, content type sniffed from the bytes."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO

import filetype
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound, PayloadTooLarge, ValidationFailed
from deskpilot.db.scoped import get_scoped
from deskpilot.tickets.models import Attachment, Message, Ticket

CHUNK = 64 * 1024
MAX_FILENAME = 255


class AttachmentStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_for(self, storage_key: str) -> Path:
        return self.root / storage_key

    def save(
        self,
        session: Session,
        ctx: Context,
        *,
        filename: str,
        declared_type: str | None,
        stream: BinaryIO,
    ) -> Attachment:
        """Stream to a temp file while hashing; reject oversize before anything is kept."""
        clean_name = _safe_filename(filename)
        storage_key = f"{ctx.workspace_id}/{uuid.uuid4().hex}"
        target = self.path_for(storage_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            with tmp.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PayloadTooLarge(
                            f"Attachment exceeds the limit of {self.max_bytes} bytes",
                            details={"limit_bytes": self.max_bytes},
                        )
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        kind = filetype.guess(head) if head else None
        content_type = kind.mime if kind else _text_or_binary(head, declared_type)
        attachment = Attachment(
            workspace_id=ctx.workspace_id,
            uploaded_by_user_id=ctx.user_id,
            filename=clean_name,
            content_type=content_type,
            size=size,
            sha256=digest.hexdigest(),
            storage_key=storage_key,
        )
        session.add(attachment)
        session.flush()
        return attachment

    def open_for(
        self, session: Session, ctx: Context, attachment_id: int
    ) -> tuple[Attachment, Path]:
        attachment = get_scoped(session, ctx, Attachment, attachment_id, what="Attachment")
        if not ctx.is_staff and not _customer_may_read(session, ctx, attachment):
            raise NotFound(f"Attachment {attachment_id} not found")
        return attachment, self.path_for(attachment.storage_key)


def _customer_may_read(session: Session, ctx: Context, attachment: Attachment) -> bool:
    """Customers read their own uploads and files on public messages of their own tickets."""
    if attachment.uploaded_by_user_id is not None and attachment.uploaded_by_user_id == ctx.user_id:
        return True
    if attachment.message_id is None or ctx.contact_id is None:
        return False
    found = session.execute(
        select(Message.id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            Message.id == attachment.message_id,
            Message.visibility == "public",
            Ticket.workspace_id == ctx.workspace_id,
            or_(
                Ticket.requester_id == ctx.contact_id,
                # Requests shared within the customer's organization (see listing.visible).
                and_(
                    Ticket.organization_id.is_not(None),
                    Ticket.organization_id == ctx.organization_id,
                ),
            ),
        )
    ).first()
    return found is not None


def _safe_filename(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip() or "attachment"
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"\r\n')
    if not cleaned:
        raise ValidationFailed(
            "Invalid filename", details=[{"field": "file", "message": "empty filename"}]
        )
    return cleaned[:MAX_FILENAME]


def _text_or_binary(head: bytes, declared: str | None) -> str:
    """Magic numbers found nothing: trust only harmless text types, never a declared HTML/SVG."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    if declared in ("text/csv", "application/json", "text/markdown"):
        return declared
    return "text/plain"
