"""Imports every domain's background jobs so they are registered before a worker starts."""

from deskpilot.analytics import tasks as analytics_tasks
from deskpilot.automation import tasks as automation_tasks
from deskpilot.email import tasks as email_tasks  # also registers deskpilot.email.hooks
from deskpilot.escalations import hooks as escalation_hooks
from deskpilot.kb import tasks as kb_tasks
from deskpilot.portal import accounts as portal_account_mail  # its body renderer for email.send
from deskpilot.routing import hooks as routing_hooks
from deskpilot.sla import tasks as sla_tasks  # also registers deskpilot.sla.hooks
from deskpilot.triage import hooks as triage_hooks
from deskpilot.triage import tasks as triage_tasks
from deskpilot.webhooks import tasks as webhooks_tasks  # also registers deskpilot.webhooks.hooks

__all__ = [
    "analytics_tasks",
    "automation_tasks",
    "email_tasks",
    "escalation_hooks",
    "kb_tasks",
    "portal_account_mail",
    "routing_hooks",
    "sla_tasks",
    "triage_hooks",
    "triage_tasks",
    "webhooks_tasks",
]
