"""Ticket and agent metrics, read from the roll-ups (never from raw messages or events).

Each function takes the caller's `Context` (staff only) and `Filters` and returns a `Table`.
Ticket metrics describe the *cohort* of tickets created in the date range (matching the team,
agent = assignee, and channel filters); `docs/analytics.md` defines every figure. Agent figures
come from `agent_daily_stats` and count activity on the days it happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.orm import Session

from deskpilot.analytics.models import AgentDailyStats, TicketFact
from deskpilot.analytics.periods import Filters
from deskpilot.analytics.tables import Spread, Table, ratio
from deskpilot.auth.models import User
from deskpilot.core.context import Context
from deskpilot.customers.models import Organization
from deskpilot.workspaces.models import Team, TeamMember

F = TicketFact
DIMENSIONS = {
    "channel": F.channel,
    "type": F.type,
    "category": F.category,
    "organization": F.organization_id,
}


def _cohort(ctx: Context, f: Filters, *columns: Any) -> Any:
    """Facts of tickets created in the range, with the team/agent/channel filters."""
    stmt = select(*columns).where(
        F.workspace_id == ctx.workspace_id, F.created_day >= f.start, F.created_day <= f.end
    )
    return _dimension_filters(stmt, f)


def _dimension_filters(stmt: Any, f: Filters) -> Any:
    if f.team_id is not None:
        stmt = stmt.where(F.team_id == f.team_id)
    if f.agent_id is not None:
        stmt = stmt.where(F.assignee_id == f.agent_id)
    if f.channel:
        stmt = stmt.where(F.channel == f.channel)
    return stmt


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def ticket_summary(session: Session, ctx: Context, f: Filters) -> Table:
    """Headline ticket figures of the cohort (one row per metric)."""
    ctx.require_staff()
    row = session.execute(
        _cohort(
            ctx,
            f,
            func.count(),
            _count_if(F.ever_resolved),
            _count_if(F.reopened_count > 0),
            _count_if(F.is_open),
            _count_if(F.resolution_seconds.is_not(None)),
            _count_if(F.csat_score.is_not(None)),
            func.coalesce(func.sum(F.csat_score), 0),
            _count_if(F.sla_first_response == "met"),
            _count_if(F.sla_first_response == "breached"),
            _count_if(F.sla_resolution == "met"),
            _count_if(F.sla_resolution == "breached"),
            func.coalesce(func.sum(F.sla_next_response_met), 0),
            func.coalesce(func.sum(F.sla_next_response_breached), 0),
            func.coalesce(func.sum(F.next_response_seconds_sum), 0),
            func.coalesce(func.sum(F.next_response_count), 0),
        )
    ).one()
    created, ever, reopened, still_open, resolved, rated, csat_sum = (int(v) for v in row[:7])
    frt_met, frt_breached, res_met, res_breached, nrt_met, nrt_breached = (
        int(v) for v in row[7:13]
    )
    nrt_sum, nrt_count = int(row[13]), int(row[14])
    done = created - still_open
    sla_met = frt_met + res_met + nrt_met
    sla_total = sla_met + frt_breached + res_breached + nrt_breached
    metrics: list[list[Any]] = [
        ["tickets_created", created],
        ["tickets_resolved", resolved],
        ["tickets_open", still_open],
        ["reopen_rate", ratio(reopened, ever)],
        ["next_response_mean_seconds", round(nrt_sum / nrt_count, 1) if nrt_count else None],
        ["sla_attainment", ratio(sla_met, sla_total)],
        ["sla_first_response_attainment", ratio(frt_met, frt_met + frt_breached)],
        ["sla_next_response_attainment", ratio(nrt_met, nrt_met + nrt_breached)],
        ["sla_resolution_attainment", ratio(res_met, res_met + res_breached)],
        ["csat_average", ratio(csat_sum, rated)],
        ["csat_response_rate", ratio(rated, done)],
        ["csat_ratings", rated],
    ]
    return Table("ticket_summary", "Ticket summary", ["metric", "value"], metrics)


EXACT_PERCENTILES_UP_TO = 5_000
"""Cohorts up to this size get exact percentiles; larger ones are counted per minute in SQL, so
a year of tickets costs a few aggregate queries instead of reading every row."""
BUCKET_SECONDS = 60


def ticket_times(session: Session, ctx: Context, f: Filters) -> Table:
    """First response and resolution time of the cohort: mean, median, p90 in seconds, in
    calendar and in business hours. Percentiles are exact for cohorts of up to
    `EXACT_PERCENTILES_UP_TO` tickets and to the minute above that (the mean is always exact)."""
    ctx.require_staff()
    columns = [
        F.first_response_seconds,
        F.first_response_business_seconds,
        F.resolution_seconds,
        F.resolution_business_seconds,
    ]
    names = [
        ("first_response", "calendar"),
        ("first_response", "business"),
        ("resolution", "calendar"),
        ("resolution", "business"),
    ]
    total = int(session.scalar(_cohort(ctx, f, func.count())) or 0)
    if total <= EXACT_PERCENTILES_UP_TO:
        spreads = _exact_spreads(session, ctx, f, columns)
    else:
        spreads = [_bucketed_spread(session, ctx, f, column) for column in columns]
    out = [
        [metric, hours, spread.count, spread.mean, spread.median, spread.p90]
        for (metric, hours), spread in zip(names, spreads, strict=True)
    ]
    return Table(
        "ticket_times",
        "Response and resolution times (seconds)",
        ["metric", "hours", "tickets", "mean", "median", "p90"],
        out,
    )


def _exact_spreads(session: Session, ctx: Context, f: Filters, columns: list[Any]) -> list[Spread]:
    rows = session.execute(_cohort(ctx, f, *columns)).all()
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return [Spread.of([v for v in column if v is not None]) for column in values]


def _bucketed_spread(session: Session, ctx: Context, f: Filters, column: Any) -> Spread:
    count, mean = session.execute(_cohort(ctx, f, func.count(column), func.avg(column))).one()
    if not count:
        return Spread(0, None, None, None)
    minute = cast(column / BUCKET_SECONDS, Integer)
    counts = session.execute(
        _cohort(ctx, f, minute, func.count())
        .where(column.is_not(None))
        .group_by(minute)
        .order_by(minute)
    ).all()
    return Spread(
        int(count),
        round(float(mean), 1),
        _bucket_percentile(counts, int(count), 0.5),
        _bucket_percentile(counts, int(count), 0.9),
    )


def _bucket_percentile(counts: Sequence[Any], total: int, q: float) -> float:
    """The middle of the minute holding the q-th value (same rank rule as `percentile`)."""
    rank = (total - 1) * q
    seen = 0
    for bucket, n in counts:
        seen += int(n)
        if seen > rank:
            return float(int(bucket) * BUCKET_SECONDS + BUCKET_SECONDS / 2)
    return float(int(counts[-1][0]) * BUCKET_SECONDS + BUCKET_SECONDS / 2)


def volume_by_day(session: Session, ctx: Context, f: Filters) -> Table:
    """Tickets created and tickets resolved per day (resolved counts tickets whose current
    resolution falls on that day, with the same filters)."""
    ctx.require_staff()
    created = dict(
        session.execute(_cohort(ctx, f, F.created_day, func.count()).group_by(F.created_day)).all()
    )
    resolved_stmt = select(F.resolved_day, func.count()).where(
        F.workspace_id == ctx.workspace_id, F.resolved_day >= f.start, F.resolved_day <= f.end
    )
    resolved: dict[Any, int] = {
        d: int(n)
        for d, n in session.execute(_dimension_filters(resolved_stmt, f).group_by(F.resolved_day))
    }
    rows = [[d, int(created.get(d, 0)), int(resolved.get(d, 0))] for d in f.days]
    return Table("volume_by_day", "Tickets per day", ["day", "created", "resolved"], rows)


def volume_by(session: Session, ctx: Context, f: Filters, dimension: str) -> Table:
    """Tickets created in the range per channel, type, category or organization."""
    ctx.require_staff()
    column = DIMENSIONS[dimension]
    counts = session.execute(
        _cohort(ctx, f, column, func.count()).group_by(column).order_by(func.count().desc())
    ).all()
    labels: dict[Any, str] = {}
    if dimension == "organization":
        ids = [value for value, _ in counts if value is not None]
        if ids:
            labels = dict(
                session.execute(
                    select(Organization.id, Organization.name).where(
                        Organization.workspace_id == ctx.workspace_id, Organization.id.in_(ids)
                    )
                ).all()
            )
    pairs: list[tuple[Any, int]] = [
        (labels.get(value, value) if value is not None else "(none)", int(n)) for value, n in counts
    ]
    pairs.sort(key=lambda p: (-p[1], str(p[0])))
    rows: list[list[Any]] = [list(p) for p in pairs]
    return Table(f"volume_by_{dimension}", f"Tickets by {dimension}", [dimension, "tickets"], rows)


def backlog(session: Session, ctx: Context, f: Filters) -> Table:
    """Open tickets now (as of the last roll-up) by status and priority; the date range does not
    apply, the team/agent/channel filters do."""
    ctx.require_staff()
    stmt: Any = select(F.status, F.priority, func.count()).where(
        F.workspace_id == ctx.workspace_id, F.is_open.is_(True)
    )
    rows = session.execute(
        _dimension_filters(stmt, f).group_by(F.status, F.priority).order_by(F.status, F.priority)
    ).all()
    return Table(
        "backlog",
        "Open tickets by status and priority",
        ["status", "priority", "tickets"],
        [[s, p, int(n)] for s, p, n in rows],
    )


def csat_distribution(session: Session, ctx: Context, f: Filters) -> Table:
    ctx.require_staff()
    counts: dict[Any, int] = {
        score: int(n)
        for score, n in session.execute(
            _cohort(ctx, f, F.csat_score, func.count())
            .where(F.csat_score.is_not(None))
            .group_by(F.csat_score)
        )
    }
    return Table(
        "csat_distribution",
        "Satisfaction ratings",
        ["score", "ratings"],
        [[score, int(counts.get(score, 0))] for score in range(1, 6)],
    )


def team_member_ids(session: Session, ctx: Context, team_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TeamMember.user_id).where(
                TeamMember.workspace_id == ctx.workspace_id, TeamMember.team_id == team_id
            )
        )
    )


def agent_leaderboard(session: Session, ctx: Context, f: Filters) -> Table:
    """Per staff member over the range, most tickets handled first."""
    ctx.require_staff()
    a = AgentDailyStats
    stmt = (
        select(
            a.user_id,
            func.sum(a.handled),
            func.sum(a.replies),
            func.sum(a.assisted_replies),
            func.sum(a.resolved),
            func.sum(a.escalated),
            func.sum(a.first_response_seconds_sum),
            func.sum(a.first_response_count),
            func.sum(a.resolution_seconds_sum),
            func.sum(a.resolution_count),
            func.sum(a.csat_sum),
            func.sum(a.csat_count),
        )
        .where(a.workspace_id == ctx.workspace_id, a.day >= f.start, a.day <= f.end)
        .group_by(a.user_id)
    )
    if f.agent_id is not None:
        stmt = stmt.where(a.user_id == f.agent_id)
    if f.team_id is not None:
        stmt = stmt.where(a.user_id.in_(team_member_ids(session, ctx, f.team_id)))
    rows = session.execute(stmt).all()
    names = user_names(session, [r[0] for r in rows])
    out: list[list[Any]] = []
    for r in rows:
        uid, handled, replies, assisted, resolved, escalated = (int(v or 0) for v in r[:6])
        frt_sum, frt_n, res_sum, res_n, csat_sum, csat_n = (int(v or 0) for v in r[6:])
        out.append(
            [
                uid,
                names.get(uid, f"User {uid}"),
                handled,
                replies,
                resolved,
                escalated,
                round(frt_sum / frt_n, 1) if frt_n else None,
                round(res_sum / res_n, 1) if res_n else None,
                ratio(csat_sum, csat_n),
                csat_n,
                ratio(assisted, replies),
            ]
        )
    out.sort(key=lambda r: (-int(r[2]), -int(r[4]), str(r[1])))
    return Table(
        "agents",
        "Agents",
        [
            "user_id",
            "name",
            "handled",
            "replies",
            "resolved",
            "escalated",
            "avg_first_response_seconds",
            "avg_resolution_seconds",
            "csat_average",
            "csat_ratings",
            "assist_rate",
        ],
        out,
    )


def user_names(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {uid: name or email for uid, name, email in rows}


def agent_daily(session: Session, ctx: Context, f: Filters) -> Table:
    """The raw agent roll-up rows of the range (for export)."""
    ctx.require_staff()
    a = AgentDailyStats
    columns = [c.name for c in a.__table__.columns if c.name != "workspace_id"]
    stmt = (
        select(*(getattr(a, c) for c in columns))
        .where(a.workspace_id == ctx.workspace_id, a.day >= f.start, a.day <= f.end)
        .order_by(a.day, a.user_id)
    )
    if f.agent_id is not None:
        stmt = stmt.where(a.user_id == f.agent_id)
    if f.team_id is not None:
        stmt = stmt.where(a.user_id.in_(team_member_ids(session, ctx, f.team_id)))
    rows = [list(r) for r in session.execute(stmt)]
    return Table("agent_daily", "Agent roll-up per day", columns, rows)


def team_options(session: Session, ctx: Context) -> list[tuple[int, str]]:
    """The workspace's teams (for the team filter)."""
    ctx.require_staff()
    rows = session.execute(
        select(Team.id, Team.name).where(Team.workspace_id == ctx.workspace_id).order_by(Team.name)
    )
    return [(int(i), n) for i, n in rows]


def team_exists(session: Session, ctx: Context, team_id: int) -> bool:
    stmt = select(Team.id).where(and_(Team.workspace_id == ctx.workspace_id, Team.id == team_id))
    return session.scalar(stmt) is not None
