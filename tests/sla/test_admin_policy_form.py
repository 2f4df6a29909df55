"""The SLA policy form's edge cases: odd numbers, values with commas, a deleted team, the on/off
switch, "workspace default" hours (resolved by the service) and the shared page helpers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, ValidationFailed
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.db.engine import Database
from deskpilot.sla import service
from deskpilot.sla.hours_pages import Refused, every_page, save_form
from deskpilot.sla.models import SlaPolicy
from deskpilot.sla.pages import parse_target
from deskpilot.sla.schemas import SlaPolicyCreate, SlaPolicyUpdate
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.schemas import TeamCreate
from tests.factories import Persona, Personas
from tests.pages import sign_in
from tests.sla.helpers import form_as_shown, make_hours, make_policy

API = "/api/v1"
OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def _write(db: Database, persona: Persona, build: Any) -> Any:
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


def _snapshot(policy: SlaPolicy) -> dict[str, Any]:
    names = ("name", "position", "enabled", "conditions", "first_response_minutes")
    names += ("next_response_minutes", "resolution_minutes", "business_hours_id")
    names += ("pause_when_waiting_customer", "at_risk_percent", "breach_actions")
    return {name: getattr(policy, name) for name in names}


def _save_as_shown(client: TestClient, csrf: str, policy_id: int) -> Any:
    page = client.get(f"/admin/sla/policies/{policy_id}").text
    form = form_as_shown(page, "policy-form")
    assert form["csrf_token"] == [csrf]
    return client.post(f"/admin/sla/policies/{policy_id}", data=form, follow_redirects=False)


# --- F2: targets that are not ordinary numbers --------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "unit", "message"),
    [
        ("1e999999", "hours", "at most one year"),  # overflowed Decimal once: a 500
        ("1e999999", "minutes", "at most one year"),
        ("-1e999999", "hours", "more than zero"),
        ("1e-999999999999", "hours", "whole number"),
        ("NaN", "hours", "enter a number"),
        ("sNaN", "hours", "enter a number"),
        ("Infinity", "hours", "enter a number"),
        ("-Infinity", "minutes", "enter a number"),
        ("-0", "hours", "more than zero"),
        ("²", "hours", "enter a number"),
    ],
)
def test_odd_numbers_are_refused_with_a_message(amount: str, unit: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(amount, unit)


def test_a_huge_target_is_a_field_error_not_a_crash(
    client: TestClient, personas: Personas, db: Database
) -> None:
    csrf = sign_in(client, personas.acme_admin)
    form = {"csrf_token": csrf, "name": "Huge", "first_response": "1e999999"}
    r = client.post("/admin/sla/policies", data={**form, "first_response_unit": "hours"})
    assert r.status_code == 422
    assert '<p class="field-error" id="first_response-error">at most one year' in r.text
    assert 'value="1e999999"' in r.text
    with db.session(write=False) as s:
        page, _ = service.list_policies(s, personas.acme_admin.ctx)
        assert [p.name for p in page] == []


# --- F3: tiers and categories round-trip ---------------------------------------------------------


def test_saving_an_api_made_policy_unchanged_keeps_its_conditions_exactly(
    client: TestClient, personas: Personas, db: Database
) -> None:
    conditions = {
        "priority": ["urgent", "high"],
        "organization_tier": ["enterprise", "Gold, legacy"],
        "category": ["billing, invoices", "login"],
    }
    actions = [{"type": "notify_team"}, {"type": "assign_team", "team_id": 0}]
    actions[1]["team_id"] = personas.teams["acme_billing"]
    policy_id = _policy(db, personas.acme_admin, conditions=conditions, breach_actions=actions)
    before = _snapshot(_read_policy(db, personas.acme_admin.ctx, policy_id))
    csrf = sign_in(client, personas.acme_admin)
    r = _save_as_shown(client, csrf, policy_id)
    assert r.status_code == 303, r.text
    after = _read_policy(db, personas.acme_admin.ctx, policy_id)
    # Ticked boxes post in the form's order; matching ignores the order of a list.
    assert after.conditions == conditions | {"priority": ["high", "urgent"]}
    assert _snapshot(after) == before | {"conditions": after.conditions}


def test_tiers_and_categories_are_one_per_line(
    client: TestClient, personas: Personas, db: Database
) -> None:
    policy_id = _policy(db, personas.acme_admin, conditions={"category": ["billing, invoices"]})
    sign_in(client, personas.acme_admin)
    page = client.get(f"/admin/sla/policies/{policy_id}").text
    assert '<textarea id="f-category" name="category" rows="3"' in page
    assert ">billing, invoices</textarea>" in page
    form = form_as_shown(page, "policy-form")
    form["category"] = ["refunds, partial\r\n\r\n  login  \n"]
    r = client.post(f"/admin/sla/policies/{policy_id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    policy = _read_policy(db, personas.acme_admin.ctx, policy_id)
    assert policy.conditions == {"category": ["refunds, partial", "login"]}


# --- F6: a breach action's team was deleted ------------------------------------------------------


def _team_deleted_since(db: Database, persona: Persona) -> tuple[int, int]:
    def build(s: Session, ctx: Context) -> tuple[int, int]:
        team = workspaces_service.create_team(s, ctx, TeamCreate(name="Escalations"))
        actions = [{"type": "notify_assignee"}, {"type": "assign_team", "team_id": team.id}]
        policy = make_policy(s, ctx, breach_actions=actions)
        workspaces_service.delete_team(s, ctx, team.id)
        return team.id, policy.id

    result: tuple[int, int] = _write(db, persona, build)
    return result


def test_a_deleted_team_stays_visible_and_saving_reports_it(
    client: TestClient, personas: Personas, db: Database
) -> None:
    team_id, policy_id = _team_deleted_since(db, personas.acme_admin)
    before = _snapshot(_read_policy(db, personas.acme_admin.ctx, policy_id))
    csrf = sign_in(client, personas.acme_admin)
    page = client.get(f"/admin/sla/policies/{policy_id}").text
    assert f'<option value="{team_id}" selected>Team #{team_id} (no longer exists)</option>' in page
    assert '<option value="" >' not in page.split('name="assign_team_id"')[1].split("</select>")[0]
    r = _save_as_shown(client, csrf, policy_id)
    assert r.status_code == 422
    assert '<p class="field-error" id="assign_team_id-error">no such team</p>' in r.text
    assert f'<option value="{team_id}" selected>Team #{team_id} (no longer exists)' in r.text
    assert _snapshot(_read_policy(db, personas.acme_admin.ctx, policy_id)) == before


def test_a_deleted_team_can_be_replaced_or_dropped(
    client: TestClient, personas: Personas, db: Database
) -> None:
    _, policy_id = _team_deleted_since(db, personas.acme_admin)
    sign_in(client, personas.acme_admin)
    form = form_as_shown(client.get(f"/admin/sla/policies/{policy_id}").text, "policy-form")
    form["assign_team_id"] = [""]
    r = client.post(f"/admin/sla/policies/{policy_id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    actions = _read_policy(db, personas.acme_admin.ctx, policy_id).breach_actions
    assert actions == [{"type": "notify_assignee"}]


# --- F10: the on/off switch reads like a checkbox -----------------------------------------------


@pytest.mark.parametrize(
    ("start", "posted", "enabled"),
    [
        (True, None, False),  # the Disable button posts no `enabled`
        (False, "on", True),
        (False, "maybe", True),  # any other text is "present": once a 422 page
        (True, "false", False),  # a list rendered before this change
        (False, "true", True),
    ],
)
def test_the_switch_treats_a_present_value_as_on(
    client: TestClient,
    personas: Personas,
    db: Database,
    start: bool,
    posted: str | None,
    enabled: bool,
) -> None:
    policy_id = _policy(db, personas.acme_admin, name="Standard", enabled=start)
    csrf = sign_in(client, personas.acme_admin)
    data = {"csrf_token": csrf} | ({} if posted is None else {"enabled": posted})
    url = f"/admin/sla/policies/{policy_id}/enabled"
    r = client.post(url, data=data, follow_redirects=False)
    assert r.status_code == 303
    assert _read_policy(db, personas.acme_admin.ctx, policy_id).enabled is enabled
    state = "enabled" if enabled else "disabled"
    assert f"Policy Standard {state}." in client.get("/admin/sla").text


def test_the_overview_buttons_post_what_the_switch_expects(
    client: TestClient, personas: Personas, db: Database
) -> None:
    on_id = _policy(db, personas.acme_admin, name="On", position=1)
    off_id = _policy(db, personas.acme_admin, name="Off", position=2, enabled=False)
    sign_in(client, personas.acme_admin)
    page = client.get("/admin/sla").text
    on_form = page.split(f'action="/admin/sla/policies/{on_id}/enabled"')[1].split("</form>")[0]
    off_form = page.split(f'action="/admin/sla/policies/{off_id}/enabled"')[1].split("</form>")[0]
    assert 'name="enabled"' not in on_form
    assert '<input type="hidden" name="enabled" value="on">' in off_form


# --- F9: "workspace default" hours are resolved by the service ----------------------------------


def test_the_api_takes_default_hours_and_reads_back_the_calendar(
    client: TestClient, personas: Personas
) -> None:
    admin = personas.acme_admin.headers
    body = {"name": "Urgent", "hours": "default", "first_response_minutes": 30}
    missing = client.post(f"{API}/sla-policies", json=body, headers=admin)
    assert missing.status_code == 422
    assert "business_hours_id" in missing.text
    assert "the workspace has no default business hours" in missing.text
    office = {"name": "Office", "timezone": "Europe/Berlin", "schedule": OFFICE}
    client.post(f"{API}/business-hours", json=office, headers=admin)
    default = client.post(
        f"{API}/business-hours", json={**office, "name": "Main", "is_default": True}, headers=admin
    ).json()
    created = client.post(f"{API}/sla-policies", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert (created.json()["hours"], created.json()["business_hours_id"]) == (
        "business",
        default["id"],
    )
    both = {**body, "business_hours_id": default["id"]}
    assert client.post(f"{API}/sla-policies", json=both, headers=admin).status_code == 422
    url = f"{API}/sla-policies/{created.json()['id']}"
    assert (
        client.patch(
            url, json={"hours": "default", "business_hours_id": 1}, headers=admin
        ).status_code
        == 422
    )


def test_updating_to_default_hours_takes_the_current_default(
    db: Database, personas: Personas
) -> None:
    ctx = personas.acme_admin.ctx
    old_id = _hours(db, personas.acme_admin, name="Old")
    default_id = _hours(db, personas.acme_admin, name="Main", is_default=True)
    policy_id = _policy(db, personas.acme_admin, business_hours_id=old_id)
    with db.session(write=True) as s:
        # "business" without an id keeps the policy's calendar; "default" switches to the default.
        kept = service.update_policy(s, ctx, policy_id, SlaPolicyUpdate(hours="business"))
        assert kept.business_hours_id == old_id
        switched = service.update_policy(s, ctx, policy_id, SlaPolicyUpdate(hours="default"))
        assert switched.business_hours_id == default_id
        s.commit()
    assert _read_policy(db, ctx, policy_id).business_hours_id == default_id


def test_the_page_edits_a_policy_to_the_workspace_default(
    client: TestClient, personas: Personas, db: Database
) -> None:
    old_id = _hours(db, personas.acme_admin, name="Old")
    default_id = _hours(db, personas.acme_admin, name="Main", is_default=True)
    policy_id = _policy(db, personas.acme_admin, business_hours_id=old_id)
    sign_in(client, personas.acme_admin)
    form = form_as_shown(client.get(f"/admin/sla/policies/{policy_id}").text, "policy-form")
    assert form["hours"] == [str(old_id)]
    form["hours"] = ["default"]
    r = client.post(f"/admin/sla/policies/{policy_id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert _read_policy(db, personas.acme_admin.ctx, policy_id).business_hours_id == default_id


# --- F12 / F14: the shared helpers ---------------------------------------------------------------


def test_every_page_reads_a_listing_to_its_end(db: Database, personas: Personas) -> None:
    pages = {None: ([1, 2], "a"), "a": ([3], "b"), "b": ([], None)}
    calls: list[tuple[int, str | None]] = []

    def listing(
        session: Session, ctx: Context, *, limit: int, cursor: str | None
    ) -> tuple[list[int], str | None]:
        calls.append((limit, cursor))
        return pages[cursor]

    with db.session(write=False) as s:
        assert every_page(listing, s, personas.acme_admin.ctx) == [1, 2, 3]
    assert calls == [(MAX_PAGE_SIZE, None), (MAX_PAGE_SIZE, "a"), (MAX_PAGE_SIZE, "b")]


def test_save_form_rolls_back_a_refused_save(db: Database, personas: Personas) -> None:
    ctx = personas.acme_admin.ctx

    def errors_of(exc: Any) -> dict[str, str]:
        return {"name": str(getattr(exc, "message", exc))}

    def half_then_refuse(body: SlaPolicyCreate) -> SlaPolicy:
        service.create_policy(s, ctx, body)
        raise Conflict("taken")

    with db.session(write=True) as s:
        data = {"name": "Kept out"}
        refused = save_form(
            s, SlaPolicyCreate, data, {}, save=half_then_refuse, errors_of=errors_of
        )
        assert refused == Refused({"name": "taken"}, 409)
        assert service.list_policies(s, ctx)[0] == []
        found = {"name": "the form's own"}
        early = save_form(
            s, SlaPolicyCreate, {"name": ""}, found, save=half_then_refuse, errors_of=errors_of
        )
        assert early == Refused({"name": "the form's own"}, 422)

        def invalid(body: SlaPolicyCreate) -> SlaPolicy:
            raise ValidationFailed("bad")

        assert save_form(
            s, SlaPolicyCreate, data, {}, save=invalid, errors_of=errors_of
        ) == Refused({"name": "bad"}, 422)
        saved = save_form(
            s,
            SlaPolicyCreate,
            data,
            {},
            save=lambda b: service.create_policy(s, ctx, b)[0],
            errors_of=errors_of,
        )
        assert isinstance(saved, SlaPolicy)
        assert saved.name == "Kept out"
