"""Mail settings and raw inbound mail over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from deskpilot.email.models import MailSettings
from deskpilot.settings import Settings
from tests.email.conftest import make_email
from tests.factories import Personas

API = "/api/v1/email"
FIXTURES = Path(__file__).parent / "fixtures"
RFC822 = {"Content-Type": "message/rfc822"}


def put(client: TestClient, personas: Personas, **body: Any) -> Any:
    return client.put(f"{API}/settings", json=body, headers=personas.acme_admin.headers)


def test_settings_start_unconfigured_and_round_trip(client: TestClient, personas: Personas) -> None:
    empty = client.get(f"{API}/settings", headers=personas.ann.headers)
    assert empty.status_code == 200
    assert (empty.json()["configured"], empty.json()["support_address"]) == (False, None)
    saved = put(
        client, personas, support_address="Support@Acme.Example", own_addresses=["NoReply@acme.example"],
        subject_tag="[Acme {number}]", closed_reply_policy="follow_up", outbound_backend="smtp",
        smtp_host="smtp.acme.example", smtp_password_ref="env:ACME_SMTP_PASSWORD",
    )  # fmt: skip
    assert saved.status_code == 200, saved.text
    read = client.get(f"{API}/settings", headers=personas.ann.headers).json()
    assert read["configured"] is True
    assert read["support_address"] == "support@acme.example"
    assert read["own_addresses"] == ["noreply@acme.example"]
    assert (read["subject_tag"], read["closed_reply_policy"]) == ("[Acme {number}]", "follow_up")
    assert read["smtp_password_ref"] == "env:ACME_SMTP_PASSWORD"
    # PUT replaces: what is left out goes back to its default.
    again = put(client, personas, support_address="support@acme.example").json()
    assert (again["closed_reply_policy"], again["smtp_host"]) == ("reopen", None)


def test_settings_validation(client: TestClient, personas: Personas) -> None:
    for bad in (
        {"support_address": "not-an-address"},
        {"support_address": "s@acme.example", "smtp_password_ref": "hunter2"},
        {"support_address": "s@acme.example", "imap_password_ref": "env:"},
        {"support_address": "s@acme.example", "subject_tag": "[#{id}]"},
        {"support_address": "s@acme.example", "closed_reply_policy": "ignore"},
        {"support_address": "s@acme.example", "smtp_password": "hunter2"},
    ):
        r = put(client, personas, **bad)
        assert r.status_code == 422, (bad, r.text)


def test_settings_writes_are_for_admins(client: TestClient, personas: Personas) -> None:
    r = client.put(
        f"{API}/settings", json={"support_address": "s@acme.example"}, headers=personas.ann.headers
    )
    assert r.status_code == 403
    r = client.get(f"{API}/settings", headers=personas.carol.headers)
    assert r.status_code == 403


def test_support_address_belongs_to_one_workspace(client: TestClient, personas: Personas) -> None:
    assert put(client, personas, support_address="support@acme.example").status_code == 200
    taken = client.put(
        f"{API}/settings",
        json={"support_address": "support+x@acme.example"},
        headers=personas.globex_owner.headers,
    )
    assert taken.status_code == 409


def test_inbound_endpoint_creates_a_ticket(
    client: TestClient, personas: Personas, mail_settings: MailSettings
) -> None:
    raw = (FIXTURES / "html_only.eml").read_bytes()
    headers = {**personas.acme_admin.headers, **RFC822}
    r = client.post(f"{API}/inbound/acme", content=raw, headers=headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["status"], body["action"]) == ("stored", "created")
    ticket = client.get(f"/api/v1/tickets/{body['ticket_id']}", headers=personas.ann.headers)
    assert ticket.json()["channel"] == "email"
    assert ticket.json()["description"].startswith("Hello,")
    again = client.post(f"{API}/inbound/acme", content=raw, headers=headers)
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")


def test_inbound_endpoint_guards(
    client: TestClient, personas: Personas, mail_settings: MailSettings, settings: Settings
) -> None:
    raw = make_email(message_id="<api@b.example>")
    agent = client.post(
        f"{API}/inbound/acme", content=raw, headers={**personas.ann.headers, **RFC822}
    )
    assert agent.status_code == 403
    foreign = client.post(
        f"{API}/inbound/acme", content=raw, headers={**personas.globex_owner.headers, **RFC822}
    )
    assert foreign.status_code == 404
    off = client.post(
        f"{API}/inbound/globex", content=raw, headers={**personas.globex_owner.headers, **RFC822}
    )
    assert off.status_code == 409
    anonymous = client.post(f"{API}/inbound/acme", content=raw, headers=RFC822)
    assert anonymous.status_code == 401
    empty = client.post(
        f"{API}/inbound/acme", content=b"  ", headers={**personas.acme_admin.headers, **RFC822}
    )
    assert empty.status_code == 422
    limit = settings.max_attachment_bytes + 64 * 1024
    big = make_email(message_id="<big@b.example>", body=("z" * 76 + "\r\n") * (limit // 78 + 10))
    assert len(big) > limit
    too_big = client.post(
        f"{API}/inbound/acme", content=big, headers={**personas.acme_admin.headers, **RFC822}
    )
    assert too_big.status_code == 413
