"""The macro form posts back what it shows: tags, deleted teams, deactivated agents, list pages.

These tests read the edit page as a browser would (`form_values`) and post it back untouched, so
a value the form cannot show (a tag with a comma, a team that was deleted) is caught.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpilot.auth import service as auth_service
from deskpilot.core.pagination import encode_cursor
from deskpilot.db.engine import Database
from deskpilot.macros import service
from deskpilot.macros.schemas import MacroCreate
from deskpilot.tickets.listing import normalize_tag
from deskpilot.tickets.schemas import MAX_TAGS
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.schemas import TeamCreate
from tests.factories import Persona, Personas
from tests.pages import HTMX, sign_in


class _FormReader(HTMLParser):
    """The fields a browser would post from the form with `action`: text and hidden inputs,
    ticked checkboxes, each select's selected option (else its first), textareas."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.values: dict[str, str] = {}
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif not self.inside:
            return
        elif tag == "input" and a.get("type", "text") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self.select, self.options = a["name"], []
        elif tag == "option" and self.select is not None:
            self.options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self.textarea, self.text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select is not None:
            chosen = [value for value, selected in self.options if selected] or [self.options[0][0]]
            self.values[self.select] = chosen[-1]
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            # HTML drops one line break right after <textarea>.
            self.values[self.textarea] = self.text.removeprefix("\n")
            self.textarea = None


def form_values(html: str, action: str) -> dict[str, str]:
    reader = _FormReader(action)
    reader.feed(html)
    assert reader.values, f"no form posting to {action}"
    return reader.values


def _macro(db: Database, persona: Persona, *, shared: bool, **fields: Any) -> int:
    data = MacroCreate.model_validate({"name": "Refund", "shared": shared, **fields})
    with db.session(write=True) as s:
        macro, _ = service.create_macro(s, persona.ctx, data)
        s.commit()
        return macro.id


def _changes(db: Database, persona: Persona, macro_id: int) -> dict[str, Any]:
    with db.session(write=False) as s:
        return dict(service.get_macro(s, persona.ctx, macro_id).changes)


# --- saving untouched keeps everything ----------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [["a", "b"], ["a,b", "c"], ["needs reply, urgent"], [f"t{n}" for n in range(MAX_TAGS)]],
)
def test_changes_round_trip_through_the_form(
    client: TestClient, personas: Personas, db: Database, tags: list[str]
) -> None:
    """Saving the edit form untouched keeps every change exactly as it was, commas in tags too
    (the API allows them, as on tickets)."""
    changes = {
        "status": "waiting_internal",
        "priority": "low",
        "type": "bug",
        "category": "Login",
        "team_id": personas.teams["acme_support"],
        "assignee_id": personas.bob.user_id,
        "add_tags": tags,
    }
    shared = _macro(db, personas.acme_admin, shared=True, changes=changes)
    sign_in(client, personas.acme_admin)
    html = client.get(f"/admin/macros/{shared}").text
    assert ">" + "\n".join(tags) + "</textarea>" in html
    form = form_values(html, f"/admin/macros/{shared}")
    assert form["add_tags"] == "\n".join(tags)
    assert form["team_id"] == str(personas.teams["acme_support"])
    r = client.post(f"/admin/macros/{shared}", data={**form, "action": "save"})
    assert r.status_code == 200  # followed the redirect back to the form
    assert "Macro saved." in r.text
    assert _changes(db, personas.acme_admin, shared) == changes


def test_a_personal_macro_round_trips_too(
    client: TestClient, personas: Personas, db: Database
) -> None:
    changes = {"add_tags": ["x,y"]}
    mine = _macro(db, personas.ann, shared=False, changes=changes)
    sign_in(client, personas.ann)
    form = form_values(client.get(f"/app/macros/{mine}").text, f"/app/macros/{mine}")
    client.post(f"/app/macros/{mine}", data={**form, "action": "save"})
    assert _changes(db, personas.ann, mine) == changes


def test_tags_are_typed_one_per_line(client: TestClient, personas: Personas, db: Database) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {
        "csrf_token": csrf,
        "name": "Tagging",
        "add_tags": " Billing, refunds \r\n\r\n  vip\r\n",
        "action": "save",
    }
    r = client.post("/admin/macros", data=form, follow_redirects=False)
    assert r.status_code == 303
    macro_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert _changes(db, personas.acme_admin, macro_id) == {"add_tags": ["Billing, refunds", "vip"]}
    assert "One tag per line" in client.get(r.headers["location"]).text


