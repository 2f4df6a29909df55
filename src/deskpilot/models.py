"""Imports every domain's tables so metadata is complete (Alembic, schema checks, tests)."""

from deskpilot.ai.models import AiClassifier
from deskpilot.analytics.models import (
    AgentDailyStats,
    ConfidenceDailyStats,
    EscalationDailyStats,
    KbDailyStats,
    ModelDailyStats,
    RollupState,
    TicketFact,
)
from deskpilot.auth.models import ApiToken, LoginThrottle, Membership, User
from deskpilot.automation.models import AutomationRule, AutomationRun
from deskpilot.customers.models import Contact, Organization
from deskpilot.db.base import Base
from deskpilot.email.models import EmailMessage, EmailTemplate, MailSettings
from deskpilot.escalations.models import Escalation
from deskpilot.idempotency.models import IdempotencyKey
from deskpilot.jobs.models import Job
from deskpilot.kb.models import (
    Article,
    ArticleDailyMetric,
    ArticleEvent,
    ArticleRelation,
    ArticleRevision,
    ArticleVote,
    KbCategory,
    KbChunk,
    KbIndexState,
    SearchLog,
)
from deskpilot.llm.models import AiProviderSettings, AiUsage
from deskpilot.macros.models import Macro
from deskpilot.routing.models import AgentStatus, TeamRouting
from deskpilot.sla.models import BusinessHours, SlaPolicy, TicketSla
from deskpilot.tickets.models import Attachment, Message, Ticket, TicketEvent, TicketTag
from deskpilot.triage.models import AiCalibrator, AiDecision, AiPolicy
from deskpilot.webhooks.models import WebhookDelivery, WebhookEndpoint
from deskpilot.workspaces.models import Team, TeamMember, Workspace

metadata = Base.metadata

__all__ = [
    "AgentDailyStats",
    "AgentStatus",
    "AiCalibrator",
    "AiClassifier",
    "AiDecision",
    "AiPolicy",
    "AiProviderSettings",
    "AiUsage",
    "ApiToken",
    "Article",
    "ArticleDailyMetric",
    "ArticleEvent",
    "ArticleRelation",
    "ArticleRevision",
    "ArticleVote",
    "Attachment",
    "AutomationRule",
    "AutomationRun",
    "Base",
    "BusinessHours",
    "ConfidenceDailyStats",
    "Contact",
    "EmailMessage",
    "EmailTemplate",
    "Escalation",
    "EscalationDailyStats",
    "IdempotencyKey",
    "Job",
    "KbCategory",
    "KbChunk",
    "KbDailyStats",
    "KbIndexState",
    "LoginThrottle",
    "Macro",
    "MailSettings",
    "Membership",
    "Message",
    "ModelDailyStats",
    "Organization",
    "RollupState",
    "SearchLog",
    "SlaPolicy",
    "Team",
    "TeamMember",
    "TeamRouting",
    "Ticket",
    "TicketEvent",
    "TicketFact",
    "TicketSla",
    "TicketTag",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
    "metadata",
]
