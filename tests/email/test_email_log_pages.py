"""The email delivery log (/admin/email/log), one email's page, and "Send a test email"."""

from __future__ import annotations

import email
import html
import itertools
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.core.clock import utcnow
from deskpilot.core.errors import NotFound, PermissionDenied, ValidationFailed
from deskpilot.db.engine import Database
from deskpilot.email import log_service
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.jobs.models import Job
from deskpilot.settings import Settings
from tests.email.conftest import SUPPORT
from tests.factories import Persona, Personas, make_ticket
from tests.pages import HTMX, sign_in

LOG = "/admin/email/log"
TEST = "/admin/email/test"
_message_ids = itertools.count(1)


def add_email(db: Database, persona: Persona, **values: Any) -> int:
    """Record one email of `persona`'s workspace as the mail code would; returns its id."""
    with db.session(write=True) as s:
        row = EmailMessage(
            workspace_id=persona.workspace_id,
            direction=values.pop("direction", "outbound"),
            message_id_header=values.pop("message_id_header", f"<m{next(_message_ids)}@x>"),
            from_address=values.pop("from_address", SUPPORT),
            to_addresses=values.pop("to_addresses", ["dave@customer.example.com"]),
            subject=values.pop("subject", "Re: Cannot log in [#1]"),
            status=values.pop("status", "sent"),
            created_at=utcnow(),
            **values,
        )
        s.add(row)
        s.commit()
        return row.id


def emails(db: Database) -> list[EmailMessage]:
    with db.session(write=False) as s:
        rows = list(s.scalars(select(EmailMessage).order_by(EmailMessage.id)))
        s.expunge_all()
    return rows


def send_jobs(db: Database) -> list[Job]:
    with db.session(write=False) as s:
        rows = list(s.scalars(select(Job).where(Job.name == "email.send").order_by(Job.id)))
        s.expunge_all()
    return rows


def enable_mail(db: Database, persona: Persona, **values: Any) -> None:
    with db.session(write=True) as s:
        s.add(MailSettings(workspace_id=persona.workspace_id, support_address=SUPPORT, **values))
        s.commit()


def listed_ids(page: str, candidates: list[int]) -> list[int]:
    """The candidate emails that appear as rows of the log page, in page order."""
    found = [(page.find(f'id="email-{i}"'), i) for i in candidates]
    return [i for position, i in sorted(found) if position >= 0]


# --- who may open and post -------------------------------------------------------------------


@pytest.fixture
def acme_email(db: Database, personas: Personas) -> int:
    return add_email(db, personas.acme_admin)


def _get_paths(email_id: int) -> list[str]:
    return [LOG, f"{LOG}/{email_id}"]


@pytest.mark.parametrize("who", ["acme_owner", "acme_admin"])
def test_owners_and_admins_open_the_log_and_an_email(
    client: TestClient, personas: Personas, acme_email: int, who: str
) -> None:
    sign_in(client, getattr(personas, who))
    for path in _get_paths(acme_email):
        r = client.get(path)
        assert r.status_code == 200, path
        assert '<a href="/admin/email" aria-current="page">Email</a>' in r.text
        assert "dave@customer.example.com" in r.text


@pytest.mark.parametrize("who", ["ann", "carol"])
def test_agents_and_customers_get_403(
    client: TestClient, personas: Personas, db: Database, acme_email: int, who: str
) -> None:
    enable_mail(db, personas.acme_admin)
    csrf = sign_in(client, getattr(personas, who))
    for path in _get_paths(acme_email):
        r = client.get(path)
        assert r.status_code == 403, path
        assert "You can&#39;t open this page" in r.text
        assert "dave@customer.example.com" not in r.text
    r = client.post(TEST, data={"csrf_token": csrf})
    assert r.status_code == 403
    assert [e.id for e in emails(db)] == [acme_email], "no test email recorded"


