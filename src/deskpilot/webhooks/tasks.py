"""The `webhooks.deliver` job: one HTTP attempt of one delivery, and what follows from it.

Retries are scheduled here, not by the job runner: each attempt is its own job that always
succeeds as a job, records the attempt on the delivery (status code, latency, error), and on a
failure enqueues the next attempt at `next_attempt_at` (exponential backoff: 30 s, 1, 2, 4 ... min,
at most 6 h apart). The runner's own retries (about 10 min at most in total, and they roll back
whatever the handler recorded) would lose the attempt log and give up too soon for a receiver
that is down for an hour.

The POST happens in the job's read-only `prepare` phase, so a slow receiver (up to
`TIMEOUT_SECONDS`) never holds a write transaction. Delivery is at least once: a worker that dies
between the POST and recording it sends again, with the same `Deskpilot-Delivery` event id.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from deskpilot import __version__
from deskpilot.core.clock import utcnow
from deskpilot.db.hooks import after_commit
from deskpilot.jobs import queue
from deskpilot.jobs.registry import job
from deskpilot.webhooks import hooks as _hooks  # noqa: F401 -- registers the ticket hook
from deskpilot.webhooks import service
from deskpilot.webhooks.models import WebhookDelivery, WebhookEndpoint
from deskpilot.webhooks.outbox import DELIVER_JOB
from deskpilot.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 8
"""Attempts of one delivery before it is marked failed (about an hour of retries)."""
DISABLE_AFTER_FAILURES = 20
"""Failed attempts in a row (across deliveries) after which an endpoint is disabled."""
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 6 * 3600
MAX_ERROR_LENGTH = 500

_transport: httpx.BaseTransport | None = None


def set_transport(transport: httpx.BaseTransport | None) -> None:
    """Send through `transport` (tests: httpx.MockTransport); None restores real HTTP."""
    global _transport  # one process-wide switch, like automation.webhooks
    _transport = transport


def retry_delay(attempts: int) -> timedelta:
    """Wait before the attempt after `attempts` failed ones: 30 s, 1 min, 2 min, ... up to 6 h."""
    seconds = min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)
    return timedelta(seconds=seconds)


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _post(endpoint_url: str, secret: str, delivery: WebhookDelivery) -> dict[str, Any]:
    body = encode_body(delivery.payload)
    timestamp = int(utcnow().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Deskpilot-Webhooks/{__version__}",
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: delivery.event_id,
    }
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        with httpx.Client(
            transport=_transport, timeout=TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            response = client.post(endpoint_url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    return {"status_code": status_code, "latency_ms": latency_ms, "error": error}


def prepare_delivery(session: Session, *, delivery_id: int, workspace_id: int) -> dict[str, Any]:
    """Read-only phase: POST if the delivery is still due; the result goes to `deliver`."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.workspace_id != workspace_id or delivery.status != "pending":
        return {"skip": True}
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > utcnow() + timedelta(
        seconds=1
    ):
        return {"skip": True}  # an early duplicate of a scheduled attempt
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        return {"skip": False, "attempts": delivery.attempts, "endpoint_disabled": True}
    result = _post(endpoint.url, endpoint.secret, delivery)
    return {"skip": False, "attempts": delivery.attempts, "endpoint_disabled": False, **result}


@job(DELIVER_JOB, prepare=prepare_delivery)
def deliver(
    session: Session, *, prepared: dict[str, Any], delivery_id: int, workspace_id: int
) -> None:
    if prepared["skip"]:
        return
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if (
        delivery is None
        or delivery.status != "pending"
        or delivery.attempts != prepared["attempts"]  # another job recorded this attempt
    ):
        return
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
    now = utcnow()
    if endpoint is None or prepared["endpoint_disabled"] or not endpoint.enabled:
        delivery.status = "failed"
        delivery.next_attempt_at = None
        delivery.error = "endpoint disabled"
        return
    delivery.attempts += 1
    delivery.response_status = prepared["status_code"]
    delivery.latency_ms = prepared["latency_ms"]
    delivery.error = prepared["error"][:MAX_ERROR_LENGTH] if prepared["error"] else None
    if prepared["error"] is None:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.consecutive_failures = 0
        return
    endpoint.consecutive_failures += 1
    if endpoint.enabled and endpoint.consecutive_failures >= DISABLE_AFTER_FAILURES:
        service.disable(
            endpoint,
            f"Disabled after {endpoint.consecutive_failures} failed attempts in a row "
            f"(last: {delivery.error})",
        )
    if delivery.attempts >= MAX_ATTEMPTS or not endpoint.enabled:
        delivery.status = "failed"
        delivery.next_attempt_at = None
        return
    due = now + retry_delay(delivery.attempts)
    delivery.next_attempt_at = due
    _schedule(session, delivery, due_in=(due - now).total_seconds())


def _schedule(session: Session, delivery: WebhookDelivery, *, due_in: float) -> None:
    """Enqueue the next attempt, due `due_in` seconds from now."""
    assert delivery.next_attempt_at is not None
    next_job = queue.enqueue(
        session, DELIVER_JOB, workspace_id=delivery.workspace_id, delivery_id=delivery.id
    )
    next_job.run_after = delivery.next_attempt_at
    # As the runner does for its own retries: the sweeper re-dispatches it once due (plus its
    # slack) if the delayed dispatch below is lost.
    next_job.dispatched_at = delivery.next_attempt_at
    job_id = next_job.id
    after_commit(session, lambda: queue.dispatch(job_id, due_in))
