"""Opaque keyset cursors: stable under inserts and cheap on deep pages."""

from __future__ import annotations

import base64
import json
from typing import Any

from deskpilot.core.errors import ValidationFailed
from deskpilot.core.ids import MAX_DB_ID

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


def decode_id_cursor(cursor: str | None) -> int | None:
    """A cursor that carries the last id seen (id-ordered lists)."""
    if not cursor:
        return None
    values = decode_cursor(cursor)
    if (
        len(values) != 1
        or not isinstance(values[0], int)
        or isinstance(values[0], bool)
        or not 0 <= values[0] <= MAX_DB_ID
    ):
        raise ValidationFailed(
            "Invalid cursor", details=[{"field": "cursor", "message": "not a cursor"}]
        )
    return values[0]
