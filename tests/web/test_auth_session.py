"""Cookie sessions for the web UI: login, CSRF on unsafe methods, logout, uniform login failures."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from deskpilot.auth.models import Membership
from deskpilot.db.engine import Database
from deskpilot.main import create_app
from deskpilot.settings import Settings
from deskpilot.web.sessions import CSRF_HEADER, SESSION_COOKIE
from tests.factories import PASSWORD, Persona, Personas, use_fast_password_hashing

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
TICKETS = "/api/v1/tickets"
NEW_TICKET = {"subject": "From the browser", "requester": {"email": "web@example.com"}}


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


def login(client: TestClient, persona: Persona, **extra: Any) -> Any:
    return client.post(
        LOGIN,
        json={
            "workspace": persona.workspace_slug,
            "email": persona.email,
            "password": PASSWORD,
            **extra,
        },
    )


def signed_in(client: TestClient, persona: Persona) -> str:
    r = login(client, persona)
    assert r.status_code == 200, r.text
    csrf: str = r.json()["csrf_token"]
    return csrf


def test_login_sets_a_hardened_session_cookie(client: TestClient, personas: Personas) -> None:
    r = login(client, personas.ann)
    assert r.status_code == 200
    body = r.json()
    assert body["user_id"] == personas.ann.user_id
    assert body["workspace_id"] == personas.ann.workspace_id
    assert body["role"] == "agent"
    assert len(body["csrf_token"]) >= 20
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "max-age" not in attributes
    assert personas.ann.token not in cookie


def test_remember_me_gives_the_cookie_a_lifetime(
    client: TestClient, personas: Personas, settings: Settings
) -> None:
    r = login(client, personas.ann, remember=True)
    assert f"Max-Age={settings.session_max_age_seconds}" in r.headers["set-cookie"]


def test_the_cookie_authenticates_reads(client: TestClient, personas: Personas) -> None:
    signed_in(client, personas.carol)
    me = client.get(ME)
    assert me.status_code == 200
    assert (me.json()["user_id"], me.json()["role"]) == (personas.carol.user_id, "customer")
    assert me.json()["csrf_token"] is None
    assert client.get(TICKETS).status_code == 200


def test_email_is_matched_case_insensitively(client: TestClient, personas: Personas) -> None:
    r = client.post(
        LOGIN,
        json={"workspace": "acme", "email": personas.ann.email.upper(), "password": PASSWORD},
    )
    assert r.status_code == 200


def test_unsafe_methods_need_the_csrf_header(client: TestClient, personas: Personas) -> None:
    csrf = signed_in(client, personas.ann)

    missing = client.post(TICKETS, json=NEW_TICKET)
    wrong = client.post(TICKETS, json=NEW_TICKET, headers={CSRF_HEADER: csrf + "x"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert missing.json()["error"]["code"] == "forbidden"
    assert client.get(TICKETS).json()["items"] == []

    created = client.post(TICKETS, json=NEW_TICKET, headers={CSRF_HEADER: csrf})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    assert client.patch(f"{TICKETS}/{ticket_id}", json={"priority": "high"}).status_code == 403
    patched = client.patch(
        f"{TICKETS}/{ticket_id}", json={"priority": "high"}, headers={CSRF_HEADER: csrf}
    )
    assert patched.status_code == 200
    assert patched.json()["priority"] == "high"


def test_a_csrf_token_from_another_session_is_refused(
    app: FastAPI, client: TestClient, personas: Personas
) -> None:
    bobs_csrf = signed_in(TestClient(app), personas.bob)
    signed_in(client, personas.ann)
    assert (
        client.post(TICKETS, json=NEW_TICKET, headers={CSRF_HEADER: bobs_csrf}).status_code == 403
    )


def test_a_bearer_token_needs_no_csrf_header(client: TestClient, personas: Personas) -> None:
    assert client.post(TICKETS, json=NEW_TICKET, headers=personas.ann.headers).status_code == 201


def test_login_failures_are_indistinguishable(client: TestClient, personas: Personas) -> None:
    attempts = {
        "wrong password": {
            "workspace": "acme",
            "email": personas.ann.email,
            "password": "nope-nope",
        },
        "unknown user": {
            "workspace": "acme",
            "email": "nobody@acme.example.com",
            "password": PASSWORD,
        },
        "unknown workspace": {
            "workspace": "initech",
            "email": personas.ann.email,
            "password": PASSWORD,
        },
        "other workspace": {
            "workspace": "globex",
            "email": personas.ann.email,
            "password": PASSWORD,
        },
    }
    answers = {name: client.post(LOGIN, json=body) for name, body in attempts.items()}
    for name, r in answers.items():
        assert r.status_code == 401, name
        assert "set-cookie" not in r.headers, name
    bodies = {r.content for r in answers.values()}
    assert len(bodies) == 1
    assert answers["unknown user"].json()["error"]["code"] == "unauthorized"


def test_a_deactivated_member_cannot_log_in_or_keep_a_session(
    client: TestClient, personas: Personas, db: Database
) -> None:
    signed_in(client, personas.bob)
    with db.session(write=True) as s:
        s.execute(
            update(Membership)
            .where(Membership.user_id == personas.bob.user_id)
            .values(is_active=False)
        )
        s.commit()
    assert client.get(ME).status_code == 401
    assert login(TestClient(client.app), personas.bob).status_code == 401


def test_logout_clears_the_cookie(client: TestClient, personas: Personas) -> None:
    signed_in(client, personas.ann)
    r = client.post("/api/v1/auth/logout")
    assert r.status_code == 204
    assert SESSION_COOKIE not in client.cookies
    assert client.get(ME).status_code == 401


def test_a_tampered_or_expired_cookie_is_401(
    client: TestClient, personas: Personas, settings: Settings, db: Database
) -> None:
    signed_in(client, personas.ann)
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    assert client.get(ME, headers={"cookie": f"{SESSION_COOKIE}={value}"}).status_code == 200
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    r = client.get(ME, headers={"cookie": f"{SESSION_COOKIE}={tampered}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"

    expiring = settings.model_copy(update={"session_max_age_seconds": -1})
    short_lived = create_app(expiring, db=db, queue_mode="immediate", start_worker=False)
    with TestClient(short_lived) as other:
        signed_in(other, personas.ann)
        assert other.get(ME).status_code == 401
