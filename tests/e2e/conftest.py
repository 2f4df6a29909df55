"""Browser tests: a real uvicorn server on a loopback port and Debian's chromium via Playwright.

The server runs the same app as production against the test database, in a thread of this
process, with jobs run right after each commit (so an AI answer is stored before the next page
loads). Chromium may only reach that server: every other request is aborted, which also proves
the pages need no network (no web fonts, no CDNs).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session

from deskpilot.db.engine import Database
from deskpilot.demo.seed import DemoSummary, seed_demo

CHROMIUM = os.environ.get("DESKPILOT_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_DIR = os.environ.get("DESKPILOT_SCREENSHOTS")
"""When set (e.g. `make screenshots`), tests save their page screenshots there."""

pytest.importorskip("playwright")
from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

# Assertions wait for the page as long as actions do: CI machines run two suites' worth of work
# on two cores, and a live refresh may legitimately take a poll interval (2 s) or two to land.
expect.set_options(timeout=15_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, app: FastAPI) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A page's open event stream would hold a graceful shutdown for the whole join timeout.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def demo(db: Database, app: FastAPI) -> DemoSummary:
    """The demo workspace (people, KB, tickets) that `make run` seeds."""
    with db.session(write=True) as session:
        summary = seed_demo(session)
        session.commit()
    return summary


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# until it stops, which would break later tests that call asyncio.run().
@pytest.fixture(scope="module")
def _playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM}: run scripts/test-packages.sh")
        pytest.skip(f"chromium not found at {CHROMIUM} (scripts/test-packages.sh installs it)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(_playwright: Playwright) -> Iterator[Browser]:
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
    )
    yield browser
    browser.close()


def _local_only(route: object) -> None:
    from playwright.sync_api import Route

    assert isinstance(route, Route)
    if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    context.route("**/*", _local_only)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot for the README when DESKPILOT_SCREENSHOTS names a folder."""
    if not SCREENSHOT_DIR:
        return
    target = Path(SCREENSHOT_DIR)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=False)


def sign_in(page: Page, base_url: str, workspace: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/login?workspace={workspace}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("domcontentloaded")


__all__ = ["LiveServer", "Session", "screenshot", "sign_in"]
