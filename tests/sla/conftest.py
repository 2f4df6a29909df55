"""SLA tests: a frozen, movable clock (Monday 2025-03-03 09:00 UTC) and policy builders."""

from __future__ import annotations
