"""Ticket tests: cheap password hashing (fast persona setup) and a frozen clock."""

from __future__ import annotations
