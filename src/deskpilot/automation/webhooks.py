"""Outgoing webhook delivery: one JSON POST, raising on failure so the job runner retries it.

Deliveries are at-least-once: a worker that dies between the POST and recording the job as done
sends again. Each delivery carries a stable `X-Deskpilot-Delivery` id so receivers can drop
repeats. Tests swap the transport (`set_transport(httpx.MockTransport(...))`); nothing here is
ever called inside a request transaction.
"""

from __future__ import annotations

from typing import Any

import httpx

from deskpilot import __version__

TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 6
"""Attempts of one delivery (the runner backs off exponentially between them, up to 10 min)."""

_transport: httpx.BaseTransport | None = None


def set_transport(transport: httpx.BaseTransport | None) -> None:
    """Route deliveries through `transport` (tests: httpx.MockTransport); None restores HTTP."""
    global _transport  # one process-wide switch, like the default embedder
    _transport = transport


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery (non-2xx, timeout, connection error)."""


def deliver(url: str, payload: dict[str, Any], *, delivery_id: str) -> int:
    """POST the payload; returns the status code, raises DeliveryFailed unless it is 2xx."""
    headers = {
        "User-Agent": f"Deskpilot/{__version__}",
        "X-Deskpilot-Delivery": delivery_id,
        "X-Deskpilot-Event": str(payload.get("event", "")),
    }
    try:
        with httpx.Client(
            transport=_transport, timeout=TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            response = client.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"{url} answered {response.status_code}")
    return response.status_code
