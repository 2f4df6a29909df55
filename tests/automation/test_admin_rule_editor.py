"""Automation admin pages, the rule editor (/admin/automation/rules/...): the no-JavaScript
condition and action rows, validation next to each row, the dry run and delete."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.automation import service
from deskpilot.core.errors import NotFound
from deskpilot.db.engine import Database
from deskpilot.tickets import service as tickets_service
from tests.automation.test_admin_pages import (
    LIST,
    URGENT_ON_DOWN,
    editor_form,
    read_rule,
    row_error,
    rule_names,
    rule_of,
)
from tests.factories import Personas, make_ticket
from tests.pages import HTMX, sign_in

# --- the editor ----------------------------------------------------------------------------------


def test_new_rule_form_offers_the_engines_fields_operators_and_actions(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/automation/rules/new").text
    assert html.count('name="cond_field"') == 3
    assert html.count('name="action_type"') == 2
    for value in ("hours_in_status", "organization_tier", "latest_message", "ai_confidence"):
        assert f'<option value="{value}">' in html
    for value in ("has_tag", "not_in", "matches", "is_set"):
        assert f'<option value="{value}">' in html
    for value in ("set_field", "assign_agent", "webhook", "escalate", "close", "notify"):
        assert f'<option value="{value}">' in html
    assert f'<option value="team:{personas.teams["acme_billing"]}">Billing</option>' in html
    assert f'<option value="team:{personas.teams["globex_support"]}">' not in html
    assert f'<option value="agent:{personas.ann.user_id}">' in html
    assert f'<option value="agent:{personas.carol.user_id}">' not in html
    assert '<option value="notify:requester">the requester</option>' in html
    assert re.search(r'<option value="time_based"\s*>On a schedule \(every 15 minutes\)<', html)
    assert '<datalist id="values-status">' in html
    assert 'for="cond-1-field">Condition 1 field</label>' in html


def test_add_row_buttons_re_render_with_one_more_row_and_save_nothing(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/automation/rules", data=editor_form(csrf, intent="add_condition"))
    assert r.status_code == 200
    assert r.text.count('name="cond_field"') == 3
    assert 'id="cond-3-field" name="cond_field" class="input" autofocus' in r.text
    assert 'value="refund"' in r.text  # what was typed stays
    r = client.post("/admin/automation/rules", data=editor_form(csrf, intent="add_action"))
    assert r.text.count('name="action_type"') == 3
    assert rule_names(db, personas.acme_admin, "message_received") == []


def test_creating_a_rule_saves_conditions_groups_and_actions(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = editor_form(
        csrf,
        description="Billing handles refunds",
        stop_processing="1",
        cond_field=["latest_message", "category", "type", "team_id", "priority", ""],
        cond_op=["matches", "eq", "eq", "not_in", "gte", ""],
        cond_value=[r"\brefund(s|ed)?\b", "refunds", "billing", "billing", "high", ""],
        cond_group=["", "1", "1", "", "", ""],
        group_match=["any", "all"],
        action_type=["add_tags", "assign_team", "notify", "set_field", "assign_agent", ""],
        action_setting=[
            "",
            f"team:{personas.teams['acme_billing']}",
            "notify:team",
            "field:type",
            f"agent:{personas.ann.user_id}",
            "",
        ],
        action_text=["Refund, billing", "", "A refund", "", "", ""],
    )
    r = client.post("/admin/automation/rules", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    rule_id = int(r.headers["location"].rsplit("/", 1)[1])
    rule = read_rule(db, personas.acme_admin, rule_id)
    assert (rule.name, rule.description, rule.trigger) == (
        "Refunds to billing",
        "Billing handles refunds",
        "message_received",
    )
    assert (rule.enabled, rule.stop_processing, rule.match, rule.position) == (True, True, "all", 0)
    assert rule.conditions == [
        {"field": "latest_message", "op": "matches", "value": r"\brefund(s|ed)?\b"},
        {
            "match": "any",
            "conditions": [
                {"field": "category", "op": "eq", "value": "refunds"},
                {"field": "type", "op": "eq", "value": "billing"},
            ],
        },
        {"field": "team_id", "op": "not_in", "value": [personas.teams["acme_billing"]]},
        {"field": "priority", "op": "gte", "value": "high"},
    ]
    assert rule.actions == [
        {"type": "add_tags", "tags": ["Refund", "billing"]},  # lower-cased when applied
        {"type": "assign_team", "team_id": personas.teams["acme_billing"]},
        {"type": "notify", "to": "team", "template": "A refund"},
        {"type": "set_field", "field": "type", "value": None},
        {"type": "assign_agent", "user_id": personas.ann.user_id},
    ]
    page = client.get(r.headers["location"]).text
    assert "Rule Refunds to billing created." in page


def test_editing_shows_the_saved_rule_and_saves_changes(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    admin = personas.acme_admin
    rule_of(session, admin, name="Already updated", trigger="ticket_updated")
    rule = rule_of(
        session,
        admin,
        conditions=[
            {"field": "impact", "op": "eq", "value": "site_down"},
            {
                "match": "all",
                "conditions": [
                    {"field": "assignee_id", "op": "eq", "value": personas.bob.user_id},
                    {"field": "ai_confidence", "op": "lt", "value": 0.6},
                ],
            },
        ],
        actions=[{"type": "webhook", "url": "https://chat.example.com/hook"}],
    )
    csrf = sign_in(client, admin)
    html = client.get(f"/admin/automation/rules/{rule.id}").text
    assert f'value="{rule.name}"' in html
    assert 'value="site_down"' in html
    assert f'value="{personas.bob.email}"' in html  # an assignee shown by email, not id
    assert 'value="0.6"' in html
    assert '<option value="2" selected>2</option>' not in html
    assert '<option value="1" selected>1</option>' in html
    assert '<option value="all" selected>all of its rows hold</option>' in html
    assert "https://chat.example.com/hook</textarea>" in html
    assert html.count('name="cond_field"') == 4  # three saved + one spare
    form = editor_form(
        csrf,
        name="Renamed",
        trigger="ticket_updated",
        enabled="",
        cond_field=["impact", "assignee_id", "ai_confidence", ""],
        cond_op=["eq", "eq", "lt", ""],
        cond_value=["site_down", personas.bob.email, "0.5", ""],
        cond_group=["", "1", "1", ""],
        group_match=["all", "any"],
        action_type=["webhook", "escalate", ""],
        action_setting=["", "", ""],
        action_text=["https://chat.example.com/hook", "Big one", ""],
    )
    r = client.post(f"/admin/automation/rules/{rule.id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    saved = read_rule(db, admin, rule.id)
    assert (saved.name, saved.trigger, saved.enabled) == ("Renamed", "ticket_updated", False)
    assert saved.position == 1  # after the trigger's last rule
    assert saved.conditions[1] == {
        "match": "all",
        "conditions": [
            {"field": "assignee_id", "op": "eq", "value": personas.bob.user_id},
            {"field": "ai_confidence", "op": "lt", "value": 0.5},
        ],
    }
    assert saved.actions[1] == {"type": "escalate", "reason": "Big one"}
    assert "Rule saved." in client.get(r.headers["location"]).text
    assert rule_names(db, admin, "ticket_updated") == ["Already updated", "Renamed"]


@pytest.mark.parametrize(
    ("overrides", "where", "message"),
    [
        (
            {"cond_op": ["gt", ""], "cond_value": ["1", ""]},
            ("conditions", 0),
            "operator &#39;gt&#39; does not apply to latest_message",
        ),
        (
            {"cond_op": ["matches", ""], "cond_value": ["(a+)+", ""]},
            ("conditions", 0),
            "nested quantifiers",
        ),
        (
            {"cond_field": ["status", ""], "cond_op": ["eq", ""], "cond_value": ["lost", ""]},
            ("conditions", 0),
            "unknown status &#39;lost&#39;",
        ),
        (
            {"cond_field": ["hours_in_status", ""], "cond_op": ["gte", ""]},
            ("conditions", 0),
            "hours_in_status compares with numbers",
        ),
        (
            {
                "action_type": ["set_field", ""],
                "action_setting": ["field:priority", ""],
                "action_text": ["p0", ""],
            },
            ("actions", 0),
            "priority must be one of",
        ),
        (
            {"action_type": ["set_field", ""], "action_text": ["urgent", ""]},
            ("actions", 0),
            "choose the field to set",
        ),
        (
            {"action_type": ["webhook", ""], "action_text": ["ftp://example.com", ""]},
            ("actions", 0),
            "URL:",
        ),
        (
            {"action_type": ["add_note", ""], "action_text": ["  ", ""]},
            ("actions", 0),
            "text: String should have at least 1 character",
        ),
    ],
)
def test_bad_rows_are_refused_next_to_the_row(
    client: TestClient,
    personas: Personas,
    db: Database,
    overrides: dict[str, Any],
    where: tuple[str, int],
    message: str,
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/automation/rules", data=editor_form(csrf, **overrides))
    assert r.status_code == 422
    section, index = where
    row = "condition" if section == "conditions" else "action"
    assert message in row_error(r.text, section, index)
    assert f'<tr id="{row}-{index + 1}" class="has-error">' in r.text
    assert "the rule was not saved" in r.text
    assert rule_names(db, personas.acme_admin, "message_received") == []


def test_whole_rule_errors_name_the_field(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/automation/rules", data=editor_form(csrf, name="  "))
    assert r.status_code == 422
    assert 'id="name-error">String should have at least 1 character' in r.text
    r = client.post("/admin/automation/rules", data=editor_form(csrf, trigger="hourly"))
    assert r.status_code == 422
    assert 'id="trigger-error">Input should be' in r.text
    blank_actions = {"action_type": ["", ""], "action_text": ["", ""]}
    r = client.post("/admin/automation/rules", data=editor_form(csrf, **blank_actions))
    assert r.status_code == 422
    assert 'id="actions-error" role="alert">add at least one action' in r.text


def test_service_checks_land_on_the_action_row(
    client: TestClient, personas: Personas, db: Database
) -> None:
    """A customer is no agent to assign (service.check_refs), and a team of another workspace is
    not offered but refused if posted anyway; the error names the form row, blanks included."""
    csrf = sign_in(client, personas.acme_admin)
    form = editor_form(
        csrf,
        action_type=["add_tags", "", "assign_agent"],
        action_setting=["", "", f"agent:{personas.carol.user_id}"],
        action_text=["refund", "", ""],
    )
    r = client.post("/admin/automation/rules", data=form)
    assert r.status_code == 422
    assert row_error(r.text, "actions", 2) == "no active agent with this id"
    assert f"agent:{personas.carol.user_id} (no longer exists)" in r.text
    form["action_type"][2] = "assign_team"
    form["action_setting"][2] = f"team:{personas.teams['globex_support']}"
    r = client.post("/admin/automation/rules", data=form)
    assert r.status_code == 422
    assert row_error(r.text, "actions", 2) == "no team with this id"
    assert rule_names(db, personas.acme_admin, "message_received") == []


def test_editing_with_errors_keeps_the_rule_unchanged(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    rule = rule_of(session, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    form = editor_form(csrf, name="Changed", cond_op=["lt", ""])
    r = client.post(f"/admin/automation/rules/{rule.id}", data=form)
    assert r.status_code == 422
    assert "does not apply to latest_message" in row_error(r.text, "conditions", 0)
    assert 'value="Changed"' in r.text
    kept = read_rule(db, personas.acme_admin, rule.id)
    assert (kept.name, kept.trigger) == (URGENT_ON_DOWN["name"], "ticket_created")


def test_odd_posted_values_are_not_server_errors(
    client: TestClient, personas: Personas, session: Session
) -> None:
    rule = rule_of(session, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    odd = editor_form(
        csrf,
        cond_field=["team_id", "ai_confidence", "nonsense"],
        cond_op=["eq", "gt", "eq"],
        cond_value=["²", "nan", "x"],
        cond_group=["9", "", ""],
        action_type=["assign_team", "explode"],
        action_setting=["team:²", "field:x"],
        action_text=["", ""],
    )
    r = client.post(f"/admin/automation/rules/{rule.id}", data=odd)
    assert r.status_code == 422
    assert "compares with numbers" in row_error(r.text, "conditions", 1)
    assert "Input should be" in row_error(r.text, "conditions", 2)
    assert row_error(r.text, "actions", 1)
    huge = client.get("/admin/automation/rules/" + "9" * 25)
    assert huge.status_code == 422
    r = client.post(
        f"/admin/automation/rules/{rule.id}/test", data={"csrf_token": csrf, "ticket": "²"}
    )
    assert r.status_code == 422


# --- dry run -------------------------------------------------------------------------------------


def test_dry_run_shows_match_conditions_and_actions_as_a_partial(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    rule = rule_of(
        session,
        personas.acme_admin,
        conditions=[
            {"field": "subject", "op": "contains", "value": "down"},
            {
                "match": "any",
                "conditions": [
                    {"field": "priority", "op": "eq", "value": "normal"},
                    {"field": "tags", "op": "has_tag", "value": "vip"},
                ],
            },
        ],
        trigger="time_based",  # so it does not fire when the ticket is created
        stop_processing=True,
    )
    ticket = make_ticket(session, personas.ann.ctx, subject="Checkout down")
    session.commit()
    csrf = sign_in(client, personas.acme_admin)
    url = f"/admin/automation/rules/{rule.id}/test"
    r = client.post(url, data={"csrf_token": csrf, "ticket": f"#{ticket.number}"}, headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="rule-test"')
    assert "<html" not in r.text
    assert '<span class="badge badge-on">Matches</span>' in r.text
    assert '✓ Subject contains “down” <span class="muted">— ticket: Checkout down</span>' in r.text
    assert '✓ Priority is normal <span class="muted">— ticket: normal</span>' in r.text
    assert '✗ Tags has the tag “vip” <span class="muted">— ticket: not set</span>' in r.text
    assert "<li>Set priority to urgent</li>" in r.text
    assert "skip the later rules of this trigger" in r.text
    # Nothing changed: the dry run does not apply the actions.
    with db.session(write=False) as s:
        assert tickets_service.get_ticket(s, personas.ann.ctx, ticket.id).priority == "normal"
    full = client.post(url, data={"csrf_token": csrf, "ticket": str(ticket.number)})
    assert full.status_code == 200
    assert "<html" in full.text
    assert "Matches</span>" in full.text
    assert 'name="cond_field"' in full.text


def test_dry_run_without_a_match_lists_no_actions(
    client: TestClient, personas: Personas, session: Session
) -> None:
    rule = rule_of(session, personas.acme_admin)
    ticket = make_ticket(session, personas.ann.ctx, subject="All fine")
    session.commit()
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        f"/admin/automation/rules/{rule.id}/test",
        data={"csrf_token": csrf, "ticket": str(ticket.number)},
        headers=HTMX,
    )
    assert '<span class="badge badge-off">No match</span>' in r.text
    assert "✗ Subject contains “down”" in r.text
    assert "It would" not in r.text


def test_dry_run_on_an_unknown_or_foreign_ticket_says_so(
    client: TestClient, personas: Personas, session: Session
) -> None:
    rule = rule_of(session, personas.acme_admin)
    foreign = make_ticket(session, personas.gina.ctx)
    session.commit()
    csrf = sign_in(client, personas.acme_admin)
    url = f"/admin/automation/rules/{rule.id}/test"
    r = client.post(url, data={"csrf_token": csrf, "ticket": "999"})
    assert r.status_code == 422
    assert 'id="ticket-error">No ticket with this number in this workspace.' in r.text
    assert "<html" in r.text
    r = client.post(url, data={"csrf_token": csrf, "ticket": str(foreign.number + 5)}, headers=HTMX)
    assert r.status_code == 422  # htmx is set to swap 422
    assert r.text.lstrip().startswith('<section id="rule-test"')
    assert "No ticket with this number in this workspace." in r.text


# --- delete --------------------------------------------------------------------------------------


def test_delete_asks_first_and_removes_the_rule(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    rule = rule_of(session, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    html = client.get(f"/admin/automation/rules/{rule.id}").text
    assert f'data-confirm="Delete the rule {rule.name}?"' in html
    r = client.post(
        f"/admin/automation/rules/{rule.id}/delete",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == LIST
    with db.session(write=False) as s, pytest.raises(NotFound):
        service.get_rule(s, personas.acme_admin.ctx, rule.id)
    assert f"Rule {rule.name} deleted." in client.get(LIST).text
    assert client.get(f"/admin/automation/rules/{rule.id}").status_code == 404
