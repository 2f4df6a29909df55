"""The analytics read API: filters, the named tables, and the four dashboards.

Every table any dashboard shows is listed in `TABLES` by name, so the API and the CSV export
serve exactly what the pages show. Staff (owners, admins, agents) may read every table;
customers may read none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

from sqlalchemy.orm import Session

from deskpilot.analytics import ai_metrics, kb_metrics, metrics, rollups
from deskpilot.analytics.periods import Filters, make_filters, reporting_for
from deskpilot.analytics.tables import Table
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound

Builder = Callable[[Session, Context, Filters], Table]

TABLES: dict[str, Builder] = {
    "ticket_summary": metrics.ticket_summary,
    "ticket_times": metrics.ticket_times,
    "volume_by_day": metrics.volume_by_day,
    "volume_by_channel": partial(metrics.volume_by, dimension="channel"),
    "volume_by_type": partial(metrics.volume_by, dimension="type"),
    "volume_by_category": partial(metrics.volume_by, dimension="category"),
    "volume_by_organization": partial(metrics.volume_by, dimension="organization"),
    "backlog": metrics.backlog,
    "csat_distribution": metrics.csat_distribution,
    "agents": metrics.agent_leaderboard,
    "agent_daily": metrics.agent_daily,
    "ai_summary": ai_metrics.ai_summary,
    "ai_by_day": ai_metrics.ai_by_day,
    "escalation_reasons": ai_metrics.escalation_reasons,
    "models": ai_metrics.models,
    "model_daily": ai_metrics.model_daily,
    "confidence_histogram": ai_metrics.confidence_histogram,
    "reliability": ai_metrics.reliability,
    "risk_coverage": ai_metrics.risk_coverage,
    "kb_summary": kb_metrics.kb_summary,
    "kb_articles": kb_metrics.kb_articles,
    "kb_searches": kb_metrics.kb_searches,
    "content_gaps": kb_metrics.content_gaps,
}

DASHBOARDS: dict[str, tuple[str, ...]] = {
    "overview": (
        "ticket_summary",
        "ticket_times",
        "volume_by_day",
        "backlog",
        "volume_by_channel",
        "volume_by_type",
        "volume_by_category",
        "volume_by_organization",
        "csat_distribution",
    ),
    "ai": (
        "ai_summary",
        "ai_by_day",
        "reliability",
        "risk_coverage",
        "confidence_histogram",
        "escalation_reasons",
        "models",
    ),
    "agents": ("agents",),
    "kb": ("kb_summary", "kb_searches", "kb_articles", "content_gaps"),
}


@dataclass(frozen=True)
class Dashboard:
    name: str
    filters: Filters
    tables: dict[str, Table]
    timezone: str
    rolled_up_at: datetime | None
    teams: list[tuple[int, str]] = field(default_factory=list)


def filters_for(
    session: Session,
    ctx: Context,
    *,
    start: date | None = None,
    end: date | None = None,
    team_id: int | None = None,
    agent_id: int | None = None,
    channel: str | None = None,
) -> Filters:
    """Validated filters; a team of another workspace is a 404 like any foreign object."""
    ctx.require_staff()
    if team_id is not None and not metrics.team_exists(session, ctx, team_id):
        raise NotFound(f"Team {team_id} not found")
    return make_filters(
        reporting_for(session, ctx),
        start=start,
        end=end,
        team_id=team_id,
        agent_id=agent_id,
        channel=channel,
    )


def get_table(session: Session, ctx: Context, name: str, filters: Filters) -> Table:
    ctx.require_staff()
    builder = TABLES.get(name)
    if builder is None:
        raise NotFound(f"Analytics table {name!r} not found")
    return builder(session, ctx, filters)


def get_dashboard(session: Session, ctx: Context, name: str, filters: Filters) -> Dashboard:
    ctx.require_staff()
    names = DASHBOARDS.get(name)
    if names is None:
        raise NotFound(f"Dashboard {name!r} not found")
    state = rollups.last_run(session, ctx)
    return Dashboard(
        name=name,
        filters=filters,
        tables={n: TABLES[n](session, ctx, filters) for n in names},
        timezone=reporting_for(session, ctx).timezone,
        rolled_up_at=state.last_run_at if state else None,
        teams=metrics.team_options(session, ctx),
    )
