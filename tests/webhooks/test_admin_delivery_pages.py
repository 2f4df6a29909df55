"""Webhook admin pages (/admin/webhooks/<id>): the delivery log with its filters and pages, one
delivery's payload, and redelivery."""

from __future__ import annotations

import html
import json
import re

from fastapi.testclient import TestClient
from tests.factories import Personas
from tests.pages import HTMX, sign_in
from tests.webhooks.conftest import Receiver
from tests.webhooks.pages_data import (
    RETRY_AT,
    add_delivery,
    add_endpoint,
    stored_deliveries,
    table_row,
)

from deskpilot.core.pagination import encode_cursor
from deskpilot.db.engine import Database
from deskpilot.webhooks.events import ALL_EVENTS

# --- deliveries ----------------------------------------------------------------------------------


def test_delivery_log_shows_each_attempts_outcome(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    endpoint_id = add_endpoint(db, admin, events=[ALL_EVENTS])
    ok = add_delivery(db, admin, endpoint_id)
    retrying = add_delivery(
        db,
        admin,
        endpoint_id,
        event="message.created",
        status="pending",
        attempts=2,
        response_status=503,
        error="HTTP 503",
        next_attempt_at=RETRY_AT,
    )
    sign_in(client, admin)
    page = client.get(f"/admin/webhooks/{endpoint_id}").text
    row = table_row(page, f"delivery-{ok}")
    assert f'<a href="/admin/webhooks/{endpoint_id}/deliveries/{ok}">#{ok}</a>' in row
    assert '<span class="badge badge-delivery-delivered">Delivered</span>' in row
    assert "HTTP 200" in row
    row = table_row(page, f"delivery-{retrying}")
    assert "<code>message.created</code>" in row
    assert '<span class="badge badge-delivery-pending">Pending</span>' in row
    assert "<td>2</td>" in row
    assert "HTTP 503" in row
    assert "21 Nov 2026, 12:30" in row
    assert f'action="/admin/webhooks/{endpoint_id}/deliveries/{retrying}/redeliver"' in row
    assert page.index(f'id="delivery-{retrying}"') < page.index(f'id="delivery-{ok}"'), (
        "newest first"
    )


def test_delivery_log_filters_and_htmx_gets_only_the_log(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    endpoint_id = add_endpoint(db, admin, events=[ALL_EVENTS])
    ok = add_delivery(db, admin, endpoint_id)
    failed = add_delivery(db, admin, endpoint_id, status="failed", attempts=8, error="HTTP 500")
    other = add_delivery(db, admin, endpoint_id, event="article.published", status="failed")
    sign_in(client, admin)
    base = f"/admin/webhooks/{endpoint_id}"

    partial = client.get(f"{base}?status=failed", headers=HTMX)
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="delivery-list">')
    assert "<html" not in partial.text
    assert [f'id="delivery-{i}"' in partial.text for i in (ok, failed, other)] == [
        False,
        True,
        True,
    ]

    full = client.get(f"{base}?status=failed&event=article.published").text
    assert "<html" in full
    assert [f'id="delivery-{i}"' in full for i in (ok, failed, other)] == [False, False, True]
    assert '<option value="failed" selected>Failed</option>' in full
    assert '<option value="article.published" selected>article.published</option>' in full

    none = client.get(f"{base}?status=pending", headers=HTMX).text
    assert "No deliveries match" in none
    # An unknown filter value is no filter, as on the other admin lists.
    everything = client.get(f"{base}?status=bogus&event=nope").text
    assert all(f'id="delivery-{i}"' in everything for i in (ok, failed, other))


def test_delivery_log_pages(client: TestClient, personas: Personas, db: Database) -> None:
    admin = personas.acme_admin
    endpoint_id = add_endpoint(db, admin)
    ids = [add_delivery(db, admin, endpoint_id, status="failed") for _ in range(26)]
    sign_in(client, admin)
    first = client.get(f"/admin/webhooks/{endpoint_id}?status=failed").text
    # Newest first: the first page is the 25 latest, the next page goes further back.
    assert f'id="delivery-{ids[1]}"' in first
    assert f'id="delivery-{ids[0]}"' not in first
    match = re.search(r'<a class="btn btn-secondary btn-sm" href="([^"]+)" hx-get', first)
    assert match
    next_url = html.unescape(match.group(1))
    assert "status=failed" in next_url
    rest = client.get(next_url, headers=HTMX).text
    assert f'id="delivery-{ids[0]}"' in rest
    assert f'id="delivery-{ids[1]}"' not in rest
    assert "Next page" not in rest
    # A cursor that does not parse starts from the newest again, as the automation run log does.
    for cursor in ("!!", "garbage", encode_cursor(["x"])):
        r = client.get(f"/admin/webhooks/{endpoint_id}?status=failed&cursor={cursor}", headers=HTMX)
        assert r.status_code == 200
        assert f'id="delivery-{ids[25]}"' in r.text
        assert f'id="delivery-{ids[0]}"' not in r.text
        assert "Next page" in r.text


def test_delivery_detail_shows_the_payload_pretty_printed(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    endpoint_id = add_endpoint(db, admin)
    payload = {
        "event": "ticket.created",
        "id": "evt_1",
        "data": {"ticket": {"subject": "<b>x</b>"}},
    }
    delivery_id = add_delivery(
        db,
        admin,
        endpoint_id,
        status="failed",
        response_status=None,
        error="ConnectError: refused",
        payload=payload,
    )
    sign_in(client, admin)
    page = client.get(f"/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}").text
    pre = page.split('<pre class="webhook-payload"')[1].split("</pre>")[0]
    shown = html.unescape(pre.split(">", 1)[1])
    assert shown == json.dumps(payload, indent=2, sort_keys=True)
    assert "&lt;b&gt;x&lt;/b&gt;" in pre  # user text stays text
    assert "ConnectError: refused" in page
    assert '<span class="badge badge-delivery-failed">Failed</span>' in page
    assert f'href="/admin/webhooks/{endpoint_id}">Back to the endpoint' in page


def test_a_delivery_is_only_shown_under_its_own_endpoint(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    first = add_endpoint(db, admin)
    second = add_endpoint(db, admin, "https://second.example.com/")
    delivery_id = add_delivery(db, admin, first)
    csrf = sign_in(client, admin)
    assert client.get(f"/admin/webhooks/{second}/deliveries/{delivery_id}").status_code == 404
    r = client.post(
        f"/admin/webhooks/{second}/deliveries/{delivery_id}/redeliver", data={"csrf_token": csrf}
    )
    assert r.status_code == 404
    assert len(stored_deliveries(db, admin, first)) == 1


def test_redeliver_sends_the_event_again(
    client: TestClient, personas: Personas, db: Database, receiver: Receiver
) -> None:
    admin = personas.acme_admin
    endpoint_id = add_endpoint(db, admin, receiver.url)
    original = add_delivery(db, admin, endpoint_id, status="failed", attempts=8, error="HTTP 500")
    csrf = sign_in(client, admin)
    r = client.post(
        f"/admin/webhooks/{endpoint_id}/deliveries/{original}/redeliver",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/webhooks/{endpoint_id}"
    first, copy = stored_deliveries(db, admin, endpoint_id)
    assert first.id == original
    assert first.status == "failed"  # the original keeps its history
    assert (copy.event_id, copy.payload) == (first.event_id, first.payload)
    assert copy.status == "delivered"
    assert [request.headers["Deskpilot-Delivery"] for request in receiver.received] == [
        first.event_id
    ]
    page = client.get(f"/admin/webhooks/{endpoint_id}").text
    assert f"ticket.created queued again as delivery {copy.id}." in page
    assert f'id="delivery-{copy.id}"' in page


def test_redeliver_to_a_disabled_endpoint_is_a_conflict(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    endpoint_id = add_endpoint(db, admin, enabled=False)
    original = add_delivery(db, admin, endpoint_id, status="failed")
    csrf = sign_in(client, admin)
    r = client.post(
        f"/admin/webhooks/{endpoint_id}/deliveries/{original}/redeliver", data={"csrf_token": csrf}
    )
    assert r.status_code == 409
    alert = r.text.split('<div id="delivery-list">')[1].split("</p>")[0]
    assert f"Webhook endpoint {endpoint_id} is disabled; enable it first" in alert
    assert 'role="alert"' in alert
    assert [d.id for d in stored_deliveries(db, admin, endpoint_id)] == [original]
    detail = client.get(f"/admin/webhooks/{endpoint_id}/deliveries/{original}").text
    assert "The endpoint is disabled: enable it first." in detail
