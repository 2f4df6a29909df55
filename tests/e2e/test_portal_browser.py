"""A customer in the help center: the contact form suggests articles, the request is filed, and
the AI's answer is on the request's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from deskpilot.demo.seed import DEMO_PASSWORD, DemoSummary
from tests.e2e.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.real_embedder
CUSTOMER = "dana.wright@northwind.example.com"


def test_customer_submits_a_ticket_and_sees_the_ai_answer(
    page: Page, live_server: LiveServer, demo: DemoSummary, ai_pipeline: None
) -> None:
    page.goto(f"{live_server.url}/help/demo")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, "help-center")

    sign_in(page, live_server.url, "demo", CUSTOMER, DEMO_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/help/demo/tickets")
    screenshot(page, "portal-tickets")

    page.goto(f"{live_server.url}/help/demo/contact")
    page.get_by_label("Subject").fill("How do I export my data to CSV?")
    # Deflection: matching articles appear while the customer types.
    expect(page.get_by_role("link", name="Export your data").first).to_be_visible()
    page.get_by_label("How can we help?").fill(
        "I need a CSV export of all our deployments for an audit. Where do I find it?"
    )
    screenshot(page, "portal-contact")
    page.get_by_role("button", name="Send request").click()

    # Signed-in customers land on their new request, where the AI's answer already is.
    expect(page.get_by_role("heading", level=1)).to_contain_text("export my data")
    answer = page.locator(".msg-ai")
    expect(answer).to_be_visible(timeout=30_000)
    expect(answer.get_by_role("link", name="Export your data").first).to_be_visible()
    screenshot(page, "portal-ticket")
