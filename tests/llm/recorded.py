"""Serve recorded provider responses through httpx2.MockTransport and keep what was sent.

The SDKs use `httpx2` (not `httpx`), so the transport and client come from there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from deskpilot.ai.ports import AnswerRequest, Passage

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDINGS / f"{name}.json").read_text())
    return loaded


@dataclass
class Reply:
    """One scripted answer: a recording with a status, or an exception to raise instead."""

    name: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raises: Callable[[httpx2.Request], Exception] | None = None


def timeout(request: httpx2.Request) -> Exception:
    return httpx2.ReadTimeout("recorded timeout", request=request)


class Provider:
    """A scripted provider: replies in order (the last one repeats); requests are kept."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if reply.raises is not None:
            raise reply.raises(request)
        assert reply.name is not None
        return httpx2.Response(
            reply.status,
            json=recording(reply.name),
            headers={"request-id": "req_recorded", **reply.headers},
        )

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handle))

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    @property
    def calls(self) -> int:
        return len(self.requests)


PASSWORD_ARTICLE = (
    "To reset your password, open Settings > Security and click Reset password. "
    "We email a reset link to the address on your account. The link expires after 24 hours."
)
LINK_ARTICLE = "Reset links are valid for one day. After that, request a new link."


def password_request(question: str = "How do I reset my password?") -> AnswerRequest:
    return AnswerRequest(
        question=question,
        passages=(
            Passage("P1", 11, 101, "Reset your password", "/help/reset", PASSWORD_ARTICLE),
            Passage("P2", 12, 201, "Reset links", "/help/links", LINK_ARTICLE),
        ),
    )
