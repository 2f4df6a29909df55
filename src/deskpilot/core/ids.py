"""Random identifiers and secrets."""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "dp_"  # noqa: S105 - a prefix, not a secret


def new_api_token() -> str:
    """A high-entropy bearer token; only its hash is stored."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is enough and keeps auth cheap per request.
    return hashlib.sha256(token.encode()).hexdigest()


MAX_DB_ID = 2**63 - 1
"""Largest id any supported database stores; bigger ids are rejected as input errors, not 500s."""


def is_digits(text: str) -> bool:
    """ASCII digits only. (`str.isdigit` also accepts "²", which `int()` refuses.)"""
    return text.isascii() and text.isdecimal()


def parse_id(text: str | None) -> int | None:
    """A row id typed or posted as text (1..MAX_DB_ID), or None for anything else."""
    text = (text or "").strip()
    if not is_digits(text) or len(text) > len(str(MAX_DB_ID)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_DB_ID else None
