"""Admin pages for SLA policies and business hours (/admin/sla)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.core.context import Context
from deskpilot.db.engine import Database
from deskpilot.sla import service
from deskpilot.sla.hours_pages import parse_day, parse_holidays
from deskpilot.sla.models import BusinessHours, SlaPolicy
from deskpilot.sla.pages import describe_minutes, parse_target
from tests.factories import Persona, Personas
from tests.pages import HTMX, sign_in
from tests.sla.helpers import make_hours, make_policy

WEEKDAY_HOURS = {f"hours_{d}": "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
WEEKDAY_OPEN = {f"open_{d}": "1" for d in ("mon", "tue", "wed", "thu", "fri")}


def _write(db: Database, persona: Persona, build: Any) -> Any:
    """Run `build(session, ctx)` in its own committed transaction and return its result."""
    with db.session(write=True) as s:
        result = build(s, persona.ctx)
        s.commit()
        return result


def _policy(db: Database, persona: Persona, **fields: Any) -> int:
    return int(_write(db, persona, lambda s, ctx: make_policy(s, ctx, **fields).id))


def _hours(db: Database, persona: Persona, **fields: Any) -> int:
    return int(_write(db, persona, lambda s, ctx: make_hours(s, ctx, **fields)))


def _read_policy(db: Database, ctx: Context, policy_id: int) -> SlaPolicy:
    with db.session(write=False) as s:
        return service.get_policy(s, ctx, policy_id)


def _read_hours(db: Database, ctx: Context, hours_id: int) -> BusinessHours:
    with db.session(write=False) as s:
        return service.get_business_hours(s, ctx, hours_id)


def _policies_named(db: Database, ctx: Context, name: str) -> list[SlaPolicy]:
    with db.session(write=False) as s:
        stmt = select(SlaPolicy).where(
            SlaPolicy.workspace_id == ctx.workspace_id, SlaPolicy.name == name
        )
        return list(s.scalars(stmt.order_by(SlaPolicy.id)))


def _hours_named(db: Database, ctx: Context, name: str) -> list[BusinessHours]:
    with db.session(write=False) as s:
        stmt = select(BusinessHours).where(
            BusinessHours.workspace_id == ctx.workspace_id, BusinessHours.name == name
        )
        return list(s.scalars(stmt.order_by(BusinessHours.id)))


def policy_form(csrf: str, **fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "Urgent enterprise",
        "position": "10",
        "enabled": "1",
        "first_response": "30",
        "first_response_unit": "minutes",
        "next_response": "1",
        "next_response_unit": "hours",
        "resolution": "8",
        "resolution_unit": "hours",
        "hours": "calendar",
        "pause_when_waiting_customer": "1",
        "at_risk_percent": "75",
    }
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def hours_form(csrf: str, **fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "Berlin office",
        "timezone": "Europe/Berlin",
        **WEEKDAY_OPEN,
        **WEEKDAY_HOURS,
        "holidays": "",
    }
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


# --- access --------------------------------------------------------------------------------------

GET_PATHS = ["/admin/sla", "/admin/sla/policies/new", "/admin/sla/hours/new"]


@pytest.mark.parametrize("path", GET_PATHS)
@pytest.mark.parametrize(("who", "status"), [("ann", 403), ("carol", 403), ("acme_admin", 200)])
def test_sla_pages_are_for_admins(
    client: TestClient, personas: Personas, path: str, who: str, status: int
) -> None:
    sign_in(client, getattr(personas, who))
    r = client.get(path)
    assert r.status_code == status
    if status == 200:
        assert '<a href="/admin/sla" aria-current="page">SLAs</a>' in r.text
    else:
        assert "New policy" not in r.text


def test_owner_sees_the_sla_page_too(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_owner)
    assert "<h1>SLAs</h1>" in client.get("/admin/sla").text


@pytest.mark.parametrize("path", [*GET_PATHS, "/admin/sla/policies/1", "/admin/sla/hours/1"])
def test_sla_pages_send_anonymous_visitors_to_sign_in(
    client: TestClient, personas: Personas, path: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/login?next={path}")


def test_object_pages_and_writes_refuse_agents(
    client: TestClient, personas: Personas, db: Database
) -> None:
    policy_id = _policy(db, personas.acme_admin)
    hours_id = _hours(db, personas.acme_admin)
    csrf = sign_in(client, personas.ann)
    assert client.get(f"/admin/sla/policies/{policy_id}").status_code == 403
    assert client.get(f"/admin/sla/hours/{hours_id}").status_code == 403
    posts = [
        ("/admin/sla/policies", policy_form(csrf)),
        (f"/admin/sla/policies/{policy_id}", policy_form(csrf, name="Agent edit")),
        (f"/admin/sla/policies/{policy_id}/enabled", {"csrf_token": csrf, "enabled": "false"}),
        (f"/admin/sla/policies/{policy_id}/delete", {"csrf_token": csrf}),
        ("/admin/sla/hours", hours_form(csrf, name="Agent hours")),
        (f"/admin/sla/hours/{hours_id}", hours_form(csrf, name="Agent hours")),
        (f"/admin/sla/hours/{hours_id}/delete", {"csrf_token": csrf}),
    ]
    for url, data in posts:
        assert client.post(url, data=data).status_code == 403, url
    policy = _read_policy(db, personas.acme_admin.ctx, policy_id)
    assert (policy.name, policy.enabled) == ("Standard", True)
    assert _read_hours(db, personas.acme_admin.ctx, hours_id).name == "Office"
    assert _policies_named(db, personas.acme_admin.ctx, "Urgent enterprise") == []


def test_posts_without_the_csrf_token_are_refused(
    client: TestClient, personas: Personas, db: Database
) -> None:
    policy_id = _policy(db, personas.acme_admin)
    hours_id = _hours(db, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    posts = [
        ("/admin/sla/policies", policy_form(csrf)),
        (f"/admin/sla/policies/{policy_id}", policy_form(csrf, name="Forged")),
        (f"/admin/sla/policies/{policy_id}/enabled", {"enabled": "false"}),
        (f"/admin/sla/policies/{policy_id}/delete", {}),
        ("/admin/sla/hours", hours_form(csrf, name="Forged")),
        (f"/admin/sla/hours/{hours_id}", hours_form(csrf, name="Forged")),
        (f"/admin/sla/hours/{hours_id}/delete", {}),
    ]
    for url, data in posts:
        data = {k: v for k, v in data.items() if k != "csrf_token"}
        r = client.post(url, data=data)
        assert r.status_code == 403, url
        assert "Your form expired" in r.text
    assert _read_policy(db, personas.acme_admin.ctx, policy_id).name == "Standard"
    assert _read_hours(db, personas.acme_admin.ctx, hours_id).name == "Office"
    assert _policies_named(db, personas.acme_admin.ctx, "Urgent enterprise") == []


def test_another_workspaces_policy_and_hours_are_not_found(
    client: TestClient, personas: Personas, db: Database
) -> None:
    policy_id = _policy(db, personas.globex_owner, name="Globex policy")
    hours_id = _hours(db, personas.globex_owner, name="Globex hours")
    csrf = sign_in(client, personas.acme_admin)
    for url in (f"/admin/sla/policies/{policy_id}", f"/admin/sla/hours/{hours_id}"):
        assert client.get(url).status_code == 404
    posts = [
        (f"/admin/sla/policies/{policy_id}", policy_form(csrf)),
        (f"/admin/sla/policies/{policy_id}/enabled", {"csrf_token": csrf, "enabled": "false"}),
        (f"/admin/sla/policies/{policy_id}/delete", {"csrf_token": csrf}),
        (f"/admin/sla/hours/{hours_id}", hours_form(csrf)),
        (f"/admin/sla/hours/{hours_id}/delete", {"csrf_token": csrf}),
    ]
    for url, data in posts:
        assert client.post(url, data=data).status_code == 404, url
    overview = client.get("/admin/sla").text
    assert "Globex policy" not in overview
    assert "Globex hours" not in overview
    globex = personas.globex_owner.ctx
    assert (
        _read_policy(db, globex, policy_id).name,
        _read_policy(db, globex, policy_id).enabled,
    ) == (
        "Globex policy",
        True,
    )
    assert _read_hours(db, globex, hours_id).name == "Globex hours"


def test_unknown_ids_are_not_found(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    assert client.get("/admin/sla/policies/999999").status_code == 404
    assert client.get("/admin/sla/hours/999999").status_code == 404
    assert client.get("/admin/sla/policies/0").status_code == 422


# --- the overview --------------------------------------------------------------------------------


def test_overview_empty_states_link_to_create(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/sla").text
    assert "No SLA policies yet" in html
    assert "No business hours yet" in html
    assert 'href="/admin/sla/policies/new"' in html
    assert 'href="/admin/sla/hours/new"' in html


def test_overview_lists_policies_in_match_order_with_targets_and_hours(
    client: TestClient, personas: Personas, db: Database
) -> None:
    admin = personas.acme_admin
    hours_id = _hours(db, admin, name="Berlin office", is_default=True)
    late = _policy(db, admin, name="Catch-all", position=50)
    first = _policy(
        db,
        admin,
        name="Enterprise urgent",
        position=5,
        conditions={"priority": ["urgent", "high"], "organization_tier": ["enterprise"]},
        first_response_minutes=90,
        next_response_minutes=None,
        resolution_minutes=480,
        business_hours_id=hours_id,
        breach_actions=[{"type": "raise_priority"}],
    )
    off = _policy(db, admin, name="Old rules", position=1, enabled=False)
    sign_in(client, admin)
    html = client.get("/admin/sla").text
    order = [html.index(f'id="policy-{pid}"') for pid in (off, first, late)]
    assert order == sorted(order)
    row = html[html.index(f'id="policy-{first}"') :]
    row = row[: row.index("</tr>")]
    assert "Priority: urgent, high" in row
    assert "Organization tier: enterprise" in row
    assert "1 h 30 min" in row
    assert "No target" in row
    assert "8 h" in row
    assert "Berlin office" in row
    assert "On breach: Raise the priority one step" in row
    assert "Enabled" in row
    off_row = html[html.index(f'id="policy-{off}"') :]
    assert "Disabled" in off_row[: off_row.index("</tr>")]
    catch_all = html[html.index(f'id="policy-{late}"') :]
    catch_all = catch_all[: catch_all.index("</tr>")]
    assert "Every ticket" in catch_all
    assert "Calendar hours (24/7)" in catch_all
    calendar = html[html.index(f'id="hours-{hours_id}"') :]
    calendar = calendar[: calendar.index("</tr>")]
    assert "Default" in calendar
    assert "Europe/Berlin" in calendar
    assert "Mon 09:00-17:00" in calendar
    assert "Sat Closed" in calendar
    assert "Enterprise urgent" in calendar


def test_overview_htmx_request_gets_only_the_policy_table(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _policy(db, personas.acme_admin, name="Standard")
    sign_in(client, personas.acme_admin)
    partial = client.get("/admin/sla", headers=HTMX)
    assert partial.status_code == 200
    assert '<section id="sla-policies"' in partial.text
    assert "<html" not in partial.text
    assert "Standard" in partial.text
    assert "Business hours" not in partial.text
    full = client.get("/admin/sla").text
    assert "<html" in full
    assert '<section id="sla-policies"' in full


def test_toggling_a_policy_without_javascript_redirects_with_a_flash(
    client: TestClient, personas: Personas, db: Database
) -> None:
    policy_id = _policy(db, personas.acme_admin, name="Standard")
    csrf = sign_in(client, personas.acme_admin)
    url = f"/admin/sla/policies/{policy_id}/enabled"
    r = client.post(url, data={"csrf_token": csrf, "enabled": "false"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/sla"
    assert _read_policy(db, personas.acme_admin.ctx, policy_id).enabled is False
    assert "Policy Standard disabled." in client.get("/admin/sla").text


def test_toggling_a_policy_with_htmx_swaps_the_table(
    client: TestClient, personas: Personas, db: Database
) -> None:
    policy_id = _policy(db, personas.acme_admin, name="Standard", enabled=False)
    csrf = sign_in(client, personas.acme_admin)
    url = f"/admin/sla/policies/{policy_id}/enabled"
    r = client.post(url, data={"csrf_token": csrf, "enabled": "true"}, headers=HTMX)
    assert r.status_code == 200
    assert "<html" not in r.text
    assert '<section id="sla-policies"' in r.text
    assert 'aria-label="Disable Standard"' in r.text
    assert _read_policy(db, personas.acme_admin.ctx, policy_id).enabled is True


# --- policies ------------------------------------------------------------------------------------


def test_new_policy_form_offers_every_field(
    client: TestClient, personas: Personas, db: Database
) -> None:
    hours_id = _hours(db, personas.acme_admin, name="Berlin office", is_default=True)
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/sla/policies/new").text
    for name in ("name", "position", "at_risk_percent", "organization_tier", "category", "hours"):
        assert f'id="f-{name}" name="{name}"' in html
    for metric in ("first_response", "next_response", "resolution"):
        assert f'<label for="f-{metric}">' in html
        assert f'name="{metric}_unit"' in html
    assert 'name="priority" value="urgent"' in html
    assert 'name="channel" value="email"' in html
    assert 'name="type" value="billing"' in html
    assert 'name="notify" value="notify_assignee"' in html
    assert f'<option value="{hours_id}" >Business hours: Berlin office (Europe/Berlin)' in html
    assert "Workspace default (Berlin office)" in html
    assert f'<option value="{personas.teams["acme_billing"]}" >Billing</option>' in html
    assert "Delete policy" not in html


def test_creating_a_policy_saves_every_field(
    client: TestClient, personas: Personas, db: Database
) -> None:
    hours_id = _hours(db, personas.acme_admin, name="Berlin office")
    team_id = personas.teams["acme_billing"]
    csrf = sign_in(client, personas.acme_admin)
    form = policy_form(
        csrf,
        priority=["urgent", "high"],
        channel=["email"],
        type=["bug"],
        organization_tier="enterprise\r\n Premium \n\n",
        category="billing\nlogin",
        first_response="1.5",
        first_response_unit="hours",
        next_response="",
        hours=str(hours_id),
        pause_when_waiting_customer=None,
        notify=["notify_assignee", "raise_priority"],
        assign_team_id=str(team_id),
    )
    r = client.post("/admin/sla/policies", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    [policy] = _policies_named(db, personas.acme_admin.ctx, "Urgent enterprise")
    assert r.headers["location"] == f"/admin/sla/policies/{policy.id}"
    assert policy.position == 10
    assert policy.enabled is True
    assert policy.conditions == {
        "priority": ["urgent", "high"],
        "channel": ["email"],
        "type": ["bug"],
        "organization_tier": ["enterprise", "Premium"],
        "category": ["billing", "login"],
    }
    assert policy.first_response_minutes == 90
    assert policy.next_response_minutes is None
    assert policy.resolution_minutes == 480
    assert policy.business_hours_id == hours_id
    assert policy.pause_when_waiting_customer is False
    assert policy.at_risk_percent == 75
    assert policy.breach_actions == [
        {"type": "notify_assignee"},
        {"type": "raise_priority"},
        {"type": "assign_team", "team_id": team_id},
    ]
    page = client.get(r.headers["location"]).text
    assert "Policy Urgent enterprise created." in page
    assert 'value="90"' in page  # 1.5 hours is shown back as minutes
    assert 'name="priority" value="urgent" checked' in page
    assert ">enterprise\nPremium</textarea>" in page
    assert f'<option value="{hours_id}" selected>' in page
    assert f'<option value="{team_id}" selected>Billing</option>' in page
    assert (
        'id="f-pause_when_waiting_customer" name="pause_when_waiting_customer" type="checkbox" value="1" >'
        in page
    )
    assert 'data-confirm="Delete the SLA policy Urgent enterprise?"' in page


def test_workspace_default_hours_resolve_to_the_default_calendar(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _hours(db, personas.acme_admin, name="Other")
    default_id = _hours(db, personas.acme_admin, name="Main", is_default=True)
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/sla/policies", data=policy_form(csrf, hours="default"))
    assert r.status_code == 200
    [policy] = _policies_named(db, personas.acme_admin.ctx, "Urgent enterprise")
    assert policy.business_hours_id == default_id


def test_workspace_default_without_a_default_is_an_inline_error(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/sla/policies", data=policy_form(csrf, hours="default"))
    assert r.status_code == 422
    assert (
        '<p class="field-error" id="hours-error">the workspace has no default business hours'
        in r.text
    )
    assert "Workspace default (none set)" in r.text
    assert _policies_named(db, personas.acme_admin.ctx, "Urgent enterprise") == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "  "}, "name", "at least 1 character"),
        ({"first_response": "soon"}, "first_response", "enter a number"),
        ({"resolution": "0"}, "resolution", "must be more than zero"),
        (
            {"next_response": "0.5", "next_response_unit": "minutes"},
            "next_response",
            "whole number",
        ),
        ({"resolution": "9000", "resolution_unit": "hours"}, "resolution", "at most one year"),
        ({"at_risk_percent": "100"}, "at_risk_percent", "less than or equal to 99"),
        ({"position": "-1"}, "position", "greater than or equal to 0"),
        ({"organization_tier": "x" * 121}, "organization_tier", "at most 120 characters"),
        ({"priority": ["sometimes"]}, "priority", "Input should be"),
        ({"hours": "999999"}, "hours", "no such business hours"),
    ],
)
def test_invalid_policy_fields_are_shown_inline(
    client: TestClient,
    personas: Personas,
    db: Database,
    fields: dict[str, Any],
    field: str,
    message: str,
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/sla/policies", data=policy_form(csrf, **fields))
    assert r.status_code == 422
    error = r.text[r.text.index(f'id="{field}-error"') :]
    assert message in error[: error.index("</p>")]
    assert "The policy was not saved" in r.text
    assert _policies_named(db, personas.acme_admin.ctx, "Urgent enterprise") == []
    assert _policies_named(db, personas.acme_admin.ctx, "  ") == []


def test_another_workspaces_team_or_hours_cannot_be_used(
    client: TestClient, personas: Personas, db: Database
) -> None:
    globex_hours = _hours(db, personas.globex_owner, name="Globex hours")
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        "/admin/sla/policies",
        data=policy_form(csrf, assign_team_id=str(personas.teams["globex_support"])),
    )
    assert r.status_code == 422
    assert '<p class="field-error" id="assign_team_id-error">no such team</p>' in r.text
    r = client.post("/admin/sla/policies", data=policy_form(csrf, hours=str(globex_hours)))
    assert r.status_code == 422
    assert '<p class="field-error" id="hours-error">no such business hours</p>' in r.text
    assert _policies_named(db, personas.acme_admin.ctx, "Urgent enterprise") == []


def test_several_errors_show_at_once_and_keep_what_was_typed(
    client: TestClient, personas: Personas
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = policy_form(csrf, first_response="soon", at_risk_percent="0", category="refunds")
    r = client.post("/admin/sla/policies", data=form)
    assert r.status_code == 422
    assert 'id="first_response-error"' in r.text
    assert 'id="at_risk_percent-error"' in r.text
    assert 'value="soon"' in r.text
    assert ">refunds</textarea>" in r.text


def test_editing_a_policy_replaces_it_with_the_form(
    client: TestClient, personas: Personas, db: Database
) -> None:
    hours_id = _hours(db, personas.acme_admin, name="Office")
    policy_id = _policy(
        db,
        personas.acme_admin,
        conditions={"priority": ["urgent"]},
        business_hours_id=hours_id,
        breach_actions=[{"type": "notify_team"}],
    )
    csrf = sign_in(client, personas.acme_admin)
    page = client.get(f"/admin/sla/policies/{policy_id}").text
    assert 'value="Standard"' in page
    assert 'name="priority" value="urgent" checked' in page
    assert 'name="notify" value="notify_team" checked' in page
    assert (
        'id="f-first_response" name="first_response" type="text" inputmode="decimal" value="1"'
        in page
    )
    form = policy_form(
        csrf, name="Renamed", enabled=None, first_response="45", resolution="", position="3"
    )
    r = client.post(f"/admin/sla/policies/{policy_id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/admin/sla/policies/{policy_id}"
    policy = _read_policy(db, personas.acme_admin.ctx, policy_id)
    assert policy.name == "Renamed"
    assert policy.enabled is False
    assert policy.position == 3
    assert policy.conditions == {}
    assert policy.first_response_minutes == 45
    assert policy.resolution_minutes is None
    assert policy.business_hours_id is None
    assert policy.breach_actions == []
    assert "Policy saved." in client.get(r.headers["location"]).text


def test_a_refused_edit_changes_nothing_and_keeps_the_input(
    client: TestClient, personas: Personas, db: Database
) -> None:
    policy_id = _policy(db, personas.acme_admin)
    csrf = sign_in(client, personas.acme_admin)
    form = policy_form(csrf, name="Renamed", hours="999999")
    r = client.post(f"/admin/sla/policies/{policy_id}", data=form)
    assert r.status_code == 422
    assert 'value="Renamed"' in r.text
    assert "no such business hours" in r.text
    assert "Delete policy" in r.text
    assert _read_policy(db, personas.acme_admin.ctx, policy_id).name == "Standard"


def test_deleting_a_policy(client: TestClient, personas: Personas, db: Database) -> None:
    policy_id = _policy(db, personas.acme_admin, name="Doomed")
    csrf = sign_in(client, personas.acme_admin)
    page = client.get(f"/admin/sla/policies/{policy_id}").text
    assert 'data-confirm="Delete the SLA policy Doomed?"' in page
    r = client.post(
        f"/admin/sla/policies/{policy_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/sla"
    assert _policies_named(db, personas.acme_admin.ctx, "Doomed") == []
    assert "Policy Doomed deleted." in client.get("/admin/sla").text


# --- business hours ------------------------------------------------------------------------------


def test_new_hours_form_has_a_week_and_time_zones(client: TestClient, personas: Personas) -> None:
    sign_in(client, personas.acme_admin)
    html = client.get("/admin/sla/hours/new").text
    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in html
    assert '<option value="UTC" selected>UTC</option>' in html
    assert 'id="f-open_mon" name="open_mon" value="1" checked' in html
    assert 'id="f-hours_mon" name="hours_mon" value="09:00-17:00"' in html
    assert 'id="f-open_sat" name="open_sat" value="1">' in html
    assert '<label for="f-hours_sun" class="sr-only">Opening hours on Sunday</label>' in html
    assert 'id="f-holidays"' in html
    assert 'id="f-is_default"' in html
    assert "Delete business hours" not in html


def test_creating_business_hours_saves_schedule_holidays_and_default(
    client: TestClient, personas: Personas, db: Database
) -> None:
    old_default = _hours(db, personas.acme_admin, name="Old default", is_default=True)
    csrf = sign_in(client, personas.acme_admin)
    form = hours_form(
        csrf,
        hours_mon="9:00 - 12:30, 13:30\u201317:00",  # an en dash, as word processors type it
        open_fri="1",
        hours_fri="09:00-15:00",
        open_sat="1",
        hours_sat="10 to 14",
        hours_sun="10:00-12:00",  # typed, but the day is not ticked: closed
        holidays="2025-12-26\n2025-12-25, 2025-12-25",
        is_default="1",
    )
    r = client.post("/admin/sla/hours", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/admin/sla"
    [hours] = _hours_named(db, personas.acme_admin.ctx, "Berlin office")
    assert hours.timezone == "Europe/Berlin"
    assert hours.schedule["mon"] == [["09:00", "12:30"], ["13:30", "17:00"]]
    assert hours.schedule["fri"] == [["09:00", "15:00"]]
    assert hours.schedule["sat"] == [["10:00", "14:00"]]
    assert hours.schedule["sun"] == []
    assert hours.holidays == ["2025-12-25", "2025-12-26"]
    assert hours.is_default is True
    assert _read_hours(db, personas.acme_admin.ctx, old_default).is_default is False
    assert "Business hours Berlin office created." in client.get("/admin/sla").text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "at least 1 character"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown IANA time zone"),
        ({"hours_tue": "17:00-09:00"}, "hours_tue", "must end after it starts"),
        ({"hours_wed": "09:00-12:00, 11:00-13:00"}, "hours_wed", "overlap"),
        ({"hours_thu": "morning"}, "hours_thu", "is not a range"),
        ({"hours_thu": "25:00-26:00"}, "hours_thu", "between 00:00 and 24:00"),
        ({"hours_mon": ""}, "hours_mon", "untick Open"),
        ({"holidays": "2025-02-30"}, "holidays", "2025-02-30 is not a date"),
    ],
)
def test_invalid_business_hours_are_shown_inline(
    client: TestClient,
    personas: Personas,
    db: Database,
    fields: dict[str, Any],
    field: str,
    message: str,
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/sla/hours", data=hours_form(csrf, **fields))
    assert r.status_code == 422
    error = r.text[r.text.index(f'id="{field}-error"') :]
    assert message in error[: error.index("</p>")]
    assert "The business hours were not saved" in r.text
    assert _hours_named(db, personas.acme_admin.ctx, "Berlin office") == []


def test_a_week_with_no_open_day_is_refused(client: TestClient, personas: Personas) -> None:
    csrf = sign_in(client, personas.acme_admin)
    closed = {f"open_{d}": None for d in ("mon", "tue", "wed", "thu", "fri")}
    r = client.post("/admin/sla/hours", data=hours_form(csrf, **closed))
    assert r.status_code == 422
    error = r.text[r.text.index('id="schedule-error"') :]
    assert "needs at least one interval" in error[: error.index("</p>")]


def test_a_duplicate_calendar_name_is_a_conflict(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _hours(db, personas.acme_admin, name="Berlin office")
    other = _hours(db, personas.acme_admin, name="Night")
    csrf = sign_in(client, personas.acme_admin)
    r = client.post("/admin/sla/hours", data=hours_form(csrf, name="BERLIN OFFICE"))
    assert r.status_code == 409
    assert (
        '<p class="field-error" id="name-error">already used by other business hours</p>' in r.text
    )
    assert 'value="BERLIN OFFICE"' in r.text
    r = client.post(f"/admin/sla/hours/{other}", data=hours_form(csrf, name="berlin office"))
    assert r.status_code == 409
    assert "already used by other business hours" in r.text
    assert _read_hours(db, personas.acme_admin.ctx, other).name == "Night"
    assert _hours_named(db, personas.acme_admin.ctx, "BERLIN OFFICE") == []


def test_editing_business_hours(client: TestClient, personas: Personas, db: Database) -> None:
    hours_id = _hours(db, personas.acme_admin, name="Office", holidays=["2025-12-25"])
    policy_id = _policy(db, personas.acme_admin, name="Gold", business_hours_id=hours_id)
    csrf = sign_in(client, personas.acme_admin)
    page = client.get(f"/admin/sla/hours/{hours_id}").text
    assert 'value="Office"' in page
    assert '<option value="Europe/Berlin" selected>' in page
    assert ">2025-12-25</textarea>" in page
    assert f'<a href="/admin/sla/policies/{policy_id}">Gold</a>' in page
    form = hours_form(
        csrf,
        name="Kolkata office",
        timezone="Asia/Kolkata",
        open_mon=None,
        holidays="2026-01-26",
    )
    r = client.post(f"/admin/sla/hours/{hours_id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/admin/sla/hours/{hours_id}"
    hours = _read_hours(db, personas.acme_admin.ctx, hours_id)
    assert hours.name == "Kolkata office"
    assert hours.timezone == "Asia/Kolkata"
    assert hours.schedule["mon"] == []
    assert hours.schedule["tue"] == [["09:00", "17:00"]]
    assert hours.holidays == ["2026-01-26"]
    assert "Business hours saved." in client.get(r.headers["location"]).text


def test_deleting_business_hours_in_use_is_a_page_error(
    client: TestClient, personas: Personas, db: Database
) -> None:
    hours_id = _hours(db, personas.acme_admin, name="Office")
    _policy(db, personas.acme_admin, name="Gold", business_hours_id=hours_id)
    _policy(db, personas.acme_admin, name="Silver", business_hours_id=hours_id)
    csrf = sign_in(client, personas.acme_admin)
    page = client.get(f"/admin/sla/hours/{hours_id}").text
    assert 'data-confirm="Delete the business hours Office?"' in page
    r = client.post(f"/admin/sla/hours/{hours_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409
    error = r.text[r.text.index('id="page-error"') :]
    error = error[: error.index("</div>")]
    assert "Office cannot be deleted" in error
    assert "(Gold, Silver)" in error
    assert _read_hours(db, personas.acme_admin.ctx, hours_id).name == "Office"


def test_deleting_unused_business_hours(
    client: TestClient, personas: Personas, db: Database
) -> None:
    hours_id = _hours(db, personas.acme_admin, name="Spare")
    csrf = sign_in(client, personas.acme_admin)
    r = client.post(
        f"/admin/sla/hours/{hours_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/sla"
    assert _hours_named(db, personas.acme_admin.ctx, "Spare") == []
    assert "Business hours Spare deleted." in client.get("/admin/sla").text


# --- form parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "unit", "minutes"),
    [("", "hours", None), ("30", "minutes", 30), ("1.5", "hours", 90), ("2,25", "hours", 135)],
)
def test_targets_read_minutes_or_hours(amount: str, unit: str, minutes: int | None) -> None:
    assert parse_target(amount, unit) == minutes


@pytest.mark.parametrize("amount", ["x", "-5", "0", "1.01", "NaN", "Infinity", "600000"])
def test_bad_targets_are_refused(amount: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_target(amount, "minutes")


def test_minutes_are_described_in_hours_and_minutes() -> None:
    assert [describe_minutes(m) for m in (None, 45, 60, 90, 2880)] == [
        "No target",
        "45 min",
        "1 h",
        "1 h 30 min",
        "48 h",
    ]


def test_day_and_holiday_text_parse() -> None:
    assert parse_day("9-17") == [["09:00", "17:00"]]
    assert parse_day("08:00-12:00; 13:00 - 24:00") == [["08:00", "12:00"], ["13:00", "24:00"]]
    assert parse_day(" ") == []
    with pytest.raises(ValueError, match="not a range"):
        parse_day("09:00")
    assert parse_holidays("2025-01-01 2025-05-01,\n") == ["2025-01-01", "2025-05-01"]
    with pytest.raises(ValueError, match="not a date"):
        parse_holidays("01/05/2025")
