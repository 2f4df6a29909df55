"""An SMTP server that receives mail for the workspaces' support addresses (aiosmtpd).

RCPT TO is checked against MailSettings.support_address (plus tags allowed): unknown recipients
get 550. DATA over the size limit gets 552. Each workspace's copy is received in its own
database transaction, and 250 is answered only after every commit, so a sender never sees
success for mail we did not keep; on a failure it gets 451 and retries, and the retry is
recognised by its Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession

from deskpilot.db.engine import Database
from deskpilot.email.inbound import max_message_bytes, receive
from deskpilot.email.schemas import InboundResult
from deskpilot.email.settings_service import workspace_for_recipient
from deskpilot.settings import Settings

log = logging.getLogger(__name__)


def null_safe(mail_from: str | None) -> str:
    """The envelope sender; "" for the null sender `<>` that bounces and DSNs use."""
    return (mail_from or "").strip().strip("<>").strip()


class InboundHandler:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.limit = max_message_bytes(settings)
        self.results: list[InboundResult] = []
        """The last results, newest last (kept short; for tests and diagnostics)."""

    def _workspace_for(self, address: str) -> int | None:
        with self.db.session(write=False) as session:
            mail = workspace_for_recipient(session, address)
            return mail.workspace_id if mail is not None else None

    def _receive(
        self, workspace_id: int, raw: bytes, recipients: list[str], sender: str
    ) -> InboundResult:
        with self.db.session(write=True) as session:
            result = receive(
                session,
                workspace_id,
                raw,
                source="smtp",
                settings=self.settings,
                envelope_recipients=recipients,
                envelope_sender=sender,
            )
            session.commit()
        return result

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        workspace_id = await asyncio.to_thread(self._workspace_for, address)
        if workspace_id is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # pragma: no cover - aiosmtpd gives bytes unless decode_data
            raw = raw.encode("utf-8", errors="surrogateescape")
        if len(raw) > self.limit:
            return "552 5.3.4 Message too big"
        workspaces: dict[int, list[str]] = {}
        for address in envelope.rcpt_tos:
            workspace_id = await asyncio.to_thread(self._workspace_for, address)
            if workspace_id is not None:
                workspaces.setdefault(workspace_id, []).append(address)
        try:
            for workspace_id, recipients in workspaces.items():
                result = await asyncio.to_thread(
                    self._receive, workspace_id, raw, recipients, null_safe(envelope.mail_from)
                )
                self.results = [*self.results[-99:], result]
        except Exception:
            log.exception("inbound email failed; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 Message accepted"


class InboundController(Controller):
    """aiosmtpd's threaded controller that also works with port 0 (tests pick a free port)."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def make_controller(
    db: Database, settings: Settings, *, host: str = "127.0.0.1", port: int = 2525
) -> InboundController:
    """The listener, not yet started; with port 0, `controller.port` is the real one once started."""
    return InboundController(
        InboundHandler(db, settings),
        hostname=host,
        port=port,
        data_size_limit=max_message_bytes(settings),
        ready_timeout=5.0,
        server_hostname="deskpilot",
    )
