"""Helpers for page tests: sign in through the real /login form and read the CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.factories import PASSWORD, Persona

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def sign_in(client: TestClient, persona: Persona, *, remember: bool = False) -> str:
    """Sign `persona` in with the form and return the session's CSRF token."""
    form = {
        "workspace": persona.workspace_slug,
        "email": persona.email,
        "password": PASSWORD,
    }
    if remember:
        form["remember"] = "1"
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/logout").text)


def csrf_of(html: str) -> str:
    match = _CSRF_META.search(html)
    assert match is not None, "page has no CSRF token meta tag"
    assert match.group(1), "the page's CSRF token is empty (not signed in?)"
    return match.group(1)


HTMX = {"HX-Request": "true"}
