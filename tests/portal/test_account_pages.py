"""Customer accounts: sign-up, email verification (banner, resend) and password reset."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email.policy import default as default_policy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.auth.models import Membership, User
from deskpilot.db.engine import Database
from deskpilot.email.models import EmailMessage
from deskpilot.portal import accounts
from deskpilot.settings import Settings
from deskpilot.web.sessions import SESSION_COOKIE
from tests.factories import PASSWORD, Personas, make_ticket
from tests.pages import HTMX, csrf_of, sign_in
from tests.portal.conftest import outbound_mail

SIGNUP = {"name": "Erin Example", "email": "erin@example.com", "password": "a long password"}
LINK_RE = re.compile(r"http://127\.0\.0\.1:8000(/help/acme/[^\s\"<]+)")


def sent_link(settings: Settings, db: Database, index: int = -1) -> str:
    """The portal link in an outbound mail, as the outbox backend wrote it."""
    row = outbound_mail(db)[index]
    assert row.status == "sent", row.reason
    raw = (settings.data_dir / "outbox" / f"{row.id}.eml").read_bytes()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    match = LINK_RE.search(body.get_content())
    assert match, body.get_content()
    return match.group(1)


def user(db: Database, address: str) -> User:
    with db.session(write=False) as s:
        row = s.scalars(select(User).where(User.email == address)).one()
        s.expunge(row)
    return row


def test_signup_creates_a_signed_in_customer_linked_to_their_contact(
    client: TestClient, db: Database, personas: Personas, mail_settings: None, session
) -> None:
    make_ticket(session, personas.ann.ctx, requester={"email": "erin@example.com", "name": "E"})
    session.commit()
    form = client.get("/help/acme/signup")
    assert '<label for="f-password">Password</label>' in form.text
    r = client.post("/help/acme/signup", data=SIGNUP, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/help/acme/tickets"
    assert SESSION_COOKIE in r.headers["set-cookie"]
    with db.session(write=False) as s:
        [membership] = s.scalars(
            select(Membership).where(Membership.user_id == user(db, "erin@example.com").id)
        ).all()
        assert membership.role == "customer"
    tickets_page = client.get("/help/acme/tickets")
    assert "Cannot log in" in tickets_page.text, "the contact's earlier ticket is theirs now"
    assert "Please confirm your email address" in tickets_page.text
    [mail] = outbound_mail(db)
    assert (mail.kind, mail.to_addresses, mail.ticket_id) == (
        "account_verification",
        ["erin@example.com"],
        None,
    )


def test_following_the_verification_link_verifies_and_removes_the_banner(
    client: TestClient, db: Database, personas: Personas, mail_settings: None, settings: Settings
) -> None:
    client.post("/help/acme/signup", data=SIGNUP)
    link = sent_link(settings, db)
    assert link.startswith("/help/acme/verify?token=")
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303
    assert user(db, "erin@example.com").email_verified_at is not None
    assert "Please confirm your email address" not in client.get("/help/acme/tickets").text
    assert client.get(link).status_code == 200, "following it again is harmless"


def test_bad_or_foreign_verification_links_are_refused(
    client: TestClient, db: Database, personas: Personas, mail_settings: None, settings: Settings
) -> None:
    client.post("/help/acme/signup", data=SIGNUP)
    link = sent_link(settings, db)
    r = client.get("/help/acme/verify?token=forged")
    assert r.status_code == 400
    assert "This link cannot be used" in r.text
    assert client.get(link.replace("/help/acme/", "/help/globex/")).status_code == 400
    assert user(db, "erin@example.com").email_verified_at is None


def test_resend_needs_the_signed_in_customer_and_csrf(
    client: TestClient, db: Database, personas: Personas, mail_settings: None
) -> None:
    r = client.post("/help/acme/signup", data=SIGNUP)
    csrf = csrf_of(r.text)
    assert client.post("/help/acme/verify/resend").status_code == 403
    r = client.post("/help/acme/verify/resend", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert [m.kind for m in outbound_mail(db)] == ["account_verification"] * 2
    client.cookies.clear()
    r = client.post("/help/acme/verify/resend", follow_redirects=False)
    assert r.headers["location"].startswith("/login?next=/help/acme/verify/resend")


def test_signup_refuses_existing_members_and_bad_input(
    client: TestClient, db: Database, personas: Personas
) -> None:
    r = client.post("/help/acme/signup", data={**SIGNUP, "email": personas.carol.email})
    assert r.status_code == 422
    assert "An account with this email already exists" in r.text
    r = client.post("/help/acme/signup", data={"name": "", "email": "x", "password": "short"})
    assert r.status_code == 422
    for message in ("Please enter your name", "valid email address", "At least 8 characters"):
        assert message in r.text
    assert outbound_mail(db) == []


def test_an_identity_from_another_workspace_keeps_its_password(
    client: TestClient, db: Database, personas: Personas
) -> None:
    form = {**SIGNUP, "email": personas.gina.email}
    r = client.post("/help/acme/signup", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/help/acme/tickets&workspace=acme")
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    login = {"workspace": "acme", "email": personas.gina.email, "password": PASSWORD}
    assert client.post("/login", data=login, follow_redirects=False).status_code == 303


def test_signup_without_mail_settings_still_works(
    client: TestClient, db: Database, personas: Personas
) -> None:
    r = client.post("/help/acme/signup", data=SIGNUP, follow_redirects=False)
    assert r.status_code == 303
    assert outbound_mail(db) == []


def test_signed_in_customers_are_sent_to_their_tickets(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.carol)
    r = client.get("/help/acme/signup", follow_redirects=False)
    assert r.headers["location"] == "/help/acme/tickets"


def test_reset_request_says_the_same_whether_or_not_the_account_exists(
    client: TestClient, db: Database, personas: Personas, mail_settings: None
) -> None:
    unknown = client.post("/help/acme/password-reset", data={"email": "nobody@example.com"})
    known = client.post("/help/acme/password-reset", data={"email": personas.carol.email})
    for r in (unknown, known):
        assert r.status_code == 200
        assert "If an account exists for that address, we sent a link" in r.text
    [mail] = outbound_mail(db)
    assert (mail.kind, mail.to_addresses) == ("password_reset", [personas.carol.email])
    # A member of another workspace gets nothing from acme's form.
    client.post("/help/acme/password-reset", data={"email": personas.gina.email})
    assert len(outbound_mail(db)) == 1
    assert client.post("/help/acme/password-reset", data={"email": "nope"}).status_code == 422


def test_reset_link_sets_a_new_password_once(
    client: TestClient, db: Database, personas: Personas, mail_settings: None, settings: Settings
) -> None:
    sign_in(client, personas.carol)
    signed_in_elsewhere = client.cookies.get(SESSION_COOKIE)
    client.cookies.clear()
    client.post("/help/acme/password-reset", data={"email": personas.carol.email})
    link = sent_link(settings, db)
    assert link.startswith("/help/acme/password-reset/")
    form = client.get(link)
    assert form.status_code == 200
    assert "Choose a new password" in form.text
    assert personas.carol.email in form.text
    assert client.post(link, data={"password": "short"}).status_code == 422
    r = client.post(link, data={"password": "a brand new secret"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?")
    old = {"workspace": "acme", "email": personas.carol.email, "password": PASSWORD}
    new = {**old, "password": "a brand new secret"}
    assert client.post("/login", data=old).status_code == 401
    assert client.post("/login", data=new, follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert signed_in_elsewhere
    client.cookies.set(SESSION_COOKIE, signed_in_elsewhere)
    r = client.get("/help/acme/tickets", follow_redirects=False)
    assert r.status_code == 303, "a reset signs out every session started with the old password"
    client.cookies.clear()
    used = client.get(link)
    assert used.status_code == 400
    assert "already used" in used.text
    assert client.post(link, data={"password": "yet another one"}).status_code == 400


def test_reset_links_expire(
    client: TestClient,
    db: Database,
    personas: Personas,
    mail_settings: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.post("/help/acme/password-reset", data={"email": personas.carol.email})
    link = sent_link(settings, db)
    monkeypatch.setattr(accounts, "RESET_MAX_AGE", timedelta(seconds=-1))
    r = client.get(link)
    assert r.status_code == 400
    assert "invalid or has expired" in r.text


def test_account_pages_have_no_partials_but_render_for_htmx(
    client: TestClient, personas: Personas
) -> None:
    r = client.get("/help/acme/password-reset", headers=HTMX)
    assert r.status_code == 200
    assert "Reset your password" in r.text


def test_account_mail_renders_only_for_a_current_member_of_the_workspace(
    db: Database, personas: Personas, settings: Settings
) -> None:
    """The body is rendered at send time from the recipient's account: someone who is not (or no
    longer) a member of the workspace gets no link, and the email.send job fails the mail."""

    def body_for(address: str) -> tuple[str, str] | None:
        record = EmailMessage(
            workspace_id=personas.carol.workspace_id, kind="password_reset", to_addresses=[address]
        )
        with db.session(write=False) as s:
            return accounts.account_mail_body(s, record, settings)

    rendered = body_for(personas.carol.email)
    assert rendered is not None
    text, html = rendered
    assert "/help/acme/password-reset/" in text
    assert "/help/acme/password-reset/" in html
    assert body_for(personas.gina.email) is None, "gina belongs to another workspace"
    assert body_for("nobody@example.com") is None
