"""Automation admin pages, the rule editor's value boxes and groups: every saved value shows in a
form that saves back unchanged (quotes for commas and spaces, numbers with all their digits), and
posted group numbers are bounded."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.schemas import TeamCreate
from tests.automation.test_admin_pages import editor_form, read_rule, row_error, rule_names, rule_of
from tests.factories import Personas
from tests.pages import sign_in


@pytest.mark.parametrize("group", ["9999999999999999999999999", "100000000", "9" * 4400, "0", "51"])
def test_group_numbers_out_of_range_are_a_row_error_not_a_crash(
    client: TestClient, personas: Personas, db: Database, group: str
) -> None:
    """A posted group number never sizes a list nor reaches `int()` unbounded: beyond the groups
    a rule can have (one per top-level condition) it is refused next to the row."""
    csrf = sign_in(client, personas.acme_admin)
    form = editor_form(csrf, cond_group=[group, ""])
    r = client.post("/admin/automation/rules", data=form)
    assert r.status_code == 422
    assert row_error(r.text, "conditions", 0) == "choose one of the groups shown"
    assert r.text.count('name="group_match"') == 2  # the usual slots, not one per number
    assert rule_names(db, personas.acme_admin, "message_received") == []


def test_the_highest_group_is_accepted(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = editor_form(csrf, cond_group=["50", ""], group_match=["any"] * 51)
    r = client.post("/admin/automation/rules", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    rule_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert read_rule(db, personas.acme_admin, rule_id).conditions == [
        {
            "match": "any",
            "conditions": [{"field": "latest_message", "op": "contains", "value": "refund"}],
        }
    ]


class _PostedFields(HTMLParser):
    """What a browser posts from the rule editor's form as shown: inputs, ticked checkboxes,
    each select's chosen option, textareas (buttons aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def _add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self._in_form = "rule-form" in (found.get("class") or "")
        elif not self._in_form:
            return
        elif tag == "input" and found.get("name"):
            if found.get("type") != "checkbox" or "checked" in found:
                self._add(str(found["name"]), found.get("value") or "")
        elif tag == "select":
            self._select, self._options = found.get("name"), []
        elif tag == "option" and self._select:
            self._options.append((found.get("value") or "", "selected" in found))
        elif tag == "textarea":
            self._textarea, self._text = found.get("name"), ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected]
            self._add(self._select, (chosen or [self._options[0][0]])[-1])
            self._select = None
        elif tag == "textarea" and self._textarea:
            self._add(self._textarea, self._text)
            self._textarea = None


def posted_unchanged(html: str) -> dict[str, list[str]]:
    parser = _PostedFields()
    parser.feed(html)
    return {**parser.fields, "intent": ["save"]}


def test_saving_an_api_made_rule_unchanged_keeps_every_condition_exactly(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    """Values with commas, quotes, spaces at their ends, empty texts, many-digit numbers and ids
    of teams named oddly all show in a form that saves back to the same rule."""
    admin = personas.acme_admin
    odd_team = workspaces_service.create_team(session, admin.ctx, TeamCreate(name="Sales, EMEA"))
    numeric_team = workspaces_service.create_team(session, admin.ctx, TeamCreate(name="7"))
    session.commit()
    conditions: list[dict[str, Any]] = [
        {
            "field": "category",
            "op": "in",
            "value": ["billing, invoices", "x", " padded ", 'say "hi"', "", '"'],
        },
        {"field": "tags", "op": "not_in", "value": ["a,b", "c"]},
        {
            "field": "team_id",
            "op": "in",
            "value": [odd_team.id, numeric_team.id, personas.teams["acme_billing"], 999_999],
        },
        {"field": "ai_confidence", "op": "gte", "value": 0.123456789},
        {"field": "hours_since_update", "op": "lt", "value": 1e-07},
        {"field": "hours_in_status", "op": "gt", "value": 10**20 + 1},
        {"field": "hours_since_created", "op": "lte", "value": 1e20},
        {"field": "organization_tier", "op": "eq", "value": ""},
        {"field": "category", "op": "ne", "value": " spaced "},
        {"field": "requester_email", "op": "eq", "value": None},
        {"field": "subject", "op": "contains", "value": '"quoted"'},
        {"field": "latest_message", "op": "matches", "value": r' ^"re(fund)?", \s'},
        {
            "match": "all",
            "conditions": [
                {"field": "assignee_id", "op": "in", "value": [personas.bob.user_id]},
                {"field": "priority", "op": "in", "value": ["high", "urgent"]},
            ],
        },
    ]
    rule = rule_of(session, admin, conditions=conditions)
    before = read_rule(db, admin, rule.id).conditions
    assert before == conditions
    sign_in(client, admin)
    html = client.get(f"/admin/automation/rules/{rule.id}").text
    assert 'value="&#34;billing, invoices&#34;, x, &#34; padded &#34;' in html
    assert 'value="&#34;Sales, EMEA&#34;, ' + str(numeric_team.id) + ", Billing, 999999" in html
    assert 'value="0.123456789"' in html
    assert 'value="1e-07"' in html
    r = client.post(
        f"/admin/automation/rules/{rule.id}", data=posted_unchanged(html), follow_redirects=False
    )
    assert r.status_code == 303, r.text
    after = read_rule(db, admin, rule.id).conditions
    assert after == before
    assert [type(c.get("value")) for c in after] == [type(c.get("value")) for c in before]


def test_quoted_values_keep_their_commas_and_bad_quoting_says_how(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = editor_form(
        csrf,
        cond_field=["category", ""],
        cond_op=["in", ""],
        cond_value=['"billing, invoices", refunds,, "5"" screen"', ""],
    )
    r = client.post("/admin/automation/rules", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    rule_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert read_rule(db, personas.acme_admin, rule_id).conditions == [
        {"field": "category", "op": "in", "value": ["billing, invoices", "refunds", '5" screen']}
    ]
    for typed in ['"billing, invoices', 'refunds, 5" screen']:
        form["cond_value"] = [typed, ""]
        r = client.post("/admin/automation/rules", data=form)
        assert r.status_code == 422
        assert "in double quotes" in row_error(r.text, "conditions", 0)
