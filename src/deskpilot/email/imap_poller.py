"""Fetch new mail from a workspace's IMAP mailbox and receive it like the SMTP listener does.

Each message is received in its own transaction, and only after that commit is it marked seen
(or moved to `imap_processed_folder`). A crash in between means the message is fetched again on
the next poll, where its Message-ID makes it a duplicate: nothing is lost and nothing doubles.
"""

from __future__ import annotations

import imaplib
import logging
import os
import re
import ssl
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.email.inbound import max_message_bytes, receive
from deskpilot.email.models import MailSettings
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_BATCH = 100
TIMEOUT_SECONDS = 30.0
SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapError(Exception):
    """The mailbox could not be read (connection, login, folder); the next poll tries again."""


@dataclass
class PollResult:
    workspace_id: int
    fetched: int = 0
    stored: int = 0
    ignored: int = 0
    duplicates: int = 0
    failed: int = 0
    too_big: list[str] = field(default_factory=list)


def imap_workspaces(session: Session) -> list[int]:
    """Workspaces whose mail settings name an IMAP mailbox (and have email switched on)."""
    return list(
        session.scalars(
            select(MailSettings.workspace_id)
            .where(MailSettings.enabled.is_(True), MailSettings.imap_host.is_not(None))
            .order_by(MailSettings.workspace_id)
        )
    )


def password_from_ref(ref: str | None) -> str:
    """`env:NAME` -> the value of $NAME: passwords live in the environment, never in the DB."""
    if not ref or not ref.startswith("env:"):
        raise ImapError("imap_password_ref must be an env:NAME reference")
    value = os.environ.get(ref[4:])
    if value is None:
        raise ImapError(f"environment variable {ref[4:]} (imap_password_ref) is not set")
    return value


def connect(mail: MailSettings, *, timeout: float = TIMEOUT_SECONDS) -> imaplib.IMAP4:
    if not mail.imap_host or not mail.imap_username:
        raise ImapError("imap_host and imap_username are required")
    password = password_from_ref(mail.imap_password_ref)
    context = ssl.create_default_context()
    where = f"IMAP {mail.imap_host}:{mail.imap_port}"
    try:
        client: imaplib.IMAP4
        if mail.imap_security == "tls":
            client = imaplib.IMAP4_SSL(
                mail.imap_host, mail.imap_port, ssl_context=context, timeout=timeout
            )
        else:
            client = imaplib.IMAP4(mail.imap_host, mail.imap_port, timeout=timeout)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"{where}: {exc}") from exc
    try:
        if mail.imap_security == "starttls":
            client.starttls(ssl_context=context)
        client.login(mail.imap_username, password)
    except (OSError, imaplib.IMAP4.error) as exc:
        client.shutdown()
        raise ImapError(f"{where}: {exc}") from exc
    return client


def poll_workspace(
    db: Database, settings: Settings, workspace_id: int, *, batch: int = DEFAULT_BATCH
) -> PollResult:
    """Receive up to `batch` unseen messages of the workspace's mailbox."""
    result = PollResult(workspace_id)
    with db.session(write=False) as session:
        mail = get_mail_settings(session, workspace_id)
        if mail is None or not mail.enabled or not mail.imap_host:
            return result
        session.expunge(mail)
    client = connect(mail)
    try:
        _select(client, mail.imap_folder)
        for uid in _unseen(client)[:batch]:
            _handle(db, settings, client, mail, uid, result)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"IMAP {mail.imap_host}: {exc}") from exc
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            log.debug("IMAP logout failed", exc_info=True)
    return result


def _select(client: imaplib.IMAP4, folder: str) -> None:
    status, data = client.select(_quote(folder))
    if status != "OK":
        raise ImapError(f"cannot open folder {folder!r}: {data!r}")


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unseen(client: imaplib.IMAP4) -> list[bytes]:
    status, data = client.uid("SEARCH", "UNSEEN")
    if status != "OK" or not data or not data[0]:
        return []
    return sorted(data[0].split(), key=int)


def _fetch(client: imaplib.IMAP4, uid: bytes, what: str) -> list[tuple[bytes, bytes]]:
    status, data = client.uid("FETCH", uid.decode(), what)
    if status != "OK":
        raise ImapError(f"FETCH {uid!r} failed: {data!r}")
    return [item for item in data if isinstance(item, tuple)]


def _handle(
    db: Database,
    settings: Settings,
    client: imaplib.IMAP4,
    mail: MailSettings,
    uid: bytes,
    result: PollResult,
) -> None:
    limit = max_message_bytes(settings)
    sizes = [SIZE_RE.search(meta) for meta, _ in _fetch(client, uid, "(RFC822.SIZE)")]
    if not sizes:
        # Some servers answer a size-only FETCH without a literal: the size is in the line.
        _, data = client.uid("FETCH", uid.decode(), "(RFC822.SIZE)")
        sizes = [SIZE_RE.search(d) for d in data if isinstance(d, bytes)]
    size = next((int(m.group(1)) for m in sizes if m), 0)
    if size > limit:
        # Left unseen for a person to deal with; logged on every poll until then.
        log.warning("IMAP message %s of workspace %s is %s bytes (limit %s): skipped",
                    uid, mail.workspace_id, size, limit)  # fmt: skip
        result.too_big.append(uid.decode())
        return
    parts = _fetch(client, uid, "(BODY.PEEK[])")
    if not parts:
        return
    raw = parts[0][1]
    result.fetched += 1
    try:
        with db.session(write=True) as session:
            received = receive(session, mail.workspace_id, raw, source="imap", settings=settings)
            session.commit()
    except Exception:
        log.exception("IMAP message %s of workspace %s failed; retried next poll", uid,
                      mail.workspace_id)  # fmt: skip
        result.failed += 1
        return
    if received.status == "stored":
        result.stored += 1
    elif received.status == "ignored":
        result.ignored += 1
    else:
        result.duplicates += 1
    _mark_done(client, uid, mail.imap_processed_folder)


def _mark_done(client: imaplib.IMAP4, uid: bytes, processed_folder: str | None) -> None:
    """Only after the commit: a message marked done is a message kept."""
    number = uid.decode()
    client.uid("STORE", number, "+FLAGS", "(\\Seen)")
    if not processed_folder:
        return
    capabilities = getattr(client, "capabilities", ())
    if "MOVE" in capabilities:
        client.uid("MOVE", number, _quote(processed_folder))
        return
    status, data = client.uid("COPY", number, _quote(processed_folder))
    if status != "OK":
        raise ImapError(f"cannot copy to {processed_folder!r}: {data!r}")
    client.uid("STORE", number, "+FLAGS", "(\\Deleted)")
    client.expunge()
