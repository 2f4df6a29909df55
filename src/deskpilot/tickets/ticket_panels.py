"""Build the ticket page's typed context from service calls, in batches (no per-row queries).

The page reads stored AI results only (classification, decision log, escalation); the one model
call allowed here is the KB suggestion search, which uses the process-wide cached index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from markupsafe import Markup
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import NotFound
from deskpilot.core.markdown import without_remote_images
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.customers import service as customers_service
from deskpilot.escalations import service as escalations_service
from deskpilot.kb import search as kb_search
from deskpilot.macros import service as macros_service
from deskpilot.sla import service as sla_service
from deskpilot.tickets import listing
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets import ticket_timeline as timeline
from deskpilot.tickets.lifecycle import Priority, Status, TicketType, allowed_targets
from deskpilot.tickets.models import Message, Ticket
from deskpilot.tickets.ticket_views import (
    AiPanel,
    ArticleView,
    AttachmentView,
    Citation,
    Composer,
    DecisionView,
    EscalationView,
    EventView,
    MergeConfirmation,
    MessageView,
    Option,
    Prediction,
    RecentTicket,
    RequesterPanel,
    SlaClockView,
    TicketHeader,
    TicketPage,
)
from deskpilot.triage import service as triage_service
from deskpilot.triage.models import AiDecision
from deskpilot.web.templating import Viewer
from deskpilot.workspaces import service as workspaces_service

log = logging.getLogger(__name__)
STAFF_ROLES = (Role.owner, Role.admin, Role.agent)
RECENT_TICKETS = 8
SUGGESTED_ARTICLES = 5
AUTHOR_LABELS = {"ai": "AI assistant", "system": "System"}


@dataclass
class Directory:
    """Names of the workspace's staff and teams, loaded once per render."""

    names: dict[int, str] = field(default_factory=dict)
    assignees: list[Option] = field(default_factory=list)
    teams: dict[int, str] = field(default_factory=dict)


def load_directory(session: Session, ctx: Context) -> Directory:
    """One query per staff role and one per team page (workspaces have few of either)."""
    directory = Directory()
    active: list[tuple[str, int]] = []
    for role in STAFF_ROLES:
        cursor: str | None = None
        while True:
            members, cursor = auth_service.list_members(
                session, ctx, role=role, limit=MAX_PAGE_SIZE, cursor=cursor
            )
            for member in members:
                label = member.name or member.email
                directory.names[member.user_id] = label
                if member.is_active:
                    active.append((label.lower(), member.user_id))
            if cursor is None:
                break
    directory.assignees = [Option(str(uid), directory.names[uid]) for _, uid in sorted(active)]
    cursor = None
    while True:
        teams, cursor = workspaces_service.list_teams(
            session, ctx, limit=MAX_PAGE_SIZE, cursor=cursor
        )
        directory.teams.update({team.id: team.name for team in teams})
        if cursor is None:
            break
    return directory


def _options(values: list[str]) -> list[Option]:
    return [Option(v, v.replace("_", " ").capitalize()) for v in values]


def build_header(
    ticket: Ticket,
    directory: Directory,
    *,
    merged_into_number: int | None = None,
    error: str = "",
    error_field: str = "",
) -> TicketHeader:
    current = Status(ticket.status)
    # The current status first, then only the moves the state machine allows from it.
    statuses = [current.value, *allowed_targets(current)]
    return TicketHeader(
        id=ticket.id,
        number=ticket.number,
        subject=ticket.subject,
        status=ticket.status,
        priority=ticket.priority,
        type=ticket.type or "",
        category=ticket.category or "",
        channel=ticket.channel,
        tags=list(ticket.tags),
        assignee_id=ticket.assignee_id,
        assignee_name=directory.names.get(ticket.assignee_id, "") if ticket.assignee_id else "",
        team_id=ticket.team_id,
        team_name=directory.teams.get(ticket.team_id, "") if ticket.team_id else "",
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        merged_into_number=merged_into_number,
        csat_score=ticket.csat_score,
        status_options=_options(statuses),
        priority_options=_options([p.value for p in Priority]),
        type_options=_options([t.value for t in TicketType]),
        assignee_options=directory.assignees,
        team_options=[
            Option(str(tid), name)
            for tid, name in sorted(directory.teams.items(), key=lambda t: t[1].lower())
        ],
        error=error,
        error_field=error_field,
    )


