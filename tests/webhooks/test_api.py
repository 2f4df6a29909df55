"""Webhook API: admins only, validation (422), other workspaces' ids are 404, secrets shown once,
rotation takes effect, deliveries page by cursor; and the signature helper receivers use."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from tests.clock import FrozenClock
from tests.factories import Personas, api_ticket
from tests.webhooks.conftest import API, Receiver, create_endpoint

from deskpilot.webhooks.signing import signature_header, verify


def test_only_admins_manage_webhooks(client: TestClient, personas: Personas) -> None:
    body = {"url": "https://hooks.example.com/x", "events": ["ticket.created"]}
    for who in (personas.ann, personas.carol):
        assert client.get(f"{API}/endpoints", headers=who.headers).status_code == 403
        assert client.post(f"{API}/endpoints", json=body, headers=who.headers).status_code == 403
    endpoint = create_endpoint(client, personas.acme_owner, body["url"], body["events"])
    url = f"{API}/endpoints/{endpoint['id']}"
    for path, method in ((url, "GET"), (f"{url}/deliveries", "GET"), (f"{url}/enable", "POST")):
        assert client.request(method, path, headers=personas.ann.headers).status_code == 403
    assert client.get(url, headers=personas.acme_admin.headers).status_code == 200


def test_invalid_endpoints_are_422_with_field_details(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    cases = [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "https://user:pw@example.com/x", "events": ["*"]}, "url"),
        ({"url": "not a url", "events": ["*"]}, "url"),
        ({"url": "https://example.com/x", "events": ["ticket.exploded"]}, "events"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": ["*"], "secret": "mine"}, "secret"),
    ]
    for body, field in cases:
        r = client.post(f"{API}/endpoints", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text, (body, r.text)
    endpoint = create_endpoint(client, personas.acme_admin, "https://example.com/x", ["*"])
    url = f"{API}/endpoints/{endpoint['id']}"
    assert client.patch(url, json={"url": None}, headers=admin).status_code == 422
    assert client.patch(url, json={"events": ["nope"]}, headers=admin).status_code == 422
    r = client.patch(url, json={"events": ["ticket.created", "ticket.created"]}, headers=admin)
    assert r.json()["events"] == ["ticket.created"]


def test_other_workspaces_endpoints_and_deliveries_are_404(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    endpoint = create_endpoint(client, personas.acme_admin, receiver.url, ["ticket.created"])
    api_ticket(client, personas.ann)
    url = f"{API}/endpoints/{endpoint['id']}"
    (delivery,) = client.get(f"{url}/deliveries", headers=personas.acme_admin.headers).json()[
        "items"
    ]
    globex = personas.globex_owner.headers
    assert client.get(url, headers=globex).status_code == 404
    assert client.patch(url, json={"description": "x"}, headers=globex).status_code == 404
    assert client.post(f"{url}/rotate-secret", headers=globex).status_code == 404
    assert client.post(f"{url}/enable", headers=globex).status_code == 404
    assert client.get(f"{url}/deliveries", headers=globex).status_code == 404
    redeliver = f"{API}/deliveries/{delivery['id']}/redeliver"
    assert client.post(redeliver, headers=globex).status_code == 404
    assert client.delete(url, headers=globex).status_code == 404
    assert client.get(f"{API}/endpoints", headers=globex).json()["items"] == []
    assert client.get(url, headers=personas.acme_admin.headers).status_code == 200


def test_secret_is_shown_once_and_rotation_signs_with_the_new_one(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    admin = personas.acme_admin.headers
    endpoint = create_endpoint(client, personas.acme_admin, receiver.url, ["ticket.created"])
    assert len(endpoint["secret"]) >= 40
    url = f"{API}/endpoints/{endpoint['id']}"
    assert "secret" not in client.get(url, headers=admin).json()
    assert all(
        "secret" not in e for e in client.get(f"{API}/endpoints", headers=admin).json()["items"]
    )

    rotated = client.post(f"{url}/rotate-secret", headers=admin).json()
    assert rotated["secret"] != endpoint["secret"]
    api_ticket(client, personas.ann)
    (request,) = receiver.received
    header = request.headers["Deskpilot-Signature"]
    assert verify(rotated["secret"], header, request.body, now=request.at)
    assert not verify(endpoint["secret"], header, request.body, now=request.at)


def test_deliveries_page_by_cursor_and_filter_by_status(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    admin = personas.acme_admin.headers
    endpoint = create_endpoint(client, personas.acme_admin, receiver.url, ["ticket.created"])
    receiver.statuses.extend([500])
    for _ in range(3):
        api_ticket(client, personas.ann)
    url = f"{API}/endpoints/{endpoint['id']}/deliveries"
    first = client.get(url, params={"limit": 2}, headers=admin).json()
    rest = client.get(url, params={"cursor": first["next_cursor"]}, headers=admin).json()
    ids = [d["id"] for d in first["items"] + rest["items"]]
    assert len(ids) == 3
    assert ids == sorted(ids)
    assert rest["next_cursor"] is None
    pending = client.get(url, params={"status": "pending"}, headers=admin).json()["items"]
    assert [d["id"] for d in pending] == [ids[0]]
    assert client.get(url, params={"status": "bogus"}, headers=admin).status_code == 422
    assert client.get(url, params={"cursor": "!!"}, headers=admin).status_code == 422


def test_delete_removes_the_endpoint_and_its_log(
    client: TestClient, personas: Personas, receiver: Receiver, clock: FrozenClock
) -> None:
    admin = personas.acme_admin.headers
    endpoint = create_endpoint(client, personas.acme_admin, receiver.url, ["*"])
    api_ticket(client, personas.ann)
    url = f"{API}/endpoints/{endpoint['id']}"
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    receiver.received.clear()
    api_ticket(client, personas.ann)
    assert receiver.received == []


def test_verify_rejects_tampering_wrong_secrets_and_stale_timestamps() -> None:
    body = b'{"event":"ticket.created"}'
    now = int(time.time())
    header = signature_header("s3cret", now, body)
    assert verify("s3cret", header, body)
    assert not verify("s3cret", header, body + b" ")
    assert not verify("other", header, body)
    assert not verify("s3cret", header, body, now=now + 301)
    assert verify("s3cret", header, body, now=now + 299)
    assert not verify("s3cret", "garbage", body)
    assert not verify("s3cret", f"t={now}", body)
    # Any one of several signatures may match (a sender mid-rotation signs with both).
    both = f"{header},v1={'0' * 64}"
    assert verify("s3cret", both, body)
