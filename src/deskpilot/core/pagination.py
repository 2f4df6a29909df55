"""Opaque keyset cursors: stable under inserts and cheap on deep pages."""

from __future__ import annotations

import base64
import json
from typing import Any

from deskpilot.core.errors import ValidationFailed

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValidationFailed(
            "Invalid cursor", details=[{"field": "cursor", "message": "not a cursor"}]
        ) from exc
    if not isinstance(values, list):
        raise ValidationFailed(
            "Invalid cursor", details=[{"field": "cursor", "message": "not a cursor"}]
        )
    return values
