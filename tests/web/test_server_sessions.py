"""Browser sessions live on the server: signing out, or a password change, ends them for good, so a
copied session cookie stops working at once instead of when it expires."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from deskpilot.auth import web_sessions
from deskpilot.auth.models import WebSession
from deskpilot.core.clock import utcnow
from deskpilot.db.engine import Database
from deskpilot.settings import Settings
from deskpilot.web.sessions import SESSION_COOKIE, SessionCodec
from tests.factories import PASSWORD, Personas
from tests.pages import sign_in


def _copy_of_cookie(client: TestClient) -> str:
    value = client.cookies.get(SESSION_COOKIE)
    assert value
    return value


def _is_signed_in(app_client: TestClient, cookie: str) -> bool:
    app_client.cookies.clear()
    app_client.cookies.set(SESSION_COOKIE, cookie)
    r = app_client.get("/app", follow_redirects=False)
    assert r.status_code in (200, 303), r.status_code
    return r.status_code == 200


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    client: TestClient, personas: Personas
) -> None:
    csrf = sign_in(client, personas.ann)
    copied = _copy_of_cookie(client)
    assert _is_signed_in(client, copied)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert not _is_signed_in(client, copied), "the copied cookie must not outlive sign-out"
    # The API honours the same session rule.
    client.cookies.set(SESSION_COOKIE, copied)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_api_sign_out_ends_the_session(client: TestClient, personas: Personas) -> None:
    body = {"workspace": "acme", "email": personas.ann.email, "password": PASSWORD}
    r = client.post("/api/v1/auth/login", json=body)
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    copied = _copy_of_cookie(client)
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set(SESSION_COOKIE, copied)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_changing_the_password_ends_every_session_of_the_person(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.ann)
    first = _copy_of_cookie(client)
    client.cookies.clear()
    sign_in(client, personas.ann)
    second = _copy_of_cookie(client)
    client.cookies.clear()
    sign_in(client, personas.bob)
    someone_else = _copy_of_cookie(client)
    client.cookies.clear()
    r = client.patch(
        "/api/v1/users/me",
        json={"current_password": PASSWORD, "password": "a brand new passphrase"},
        headers=personas.ann.headers,
    )
    assert r.status_code == 200, r.text
    assert not _is_signed_in(client, first)
    assert not _is_signed_in(client, second)
    assert _is_signed_in(client, someone_else)


def test_a_session_is_honoured_only_for_its_own_person_workspace_and_lifetime(
    db: Database, personas: Personas
) -> None:
    ann = personas.ann
    with db.session(write=True) as s:
        key = web_sessions.start(
            s, workspace_id=ann.workspace_id, user_id=ann.user_id, lifetime=timedelta(hours=1)
        )
        s.commit()
    with db.session(write=False) as s:
        assert web_sessions.is_live(s, key, workspace_id=ann.workspace_id, user_id=ann.user_id)
        assert not web_sessions.is_live(
            s, key, workspace_id=ann.workspace_id, user_id=personas.bob.user_id
        )
        assert not web_sessions.is_live(
            s, key, workspace_id=personas.gina.workspace_id, user_id=ann.user_id
        )
        assert not web_sessions.is_live(
            s, "not-a-key", workspace_id=ann.workspace_id, user_id=ann.user_id
        )
        stored = s.scalars(select(WebSession.key_hash)).all()
        assert key not in stored, "only the key's hash is stored"
    with db.session(write=True) as s:
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    with db.session(write=False) as s:
        assert not web_sessions.is_live(s, key, workspace_id=ann.workspace_id, user_id=ann.user_id)


def test_long_expired_sessions_are_cleared_at_the_next_sign_in(
    db: Database, personas: Personas
) -> None:
    ann = personas.ann
    with db.session(write=True) as s:
        for _ in range(3):
            web_sessions.start(
                s, workspace_id=ann.workspace_id, user_id=ann.user_id, lifetime=timedelta(hours=1)
            )
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(days=2)))
        web_sessions.start(
            s, workspace_id=ann.workspace_id, user_id=ann.user_id, lifetime=timedelta(hours=1)
        )
        s.commit()
    with db.session(write=False) as s:
        assert len(s.scalars(select(WebSession.id)).all()) == 1


def test_a_cookie_without_a_session_key_is_refused(
    client: TestClient, personas: Personas, settings: Settings
) -> None:
    """Cookies signed before server-side sessions (three fields) no longer sign anyone in."""
    from itsdangerous import URLSafeTimedSerializer

    old = URLSafeTimedSerializer(settings.resolved_secret_key, salt="deskpilot.session").dumps(
        [personas.ann.user_id, personas.ann.workspace_id, "csrf"]
    )
    assert not _is_signed_in(client, old)
    forged = SessionCodec("not the secret", 3600).issue(
        personas.ann.user_id, personas.ann.workspace_id, "key"
    )[0]
    assert not _is_signed_in(client, forged)
