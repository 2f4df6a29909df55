"""An admin tunes the help desk in the browser: an SLA target, an automation rule tried on a real
ticket, and a webhook endpoint whose signing secret is shown only once."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from deskpilot.db.engine import Database
from deskpilot.demo.seed import DEMO_PASSWORD, DemoSummary
from deskpilot.tickets.models import Ticket
from tests.e2e.conftest import LiveServer, screenshot, sign_in

ADMIN = "priya@acmecloud.example.com"
HIGH_PRIORITY_TICKET = "Webhook deliveries failing with 502 since this morning"


def _ticket_number(db: Database, demo: DemoSummary, subject: str) -> int:
    with db.session(write=False) as session:
        return session.scalars(
            select(Ticket.number).where(
                Ticket.workspace_id == demo.workspace_id, Ticket.subject == subject
            )
        ).one()


def _open_admin_section(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Admin sections").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_admin_tightens_an_sla_and_tries_a_new_rule_on_a_ticket(
    page: Page, live_server: LiveServer, demo: DemoSummary, db: Database
) -> None:
    ticket_number = _ticket_number(db, demo, HIGH_PRIORITY_TICKET)
    sign_in(page, live_server.url, "demo", ADMIN, DEMO_PASSWORD)
    page.goto(f"{live_server.url}/admin")

    # SLAs: the seeded "Urgent" policy promises a first response in 30 minutes; make it 45.
    _open_admin_section(page, "SLAs")
    page.get_by_role("link", name="Urgent", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Urgent")
    first_response = page.get_by_role("group", name="First response", exact=True)
    expect(first_response.get_by_label("First response target")).to_have_value("30")
    first_response.get_by_label("First response target").fill("45")
    first_response.get_by_label("Unit").select_option("minutes")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status").filter(has_text="Policy saved.")).to_be_visible()
    page.get_by_role("link", name="All SLAs").click()
    urgent = page.get_by_role("row").filter(has=page.get_by_role("link", name="Urgent", exact=True))
    expect(urgent).to_contain_text("45 min")
    expect(urgent).not_to_contain_text("30 min")
    screenshot(page, "admin-sla")

    # Automation: a new rule with one condition and one action. The extra condition row is a
    # round trip to the server that must keep everything typed so far.
    _open_admin_section(page, "Automation")
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("Tag high-priority tickets")
    page.get_by_label("Condition 1 field").select_option("priority")
    page.get_by_label("Condition 1 operator").select_option("eq")
    page.get_by_label("Condition 1 value").fill("high")
    page.get_by_role("button", name="Add condition row").click()
    expect(page.get_by_label("Condition 4 field")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Tag high-priority tickets")
    expect(page.get_by_label("Condition 1 value")).to_have_value("high")
    page.get_by_label("Action 1", exact=True).select_option("add_tags")
    page.get_by_label("Action 1 value or text").fill("needs-attention")
    page.get_by_role("button", name="Create rule").click()
    expect(
        page.get_by_role("status").filter(has_text="Rule Tag high-priority tickets created.")
    ).to_be_visible()

    page.get_by_role("link", name="All rules").click()
    listed = page.get_by_role("link", name="Tag high-priority tickets", exact=True)
    expect(listed).to_be_visible()
    listed.click()

    # The dry run swaps only the test box (htmx): the flash region is not re-rendered.
    test_box = page.get_by_role("region", name="Test this rule")
    test_box.get_by_label("Ticket number").fill(f"#{ticket_number}")
    test_box.get_by_role("button", name="Test").click()
    result = test_box.get_by_role("status")
    expect(result).to_contain_text(f"#{ticket_number} {HIGH_PRIORITY_TICKET}")
    expect(result).to_contain_text("Matches")
    expect(result).to_contain_text("needs-attention")
    expect(page).to_have_url(re.compile(r"/admin/automation/rules/\d+$"))
    screenshot(page, "admin-automation-rule")


def test_admin_creates_a_webhook_and_sees_its_secret_only_once(
    page: Page, live_server: LiveServer, demo: DemoSummary
) -> None:
    sign_in(page, live_server.url, "demo", ADMIN, DEMO_PASSWORD)
    page.goto(f"{live_server.url}/admin")
    _open_admin_section(page, "Webhooks")
    expect(page.get_by_text("No webhook endpoints yet")).to_be_visible()

    page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
    page.get_by_label("Description").fill("Data warehouse loader")
    page.get_by_label("ticket.created", exact=True).check()
    page.get_by_role("button", name="Create endpoint").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook endpoint")
    notice = page.get_by_role("status").filter(has_text="Endpoint created: signing secret")
    expect(notice).to_be_visible()
    secret_box = notice.get_by_role("textbox", name="Signing secret")
    expect(secret_box).to_have_value(re.compile(r"\S{20,}"))
    secret = secret_box.input_value()

    # Not on the list, and not when the endpoint's page is opened again.
    page.get_by_role("link", name="All endpoints").click()
    endpoint = page.get_by_role("link", name="http://127.0.0.1:9/hook")
    expect(endpoint).to_be_visible()
    expect(page.get_by_role("row").filter(has=endpoint)).to_contain_text("ticket.created")
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)
    screenshot(page, "admin-webhooks")
    endpoint.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook endpoint")
    page.reload()
    expect(page.get_by_role("heading", name="Details")).to_be_visible()
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)
    assert secret not in page.content()
