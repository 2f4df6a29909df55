"""The /login and /logout pages: every role signs in, lands at home, and CSRF guards sign-out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from deskpilot.auth import throttle
from deskpilot.web.sessions import SESSION_COOKIE
from tests.factories import PASSWORD, Personas, use_fast_password_hashing
from tests.pages import sign_in


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


def test_login_page_renders_a_labelled_form(client: TestClient, personas: Personas) -> None:
    r = client.get("/login?workspace=acme")
    assert r.status_code == 200
    assert '<label for="f-email">Email</label>' in r.text
    assert 'name="workspace" value="acme"' in r.text
    assert "/help/acme/signup" in r.text


def test_login_page_asks_for_the_workspace_when_there_are_several(
    client: TestClient, personas: Personas
) -> None:
    r = client.get("/login")
    assert '<label for="f-workspace">Workspace</label>' in r.text


@pytest.mark.parametrize(
    ("who", "home"), [("ann", "/app"), ("acme_admin", "/app"), ("carol", "/help/acme/tickets")]
)
def test_each_role_lands_on_its_home(
    client: TestClient, personas: Personas, who: str, home: str
) -> None:
    persona = getattr(personas, who)
    r = client.post(
        "/login",
        data={"workspace": "acme", "email": persona.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == home
    assert client.get("/", follow_redirects=False).headers["location"] == home


def test_next_is_followed_only_within_the_site(client: TestClient, personas: Personas) -> None:
    form = {"workspace": "acme", "email": personas.ann.email, "password": PASSWORD}
    r = client.post("/login", data={**form, "next": "/app/tickets/1"}, follow_redirects=False)
    assert r.headers["location"] == "/app/tickets/1"
    for evil in ("https://evil.example.com/", "//evil.example.com", "/\\evil.example.com"):
        r = client.post("/login", data={**form, "next": evil}, follow_redirects=False)
        assert r.headers["location"] == "/app", evil


def test_remember_me_makes_the_cookie_persistent(client: TestClient, personas: Personas) -> None:
    form = {"workspace": "acme", "email": personas.ann.email, "password": PASSWORD}
    plain = client.post("/login", data=form, follow_redirects=False).headers["set-cookie"]
    kept = client.post("/login", data={**form, "remember": "1"}, follow_redirects=False).headers[
        "set-cookie"
    ]
    assert "max-age" not in plain.lower()
    assert "max-age" in kept.lower()


def test_wrong_password_is_a_uniform_401_page(client: TestClient, personas: Personas) -> None:
    for email in (personas.ann.email, "nobody@acme.example.com"):
        r = client.post(
            "/login", data={"workspace": "acme", "email": email, "password": "wrong password"}
        )
        assert r.status_code == 401
        assert "don&#39;t match an account" in r.text
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_missing_fields_are_a_422_with_field_errors(client: TestClient, personas: Personas) -> None:
    r = client.post("/login", data={"workspace": "acme", "email": "", "password": ""})
    assert r.status_code == 422
    assert 'id="email-error"' in r.text
    assert 'id="password-error"' in r.text


def test_repeated_failures_lock_the_account_for_a_while(
    client: TestClient, personas: Personas
) -> None:
    bad = {"workspace": "acme", "email": personas.bob.email, "password": "nope nope nope"}
    for _ in range(throttle.ACCOUNT_FREE_FAILURES):
        assert client.post("/login", data=bad).status_code == 401
    assert client.post("/login", data=bad).status_code == 401  # this failure sets the lock
    good = {**bad, "password": PASSWORD}
    locked = client.post("/login", data=good, follow_redirects=False)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Too many failed attempts" in locked.text
    # Another account from the same address is not locked by bob's failures.
    other = {"workspace": "acme", "email": personas.ann.email, "password": PASSWORD}
    assert client.post("/login", data=other, follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/", follow_redirects=False).headers["location"] == "/app"
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_unknown_pages_get_the_styled_404(client: TestClient) -> None:
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text
    assert client.get("/api/v1/no-such").headers["content-type"] == "application/json"


def test_static_files_and_vendored_htmx_are_served(client: TestClient) -> None:
    assert client.get("/static/app.css").status_code == 200
    r = client.get("/static/vendor/htmx.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")


def test_an_oversized_form_gets_a_413_page(client: TestClient) -> None:
    r = client.post("/login", data={"email": "x" * 2_000_000})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")
    assert "too large" in r.text
    api = client.post("/api/v1/auth/login", content=b"x" * 2_000_000)
    assert api.status_code == 413
    assert api.json()["error"]["code"] == "payload_too_large"


def test_cross_site_sign_in_and_sign_up_posts_are_refused(
    client: TestClient, personas: Personas
) -> None:
    form = {"workspace": "acme", "email": personas.ann.email, "password": PASSWORD}
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example.com"},
    ):
        r = client.post("/login", data=form, headers=headers, follow_redirects=False)
        assert r.status_code == 403, headers
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
        signup = client.post(
            "/help/acme/signup",
            data={"name": "Evil", "email": "evil@attacker.example", "password": "long enough pw 1"},
            headers=headers,
            follow_redirects=False,
        )
        assert signup.status_code == 403
    same = client.post(
        "/login",
        data=form,
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same.status_code == 303
