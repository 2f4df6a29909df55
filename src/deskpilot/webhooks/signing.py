"""Delivery signatures: HMAC-SHA256 over a timestamp and the exact body bytes.

Every delivery carries `Deskpilot-Signature: t=<unix seconds>,v1=<hex digest>`, where the digest
is HMAC-SHA256 keyed with the endpoint's secret over `f"{t}.".encode() + body`. Signing the
timestamp lets receivers refuse replays of an old delivery; `verify` below is the reference check
(docs/webhooks.md shows it standalone, for receivers without Deskpilot installed).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Deskpilot-Signature"
EVENT_HEADER = "Deskpilot-Event"
DELIVERY_HEADER = "Deskpilot-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


def digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within the tolerance.

    `body` must be the raw request body as received (not re-serialised JSON). Several `v1=`
    entries are accepted (any one may match), so a sender may sign with an old and a new secret.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
