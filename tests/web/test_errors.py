"""One error body everywhere: 401, 403, 404, 405, 413, 422 and 500 all share a shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from deskpilot.auth.models import Membership
from deskpilot.db.engine import Database
from deskpilot.settings import Settings
from deskpilot.tickets.models import Ticket
from tests.conftest import TEST_SECRET
from tests.factories import Personas, api_ticket, use_fast_password_hashing

MAX_BODY_BYTES = 2048
TICKETS = "/api/v1/tickets"
BEYOND_BIGINT = 2**63


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        database_url=db.url,
        secret_key=TEST_SECRET,
        embedded_worker=False,
        max_body_bytes=MAX_BODY_BYTES,
    )


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def tickets_in_db(db: Database) -> int:
    with db.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Ticket)) or 0)


# --- 422 -----------------------------------------------------------------------------------------


def test_validation_errors_name_every_bad_field_by_path(
    client: TestClient, personas: Personas
) -> None:
    r = client.post(
        TICKETS,
        json={"requester": {"email": "not-an-email"}, "priority": "asap", "tags": ["ok", ""]},
        headers=personas.ann.headers,
    )
    error = error_of(r, 422, "validation_error")
    fields = {d["field"] for d in error["details"]}
    assert fields == {"subject", "requester.email", "priority", "tags.1"}
    for detail in error["details"]:
        assert detail["message"]


def test_query_and_header_errors_use_the_parameter_name(
    client: TestClient, personas: Personas
) -> None:
    r = client.get(TICKETS, params={"limit": "many"}, headers=personas.ann.headers)
    assert [d["field"] for d in error_of(r, 422, "validation_error")["details"]] == ["limit"]
    r = client.post(
        TICKETS,
        json={"subject": "x", "requester": {"email": "a@example.com"}},
        headers={**personas.ann.headers, "Idempotency-Key": "k" * 300},
    )
    assert [d["field"] for d in error_of(r, 422, "validation_error")["details"]] == [
        "Idempotency-Key"
    ]


def test_malformed_json_is_422(client: TestClient, personas: Personas) -> None:
    r = client.post(
        TICKETS,
        content=b'{"subject": ',
        headers={**personas.ann.headers, "content-type": "application/json"},
    )
    error_of(r, 422, "validation_error")


# --- 413 -----------------------------------------------------------------------------------------


def oversized_ticket() -> bytes:
    return b'{"subject": "big", "description": "' + b"x" * MAX_BODY_BYTES + b'"}'


def test_a_body_over_the_limit_with_content_length_is_413(
    client: TestClient, personas: Personas, db: Database
) -> None:
    r = client.post(
        TICKETS,
        content=oversized_ticket(),
        headers={**personas.ann.headers, "content-type": "application/json"},
    )
    error = error_of(r, 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": MAX_BODY_BYTES}
    assert tickets_in_db(db) == 0


def _chunked(data: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_over_the_limit_is_413(
    client: TestClient, personas: Personas, db: Database
) -> None:
    r = client.post(
        TICKETS,
        content=_chunked(oversized_ticket()),
        headers={**personas.ann.headers, "content-type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.request.headers["transfer-encoding"] == "chunked"
    error_of(r, 413, "payload_too_large")
    assert tickets_in_db(db) == 0


def test_a_chunked_body_under_the_limit_is_processed(
    client: TestClient, personas: Personas, db: Database
) -> None:
    body = b'{"subject": "streamed", "requester": {"email": "s@example.com"}}'
    r = client.post(
        TICKETS,
        content=_chunked(body, size=7),
        headers={**personas.ann.headers, "content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "streamed"
    assert tickets_in_db(db) == 1


def test_the_body_limit_applies_before_authentication(client: TestClient) -> None:
    r = client.post(
        TICKETS, content=oversized_ticket(), headers={"content-type": "application/json"}
    )
    error_of(r, 413, "payload_too_large")


# --- 401 / 403 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer    ", "Basic YWRtaW46YWRtaW4=", "Token abc", "Bearer dp_unknown"],
)
def test_missing_malformed_and_unknown_tokens_are_401(
    client: TestClient, personas: Personas, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    r = client.get(TICKETS, headers=headers)
    error_of(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_is_401(client: TestClient, personas: Personas) -> None:
    headers = personas.bob.headers
    [token] = client.get("/api/v1/tokens", headers=headers).json()
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=headers).status_code == 200
    error_of(client.get(TICKETS, headers=headers), 401, "unauthorized")
    assert client.get(TICKETS, headers=personas.ann.headers).status_code == 200


def test_a_deactivated_member_is_401(client: TestClient, personas: Personas, db: Database) -> None:
    with db.session(write=True) as s:
        s.execute(
            update(Membership)
            .where(Membership.user_id == personas.bob.user_id)
            .values(is_active=False)
        )
        s.commit()
    error_of(client.get(TICKETS, headers=personas.bob.headers), 401, "unauthorized")


def test_deactivating_a_member_through_the_api_ends_their_cached_token_at_once(
    client: TestClient, personas: Personas
) -> None:
    assert client.get(TICKETS, headers=personas.bob.headers).status_code == 200  # now cached
    r = client.delete(f"/api/v1/users/{personas.bob.user_id}", headers=personas.acme_admin.headers)
    assert r.status_code == 204
    error_of(client.get(TICKETS, headers=personas.bob.headers), 401, "unauthorized")


def test_a_customer_patching_a_ticket_is_403(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann, requester={"email": personas.carol.email})
    r = client.patch(
        f"{TICKETS}/{ticket['id']}", json={"status": "resolved"}, headers=personas.carol.headers
    )
    error_of(r, 403, "forbidden")


# --- 404 / 405 / 500 -----------------------------------------------------------------------------


def test_unknown_routes_and_methods_share_the_shape(client: TestClient, personas: Personas) -> None:
    error_of(client.get("/api/v1/nothing-here", headers=personas.ann.headers), 404, "not_found")
    error_of(client.delete(TICKETS, headers=personas.ann.headers), 405, "method_not_allowed")
    error_of(client.get(f"{TICKETS}/424242", headers=personas.ann.headers), 404, "not_found")


def test_an_unexpected_exception_is_a_bare_500(app: FastAPI) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/api/v1/boom", explode)
    app.add_api_route("/boom-page", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/boom")
        page = client.get("/boom-page")
    error = error_of(r, 500, "internal_error")
    assert error["details"] is None
    assert "hunter2" not in r.text
    assert page.status_code == 500
    assert "Something went wrong" in page.text
    assert "hunter2" not in page.text


# --- ids beyond BIGINT ---------------------------------------------------------------------------


def _id_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "delete") or not path.startswith("/api/v1") or "{" not in path:
                continue
            params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            # Only ids: a name in the path (e.g. an analytics table) is a 404 when unknown.
            if all(p.get("schema", {}).get("type") == "integer" for p in params):
                routes.append((method.upper(), re.sub(r"{\w+}", str(BEYOND_BIGINT), path)))
    return routes


def test_an_id_beyond_bigint_in_the_path_is_a_client_error(
    app: FastAPI, client: TestClient, personas: Personas
) -> None:
    routes = _id_routes(app)
    assert len(routes) >= 3
    answers = {
        f"{method} {url}": client.request(
            method, url, headers=personas.acme_owner.headers
        ).status_code
        for method, url in routes
    }
    assert {k: v for k, v in answers.items() if v != 422} == {}


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        (
            "POST",
            TICKETS,
            {"subject": "x", "requester": {"email": "a@example.com"}, "team_id": BEYOND_BIGINT},
        ),
        ("PATCH", f"{TICKETS}/1", {"assignee_id": BEYOND_BIGINT}),
        ("PATCH", f"{TICKETS}/1", {"parent_id": BEYOND_BIGINT}),
        ("POST", f"{TICKETS}/1/merge", {"into_ticket_id": BEYOND_BIGINT}),
        ("POST", f"{TICKETS}/1/messages", {"body": "x", "attachment_ids": [BEYOND_BIGINT]}),
        ("GET", f"{TICKETS}?assignee_id={BEYOND_BIGINT}", None),
        ("POST", "/api/v1/tokens", {"user_id": BEYOND_BIGINT}),
    ],
)
def test_an_id_beyond_bigint_in_a_body_or_query_is_a_client_error(
    client: TestClient, personas: Personas, method: str, url: str, body: dict[str, Any] | None
) -> None:
    api_ticket(client, personas.ann)
    r = client.request(method, url, json=body, headers=personas.acme_owner.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


# --- NUL characters -----------------------------------------------------------------------------

_BASE_TICKET = {"subject": "x", "requester": {"email": "nul@example.com"}}


@pytest.mark.parametrize(
    "raw",
    [b'"a\\ud800b"', b'"\\udc00"', b'"x\\uD83D"'],
)
def test_an_unpaired_surrogate_is_a_422_on_every_database(
    client: TestClient, personas: Personas, raw: bytes
) -> None:
    body = b'{"subject": ' + raw + b', "requester": {"email": "s@example.com"}}'
    r = client.post(
        TICKETS, content=body, headers={**personas.ann.headers, "Content-Type": "application/json"}
    )
    error_of(r, 422, "validation_error")


def test_a_real_emoji_written_as_a_surrogate_pair_is_fine(
    client: TestClient, personas: Personas
) -> None:
    body = b'{"subject": "Thanks \\ud83d\\ude00", "requester": {"email": "s@example.com"}}'
    r = client.post(
        TICKETS, content=body, headers={**personas.ann.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "Thanks \U0001f600"


@pytest.mark.parametrize(
    ("method", "url", "body", "params"),
    [
        ("POST", TICKETS, {**_BASE_TICKET, "subject": "a\x00b"}, None),
        ("POST", TICKETS, {**_BASE_TICKET, "description": "a\x00b"}, None),
        ("POST", TICKETS, {**_BASE_TICKET, "tags": ["a\x00b"]}, None),
        ("POST", TICKETS, {**_BASE_TICKET, "custom_fields": {"k": "a\x00b"}}, None),
        (
            "POST",
            TICKETS,
            {**_BASE_TICKET, "requester": {"email": "n@example.com", "name": "\x00"}},
            None,
        ),
        ("POST", f"{TICKETS}/1/messages", {"body": "a\x00b"}, None),
        ("GET", TICKETS, None, {"tag": "a\x00b"}),
        (
            "POST",
            "/api/v1/auth/login",
            {"workspace": "ac\x00me", "email": "a@example.com", "password": "x"},
            None,
        ),
    ],
)
def test_a_nul_character_is_a_422_on_every_database(
    client: TestClient,
    personas: Personas,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    params: dict[str, str] | None,
) -> None:
    api_ticket(client, personas.ann)
    r = client.request(method, url, json=body, params=params, headers=personas.ann.headers)
    error_of(r, 422, "validation_error")
