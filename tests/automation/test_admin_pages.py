"""Automation admin pages (/admin/automation): permissions on every route, the rule list (order,
toggle, move, defaults, run log). The editor and dry run are in test_admin_rule_editor.py, which
uses the helpers here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.automation import service
from deskpilot.automation.models import AutomationRule
from deskpilot.db.engine import Database
from tests.automation.conftest import make_rule
from tests.factories import Persona, Personas, api_ticket
from tests.pages import HTMX, sign_in

LIST = "/admin/automation"
URGENT_ON_DOWN: dict[str, Any] = {
    "name": "Down means urgent",
    "trigger": "ticket_created",
    "conditions": [{"field": "subject", "op": "contains", "value": "down"}],
    "actions": [{"type": "set_field", "field": "priority", "value": "urgent"}],
}


def rule_of(session: Session, persona: Persona, **fields: Any) -> AutomationRule:
    return make_rule(session, persona.ctx, **{**URGENT_ON_DOWN, **fields})


def read_rule(db: Database, persona: Persona, rule_id: int) -> AutomationRule:
    with db.session(write=False) as s:
        rule = service.get_rule(s, persona.ctx, rule_id)
        s.expunge(rule)
        return rule


def rule_names(db: Database, persona: Persona, trigger: str) -> list[str]:
    with db.session(write=False) as s:
        return [r.name for r in service.list_rules(s, persona.ctx, trigger=trigger)]


def editor_form(csrf: str, **overrides: Any) -> dict[str, Any]:
    """A posted editor form: one condition row, one action row, plus a blank row of each."""
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "Refunds to billing",
        "description": "",
        "trigger": "message_received",
        "match": "all",
        "enabled": "1",
        "cond_field": ["latest_message", ""],
        "cond_op": ["contains", ""],
        "cond_value": ["refund", ""],
        "cond_group": ["", ""],
        "group_match": ["any", "any"],
        "action_type": ["add_tags", ""],
        "action_setting": ["", ""],
        "action_text": ["refund, billing", ""],
        "intent": "save",
    }
    form.update(overrides)
    return form


def row_error(html: str, section: str, row: int) -> str:
    match = re.search(rf'id="{section}-{row}-error"[^>]*>([^<]*)<', html)
    assert match, f"no error on {section} row {row}"
    return match.group(1)


# --- who may use the pages -----------------------------------------------------------------------


def _paths(rule_id: int) -> list[str]:
    return [LIST, "/admin/automation/rules/new", f"/admin/automation/rules/{rule_id}"]


@pytest.mark.parametrize("who", ["acme_owner", "acme_admin"])
def test_owners_and_admins_open_every_page(
    client: TestClient, personas: Personas, session: Session, who: str
) -> None:
    rule = rule_of(session, personas.acme_admin)
    sign_in(client, getattr(personas, who))
    for path in _paths(rule.id):
        r = client.get(path)
        assert r.status_code == 200, path
        assert '<a href="/admin/automation" aria-current="page">Automation</a>' in r.text
        assert "<html" in r.text


@pytest.mark.parametrize("who", ["ann", "carol"])
def test_agents_and_customers_get_403(
    client: TestClient, personas: Personas, session: Session, db: Database, who: str
) -> None:
    rule = rule_of(session, personas.acme_admin)
    csrf = sign_in(client, getattr(personas, who))
    for path in _paths(rule.id):
        r = client.get(path)
        assert r.status_code == 403, path
        assert "You can&#39;t open this page" in r.text
    posts = [
        ("/admin/automation/rules", editor_form(csrf)),
        (f"/admin/automation/rules/{rule.id}", editor_form(csrf)),
        (f"/admin/automation/rules/{rule.id}/enabled", {"csrf_token": csrf, "enabled": "false"}),
        (f"/admin/automation/rules/{rule.id}/move", {"csrf_token": csrf, "direction": "up"}),
        (f"/admin/automation/rules/{rule.id}/delete", {"csrf_token": csrf}),
        (f"/admin/automation/rules/{rule.id}/test", {"csrf_token": csrf, "ticket": "1"}),
        ("/admin/automation/defaults", {"csrf_token": csrf}),
    ]
    for path, form in posts:
        assert client.post(path, data=form, follow_redirects=False).status_code == 403, path
    assert read_rule(db, personas.acme_admin, rule.id).enabled is True


def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, personas: Personas, session: Session
) -> None:
    rule = rule_of(session, personas.acme_admin)
    for path in _paths(rule.id):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith(f"/login?next={path}")


def test_posts_without_the_csrf_token_are_refused(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    rule = rule_of(session, personas.acme_admin)
    sign_in(client, personas.acme_admin)
    posts = [
        ("/admin/automation/rules", editor_form("")),
        (f"/admin/automation/rules/{rule.id}", editor_form("")),
        (f"/admin/automation/rules/{rule.id}/enabled", {"enabled": "false"}),
        (f"/admin/automation/rules/{rule.id}/move", {"direction": "down"}),
        (f"/admin/automation/rules/{rule.id}/delete", {}),
        (f"/admin/automation/rules/{rule.id}/test", {"ticket": "1"}),
        ("/admin/automation/defaults", {}),
    ]
    for path, form in posts:
        form = {k: v for k, v in form.items() if k != "csrf_token"}
        r = client.post(path, data=form, follow_redirects=False)
        assert r.status_code == 403, path
        assert "Your form expired" in r.text
    assert read_rule(db, personas.acme_admin, rule.id).enabled is True
    assert rule_names(db, personas.acme_admin, "message_received") == []
    assert rule_names(db, personas.acme_admin, "time_based") == []


def test_another_workspaces_rule_is_404(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    rule = rule_of(session, personas.acme_admin)
    csrf = sign_in(client, personas.globex_owner)
    assert client.get(f"/admin/automation/rules/{rule.id}").status_code == 404
    posts = [
        (f"/admin/automation/rules/{rule.id}", editor_form(csrf)),
        (f"/admin/automation/rules/{rule.id}/enabled", {"csrf_token": csrf, "enabled": "false"}),
        (f"/admin/automation/rules/{rule.id}/move", {"csrf_token": csrf, "direction": "up"}),
        (f"/admin/automation/rules/{rule.id}/delete", {"csrf_token": csrf}),
        (f"/admin/automation/rules/{rule.id}/test", {"csrf_token": csrf, "ticket": "1"}),
    ]
    for path, form in posts:
        assert client.post(path, data=form, follow_redirects=False).status_code == 404, path
    assert URGENT_ON_DOWN["name"] not in client.get(LIST).text
    kept = read_rule(db, personas.acme_admin, rule.id)
    assert (kept.name, kept.enabled) == (URGENT_ON_DOWN["name"], True)


# --- the rule list -------------------------------------------------------------------------------


def test_list_groups_rules_by_trigger_in_order_with_plain_words(
    client: TestClient, personas: Personas, session: Session
) -> None:
    admin = personas.acme_admin
    rule_of(session, admin, name="Second created", trigger="ticket_created", position=5)
    rule_of(
        session,
        admin,
        name="First scheduled",
        trigger="time_based",
        conditions=[
            {"field": "status", "op": "in", "value": ["new", "in_progress"]},
            {"field": "hours_since_update", "op": "gte", "value": 48},
        ],
        actions=[{"type": "add_tags", "tags": ["stale"]}],
        stop_processing=True,
    )
    make_rule(session, admin.ctx, **{**URGENT_ON_DOWN, "name": "First created", "position": 0})
    rule_of(
        session,
        admin,
        name="Team rule",
        trigger="ticket_updated",
        conditions=[],
        actions=[{"type": "assign_team", "team_id": personas.teams["acme_billing"]}],
        enabled=False,
    )
    sign_in(client, admin)
    html = client.get(LIST).text
    headings = [
        html.index("When a ticket is created"),
        html.index("When a ticket is updated"),
        html.index("When a customer writes"),
        html.index("On a schedule"),
    ]
    assert headings == sorted(headings)
    assert html.index("First created") < html.index("Second created") < headings[1]
    assert headings[3] < html.index("First scheduled")
    assert "If Subject contains “down”" in html
    assert "Then: Set priority to urgent" in html
    assert (
        "If all of: Status is one of new or in_progress; Hours since last update is at least 48"
        in html
    )
    assert "Then: Add tags stale" in html
    assert "Always (no conditions)" in html
    assert "Then: Assign to team Billing" in html
    team_row = html[html.index("Team rule") :]
    assert '<span class="badge badge-off">Off</span>' in team_row[: team_row.index("</tr>")]
    assert "No rules for this trigger." in html  # message_received is empty
    scheduled = html[html.index("First scheduled") :]
    assert ">Stop</span>" in scheduled[: scheduled.index("</tr>")]


def test_empty_workspace_offers_a_first_rule_and_the_defaults(
    client: TestClient, personas: Personas
) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get(LIST).text
    assert "No automation rules yet" in html
    assert "Install default rules" in html
    assert "Remind customers after 3 days of waiting" in html
    assert "No runs yet" in html


def test_toggle_disables_and_enables_through_the_service(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    rule = rule_of(session, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    url = f"/admin/automation/rules/{rule.id}/enabled"
    html = client.get(LIST).text
    disable_form = html[html.index(f'action="{url}"') :]
    disable_form = disable_form[: disable_form.index("</form>")]
    assert 'name="enabled"' not in disable_form  # like an unticked checkbox
    r = client.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == LIST
    assert read_rule(db, personas.acme_admin, rule.id).enabled is False
    html = client.get(LIST).text
    assert f"Rule {rule.name} disabled." in html
    assert '<input type="hidden" name="enabled" value="1">' in html
    r = client.post(url, data={"csrf_token": csrf, "enabled": "1"}, headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="rule-list"')
    assert "<html" not in r.text
    assert '<span class="badge badge-on">On</span>' in r.text
    assert read_rule(db, personas.acme_admin, rule.id).enabled is True


def test_toggle_reads_enabled_like_a_checkbox_and_never_fails_on_its_value(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    """Any value enables, an empty one or none disables: odd input is no 422 (JSON or HTML)."""
    rule = rule_of(session, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    url = f"/admin/automation/rules/{rule.id}/enabled"
    for posted, enabled in [("", False), ("maybe", True), ("x" * 5000, True), (None, False)]:
        form = {"csrf_token": csrf} if posted is None else {"csrf_token": csrf, "enabled": posted}
        r = client.post(url, data=form, follow_redirects=False)
        assert r.status_code == 303, (posted, r.text)
        assert read_rule(db, personas.acme_admin, rule.id).enabled is enabled, posted


def test_move_up_and_down_reorders_the_trigger(
    client: TestClient, personas: Personas, session: Session, db: Database
) -> None:
    admin = personas.acme_admin
    first = rule_of(session, admin, name="A")
    second = rule_of(session, admin, name="B")
    rule_of(session, admin, name="C")
    rule_of(session, admin, name="Other trigger", trigger="ticket_updated")
    csrf = sign_in(client, admin)
    r = client.post(
        f"/admin/automation/rules/{second.id}/move",
        data={"csrf_token": csrf, "direction": "up"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert rule_names(db, admin, "ticket_created") == ["B", "A", "C"]
    r = client.post(
        f"/admin/automation/rules/{first.id}/move",
        data={"csrf_token": csrf, "direction": "down"},
        headers=HTMX,
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="rule-list"')
    assert rule_names(db, admin, "ticket_created") == ["B", "C", "A"]
    # The last rule cannot go further down; nothing changes.
    client.post(
        f"/admin/automation/rules/{first.id}/move", data={"csrf_token": csrf, "direction": "down"}
    )
    assert rule_names(db, admin, "ticket_created") == ["B", "C", "A"]
    assert rule_names(db, admin, "ticket_updated") == ["Other trigger"]
    bad = client.post(
        f"/admin/automation/rules/{first.id}/move",
        data={"csrf_token": csrf, "direction": "sideways"},
    )
    assert bad.status_code == 422


def test_install_defaults_once_reports_the_missing_on_call_team(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/automation/defaults", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get(LIST).text
    assert "Installed 6 default rules. 2 team assignments were left out (no team named" in html
    assert "Every default rule is installed" in html
    assert rule_names(db, personas.acme_admin, "time_based")[0] == (
        "Auto-close resolved tickets after 7 days"
    )
    again = client.post("/admin/automation/defaults", data={"csrf_token": csrf})
    assert "Every default rule is already installed; nothing changed." in again.text
    with db.session(write=False) as s:
        assert len(service.list_rules(s, personas.acme_admin.ctx)) == 6


def test_run_log_shows_runs_with_outcome_and_counts(
    client: TestClient, personas: Personas, session: Session
) -> None:
    rule = rule_of(
        session,
        personas.acme_admin,
        actions=[
            {"type": "set_field", "field": "priority", "value": "urgent"},
            {"type": "set_field", "field": "status", "value": "closed"},  # new -> closed: illegal
        ],
    )
    ticket = api_ticket(client, personas.ann, subject="Checkout down")
    api_ticket(client, personas.ann, subject="Nothing to see")
    sign_in(client, personas.acme_admin)
    html = client.get(LIST).text
    log = html[html.index('id="run-log"') :]
    assert f'<a href="/app/tickets/{ticket["number"]}">#{ticket["number"]}</a>' in log
    assert f'<a href="/admin/automation/rules/{rule.id}">{rule.name}</a>' in log
    assert "✓ Set priority to urgent" in log
    assert "✗ Set status to closed" in log
    assert '<span class="badge badge-warn">Error</span>' in log
    assert "Cannot move a ticket from new to closed" in log
    row = html[html.index(f'id="rule-{rule.id}"') :]
    assert "<td>1</td>" in row[: row.index("</tr>")]
    # The rule's own page lists its runs too.
    page = client.get(f"/admin/automation/rules/{rule.id}").text
    assert f"#{ticket['number']}</a>" in page[page.index("Latest runs of this rule") :]


def test_run_log_pages_back_and_ignores_a_broken_cursor(
    client: TestClient, personas: Personas, session: Session
) -> None:
    rule_of(session, personas.acme_admin, conditions=[])
    numbers = [api_ticket(client, personas.ann)["number"] for _ in range(27)]
    sign_in(client, personas.acme_admin)
    html = client.get(LIST).text
    assert f">#{numbers[-1]}</a>" in html
    assert f">#{numbers[0]}</a>" not in html
    cursor = re.search(r'hx-get="/admin/automation\?runs=([^"]+)"', html)
    assert cursor
    older = client.get(f"{LIST}?runs={cursor.group(1)}", headers=HTMX)
    assert older.text.lstrip().startswith('<section id="run-log"')
    assert f">#{numbers[0]}</a>" in older.text
    assert f">#{numbers[-1]}</a>" not in older.text
    broken = client.get(f"{LIST}?runs=not-a-cursor")
    assert broken.status_code == 200
    assert f">#{numbers[-1]}</a>" in broken.text
