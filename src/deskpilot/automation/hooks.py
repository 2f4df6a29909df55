"""Automation rules react to ticket events before commit (ticket hooks, order 10: first)."""

from __future__ import annotations

from deskpilot.automation import engine
from deskpilot.tickets import hooks

ORDER = 10

hooks.register("automation.rules", engine.handle_events, order=ORDER)
