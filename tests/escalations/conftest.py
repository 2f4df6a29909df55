"""Escalation tests: a frozen clock (distinct, ordered created_at values) and small builders."""

from __future__ import annotations