def _message_view(
    message: Message, directory: Directory, requester_id: int | None, requester: str
) -> MessageView:
    if message.author_type == "customer":
        same = message.author_contact_id is None or message.author_contact_id == requester_id
        author = requester if same and requester else "Customer"
    elif message.author_type in AUTHOR_LABELS:
        author = AUTHOR_LABELS[message.author_type]
    else:
        author = directory.names.get(message.author_user_id or 0, "Agent")
    meta = message.ai_meta or {}
    confidence = meta.get("confidence")
    return MessageView(
        id=message.id,
        author_type=message.author_type,
        author_name=author,
        visibility=message.visibility,
        # Stored by tickets.service.add_message through render_markdown, which sanitizes (nh3);
        # a customer's images are shown as links (core.markdown.without_remote_images).
        body_html=Markup(  # noqa: S704
            without_remote_images(message.body_html)
            if message.author_type == "customer"
            else message.body_html
        ),
        created_at=message.created_at,
        attachments=[
            AttachmentView(a.id, a.filename, a.size, a.content_type) for a in message.attachments
        ],
        ai_decision=str(meta.get("decision", "")) if message.author_type == "ai" else "",
        ai_confidence=float(confidence) if message.author_type == "ai" and confidence else None,
        assisted="assisted_by_decision_id" in meta,
    )


def requester_label(ticket: Ticket) -> str:
    if ticket.requester is None:
        return "Customer"
    return ticket.requester.name or ticket.requester.email


def _decision_view(row: AiDecision, help_center: str) -> DecisionView:
    citations = [
        Citation(
            title=str(c.get("title") or f"Article {c.get('article_id')}"),
            url=str(c.get("url") or f"{help_center}/articles/{c.get('article_id')}"),
        )
        for c in row.citations
    ]
    return DecisionView(
        id=row.id,
        decision=row.decision,
        confidence=row.confidence,
        rule=row.rule,
        reasons=[str(r) for r in row.reasons],
        created_at=row.created_at,
        answer=row.answer or "",
        citations=citations,
        outcome=row.outcome or "",
    )


def build_ai_panel(
    session: Session,
    ctx: Context,
    ticket: Ticket,
    messages: list[Message],
    directory: Directory,
    help_center: str,
) -> AiPanel:
    classification = []
    for name in ("type", "priority", "category"):
        entry = (ticket.ai_classification or {}).get(name)
        if entry:
            confidence = entry.get("confidence")
            classification.append(
                Prediction(
                    name, str(entry.get("label", "")), float(confidence) if confidence else None
                )
            )
    decisions = triage_service.ticket_decisions(session, ctx, ticket.id)
    latest = decisions[-1] if decisions else None
    drafted = next((d for d in reversed(decisions) if d.answer), None)
    escalation = escalations_service.get_open_escalation(session, ctx, ticket.id)
    articles, unavailable = _suggested_articles(session, ctx, ticket, messages, help_center)
    return AiPanel(
        model=ticket.ai_model or "",
        classification=classification,
        decision=_decision_view(latest, help_center) if latest else None,
        draft=_decision_view(drafted, help_center) if drafted else None,
        articles=articles,
        escalation=EscalationView(
            id=escalation.id,
            reason=escalation.reason,
            summary=escalation.summary,
            created_at=escalation.created_at,
            ai_confidence=escalation.ai_confidence,
            team_name=directory.teams.get(escalation.team_id or 0, ""),
        )
        if escalation
        else None,
        suggestions_unavailable=unavailable,
    )


def _suggested_articles(
    session: Session, ctx: Context, ticket: Ticket, messages: list[Message], help_center: str
) -> tuple[list[ArticleView], bool]:
    """Same query as `kb.search.suggest_for_ticket`, reusing the messages already loaded."""
    latest = next((m.body for m in reversed(messages) if m.author_type == "customer"), None)
    query = kb_search.ticket_query(ticket.subject, ticket.description, latest)
    try:
        result = kb_search.search(session, ctx, query, limit=SUGGESTED_ARTICLES)
    except Exception:  # suggestions are optional: the ticket must still open
        log.exception("KB suggestions failed for ticket %s", ticket.id)
        return [], True
    return [
        ArticleView(
            title=hit.title,
            url=f"{help_center}/articles/{hit.slug}",
            # highlight() escapes the passage and adds only <mark> tags.
            snippet=Markup(hit.snippet),  # noqa: S704
        )
        for hit in result.hits
    ], False


def _money(value: Decimal | None) -> str:
    return f"{value:,.2f}" if value is not None else ""


def build_requester_panel(session: Session, ctx: Context, ticket: Ticket) -> RequesterPanel | None:
    contact = ticket.requester
    if contact is None:
        return None
    organization = None
    if contact.organization_id is not None:
        try:
            organization = customers_service.get_organization(session, ctx, contact.organization_id)
        except NotFound:
            organization = None
    recent, _ = listing.list_tickets(
        session,
        ctx,
        listing.TicketFilters(requester_id=contact.id),
        sort="-created_at",
        limit=RECENT_TICKETS,
    )
    return RequesterPanel(
        name=contact.name,
        email=contact.email,
        phone=contact.phone or "",
        organization_name=organization.name if organization else "",
        tier=(organization.tier or "") if organization else "",
        mrr=_money(organization.mrr) if organization else "",
        tickets=[
            RecentTicket(
                t.number, t.subject, t.status, t.csat_score, t.created_at, t.id == ticket.id
            )
            for t in recent
        ],
        csat_scores=[t.csat_score for t in recent if t.csat_score is not None],
        contact_id=contact.id,
        organization_id=organization.id if organization else None,
    )