def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, personas: Personas, acme_email: int
) -> None:
    for path in _get_paths(acme_email):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=" + path
    r = client.post(TEST, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + TEST


def test_the_test_button_needs_the_csrf_token(
    client: TestClient, personas: Personas, db: Database
) -> None:
    enable_mail(db, personas.acme_admin)
    sign_in(client, personas.acme_admin)
    r = client.post(TEST, data={})
    assert r.status_code == 403
    assert "Your form expired or came from another site" in r.text
    r = client.post(TEST, data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert (emails(db), send_jobs(db)) == ([], [])


# --- the log ---------------------------------------------------------------------------------


def test_the_settings_page_links_the_log_and_offers_the_test_button(
    client: TestClient, personas: Personas, db: Database
) -> None:
    enable_mail(db, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    page = client.get("/admin/email").text
    assert '<a class="btn btn-ghost" href="/admin/email/log">Email log</a>' in page
    assert '<form method="post" action="/admin/email/test">' in page
    assert f'<input type="hidden" name="csrf_token" value="{csrf}">' in page
    assert "<strong>adam@acme.example.com</strong>" in page
    assert "Email is off: the test email can be sent once" not in page


def test_the_log_shows_each_email_newest_first_with_its_details(
    client: TestClient, personas: Personas, db: Database, session: Any
) -> None:
    admin = personas.acme_admin
    ticket = make_ticket(session, personas.ann.ctx)
    session.commit()
    received = add_email(
        db, admin, direction="inbound", from_address="dave@customer.example.com",
        to_addresses=[SUPPORT], subject="Cannot log in", status="stored", ticket_id=ticket.id,
    )  # fmt: skip
    failed = add_email(
        db, admin, kind="ticket_received", status="failed", attempts=5,
        reason="SMTP 550 mailbox unavailable", subject="We got your request [#1]",
    )  # fmt: skip
    suppressed = add_email(
        db, admin, status="suppressed", reason="rate limit: 10 emails per hour to this recipient"
    )
    bounced = add_email(db, admin, status="bounced", reason="5.1.1: no such user", attempts=1)
    sign_in(client, admin)
    page = client.get(LOG).text
    assert listed_ids(page, [received, failed, suppressed, bounced]) == [
        bounced, suppressed, failed, received,
    ]  # fmt: skip
    assert "<h1>Email log</h1>" in page
    assert f'<a href="/app/tickets/{ticket.number}">#{ticket.number}</a>' in page
    assert f'<a href="/admin/email/log/{received}">Cannot log in</a>' in page
    assert "Ticket received" in page, "the kind's label"
    assert "SMTP 550 mailbox unavailable" in page
    assert "rate limit: 10 emails per hour to this recipient" in page
    assert "5.1.1: no such user" in page
    assert '<span class="badge badge-warn">Bounced</span>' in page
    assert '<span class="badge badge-on">Received</span>' in page
    assert '<label for="f-q">Address or subject</label>' in page
    assert "Older" not in page


def test_filters_and_search_narrow_the_log(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    received = add_email(
        db, admin, direction="inbound", from_address="erin@example.com",
        to_addresses=[SUPPORT], subject="Printer on fire", status="ignored",
        reason="auto-submitted: auto-replied",
    )  # fmt: skip
    sent = add_email(db, admin, to_addresses=["frank@example.org"], subject="Re: Invoice 7")
    failed = add_email(db, admin, status="failed", reason="SMTP 554", subject="Re: Refund_100%")
    everything = [received, sent, failed]
    sign_in(client, admin)

    def shown(**params: str) -> list[int]:
        r = client.get(LOG, params=params)
        assert r.status_code == 200
        return listed_ids(r.text, everything)

    assert shown(direction="inbound") == [received]
    assert shown(direction="outbound") == [failed, sent]
    assert shown(status="failed") == [failed]
    assert shown(direction="outbound", status="sent") == [sent]
    assert shown(q="FRANK@") == [sent], "recipient, ignoring case"
    assert shown(q="printer") == [received], "subject"
    assert shown(q="erin@example") == [received], "sender of received mail"
    assert shown(q="_100%") == [failed], "LIKE wildcards are literal"
    assert shown(q="nobody") == []
    assert "No email matches" in client.get(LOG, params={"q": "nobody"}).text
    assert shown(direction="sideways", status="lost") == [failed, sent, received], "ignored"
    page = client.get(LOG, params={"direction": "inbound", "q": "printer"}).text
    assert '<option value="inbound" selected>Received</option>' in page
    assert 'name="q" type="search" value="printer"' in page
    assert "auto-submitted: auto-replied" in page


def test_htmx_gets_just_the_table(client: TestClient, personas: Personas, db: Database) -> None:
    add_email(db, personas.acme_admin, subject="Only this one")
    sign_in(client, personas.acme_admin)
    r = client.get(LOG, params={"q": "only"}, headers=HTMX)
    assert r.status_code == 200
    assert '<div id="email-log">' in r.text
    assert "Only this one" in r.text
    assert "<html" not in r.text
    assert "<h1>Email log</h1>" not in r.text
    full = client.get(LOG, params={"q": "only"}).text
    assert "<html" in full
    assert '<div id="email-log">' in full


def test_older_pages_and_a_garbage_cursor(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ids = [add_email(db, personas.acme_admin, subject=f"Mail {n}") for n in range(27)]
    sign_in(client, personas.acme_admin)
    first = client.get(LOG, params={"direction": "outbound"}).text
    assert listed_ids(first, ids) == list(reversed(ids))[:25]
    older = html.unescape(first.split('class="btn btn-secondary btn-sm" href="')[1].split('"')[0])
    assert older.startswith("/admin/email/log?direction=outbound&cursor=")
    second = client.get(older).text
    assert listed_ids(second, ids) == [ids[1], ids[0]]
    assert "Older</a>" not in second
    newest = '<a class="btn btn-ghost btn-sm" href="/admin/email/log?direction=outbound">Newest</a>'
    assert newest in second
    for garbage in ("not-a-cursor", "W10", "%%%", "WyJ4Il0"):
        r = client.get(LOG, params={"cursor": garbage})
        assert r.status_code == 200, garbage
        assert listed_ids(r.text, ids) == list(reversed(ids))[:25], garbage


def test_another_workspaces_email_is_not_listed_and_is_404(
    client: TestClient, personas: Personas, db: Database
) -> None:
    ours = add_email(db, personas.acme_admin, subject="Acme mail")
    theirs = add_email(db, personas.gina, subject="Globex secret", from_address="s@globex.example")
    sign_in(client, personas.acme_admin)
    page = client.get(LOG).text
    assert listed_ids(page, [ours, theirs]) == [ours]
    assert "Globex secret" not in client.get(LOG, params={"q": "globex"}).text
    r = client.get(f"{LOG}/{theirs}")
    assert r.status_code == 404
    assert "Globex secret" not in r.text
    assert client.get(f"{LOG}/999999").status_code == 404
    assert client.get(f"{LOG}/0").status_code in (404, 422)


# --- one email ---------------------------------------------------------------------------------


def test_an_email_page_shows_headers_and_delivery_state(
    client: TestClient, personas: Personas, db: Database
) -> None:
    email_id = add_email(
        db, personas.acme_admin, message_id_header="<abc@acme.example>",
        in_reply_to="<first@customer.example.com>",
        references=["<zero@customer.example.com>", "<first@customer.example.com>"],
        cc_addresses=["boss@customer.example.com"], status="queued", attempts=2,
        reason="SMTP 451 try later", next_attempt_at=utcnow(),
    )  # fmt: skip
    sign_in(client, personas.acme_admin)
    page = client.get(f"{LOG}/{email_id}").text
    assert "<h1>Re: Cannot log in [#1]</h1>" in page
    assert "<code>&lt;abc@acme.example&gt;</code>" in page
    assert "<code>&lt;zero@customer.example.com&gt;</code><br>" in page
    assert "<dt>Cc</dt><dd>boss@customer.example.com</dd>" in page
    assert "<dt>Reason</dt><dd>SMTP 451 try later</dd>" in page
    assert "<dt>Attempts</dt><dd>2</dd>" in page
    assert '<span class="badge badge-off">Queued</span>' in page
    assert "No copy is stored: the email is built when it is sent" in page


def _write(settings: Settings, relative: str, data: bytes) -> None:
    target = settings.data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def test_the_stored_copy_is_shown_as_text_and_capped(
    client: TestClient, personas: Personas, db: Database, settings: Settings
) -> None:
    small = b"Subject: Hello\r\n\r\n<script>alert(1)</script> caf\xc3\xa9\r\n"
    _write(settings, "mail/1/2025/1.eml", small)
    big = b"X-Head: start\r\n\r\n" + b"a" * (300 * 1024) + b"THE-END"
    _write(settings, "mail/1/2025/2.eml", big)
    small_id = add_email(db, personas.acme_admin, raw_path="mail/1/2025/1.eml")
    big_id = add_email(db, personas.acme_admin, raw_path="mail/1/2025/2.eml")
    sign_in(client, personas.acme_admin)
    page = client.get(f"{LOG}/{small_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; café" in page
    assert "<script>alert(1)" not in page
    assert "Showing the first" not in page
    page = client.get(f"{LOG}/{big_id}").text
    assert f"Showing the first 200 KB of {len(big)} bytes." in page
    assert "X-Head: start" in page
    assert "THE-END" not in page
    raw = page.split('aria-label="Raw email as sent">')[1].split("</pre>")[0]
    assert len(raw) == 200 * 1024


def test_a_stored_path_outside_the_data_dir_is_never_read(
    client: TestClient, personas: Personas, db: Database, settings: Settings, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "link.eml").symlink_to(secret)
    paths = [str(secret), "../secret.txt", "mail/../../secret.txt", "link.eml", "mail/gone.eml"]
    ids = [add_email(db, personas.acme_admin, raw_path=p) for p in paths]
    inbound = add_email(db, personas.acme_admin, direction="inbound", status="stored",
                        raw_path="mail/in.eml")  # fmt: skip
    _write(settings, "mail/in.eml", b"INBOUND-RAW")
    sign_in(client, personas.acme_admin)
    for email_id, path in zip(ids, paths, strict=True):
        r = client.get(f"{LOG}/{email_id}")
        assert r.status_code == 200, path
        assert "TOP-SECRET-CONTENT" not in r.text, path
        assert "The stored copy of this email cannot be read" in r.text, path
    page = client.get(f"{LOG}/{inbound}").text
    assert "INBOUND-RAW" not in page, "outbound mail only"
    assert "What was sent" not in page


def test_read_raw_copy_refuses_paths_out_of_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "mail").mkdir(parents=True)
    (data_dir / "mail" / "ok.eml").write_bytes(b"0123456789")
    (tmp_path / "outside.eml").write_bytes(b"outside")
    record = EmailMessage(raw_path="mail/ok.eml")
    copy = log_service.read_raw_copy(data_dir, record, limit=4)
    assert copy == log_service.RawCopy(text="0123", size_bytes=10, truncated=True)
    copy = log_service.read_raw_copy(data_dir, record, limit=10)
    assert copy == log_service.RawCopy(text="0123456789", size_bytes=10, truncated=False)
    for path in ("../outside.eml", str(tmp_path / "outside.eml"), "mail", "", None):
        assert log_service.read_raw_copy(data_dir, EmailMessage(raw_path=path)) is None, path


def test_the_service_is_for_admins_and_checks_its_filters(db: Database, personas: Personas) -> None:
    theirs = add_email(db, personas.gina)
    with db.session(write=False) as s:
        with pytest.raises(PermissionDenied):
            log_service.list_emails(s, personas.ann.ctx)
        with pytest.raises(PermissionDenied):
            log_service.get_email(s, personas.ann.ctx, theirs)
        with pytest.raises(NotFound):
            log_service.get_email(s, personas.acme_admin.ctx, theirs)
        bad_filters: list[dict[str, Any]] = [
            {"direction": "up"},
            {"status": "lost"},
            {"cursor": "garbage"},
        ]
        for bad in bad_filters:
            with pytest.raises(ValidationFailed):
                log_service.list_emails(s, personas.acme_admin.ctx, **bad)
        assert log_service.list_emails(s, personas.acme_admin.ctx) == ([], None)


# --- the test email --------------------------------------------------------------------------


def test_the_test_email_is_sent_by_the_job_through_the_outbox(
    client: TestClient, personas: Personas, db: Database, settings: Settings
) -> None:
    enable_mail(db, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(TEST, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == LOG
    [record] = emails(db)
    assert (record.kind, record.direction, record.to_addresses, record.ticket_id) == (
        "test", "outbound", ["adam@acme.example.com"], None,
    )  # fmt: skip
    assert record.subject == "Test email from Deskpilot for Acme"
    assert (record.status, record.attempts, record.reason) == ("sent", 1, None), record.reason
    [job] = send_jobs(db)
    assert (job.args["email_id"], job.status) == (record.id, "done")
    raw = (settings.data_dir / "outbox" / f"{record.id}.eml").read_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["To"] == "adam@acme.example.com"
    assert parsed["Subject"] == "Test email from Deskpilot for Acme"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert "This is a test email from Deskpilot for workspace Acme." in body.get_content()
    assert record.raw_path is not None
    assert (settings.data_dir / record.raw_path).read_bytes() == raw
    log_page = client.get(LOG).text
    assert "Test email queued to adam@acme.example.com." in log_page
    assert '<span class="badge badge-on">Sent</span>' in log_page
    assert "Test email</td>" in log_page
    detail = client.get(f"{LOG}/{record.id}").text
    assert "This is a test email from Deskpilot for workspace Acme." in detail


@pytest.mark.parametrize("configured", [False, True])
def test_no_test_email_while_mail_is_off(
    client: TestClient, personas: Personas, db: Database, configured: bool
) -> None:
    if configured:
        enable_mail(db, personas.acme_admin, enabled=False)
    csrf = sign_in(client, personas.acme_admin)
    assert "Email is off: the test email can be sent once" in client.get("/admin/email").text
    r = client.post(TEST, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/email"
    page = client.get("/admin/email").text
    assert "No test email sent. Email is not enabled for this workspace" in page
    assert 'class="flash flash-error"' in page
    assert (emails(db), send_jobs(db)) == ([], [])


def test_a_suppressed_test_email_is_recorded_and_not_queued(
    client: TestClient, personas: Personas, db: Database
) -> None:
    enable_mail(db, personas.acme_admin, own_addresses=["adam@acme.example.com"])
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(TEST, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == LOG
    [record] = emails(db)
    assert (record.status, record.reason) == (
        "suppressed", "recipient is one of the workspace's own addresses",
    )  # fmt: skip
    assert send_jobs(db) == []
    page = client.get(LOG).text
    assert (
        "Test email to adam@acme.example.com was not sent: recipient is one of the "
        "workspace&#39;s own addresses." in page
    )
