"""Sync endpoints run in a narrow line per process (DESKPILOT_WEB_THREADS); endpoints that wait
on another service run beside it, so a slow provider never holds the line."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import pytest

from deskpilot.settings import Settings
from deskpilot.web import routing
from deskpilot.web.routing import in_line, set_request_threads, waits_on_network


@pytest.fixture
def one_at_a_time() -> Iterator[None]:
    set_request_threads(1)
    yield
    set_request_threads(Settings().web_threads)


@pytest.mark.usefixtures("one_at_a_time")
def test_handlers_wait_in_line_and_network_waits_run_beside_it() -> None:
    release = threading.Event()
    started: list[str] = []
    began = {name: threading.Event() for name in ("slow", "quick", "remote")}

    def slow() -> str:
        started.append("slow")
        began["slow"].set()
        release.wait(10)
        return "slow"

    def quick() -> str:
        started.append("quick")
        began["quick"].set()
        return "quick"

    @waits_on_network
    def remote() -> str:
        started.append("remote")
        began["remote"].set()
        return "remote"

    handles = {f.__name__: in_line(f, None) for f in (slow, quick, remote)}
    results: dict[str, str] = {}

    async def call(name: str) -> None:
        results[name] = await handles[name]()

    async def until(name: str) -> None:
        # Waits on the default thread pool, not on either limiter under test.
        assert await anyio.to_thread.run_sync(began[name].wait, 10)

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call, "slow")
            await until("slow")
            tasks.start_soon(call, "quick")
            tasks.start_soon(call, "remote")
            await until("remote")  # not stuck behind the slow handler
            assert not await anyio.to_thread.run_sync(began["quick"].wait, 0.2)  # in line
            release.set()

    anyio.run(scenario)
    assert started == ["slow", "remote", "quick"]
    assert results == {"slow": "slow", "quick": "quick", "remote": "remote"}


def test_the_line_is_two_handlers_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().web_threads == 2
    monkeypatch.setenv("DESKPILOT_WEB_THREADS", "6")
    assert Settings().web_threads == 6
    monkeypatch.setenv("DESKPILOT_WEB_THREADS", "0")
    with pytest.raises(ValueError, match="web_threads"):
        Settings()
    assert routing.NETWORK_THREADS > 6
