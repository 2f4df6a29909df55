"""Imports every domain's background jobs so they are registered before a worker starts."""

from deskpilot.automation import tasks as automation_tasks
from deskpilot.kb import tasks as kb_tasks
from deskpilot.routing import hooks as routing_hooks
from deskpilot.sla import tasks as sla_tasks  # also registers deskpilot.sla.hooks
from deskpilot.triage import tasks as triage_tasks

__all__ = ["automation_tasks", "kb_tasks", "routing_hooks", "sla_tasks", "triage_tasks"]
