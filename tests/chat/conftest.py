"""Chat test helpers: start a conversation as a visitor would, read the stream once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deskpilot.chat import api as chat_api
from deskpilot.chat import stream as chat_stream

CHAT = "/api/v1/chat"


@pytest.fixture(autouse=True)
def _fresh_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rate-limit counters are per process: each test starts from zero, and AI replies stream
    without pauses (the pause is cosmetic and would only slow the suite)."""
    chat_api.limiter.clear()
    monkeypatch.setattr(chat_stream, "CHUNK_PAUSE_SECONDS", 0.0)
    yield
    chat_api.limiter.clear()


def start(client: TestClient, workspace: str = "acme", **fields: Any) -> dict[str, Any]:
    body = {"workspace": workspace, "message": "How do I reset my password?", **fields}
    response = client.post(f"{CHAT}/conversations", json=body)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def auth(token: str) -> dict[str, str]:
    return {"X-Chat-Token": token}


def read_stream(client: TestClient, token: str, **params: Any) -> list[tuple[str, Any, str | None]]:
    """The events the stream has now, as (event, data, id), via `once=1`."""
    response = client.get(
        f"{CHAT}/conversation/stream", params={"token": token, "once": "1", **params}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["access-control-allow-origin"] == "*"
    return parse_sse(response.text)


def parse_sse(text: str) -> list[tuple[str, Any, str | None]]:
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
    return events
