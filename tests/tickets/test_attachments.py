"""Attachments: sniffed content types, size limits, attaching to messages, who may download."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.settings import Settings
from deskpilot.tickets.models import Attachment
from tests.conftest import TEST_SECRET
from tests.factories import Persona, Personas, api_ticket

MAX_ATTACHMENT_BYTES = 1024
UPLOADS = "/api/v1/attachments"
TICKETS = "/api/v1/tickets"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    + b"\0" * 40
)


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        database_url=db.url,
        secret_key=TEST_SECRET,
        embedded_worker=False,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
    )


def upload(
    client: TestClient,
    persona: Persona,
    content: bytes,
    content_type: str = "application/octet-stream",
    filename: str = "file.bin",
) -> Any:
    return client.post(
        UPLOADS, files={"file": (filename, content, content_type)}, headers=persona.headers
    )


def uploaded_id(client: TestClient, persona: Persona, content: bytes = b"hello") -> int:
    r = upload(client, persona, content, "text/plain", "notes.txt")
    assert r.status_code == 201, r.text
    attachment_id: int = r.json()["id"]
    return attachment_id


def reply(
    client: TestClient, persona: Persona, ticket_id: int, ids: list[int], visibility: str = "public"
) -> Any:
    return client.post(
        f"{TICKETS}/{ticket_id}/messages",
        json={"body": "see attached", "visibility": visibility, "attachment_ids": ids},
        headers=persona.headers,
    )


def stored_files(settings: Settings) -> list[Path]:
    return [p for p in settings.attachments_dir.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("content", "declared", "stored"),
    [
        (PNG, "text/html", "image/png"),
        (PNG, "image/svg+xml", "image/png"),
        (b"<html><script>alert(1)</script></html>", "text/html", "text/plain"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "image/svg+xml",
            "text/plain",
        ),
        (b"a,b\n1,2\n", "text/csv", "text/csv"),
        (b'{"a": 1}', "application/json", "application/json"),
        (b"plain words", "application/x-msdownload", "text/plain"),
        (b"\xff\xfe\x00\x01\x80\x81garbage", "image/png", "application/octet-stream"),
    ],
)
def test_content_type_comes_from_the_bytes_not_the_client(
    client: TestClient, personas: Personas, content: bytes, declared: str, stored: str
) -> None:
    r = upload(client, personas.ann, content, declared, "upload.dat")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["content_type"] == stored
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["message_id"] is None
    download = client.get(f"{UPLOADS}/{body['id']}", headers=personas.ann.headers)
    assert download.headers["content-type"].split(";")[0] == stored
    assert download.content == content


def test_download_is_sandboxed_and_named(client: TestClient, personas: Personas) -> None:
    r = upload(client, personas.ann, PNG, "image/png", "../../etc/screen shot.png")
    assert r.json()["filename"] == "screen shot.png"
    download = client.get(f"{UPLOADS}/{r.json()['id']}", headers=personas.ann.headers)
    assert download.status_code == 200
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "sandbox"
    assert "screen%20shot.png" in download.headers["content-disposition"]


def test_an_oversized_upload_is_413_and_leaves_nothing_behind(
    client: TestClient, personas: Personas, settings: Settings, db: Database
) -> None:
    exactly = upload(client, personas.ann, b"x" * MAX_ATTACHMENT_BYTES)
    assert exactly.status_code == 201
    kept = stored_files(settings)

    r = upload(client, personas.ann, b"x" * (MAX_ATTACHMENT_BYTES + 1))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert r.json()["error"]["details"] == {"limit_bytes": MAX_ATTACHMENT_BYTES}
    assert stored_files(settings) == kept
    with db.session(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 1


def test_a_huge_upload_is_refused_before_the_handler(
    client: TestClient, personas: Personas, settings: Settings
) -> None:
    r = upload(client, personas.ann, b"x" * (MAX_ATTACHMENT_BYTES + 65 * 1024))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert stored_files(settings) == []


def test_upload_requires_a_file(client: TestClient, personas: Personas) -> None:
    r = client.post(UPLOADS, data={"other": "x"}, headers=personas.ann.headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "file"


def test_attach_by_id_in_a_message(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann)
    first, second = uploaded_id(client, personas.ann), uploaded_id(client, personas.ann, PNG)
    r = reply(client, personas.ann, ticket["id"], [first, second])
    assert r.status_code == 201, r.text
    message = r.json()
    assert [a["id"] for a in message["attachments"]] == [first, second]
    assert {a["message_id"] for a in message["attachments"]} == {message["id"]}
    fetched = client.get(f"{TICKETS}/{ticket['id']}", headers=personas.ann.headers).json()
    assert [a["id"] for a in fetched["messages"][0]["attachments"]] == [first, second]


def test_attachments_cannot_be_reused_or_borrowed(client: TestClient, personas: Personas) -> None:
    ticket = api_ticket(client, personas.ann, requester={"email": personas.carol.email})
    used = uploaded_id(client, personas.ann)
    assert reply(client, personas.ann, ticket["id"], [used]).status_code == 201
    anns = uploaded_id(client, personas.ann)
    globex = uploaded_id(client, personas.gina)
    for persona, ids in (
        (personas.ann, [used]),
        (personas.ann, [99_999]),
        (personas.ann, [globex]),
        (personas.carol, [anns]),
    ):
        r = reply(client, persona, ticket["id"], ids)
        assert r.status_code == 422, (persona.key, ids)
        assert r.json()["error"]["details"][0]["field"] == "attachment_ids"
    messages = client.get(f"{TICKETS}/{ticket['id']}/messages", headers=personas.ann.headers)
    assert len(messages.json()) == 1


def test_customer_downloads_only_what_is_theirs(client: TestClient, personas: Personas) -> None:
    ann, carol = personas.ann, personas.carol
    carols_ticket = api_ticket(client, ann, requester={"email": carol.email})
    daves_ticket = api_ticket(client, ann, requester={"email": "dave@example.com"})

    own_upload = uploaded_id(client, carol, b"my screenshot")
    unattached = uploaded_id(client, ann)
    on_public_reply = uploaded_id(client, ann)
    on_internal_note = uploaded_id(client, ann)
    on_other_ticket = uploaded_id(client, ann)
    assert reply(client, ann, carols_ticket["id"], [on_public_reply]).status_code == 201
    assert (
        reply(client, ann, carols_ticket["id"], [on_internal_note], "internal").status_code == 201
    )
    assert reply(client, ann, daves_ticket["id"], [on_other_ticket]).status_code == 201

    expected = {
        own_upload: 200,
        on_public_reply: 200,
        unattached: 404,
        on_internal_note: 404,
        on_other_ticket: 404,
    }
    got = {i: client.get(f"{UPLOADS}/{i}", headers=carol.headers).status_code for i in expected}
    assert got == expected
    assert reply(client, carol, carols_ticket["id"], [own_upload]).status_code == 201
    assert client.get(f"{UPLOADS}/{own_upload}", headers=ann.headers).content == b"my screenshot"


def test_another_workspace_cannot_download(client: TestClient, personas: Personas) -> None:
    attachment_id = uploaded_id(client, personas.ann)
    for persona in (personas.gina, personas.globex_owner):
        r = client.get(f"{UPLOADS}/{attachment_id}", headers=persona.headers)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    assert client.get(f"{UPLOADS}/{attachment_id}").status_code == 401
