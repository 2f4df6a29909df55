"""Webhook admin pages (/admin/webhooks), endpoints: who may use them, the endpoint list,
create/edit with the API's validation, the secret shown once, enable/disable, rotation, deletion.
The delivery log is in test_admin_delivery_pages.py."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.factories import Personas
from tests.pages import HTMX, sign_in
from tests.webhooks.pages_data import (
    HOOK_URL,
    Stored,
    add_delivery,
    add_endpoint,
    field_error,
    page_paths,
    post_paths,
    secret_on,
    set_failures,
    stored_deliveries,
    stored_endpoint,
    table_row,
)

from deskpilot.core.errors import NotFound
from deskpilot.core.pagination import encode_cursor
from deskpilot.db.engine import Database
from deskpilot.webhooks import service
from deskpilot.webhooks.events import ALL_EVENTS, EVENTS

# --- who may use the pages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"), [("acme_owner", 200), ("acme_admin", 200), ("ann", 403), ("carol", 403)]
)
def test_pages_are_for_owners_and_admins(
    client: TestClient, personas: Personas, db: Database, who: str, status: int
) -> None:
    paths = page_paths(db, personas)
    sign_in(client, getattr(personas, who))
    for path in paths:
        r = client.get(path)
        assert r.status_code == status, path
        if status == 200:
            assert '<a href="/admin/webhooks" aria-current="page">Webhooks</a>' in r.text
            assert HOOK_URL in r.text
        else:
            assert HOOK_URL not in r.text


def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, personas: Personas, db: Database
) -> None:
    for path in page_paths(db, personas):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"] == f"/login?next={path}"


def test_agents_and_customers_cannot_post(
    client: TestClient, personas: Personas, db: Database
) -> None:
    paths = post_paths(db, personas)
    before = stored_endpoint(db, personas.acme_admin, int(paths[1].rsplit("/", 1)[1]))
    for who in (personas.ann, personas.carol):
        csrf = sign_in(client, who)
        for path in paths:
            form = {"csrf_token": csrf, "url": "https://evil.example.com/", "events": "*"}
            assert client.post(path, data=form).status_code == 403, (who.key, path)
    assert stored_endpoint(db, personas.acme_admin, int(paths[1].rsplit("/", 1)[1])) == before
    assert len(stored_deliveries(db, personas.acme_admin, int(paths[1].rsplit("/", 1)[1]))) == 1


def test_posts_without_the_csrf_token_are_refused(
    client: TestClient, personas: Personas, db: Database
) -> None:
    paths = post_paths(db, personas)
    endpoint_id = int(paths[1].rsplit("/", 1)[1])
    before = stored_endpoint(db, personas.acme_admin, endpoint_id)
    sign_in(client, personas.acme_admin)
    for path in paths:
        r = client.post(path, data={"url": "https://evil.example.com/", "events": "*"})
        assert r.status_code == 403, path
        assert "Your form expired" in r.text
    assert stored_endpoint(db, personas.acme_admin, endpoint_id) == before
    assert len(stored_deliveries(db, personas.acme_admin, endpoint_id)) == 1
    with db.session(write=False) as s:
        endpoints, _ = service.list_endpoints(s, personas.acme_admin.ctx)
        assert [e.id for e in endpoints] == [endpoint_id]


def test_another_workspaces_endpoints_and_deliveries_are_404(
    client: TestClient, personas: Personas, db: Database
) -> None:
    gets = page_paths(db, personas)
    posts = post_paths(db, personas)
    endpoint_id = int(posts[1].rsplit("/", 1)[1])
    before = stored_endpoint(db, personas.acme_admin, endpoint_id)
    csrf = sign_in(client, personas.globex_owner)
    list_page = client.get("/admin/webhooks").text
    assert HOOK_URL not in list_page
    assert "No webhook endpoints yet" in list_page
    for path in gets[1:]:
        assert client.get(path).status_code == 404, path
    form = {"csrf_token": csrf, "url": "https://evil.example.com/", "events": "*"}
    for path in posts[1:]:
        assert client.post(path, data=form).status_code == 404, path
    assert stored_endpoint(db, personas.acme_admin, endpoint_id) == before
    assert len(stored_deliveries(db, personas.acme_admin, endpoint_id)) == 1


# --- the endpoint list ---------------------------------------------------------------------------


def test_empty_state_and_a_create_form_with_every_event(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.acme_admin)
    page = client.get("/admin/webhooks").text
    assert "No webhook endpoints yet" in page
    form = page.split('id="new-endpoint-title"')[1]
    offered = re.findall(r'<input type="checkbox" name="events" value="([^"]+)"', form)
    assert offered == [ALL_EVENTS, *EVENTS]
    for value in EVENTS:
        assert f'<input type="checkbox" name="events" value="{value}" aria' in form
    assert '<label for="f-url">URL</label>' in form
    assert '<input id="f-enabled" name="enabled" type="checkbox" value="1" checked>' in form


def test_list_shows_state_failures_and_last_delivery(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    healthy = add_endpoint(
        db, admin, events=["ticket.created", "message.created"], description="CRM"
    )
    add_delivery(db, admin, healthy, status="delivered")
    add_delivery(db, admin, healthy, event="message.created", status="failed", response_status=500)
    idle = add_endpoint(db, admin, "https://idle.example.com/in", [ALL_EVENTS], enabled=False)
    set_failures(db, admin, idle, 3)
    add_endpoint(db, personas.globex_owner, "https://globex.example.com/hook")

    sign_in(client, admin)
    page = client.get("/admin/webhooks").text
    assert "globex.example.com" not in page
    assert "No webhook endpoints yet" not in page

    row = table_row(page, f"endpoint-{healthy}")
    assert f'<a href="/admin/webhooks/{healthy}" class="webhook-url">{HOOK_URL}</a>' in row
    assert "CRM" in row
    assert "<code>ticket.created</code> <code>message.created</code>" in row
    assert '<span class="badge badge-on">Enabled</span>' in row
    # The newest delivery, not the first one.
    assert '<span class="badge badge-delivery-failed">Failed</span>' in row
    assert "<code>message.created</code>, " in row

    row = table_row(page, f"endpoint-{idle}")
    assert '<span class="badge">All events</span>' in row
    assert '<span class="badge badge-off">Disabled</span>' in row
    assert "Disabled by an admin, since <time" in row
    assert "<td>3</td>" in row
    assert "None yet" in row


def test_list_pages_by_cursor(client: TestClient, personas: Personas, db: Database) -> None:
    ids = [add_endpoint(db, personas.acme_admin, f"https://h{i}.example.com/") for i in range(27)]
    sign_in(client, personas.acme_admin)
    first = client.get("/admin/webhooks").text
    assert f'id="endpoint-{ids[24]}"' in first
    assert f'id="endpoint-{ids[25]}"' not in first
    next_url = html.unescape(
        re.findall(r'<a class="btn btn-secondary btn-sm" href="([^"]+)"', first)[0]
    )
    rest = client.get(next_url).text
    assert [f'id="endpoint-{i}"' in rest for i in ids[24:]] == [False, True, True]


@pytest.mark.parametrize("cursor", ["garbage", "!!", encode_cursor(["x"]), encode_cursor([-1])])
def test_a_bad_cursor_shows_the_first_page(
    client: TestClient, personas: Personas, db: Database, cursor: str
) -> None:
    ids = [add_endpoint(db, personas.acme_admin, f"https://h{i}.example.com/") for i in range(26)]
    sign_in(client, personas.acme_admin)
    r = client.get(f"/admin/webhooks?cursor={cursor}")
    assert r.status_code == 200
    assert [f'id="endpoint-{i}"' in r.text for i in (ids[0], ids[24], ids[25])] == [
        True,
        True,
        False,
    ]
    assert 'href="/admin/webhooks?cursor=' in r.text


# --- create --------------------------------------------------------------------------------------


def test_create_shows_the_secret_once(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {
        "csrf_token": csrf,
        "url": f"  {HOOK_URL}  ",
        "description": "Sync to the CRM",
        "events": ["ticket.created", "ticket.resolved"],
        "enabled": "1",
    }
    r = client.post("/admin/webhooks", data=form)
    assert r.status_code == 201
    assert "Endpoint created: signing secret" in r.text
    assert "It is shown only once." in r.text
    secret = secret_on(r.text)
    with db.session(write=False) as s:
        (endpoint,) = service.list_endpoints(s, personas.acme_admin.ctx)[0]
        endpoint_id = endpoint.id
    stored = stored_endpoint(db, personas.acme_admin, endpoint_id)
    assert stored == Stored(
        HOOK_URL, "Sync to the CRM", ["ticket.created", "ticket.resolved"], True, secret, 0, None
    )
    for path in ("/admin/webhooks", f"/admin/webhooks/{endpoint_id}"):
        page = client.get(path).text
        assert HOOK_URL in page
        assert secret not in page
        assert 'id="new-secret"' not in page


def test_create_disabled_endpoint(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "url": HOOK_URL, "events": [ALL_EVENTS]}  # "enabled" unticked
    r = client.post("/admin/webhooks", data=form)
    assert r.status_code == 201
    assert '<span class="badge badge-off">Disabled</span>' in r.text
    with db.session(write=False) as s:
        (endpoint,) = service.list_endpoints(s, personas.acme_admin.ctx)[0]
        assert (endpoint.enabled, endpoint.events) == (False, [ALL_EVENTS])
        assert endpoint.disabled_reason == "Disabled by an admin"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"url": "ftp://example.com/x"}, "url", "must be an http:// or https:// URL"),
        ({"url": "https://user:pw@example.com/x"}, "url", "must not contain credentials"),
        ({"url": ""}, "url", "at least 1 character"),
        ({"url": "https://example.com/" + "x" * 2000}, "url", "at most 2000 characters"),
        ({"events": []}, "events", "Choose at least one event."),
        ({"events": ["ticket.exploded"]}, "events", "unknown events: ticket.exploded"),
        ({"description": "d" * 2001}, "description", "at most 2000 characters"),
    ],
)
def test_invalid_endpoints_are_refused_next_to_the_field(
    client: TestClient,
    personas: Personas,
    db: Database,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "url": HOOK_URL,
        "description": "kept",
        "events": ["message.created"],
        "enabled": "1",
        **changes,
    }
    r = client.post("/admin/webhooks", data=form)
    assert r.status_code == 422
    assert message in field_error(r.text, field)
    assert 'id="new-secret"' not in r.text
    create_form = r.text.split('id="new-endpoint-title"')[1]
    if field != "events":
        assert '<input type="checkbox" name="events" value="message.created" checked' in create_form
    if field != "description":
        assert ">kept</textarea>" in create_form
    with db.session(write=False) as s:
        assert service.list_endpoints(s, personas.acme_admin.ctx)[0] == []


# --- one endpoint: edit, switch on and off, rotate, delete ---------------------------------------


def test_endpoint_page_shows_the_settings_and_actions(
    client: TestClient, personas: Personas, db: Database
) -> None:
    endpoint_id = add_endpoint(
        db, personas.acme_admin, events=["article.published"], description="KB"
    )
    sign_in(client, personas.acme_admin)
    page = client.get(f"/admin/webhooks/{endpoint_id}").text
    details = page.split('id="endpoint-details-title"')[1].split("</form>")[0]
    assert f'value="{HOOK_URL}"' in details
    assert ">KB</textarea>" in details
    assert '<input type="checkbox" name="events" value="article.published" checked' in details
    assert '<input type="checkbox" name="events" value="ticket.created" aria' in details
    assert "No deliveries yet" in page
    assert 'data-confirm="Rotate the signing secret?' in page
    assert f'data-confirm="Delete the endpoint {HOOK_URL} and its delivery log?"' in page
    assert "Disable endpoint" in page
    assert stored_endpoint(db, personas.acme_admin, endpoint_id).secret not in page


def test_edit_changes_url_events_and_description(
    client: TestClient, personas: Personas, db: Database
) -> None:
    endpoint_id = add_endpoint(db, personas.acme_admin)
    secret = stored_endpoint(db, personas.acme_admin, endpoint_id).secret
    csrf = sign_in(client, personas.acme_admin)
    form = {
        "csrf_token": csrf,
        "url": "https://new.example.com/in",
        "description": "Moved",
        "events": ["ticket.updated", "ticket.escalated"],
    }
    r = client.post(f"/admin/webhooks/{endpoint_id}", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/webhooks/{endpoint_id}"
    assert "Endpoint saved." in client.get(r.headers["location"]).text
    assert stored_endpoint(db, personas.acme_admin, endpoint_id) == Stored(
        "https://new.example.com/in",
        "Moved",
        ["ticket.updated", "ticket.escalated"],
        True,
        secret,
        0,
        None,
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"url": "mailto:x@example.com"}, "url", "must be an http:// or https:// URL"),
        ({"url": "https://example.com/#frag"}, "url", "must not contain a fragment"),
        ({"events": []}, "events", "Choose at least one event."),
    ],
)
def test_invalid_edits_are_refused_and_change_nothing(
    client: TestClient,
    personas: Personas,
    db: Database,
    changes: dict[str, Any],
    field: str,
    message: str,
) -> None:
    endpoint_id = add_endpoint(db, personas.acme_admin)
    before = stored_endpoint(db, personas.acme_admin, endpoint_id)
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "url": HOOK_URL, "events": ["ticket.created"], **changes}
    r = client.post(f"/admin/webhooks/{endpoint_id}", data=form)
    assert r.status_code == 422
    assert message in field_error(r.text, field)
    assert stored_endpoint(db, personas.acme_admin, endpoint_id) == before


def test_disable_then_enable_resets_the_failure_count(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    endpoint_id = add_endpoint(db, admin)
    set_failures(db, admin, endpoint_id, 7)
    csrf = sign_in(client, admin)
    base = f"/admin/webhooks/{endpoint_id}"

    r = client.post(f"{base}/disable", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    stored = stored_endpoint(db, admin, endpoint_id)
    assert (stored.enabled, stored.disabled_reason) == (False, "Disabled by an admin")
    page = client.get(base).text
    assert "Endpoint disabled; no new deliveries are queued for it." in page
    assert "Enable endpoint" in page
    assert "Disabled by an admin, since" in page

    r = client.post(f"{base}/enable", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    stored = stored_endpoint(db, admin, endpoint_id)
    assert (stored.enabled, stored.consecutive_failures, stored.disabled_reason) == (True, 0, None)
    assert "Endpoint enabled; its failure count starts again from 0." in client.get(base).text


def test_htmx_posts_are_told_where_to_go(
    client: TestClient, personas: Personas, db: Database
) -> None:
    endpoint_id = add_endpoint(db, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        f"/admin/webhooks/{endpoint_id}/disable", data={"csrf_token": csrf}, headers=HTMX
    )
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == f"/admin/webhooks/{endpoint_id}"
    assert stored_endpoint(db, personas.acme_admin, endpoint_id).enabled is False


def test_rotate_secret_shows_the_new_secret_once(
    client: TestClient, personas: Personas, db: Database
) -> None:
    endpoint_id = add_endpoint(db, personas.acme_admin)
    old = stored_endpoint(db, personas.acme_admin, endpoint_id).secret
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(f"/admin/webhooks/{endpoint_id}/rotate-secret", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert "New signing secret" in r.text
    assert "The old secret stopped working" in r.text
    secret = secret_on(r.text)
    assert secret != old
    assert old not in r.text
    assert stored_endpoint(db, personas.acme_admin, endpoint_id).secret == secret
    assert secret not in client.get(f"/admin/webhooks/{endpoint_id}").text


def test_delete_removes_the_endpoint_and_its_log(
    client: TestClient, personas: Personas, db: Database
) -> None:
    endpoint_id = add_endpoint(db, personas.acme_admin)
    add_delivery(db, personas.acme_admin, endpoint_id)
    kept = add_endpoint(db, personas.acme_admin, "https://kept.example.com/")
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        f"/admin/webhooks/{endpoint_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/webhooks"
    page = client.get("/admin/webhooks").text
    assert f"Endpoint {HOOK_URL} deleted." in page
    assert f'id="endpoint-{kept}"' in page
    with db.session(write=False) as s, pytest.raises(NotFound):
        service.get_endpoint(s, personas.acme_admin.ctx, endpoint_id)
    assert client.get(f"/admin/webhooks/{endpoint_id}").status_code == 404
