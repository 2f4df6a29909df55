"""Imports every domain's background jobs so they are registered before a worker starts."""

from deskpilot.kb import tasks as kb_tasks
from deskpilot.triage import tasks as triage_tasks

__all__ = ["kb_tasks", "triage_tasks"]
