"""Macro management pages: shared macros under /admin/macros, personal ones under /app/macros."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpilot.core.errors import NotFound
from deskpilot.db.engine import Database
from deskpilot.macros import service
from deskpilot.macros.models import Macro
from deskpilot.macros.schemas import MacroCreate
from deskpilot.tickets import lookups
from deskpilot.tickets import service as tickets_service
from tests.factories import Persona, Personas, make_ticket
from tests.pages import HTMX, sign_in


def _macro(db: Database, persona: Persona, *, shared: bool, **fields: Any) -> int:
    data = MacroCreate.model_validate({"name": "Refund", "shared": shared, **fields})
    with db.session(write=True) as s:
        macro, _ = service.create_macro(s, persona.ctx, data)
        s.commit()
        return macro.id


def _read(db: Database, persona: Persona, macro_id: int) -> dict[str, Any]:
    with db.session(write=False) as s:
        m = service.get_macro(s, persona.ctx, macro_id)
        return {
            "name": m.name,
            "body": m.body,
            "visibility": m.visibility,
            "changes": dict(m.changes),
            "owner_user_id": m.owner_user_id,
        }


def _all_names(db: Database, persona: Persona) -> list[str]:
    with db.session(write=False) as s:
        rows, _ = service.list_macros(s, persona.ctx, limit=100)
        return [m.name for m in sorted(rows, key=lambda m: m.id)]


def _form(csrf: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "Refund", "body": "", "visibility": "public", **fields}


# --- who may open what ---------------------------------------------------------------------------

ADMIN_GETS = ["/admin/macros", "/admin/macros/new"]
CONSOLE_GETS = ["/app/macros", "/app/macros/new"]


@pytest.mark.parametrize("path", ADMIN_GETS)
@pytest.mark.parametrize(
    ("who", "status"),
    [("acme_owner", 200), ("acme_admin", 200), ("ann", 403), ("carol", 403)],
)
def test_admin_macro_pages_are_for_admins(
    client: TestClient, personas: Personas, path: str, who: str, status: int
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == status
    if status == 200:
        assert '<a href="/admin/macros" aria-current="page">Macros</a>' in r.text


@pytest.mark.parametrize("path", CONSOLE_GETS)
@pytest.mark.parametrize(
    ("who", "status"), [("ann", 200), ("acme_admin", 200), ("acme_owner", 200), ("carol", 403)]
)
def test_personal_macro_pages_are_for_staff(
    client: TestClient, personas: Personas, path: str, who: str, status: int
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == status
    if status == 200:
        assert '<a href="/app/macros" aria-current="page">Macros</a>' in r.text
        assert "admin-sidebar" not in r.text


@pytest.mark.parametrize("path", [*ADMIN_GETS, *CONSOLE_GETS, "/admin/macros/1", "/app/macros/1"])
def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code in (302, 303, 307)
    assert r.headers["location"].startswith(f"/login?next={path}")


def test_one_macro_pages_follow_the_same_roles(
    client: TestClient, personas: Personas, db: Database
) -> None:
    shared = _macro(db, personas.acme_admin, shared=True)
    sign_in(client, personas.ann)
    assert client.get(f"/admin/macros/{shared}").status_code == 403
    sign_in(client, personas.carol)
    assert client.get(f"/app/macros/{shared}").status_code == 403
    assert client.post(f"/admin/macros/{shared}/delete", data={}).status_code == 403


@pytest.mark.parametrize(
    "path", ["/admin/macros", "/admin/macros/{shared}", "/admin/macros/{shared}/delete"]
)
def test_admin_posts_need_the_csrf_token(
    client: TestClient, personas: Personas, db: Database, path: str
) -> None:
    shared = _macro(db, personas.acme_admin, shared=True)
    sign_in(client, personas.acme_admin)
    r = client.post(path.format(shared=shared), data={"name": "Changed"})
    assert r.status_code == 403
    assert "form expired" in r.text
    assert _read(db, personas.acme_admin, shared)["name"] == "Refund"


@pytest.mark.parametrize("path", ["/app/macros", "/app/macros/{mine}", "/app/macros/{mine}/delete"])
def test_console_posts_need_the_csrf_token(
    client: TestClient, personas: Personas, db: Database, path: str
) -> None:
    mine = _macro(db, personas.ann, shared=False)
    sign_in(client, personas.ann)
    r = client.post(path.format(mine=mine), data={"name": "Changed"})
    assert r.status_code == 403
    assert _all_names(db, personas.ann) == ["Refund"]


# --- lists ---------------------------------------------------------------------------------------


def test_admin_list_shows_shared_macros_only_with_changes_and_usage(
    client: TestClient, personas: Personas, db: Database, session: Any
) -> None:
    team = personas.teams["acme_billing"]
    shared = _macro(
        db,
        personas.acme_admin,
        shared=True,
        name="Billing handover",
        body="Hi {{ requester.name }}",
        visibility="internal",
        changes={
            "status": "waiting_customer",
            "priority": "high",
            "team_id": team,
            "assignee_id": personas.bob.user_id,
            "add_tags": ["refund", "vip"],
        },
    )
    _macro(db, personas.acme_admin, shared=False, name="Admin's own draft")
    _macro(db, personas.ann, shared=False, name="Ann's secret")
    _macro(db, personas.globex_owner, shared=True, name="Globex shared")
    ticket = make_ticket(session, personas.ann.ctx)
    service.apply_macro(session, personas.ann.ctx, ticket.id, shared)
    session.commit()

    sign_in(client, personas.acme_admin)
    html = client.get("/admin/macros").text
    assert f'<a href="/admin/macros/{shared}">Billing handover</a>' in html
    row = html[html.index(f'id="macro-{shared}"') :]
    row = row[: row.index("</tr>")]
    assert "Internal note" in row
    assert "Status: Waiting customer" in row
    assert "Priority: High" in row
    assert "Team: Billing" in row
    assert "Assignee: Bob" in row
    assert "Add tags: refund, vip" in row
    assert "1 time" in row
    for hidden in ("Admin&#39;s own draft", "Ann&#39;s secret", "Globex shared"):
        assert hidden not in html


def test_console_list_shows_only_my_personal_macros(
    client: TestClient, personas: Personas, db: Database
) -> None:
    mine = _macro(db, personas.ann, shared=False, name="Ann's greeting")
    _macro(db, personas.bob, shared=False, name="Bob's greeting")
    _macro(db, personas.acme_admin, shared=True, name="Team greeting")
    sign_in(client, personas.ann)
    html = client.get("/app/macros").text
    assert f'<a href="/app/macros/{mine}">Ann&#39;s greeting</a>' in html
    assert "Bob&#39;s greeting" not in html
    assert "Team greeting" not in html
    assert "Shared macros are managed by admins." in html


def test_empty_list_invites_to_create(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/macros").text
    assert "No macros yet" in html
    assert 'href="/admin/macros/new"' in html


def test_search_renders_only_the_table_for_htmx(
    client: TestClient, personas: Personas, db: Database
) -> None:
    refund = _macro(db, personas.acme_admin, shared=True, name="Refund issued")
    _macro(db, personas.acme_admin, shared=True, name="Password reset", body="Use the link")
    sign_in(client, personas.acme_admin)
    r = client.get("/admin/macros?q=REFUND", headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="macro-rows">')
    assert "<html" not in r.text
    assert f"/admin/macros/{refund}" in r.text
    assert "Password reset" not in r.text
    full = client.get("/admin/macros?q=link")
    assert "<html" in full.text
    assert "Password reset" in full.text
    assert "Refund issued" not in full.text
    assert 'value="link"' in full.text
    none = client.get("/admin/macros?q=nothing-like-this", headers=HTMX).text
    assert "No macro matches" in none


def test_long_lists_page_with_a_next_link(
    client: TestClient, personas: Personas, db: Database
) -> None:
    with db.session(write=True) as s:
        for n in range(51):
            data = MacroCreate(name=f"Macro {n:02d}", shared=True)
            service.create_macro(s, personas.acme_admin.ctx, data)
        s.commit()
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/macros").text
    assert "Macro 49" in html
    assert "Macro 50" not in html
    start = html.index('href="/admin/macros?q=&amp;cursor=') + len('href="')
    next_url = html[start : html.index('"', start)].replace("&amp;", "&")
    second = client.get(next_url).text
    assert "Macro 50" in second
    assert "Macro 49" not in second
    assert "Next page" not in second


# --- create --------------------------------------------------------------------------------------


def test_admin_creates_a_shared_macro_with_every_change(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = _form(
        csrf,
        name="  Escalate billing  ",
        body="Hello {{requester.name}},\r\nwe are on it.",
        visibility="internal",
        status="in_progress",
        priority="urgent",
        type="billing",
        category="Refunds",
        team_id=str(personas.teams["acme_billing"]),
        assignee_id=str(personas.ann.user_id),
        add_tags="Refund\r\n vip \r\n\r\n",
        action="save",
    )
    r = client.post("/admin/macros", data=form, follow_redirects=False)
    assert r.status_code == 303
    macro_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/admin/macros/{macro_id}"
    saved = _read(db, personas.ann, macro_id)
    assert saved == {
        "name": "Escalate billing",
        "body": "Hello {{requester.name}},\nwe are on it.",
        "visibility": "internal",
        "changes": {
            "status": "in_progress",
            "priority": "urgent",
            "type": "billing",
            "category": "Refunds",
            "team_id": personas.teams["acme_billing"],
            "assignee_id": personas.ann.user_id,
            "add_tags": ["Refund", "vip"],
        },
        "owner_user_id": None,
    }
    page = client.get(r.headers["location"]).text
    assert "Macro Escalate billing created." in page
    assert '<option value="urgent" selected>Urgent</option>' in page
    assert ">Refund\nvip</textarea>" in page


def test_agent_creates_a_personal_macro(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post(
        "/app/macros", data=_form(csrf, name="My thanks", body="Thanks!"), follow_redirects=False
    )
    assert r.status_code == 303
    macro_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/app/macros/{macro_id}"
    saved = _read(db, personas.ann, macro_id)
    assert saved["owner_user_id"] == personas.ann.user_id
    assert saved["changes"] == {}
    # Personal: nobody else sees it, admins included.
    assert "My thanks" not in _all_names(db, personas.acme_admin)
    # An agent has no "share" box and cannot forge one: the service refuses it.
    assert 'name="shared"' not in client.get("/app/macros/new").text
    r = client.post("/app/macros", data=_form(csrf, name="Sneaky", shared="1"))
    assert r.status_code == 403
    assert _all_names(db, personas.ann) == ["My thanks"]


def test_admin_may_share_a_macro_from_the_console(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    assert 'name="shared"' in client.get("/app/macros/new").text
    r = client.post(
        "/app/macros", data=_form(csrf, name="For all", shared="1"), follow_redirects=False
    )
    macro_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/admin/macros/{macro_id}"
    assert _read(db, personas.ann, macro_id)["owner_user_id"] is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "   "}, "name", "at least 1 character"),
        ({"body": "Hi {{ requester.password }}"}, "body", "unknown variables: requester.password"),
        ({"status": "exploded"}, "status", "Input should be"),
        ({"visibility": "secret"}, "visibility", "Input should be"),
        ({"team_id": "abc"}, "team_id", "valid integer"),
        ({"add_tags": "\n".join(f"t{n}" for n in range(21))}, "add_tags", "at most 20"),
        ({"assignee_id": "{carol}"}, "assignee_id", "no active agent with this id"),
        ({"team_id": "{globex_team}"}, "team_id", "no team with this id"),
    ],
)
def test_invalid_macros_rerender_the_form_with_the_error(
    client: TestClient,
    personas: Personas,
    db: Database,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    refs = {"carol": personas.carol.user_id, "globex_team": personas.teams["globex_support"]}
    fields = {k: v.format(**refs) if v.startswith("{") else v for k, v in fields.items()}
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/macros", data=_form(csrf, **fields))
    assert r.status_code == 422
    assert f'<p class="field-error" id="{field}-error">' in r.text
    error = r.text[r.text.index(f'id="{field}-error">') :]
    assert message in error[: error.index("</p>")]
    assert _all_names(db, personas.acme_admin) == []


# --- edit ----------------------------------------------------------------------------------------


def test_edit_form_shows_the_macro_and_its_variables(
    client: TestClient, personas: Personas, db: Database
) -> None:
    shared = _macro(
        db,
        personas.acme_admin,
        shared=True,
        name="Chase",
        body="Any news, {{ requester.name }}?",
        changes={"status": "waiting_customer", "team_id": personas.teams["acme_support"]},
    )
    sign_in(client, personas.acme_admin)
    html = client.get(f"/admin/macros/{shared}").text
    assert 'value="Chase"' in html
    assert "Any news, {{ requester.name }}?</textarea>" in html
    assert '<option value="waiting_customer" selected>Waiting customer</option>' in html
    assert f'<option value="{personas.teams["acme_support"]}" selected>Support</option>' in html
    assert "<code>{{ ticket.number }}</code>" in html
    assert "The requester&#39;s email address" in html
    assert 'data-confirm="Delete the macro Chase?"' in html
    assert 'id="f-shared" name="shared" type="checkbox" value="1" checked' in html


def test_admin_updates_a_shared_macro_and_clears_changes(
    client: TestClient, personas: Personas, db: Database
) -> None:
    shared = _macro(
        db, personas.acme_admin, shared=True, changes={"priority": "high", "add_tags": ["x"]}
    )
    csrf = sign_in(client, personas.acme_admin)
    form = _form(csrf, name="Refund v2", body="Done, {{ agent.name }}", status="resolved")
    form["shared"] = "1"
    r = client.post(f"/admin/macros/{shared}", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/macros/{shared}"
    saved = _read(db, personas.acme_admin, shared)
    assert saved["name"] == "Refund v2"
    assert saved["body"] == "Done, {{ agent.name }}"
    assert saved["changes"] == {"status": "resolved"}
    assert saved["owner_user_id"] is None
    assert "Macro saved." in client.get(f"/admin/macros/{shared}").text


def test_unticking_shared_takes_the_macro_back_as_personal(
    client: TestClient, personas: Personas, db: Database
) -> None:
    shared = _macro(db, personas.acme_admin, shared=True)
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(f"/admin/macros/{shared}", data=_form(csrf), follow_redirects=False)
    assert r.headers["location"] == f"/app/macros/{shared}"
    assert _read(db, personas.acme_admin, shared)["owner_user_id"] == personas.acme_admin.user_id
    with pytest.raises(NotFound), db.session(write=False) as s:
        service.get_macro(s, personas.ann.ctx, shared)
    # It now lives in the console, not the admin area.
    assert client.get(f"/admin/macros/{shared}").status_code == 404
    assert client.get(f"/app/macros/{shared}").status_code == 200


def test_agent_edits_own_personal_macro(
    client: TestClient, personas: Personas, db: Database
) -> None:
    mine = _macro(db, personas.ann, shared=False)
    csrf = sign_in(client, personas.ann)
    form = _form(csrf, name="Refund (mine)", assignee_id=str(personas.ann.user_id))
    r = client.post(f"/app/macros/{mine}", data=form, follow_redirects=False)
    assert r.headers["location"] == f"/app/macros/{mine}"
    saved = _read(db, personas.ann, mine)
    assert saved["name"] == "Refund (mine)"
    assert saved["changes"] == {"assignee_id": personas.ann.user_id}
    assert saved["owner_user_id"] == personas.ann.user_id


def test_invalid_edit_keeps_what_was_typed_and_changes_nothing(
    client: TestClient, personas: Personas, db: Database
) -> None:
    mine = _macro(db, personas.ann, shared=False, body="Original")
    csrf = sign_in(client, personas.ann)
    form = _form(csrf, name="Renamed", body="Hi {{ 7*7 }}", category="Typed")
    r = client.post(f"/app/macros/{mine}", data=form)
    assert r.status_code == 422
    assert "unknown variables: 7*7" in r.text
    assert 'value="Renamed"' in r.text
    assert 'value="Typed"' in r.text
    assert _read(db, personas.ann, mine)["name"] == "Refund"
    assert _read(db, personas.ann, mine)["body"] == "Original"


def test_people_only_reach_macros_they_may_manage(
    client: TestClient, personas: Personas, db: Database
) -> None:
    anns = _macro(db, personas.ann, shared=False)
    admins = _macro(db, personas.acme_admin, shared=False)
    shared = _macro(db, personas.acme_admin, shared=True)
    sign_in(client, personas.bob)
    assert client.get(f"/app/macros/{anns}").status_code == 404
    # Shared macros are managed in the admin area, never from the console.
    assert client.get(f"/app/macros/{shared}").status_code == 404
    sign_in(client, personas.acme_admin)
    assert client.get(f"/admin/macros/{anns}").status_code == 404
    assert client.get(f"/app/macros/{anns}").status_code == 404
    # An admin's own personal macro is managed from the console.
    assert client.get(f"/admin/macros/{admins}").status_code == 404
    assert client.get(f"/app/macros/{admins}").status_code == 200


def test_another_workspaces_macros_are_404(
    client: TestClient, personas: Personas, db: Database
) -> None:
    acme_shared = _macro(db, personas.acme_admin, shared=True)
    acme_personal = _macro(db, personas.ann, shared=False)
    csrf = sign_in(client, personas.globex_owner)
    assert client.get(f"/admin/macros/{acme_shared}").status_code == 404
    r = client.post(f"/admin/macros/{acme_shared}", data=_form(csrf, name="Hijacked"))
    assert r.status_code == 404
    r = client.post(f"/admin/macros/{acme_shared}/delete", data={"csrf_token": csrf})
    assert r.status_code == 404
    csrf = sign_in(client, personas.gina)
    assert client.get(f"/app/macros/{acme_personal}").status_code == 404
    r = client.post(f"/app/macros/{acme_personal}/delete", data={"csrf_token": csrf})
    assert r.status_code == 404
    assert _read(db, personas.acme_admin, acme_shared)["name"] == "Refund"
    assert _all_names(db, personas.ann) == ["Refund", "Refund"]


def test_a_missing_macro_is_404(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    assert client.get("/admin/macros/999999").status_code == 404
    assert client.get("/app/macros/999999").status_code == 404


# --- preview -------------------------------------------------------------------------------------


def test_preview_renders_the_body_with_sample_values_for_htmx(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    body = "Hello **{{ requester.name }}**, ticket #{{ticket.number}} from {{ agent.name }}"
    form = _form(csrf, body=body, action="preview")
    r = client.post("/admin/macros", data=form, headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="macro-preview"')
    assert "<html" not in r.text
    assert "Hello <strong>Dana Example</strong>, ticket #1042 from Acme_Admin" in r.text
    assert _all_names(db, personas.acme_admin) == []


def test_preview_without_javascript_rerenders_the_form(
    client: TestClient, personas: Personas, db: Database
) -> None:
    mine = _macro(db, personas.ann, shared=False, body="Saved body")
    csrf = sign_in(client, personas.ann)
    form = _form(csrf, name="Typed name", body="Hi {{ requester.email }} {{ bogus }}")
    form["action"] = "preview"
    r = client.post(f"/app/macros/{mine}", data=form)
    assert r.status_code == 200
    assert "<html" in r.text
    assert 'value="Typed name"' in r.text
    assert "Hi dana@example.com {{ bogus }}" in r.text
    assert "Unknown variables, left as written and refused on save: bogus" in r.text
    assert _read(db, personas.ann, mine)["body"] == "Saved body"


def test_preview_escapes_html_in_the_body(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = _form(csrf, body="<script>alert(1)</script> ok", action="preview")
    r = client.post("/admin/macros", data=form, headers=HTMX)
    assert "<script>alert(1)</script>" not in r.text
    assert "ok" in r.text


def test_preview_of_an_empty_body_says_no_reply_is_posted(
    client: TestClient, personas: Personas
) -> None:
    csrf = sign_in(client, personas.ann)
    r = client.post("/app/macros", data=_form(csrf, action="preview"), headers=HTMX)
    assert "applying this macro posts no reply" in r.text


# --- delete --------------------------------------------------------------------------------------


def test_admin_deletes_a_shared_macro(client: TestClient, personas: Personas, db: Database) -> None:
    shared = _macro(db, personas.acme_admin, shared=True, name="Old one")
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        f"/admin/macros/{shared}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/macros"
    assert "Macro Old one deleted." in client.get("/admin/macros").text
    with pytest.raises(NotFound), db.session(write=False) as s:
        service.get_macro(s, personas.acme_admin.ctx, shared)


def test_agent_deletes_own_macro_but_not_a_shared_one(
    client: TestClient, personas: Personas, db: Database
) -> None:
    mine = _macro(db, personas.ann, shared=False)
    shared = _macro(db, personas.acme_admin, shared=True, name="Shared")
    csrf = sign_in(client, personas.ann)
    assert client.post(f"/app/macros/{shared}/delete", data={"csrf_token": csrf}).status_code == 404
    r = client.post(f"/app/macros/{mine}/delete", data={"csrf_token": csrf}, headers=HTMX)
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == "/app/macros"
    assert _all_names(db, personas.ann) == ["Shared"]


def test_deleting_a_macro_keeps_replies_it_posted(
    client: TestClient, personas: Personas, db: Database, session: Any
) -> None:
    shared = _macro(db, personas.acme_admin, shared=True, body="Posted by a macro")
    ticket = make_ticket(session, personas.ann.ctx)
    service.apply_macro(session, personas.ann.ctx, ticket.id, shared)
    session.commit()
    csrf = sign_in(client, personas.acme_admin)
    client.post(f"/admin/macros/{shared}/delete", data={"csrf_token": csrf})
    with db.session(write=False) as s:
        reloaded = tickets_service.get_ticket(s, personas.acme_admin.ctx, ticket.id)
        messages = lookups.list_messages(s, personas.acme_admin.ctx, reloaded)
        assert "Posted by a macro" in [m.body for m in messages]
        assert s.get(Macro, shared) is None
