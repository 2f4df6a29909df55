"""Sign-in in a real browser: the form, a wrong password, and sign-out."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from deskpilot.demo.seed import DEMO_PASSWORD, DemoSummary, directory
from tests.e2e.conftest import LiveServer, screenshot, sign_in


def test_agent_signs_in_and_out(page: Page, live_server: LiveServer, demo: DemoSummary) -> None:
    agent = next(p for p in directory()["staff"] if p["role"] == "agent")
    page.goto(f"{live_server.url}/login?workspace=demo")
    screenshot(page, "login")
    page.get_by_label("Email").fill(agent["email"])
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match")

    sign_in(page, live_server.url, "demo", agent["email"], DEMO_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/app")
    page.get_by_role("button", name="Sign out").first.click()
    expect(page).to_have_url(f"{live_server.url}/login")
    expect(page.get_by_role("status")).to_contain_text("signed out")