def build_events(
    session: Session, ctx: Context, ticket: Ticket, directory: Directory
) -> tuple[list[EventView], int]:
    """Newest first, with the newest event id (the page's live-update marker)."""
    events = tickets_service.list_events(session, ctx, ticket.id)
    numbers = tickets_service.ticket_numbers(
        session, ctx, sorted(timeline.referenced_ticket_ids(events))
    )
    requester = requester_label(ticket)
    views = [
        EventView(
            id=e.id,
            kind=e.kind,
            actor=timeline.actor_name(e, directory.names, requester),
            text=timeline.describe(
                e, names=directory.names, team_names=directory.teams, ticket_numbers=numbers
            ),
            created_at=e.created_at,
        )
        for e in reversed(events)
    ]
    return views, events[-1].id if events else 0


def build_sla(session: Session, ctx: Context, ticket: Ticket) -> tuple[list[SlaClockView], str]:
    sla = sla_service.ticket_sla(session, ctx, ticket.id)
    clocks = [
        SlaClockView(
            metric=c.metric.value,
            state=c.state.value,
            due_at=c.due_at,
            seconds_left=c.seconds_left,
            paused=c.paused,
        )
        for c in sla.clocks
        if c.stopped_at is None
    ]
    return clocks, sla.policy_name or ""


def macro_options(session: Session, ctx: Context) -> list[Option]:
    macros, _ = macros_service.list_macros(session, ctx, limit=MAX_PAGE_SIZE)
    return sorted((Option(str(m.id), m.name) for m in macros), key=lambda o: o.label.lower())


def header_only(
    session: Session,
    ctx: Context,
    viewer: Viewer,
    ticket: Ticket,
    *,
    error: str = "",
    error_field: str = "",
) -> TicketPage:
    """Just the header (for the in-place field forms)."""
    directory = load_directory(session, ctx)
    return TicketPage(
        title=f"#{ticket.number} {ticket.subject}",
        viewer=viewer,
        nav="tickets",
        header=build_header(
            ticket,
            directory,
            merged_into_number=_merged_into(session, ctx, ticket),
            error=error,
            error_field=error_field,
        ),
    )


def _merged_into(session: Session, ctx: Context, ticket: Ticket) -> int | None:
    if ticket.merged_into_id is None:
        return None
    return tickets_service.ticket_numbers(session, ctx, [ticket.merged_into_id]).get(
        ticket.merged_into_id
    )


def full_page(
    session: Session,
    ctx: Context,
    viewer: Viewer,
    ticket: Ticket,
    *,
    composer: Composer | None = None,
    header_error: str = "",
    header_error_field: str = "",
) -> TicketPage:
    """Everything the ticket page shows, in a fixed number of queries."""
    directory = load_directory(session, ctx)
    messages = tickets_service.list_messages(session, ctx, ticket)
    requester = requester_label(ticket)
    help_center = f"/help/{viewer.workspace_slug}"
    events, marker = build_events(session, ctx, ticket, directory)
    sla, sla_policy = build_sla(session, ctx, ticket)
    return TicketPage(
        title=f"#{ticket.number} {ticket.subject}",
        viewer=viewer,
        nav="tickets",
        header=build_header(
            ticket,
            directory,
            merged_into_number=_merged_into(session, ctx, ticket),
            error=header_error,
            error_field=header_error_field,
        ),
        messages=[_message_view(m, directory, ticket.requester_id, requester) for m in messages],
        description=ticket.description,
        requester_label=requester,
        composer=composer or Composer(),
        ai=build_ai_panel(session, ctx, ticket, messages, directory, help_center),
        requester=build_requester_panel(session, ctx, ticket),
        events=events,
        sla=sla,
        sla_policy=sla_policy,
        macros=macro_options(session, ctx),
        live_marker=marker,
    )


def composer_only(viewer: Viewer, ticket: Ticket, composer: Composer) -> TicketPage:
    """The composer alone (mode switch, draft insert): no queries beyond the ticket itself."""
    return TicketPage(
        title=f"#{ticket.number} {ticket.subject}",
        viewer=viewer,
        nav="tickets",
        header=build_header(ticket, Directory()),
        composer=composer,
    )


def draft_for(session: Session, ctx: Context, ticket: Ticket, decision_id: int) -> AiDecision:
    """The AI decision whose draft an agent inserts; 404 unless it belongs to this ticket."""
    decision = triage_service.get_decision(session, ctx, decision_id)
    if decision.ticket_id != ticket.id or not decision.answer:
        raise NotFound(f"AI draft {decision_id} not found on ticket #{ticket.number}")
    return decision


def merge_confirmation(source: Ticket, target: Ticket) -> MergeConfirmation:
    """What the agent confirms: the target, and whether the messages will become internal
    (they do when the requesters differ, see `tickets.service.merge_tickets`)."""
    return MergeConfirmation(
        into_number=target.number,
        into_subject=target.subject,
        into_status=target.status,
        made_internal=source.requester_id != target.requester_id,
    )
