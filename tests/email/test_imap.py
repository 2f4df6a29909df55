"""IMAP polling against a real Dovecot on a loopback port (skipped where Dovecot is missing)."""

from __future__ import annotations

import imaplib
import os
import pwd
import select
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.email.imap_poller import ImapError, poll_workspace
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.settings import Settings
from deskpilot.tickets.models import Message, Ticket
from tests.email.conftest import make_email, set_policy

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
pytestmark = pytest.mark.skipif(
    DOVECOT is None or os.geteuid() != 0, reason="needs Dovecot (dovecot-imapd) and root"
)
USER, PASSWORD = "helpdesk", "imap-secret"
CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = /dev/stderr
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
"""


@dataclass
class Mailbox:
    port: int

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=5)
        client.login(USER, PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            assert client.append(folder, None, None, raw)[0] == "OK"
        finally:
            client.logout()

    def unseen(self, folder: str = "INBOX") -> int:
        client = self.client()
        try:
            client.select(folder)
            data = client.uid("SEARCH", None, "UNSEEN")[1]
            return len(data[0].split()) if data and data[0] else 0
        finally:
            client.logout()

    def count(self, folder: str) -> int:
        client = self.client()
        try:
            status, data = client.select(folder)
            return int(data[0]) if status == "OK" else -1
        finally:
            client.logout()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    assert DOVECOT is not None
    root = Path(tempfile.mkdtemp(prefix="dv-"))
    owner = pwd.getpwnam("dovecot")
    try:
        (root / "mail").mkdir()
        os.chown(root / "mail", owner.pw_uid, owner.pw_gid)
        root.chmod(0o755)
        (root / "users").write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:{owner.pw_uid}:{owner.pw_gid}::{root}/mail\n"
        )
        port = _free_port()
        (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port))
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_start(process)
            # Keep reading the log so Dovecot never blocks on a full pipe.
            assert process.stderr is not None
            drain = threading.Thread(target=process.stderr.read, daemon=True)
            drain.start()
            yield Mailbox(port)
        finally:
            process.terminate()
            process.wait(timeout=10)
            if process.stderr is not None:
                process.stderr.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_start(process: subprocess.Popen[bytes]) -> None:
    """Dovecot logs "starting up" once its listeners are bound: wait for that line (bounded)."""
    assert process.stderr is not None
    seen = b""
    while b"starting up" not in seen:
        ready, _, _ = select.select([process.stderr], [], [], 10)
        if not ready:
            pytest.fail(f"dovecot did not start: {seen!r}")
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            pytest.fail(f"dovecot exited: {seen!r}")
        seen += chunk


@pytest.fixture
def imap_settings(
    session: Session, mail_settings: MailSettings, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> MailSettings:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", PASSWORD)
    set_policy(
        session, mail_settings.workspace_id, imap_host="127.0.0.1", imap_port=mailbox.port,
        imap_security="none", imap_username=USER, imap_password_ref="env:TEST_IMAP_PASSWORD",
    )  # fmt: skip
    return mail_settings


def count(session: Session, model: object) -> int:
    found = session.scalar(sql_select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]
    session.rollback()
    return found


def test_poll_receives_new_mail_once_and_marks_it_seen(
    db: Database,
    settings: Settings,
    session: Session,
    mailbox: Mailbox,
    imap_settings: MailSettings,
) -> None:
    ws = imap_settings.workspace_id
    mailbox.append(make_email(message_id="<i1@customer.example.com>"))
    mailbox.append(
        make_email(
            message_id="<i2@customer.example.com>",
            in_reply_to="<i1@customer.example.com>",
            body="More.",
        )
    )
    mailbox.append(
        make_email(message_id="<i3@customer.example.com>", extra="Auto-Submitted: auto-replied")
    )
    first = poll_workspace(db, settings, ws)
    assert (first.fetched, first.stored, first.ignored, first.failed) == (3, 2, 1, 0)
    assert mailbox.unseen() == 0
    assert count(session, Ticket) == 1
    assert count(session, Message) == 1
    again = poll_workspace(db, settings, ws)
    assert again.fetched == 0
    assert count(session, EmailMessage) == 3


def test_a_message_seen_again_is_a_duplicate(
    db: Database,
    settings: Settings,
    session: Session,
    mailbox: Mailbox,
    imap_settings: MailSettings,
) -> None:
    raw = make_email(message_id="<twice@customer.example.com>")
    mailbox.append(raw)
    mailbox.append(raw)  # e.g. a crash after the commit but before \\Seen: fetched again
    result = poll_workspace(db, settings, imap_settings.workspace_id)
    assert (result.stored, result.duplicates) == (1, 1)
    assert count(session, Ticket) == 1


def test_processed_folder_receives_the_handled_mail(
    db: Database,
    settings: Settings,
    session: Session,
    mailbox: Mailbox,
    imap_settings: MailSettings,
) -> None:
    client = mailbox.client()
    assert client.create("Processed")[0] == "OK"
    client.logout()
    set_policy(session, imap_settings.workspace_id, imap_processed_folder="Processed")
    mailbox.append(make_email(message_id="<moved@customer.example.com>"))
    result = poll_workspace(db, settings, imap_settings.workspace_id)
    assert result.stored == 1
    assert (mailbox.count("INBOX"), mailbox.count("Processed")) == (0, 1)


def test_oversize_mail_is_left_for_a_person(
    db: Database,
    settings: Settings,
    session: Session,
    mailbox: Mailbox,
    imap_settings: MailSettings,
) -> None:
    settings.max_attachment_bytes = 100
    mailbox.append(make_email(message_id="<huge@customer.example.com>", body="x\r\n" * 40_000))
    result = poll_workspace(db, settings, imap_settings.workspace_id)
    assert (result.fetched, result.too_big) == (0, ["1"])
    assert mailbox.unseen() == 1


def test_wrong_password_is_a_clear_error(
    db: Database, settings: Settings, session: Session, imap_settings: MailSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong")
    with pytest.raises(ImapError, match=r"IMAP 127\.0\.0\.1"):
        poll_workspace(db, settings, imap_settings.workspace_id)
    monkeypatch.delenv("TEST_IMAP_PASSWORD")
    with pytest.raises(ImapError, match="TEST_IMAP_PASSWORD"):
        poll_workspace(db, settings, imap_settings.workspace_id)


def test_cli_imap_poll_once(
    db: Database, settings: Settings, session: Session, mailbox: Mailbox,
    imap_settings: MailSettings, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from click.testing import CliRunner

    from deskpilot.cli import main

    for name, value in (
        ("DESKPILOT_ENV", "test"), ("DESKPILOT_DATABASE_URL", db.url),
        ("DESKPILOT_DATA_DIR", str(settings.data_dir)), ("DESKPILOT_SECRET_KEY", "k" * 40),
    ):  # fmt: skip
        monkeypatch.setenv(name, value)
    mailbox.append(make_email(message_id="<cli@customer.example.com>"))
    ok = CliRunner().invoke(main, ["imap-poll", "--once"], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert f"workspace {imap_settings.workspace_id}: 1 fetched, 1 stored" in ok.output
    assert count(session, Ticket) == 1
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong")
    failed = CliRunner().invoke(main, ["imap-poll", "--once", "--workspace", "acme"])
    assert failed.exit_code == 1