def test_a_line_break_inside_an_api_tag_shows_as_a_space(
    client: TestClient, personas: Personas, db: Database
) -> None:
    """Applying a macro turns whitespace inside a tag into a dash, so "two lines" on one form line
    means the same tag and saving does not split it in two."""
    shared = _macro(db, personas.acme_admin, shared=True, changes={"add_tags": ["two\nlines"]})
    sign_in(client, personas.acme_admin)
    form = form_values(client.get(f"/admin/macros/{shared}").text, f"/admin/macros/{shared}")
    assert form["add_tags"] == "two lines"
    client.post(f"/admin/macros/{shared}", data={**form, "action": "save"})
    saved = _changes(db, personas.acme_admin, shared)["add_tags"]
    assert saved == ["two lines"]
    assert normalize_tag(saved[0]) == normalize_tag("two\nlines") == "two-lines"


# --- a team or assignee that is gone -------------------------------------------------------------


def test_a_deleted_team_stays_selected_and_saving_says_so(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    with db.session(write=True) as s:
        team_id = workspaces_service.create_team(s, admin.ctx, TeamCreate(name="Night shift")).id
        s.commit()
    shared = _macro(db, admin, shared=True, changes={"team_id": team_id, "priority": "high"})
    with db.session(write=True) as s:
        workspaces_service.delete_team(s, admin.ctx, team_id)
        s.commit()
    csrf = sign_in(client, admin)
    html = client.get(f"/admin/macros/{shared}").text
    assert f'<option value="{team_id}" selected>#{team_id} (no longer exists)</option>' in html
    assert f"Team: #{team_id} (deleted)" in client.get("/admin/macros").text

    form = form_values(html, f"/admin/macros/{shared}")
    assert form["csrf_token"] == csrf
    r = client.post(f"/admin/macros/{shared}", data={**form, "action": "save"})
    assert r.status_code == 422
    assert '<p class="field-error" id="team_id-error">no team with this id</p>' in r.text
    assert f'<option value="{team_id}" selected>#{team_id} (no longer exists)</option>' in r.text
    assert _changes(db, admin, shared) == {"team_id": team_id, "priority": "high"}

    # Choosing "Leave as is" on purpose removes the team.
    r = client.post(f"/admin/macros/{shared}", data={**form, "team_id": "", "action": "save"})
    assert "Macro saved." in r.text
    assert _changes(db, admin, shared) == {"priority": "high"}


def test_a_deactivated_assignee_stays_selected_and_saving_says_so(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin, bob = personas.acme_admin, personas.bob
    mine = _macro(db, personas.ann, shared=False, changes={"assignee_id": bob.user_id})
    with db.session(write=True) as s:
        auth_service.deactivate_member(s, admin.ctx, bob.user_id)
        s.commit()
    sign_in(client, personas.ann)
    html = client.get(f"/app/macros/{mine}").text
    option = f'<option value="{bob.user_id}" selected>#{bob.user_id} (no longer active)</option>'
    assert option in html
    form = form_values(html, f"/app/macros/{mine}")
    r = client.post(f"/app/macros/{mine}", data={**form, "action": "save"})
    assert r.status_code == 422
    assert 'id="assignee_id-error">no active agent with this id</p>' in r.text
    assert option in r.text
    assert _changes(db, personas.ann, mine) == {"assignee_id": bob.user_id}


def test_current_teams_and_agents_get_no_extra_option(
    client: TestClient, personas: Personas, db: Database
) -> None:
    changes = {"team_id": personas.teams["acme_billing"], "assignee_id": personas.ann.user_id}
    shared = _macro(db, personas.acme_admin, shared=True, changes=changes)
    sign_in(client, personas.acme_admin)
    html = client.get(f"/admin/macros/{shared}").text
    assert "(no longer" not in html
    assert f'<option value="{personas.teams["acme_billing"]}" selected>Billing</option>' in html


# --- a cursor that does not parse ----------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["garbage", "!!", encode_cursor(["x"]), encode_cursor([-1])])
@pytest.mark.parametrize(
    ("who", "base", "shared"),
    [("acme_admin", "/admin/macros", True), ("ann", "/app/macros", False)],
)
def test_a_bad_cursor_shows_the_first_page(
    client: TestClient,
    personas: Personas,
    db: Database,
    cursor: str,
    who: str,
    base: str,
    shared: bool,
) -> None:
    persona = getattr(personas, who)
    with db.session(write=True) as s:
        for n in range(51):
            service.create_macro(s, persona.ctx, MacroCreate(name=f"Macro {n:02d}", shared=shared))
        s.commit()
    sign_in(client, persona)
    r = client.get(f"{base}?cursor={cursor}")
    assert r.status_code == 200
    assert "Macro 00" in r.text
    assert "Macro 50" not in r.text
    assert f'href="{base}?q=&amp;cursor=' in r.text  # the next page link still works
    partial = client.get(f"{base}?q=Macro&cursor={cursor}", headers=HTMX)
    assert partial.status_code == 200
    assert "Macro 00" in partial.text
    assert "<html" not in partial.text
