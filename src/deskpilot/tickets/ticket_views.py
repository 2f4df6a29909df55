"""Typed contexts for the agent console's ticket page: plain values, never ORM objects.

`ticket_panels` fills them from service results; the `tickets/ticket*.html` templates read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup

from deskpilot.web.templating import PageContext

COMPOSER_MODES = ("public", "internal")
# "Send and ..." choices next to the send button: (value, label). "" sends without a change.
THEN_STATUS_CHOICES = (
    ("", "Send"),
    ("waiting_customer", "Send and set waiting on customer"),
    ("waiting_internal", "Send and set waiting internal"),
    ("in_progress", "Send and set in progress"),
    ("resolved", "Send and resolve"),
)


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class TicketHeader:
    id: int
    number: int
    subject: str
    status: str
    priority: str
    type: str
    category: str
    channel: str
    tags: list[str]
    assignee_id: int | None
    assignee_name: str
    team_id: int | None
    team_name: str
    created_at: datetime
    updated_at: datetime
    merged_into_number: int | None
    csat_score: int | None
    status_options: list[Option]
    priority_options: list[Option]
    type_options: list[Option]
    assignee_options: list[Option]
    team_options: list[Option]
    error: str = ""
    error_field: str = ""

    @property
    def url(self) -> str:
        return f"/app/tickets/{self.number}"

    @property
    def tags_text(self) -> str:
        return ", ".join(self.tags)


@dataclass(frozen=True)
class AttachmentView:
    id: int
    filename: str
    size: int
    content_type: str

    @property
    def url(self) -> str:
        # The API's download route: it accepts the browser's session cookie and checks access.
        return f"/api/v1/attachments/{self.id}"

    @property
    def size_text(self) -> str:
        size = float(self.size)
        for unit in ("B", "KB", "MB"):
            if size < 1024 or unit == "MB":
                return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            size /= 1024
        return f"{size:.1f} MB"  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class MessageView:
    id: int
    author_type: str  # customer | agent | ai | system
    author_name: str
    visibility: str  # public | internal
    body_html: Markup
    created_at: datetime
    attachments: list[AttachmentView] = field(default_factory=list)
    ai_decision: str = ""
    ai_confidence: float | None = None
    assisted: bool = False

    @property
    def is_internal(self) -> bool:
        return self.visibility == "internal"

    @property
    def anchor(self) -> str:
        return f"m-{self.id}"


@dataclass
class Composer:
    mode: str = "public"
    body: str = ""
    assisted_by_decision_id: int | None = None
    then_status: str = ""
    show_preview: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    autofocus: bool = False
    then_status_options: list[Option] = field(
        default_factory=lambda: [Option(v, label) for v, label in THEN_STATUS_CHOICES]
    )

    @property
    def is_internal(self) -> bool:
        return self.mode == "internal"


@dataclass(frozen=True)
class Prediction:
    field: str
    label: str
    confidence: float | None


@dataclass(frozen=True)
class Citation:
    title: str
    url: str


@dataclass(frozen=True)
class DecisionView:
    id: int
    decision: str
    confidence: float
    rule: str
    reasons: list[str]
    created_at: datetime
    answer: str
    citations: list[Citation]
    outcome: str


@dataclass(frozen=True)
class ArticleView:
    title: str
    url: str
    snippet: Markup  # HTML-escaped by kb.search.highlight, matches wrapped in <mark>


@dataclass(frozen=True)
class EscalationView:
    id: int
    reason: str
    summary: str
    created_at: datetime
    ai_confidence: float | None
    team_name: str


@dataclass(frozen=True)
class AiPanel:
    model: str
    classification: list[Prediction]
    decision: DecisionView | None
    draft: DecisionView | None
    articles: list[ArticleView]
    escalation: EscalationView | None
    suggestions_unavailable: bool = False


@dataclass(frozen=True)
class RecentTicket:
    number: int
    subject: str
    status: str
    csat_score: int | None
    created_at: datetime
    is_current: bool


@dataclass(frozen=True)
class RequesterPanel:
    name: str
    email: str
    phone: str
    organization_name: str
    tier: str
    mrr: str
    tickets: list[RecentTicket]
    csat_scores: list[int]
    contact_id: int
    organization_id: int | None

    @property
    def csat_average(self) -> str:
        if not self.csat_scores:
            return ""
        return f"{sum(self.csat_scores) / len(self.csat_scores):.1f}"


@dataclass(frozen=True)
class EventView:
    id: int
    kind: str
    actor: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class SlaClockView:
    metric: str
    state: str
    due_at: datetime | None
    seconds_left: int
    paused: bool


@dataclass(frozen=True)
class MergeConfirmation:
    into_number: int
    into_subject: str
    into_status: str
    made_internal: bool


@dataclass(kw_only=True)
class TicketPage(PageContext):
    header: TicketHeader
    messages: list[MessageView] = field(default_factory=list)
    description: str = ""
    requester_label: str = ""
    composer: Composer = field(default_factory=Composer)
    ai: AiPanel | None = None
    requester: RequesterPanel | None = None
    events: list[EventView] = field(default_factory=list)
    sla: list[SlaClockView] = field(default_factory=list)
    sla_policy: str = ""
    macros: list[Option] = field(default_factory=list)
    merge: MergeConfirmation | None = None
    merge_error: str = ""
    merge_number: str = ""
    live_marker: int = 0

    @property
    def url(self) -> str:
        return self.header.url
